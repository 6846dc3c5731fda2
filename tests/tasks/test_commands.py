"""What `doit history`, `doit stats` and `doit graph` print, from history files written with the
History API and task graphs built from doit Task objects; and the Signature explain reads."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from doit.exceptions import InvalidCommand
from doit.task import Task

from tasks.commands.graph import task_graph, to_dot, to_mermaid
from tasks.commands.history import run_lines, runs_lines
from tasks.commands.layout import clock, duration
from tasks.commands.stats import gather, overview_lines, task_lines
from tasks.history import FILE, History, TaskRecord
from tasks.needs import needs
from tasks.signature import Signature


@pytest.fixture
def history(tmp_path: Path) -> History:
    """An empty history file under a repository's state folder."""
    return History(tmp_path / ".fedbuild" / FILE)


def record(history: History, argv: str, rows: list[TaskRecord], status: str = "succeeded",
           mode: str = "development", commit: str | None = "0123456789abcdef",
           branch: str | None = "main") -> int:
    """A whole run: begun, its tasks, ended."""
    run_id = history.begin_run(argv, mode, commit, branch, 4242)
    for row in rows:
        history.record_task(run_id, row)
    history.end_run(run_id, status)
    return run_id


def row(name: str, status: str, seconds: float | None = None, **fields: Any) -> TaskRecord:
    """A task's end with a duration."""
    return TaskRecord(name=name, status=status, ended=1000.0, duration=seconds, **fields)


# doit history ------------------------------------------------------------------------------

def test_history_of_no_runs_says_so(history: History, tmp_path: Path) -> None:
    """An empty history is one line naming the file."""
    assert runs_lines(history, 20, tmp_path) == [
        "no runs recorded yet (.fedbuild/history.sqlite3)"]


def test_history_lists_runs_newest_first_one_line_each(history: History, tmp_path: Path) -> None:
    """Id, start, duration, status, mode, branch@commit, task counts and command line."""
    first = record(history, "doit", [row("build:a", "built", 1.0), row("build:b", "failed", 2.0),
                                     row("build:c", "up to date"), row("build:d", "built", 1.5)],
                   status="failed")
    second = record(history, "doit mode=production -n 2", [row("build:a", "up to date")],
                    mode="production", commit="fedcba9876543210", branch=None)
    lines = runs_lines(history, 20, tmp_path)
    assert lines[0].split() == ["id", "started", "duration", "status", "mode", "git", "tasks",
                                "command"]
    runs = {r.id: r for r in history.runs()}
    assert len(lines) == 3
    assert re.fullmatch(rf"\s*{second}  {re.escape(clock(runs[second].started))}\s+\d\.\d\ds  "
                        r"succeeded  production\s+fedcba98\s+1 up to date\s+"
                        r"doit mode=production -n 2", lines[1]), lines[1]
    assert re.fullmatch(rf"\s*{first}  \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\s+\d\.\d\ds  failed\s+"
                        r"development\s+main@01234567\s+2 built, 1 up to date, 1 failed\s+doit",
                        lines[2]), lines[2]


def test_history_limit_keeps_the_newest(history: History, tmp_path: Path) -> None:
    """--limit N shows the N newest runs."""
    ids = [record(history, f"doit build:{n}", []) for n in range(5)]
    lines = runs_lines(history, 2, tmp_path)
    assert [line.split()[0] for line in lines[1:]] == [str(ids[4]), str(ids[3])]
    assert "no tasks" in lines[1]


def test_one_run_shows_each_task(history: History, tmp_path: Path) -> None:
    """The header, then name, status, duration, attempts (>1), exit code, memory, CPU, log."""
    log = str(tmp_path / ".fedbuild/logs/build/a.log")
    run_id = record(history, "doit build:a", [
        row("build:a", "flaky", 75.0, attempts=2, exit_code=0, peak_rss=48 << 20, cpu_time=3.25,
            log=log),
        row("build:b", "failed", 0.5, attempts=1, exit_code=7, log="/elsewhere/b.log"),
        row("build:c", "up to date")])
    lines = run_lines(history, run_id, tmp_path)
    assert re.fullmatch(rf"run {run_id}: \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d, \d\.\d\ds, succeeded, "
                        "development mode, main@01234567", lines[0])
    assert lines[1:4] == ["command: doit build:a", "tasks: 1 flaky, 1 up to date, 1 failed", ""]
    assert lines[4].split() == ["task", "status", "duration", "attempts", "exit", "memory", "cpu",
                                "log"]
    assert lines[5].split() == ["build:a", "flaky", "1m15s", "2", "0", "48.0", "MiB", "3.2s",
                                ".fedbuild/logs/build/a.log"]
    assert lines[6].split() == ["build:b", "failed", "0.50s", "7", "/elsewhere/b.log"]
    assert lines[7].split() == ["build:c", "up", "to", "date", "-", "-"]


def test_unknown_run_is_an_error_naming_the_known_ids(history: History, tmp_path: Path) -> None:
    """A run id that was never recorded raises doit's InvalidCommand (one line, exit 3)."""
    record(history, "doit", [])
    with pytest.raises(InvalidCommand, match=r"no run 7 in history.sqlite3 \(runs are "
                                             r"numbered 1 to 1; see `doit history`\)"):
        run_lines(history, 7, tmp_path)
    with pytest.raises(InvalidCommand, match="no run 0"):
        run_lines(history, 0, tmp_path)


def test_durations_read_like_a_person_would_write_them() -> None:
    """Seconds, then minutes and seconds, then hours and minutes."""
    assert [duration(s) for s in (None, 0.042, 12.34, 125, 3725)] == [
        "-", "0.04s", "12.3s", "2m05s", "1h02m"]


# doit stats --------------------------------------------------------------------------------

def twenty_runs(history: History) -> None:
    """build:a: 19 built runs of 1..19 s and one failure; test:a: flaky twice, up to date once."""
    for n in range(1, 21):
        rows = [row("build:a", "failed" if n == 20 else "built", float(n))]
        if n <= 3:
            rows.append(row("test:a", "flaky" if n < 3 else "up to date", 4.0))
        record(history, "doit", rows, status="failed" if n == 20 else "succeeded")


def test_stats_table_has_runs_success_and_durations(history: History) -> None:
    """Runs are executions; durations are of successful ones; p95 by nearest rank."""
    twenty_runs(history)
    lines = overview_lines(gather(history))
    assert re.fullmatch(r"20 runs of doit since \S+ \S+: 19 succeeded \(95\.0% of finished "
                        r"runs\), 1 failed", lines[0])
    table = {line.split()[0]: line.split() for line in lines[2:5]}
    assert table["task"] == ["task", "runs", "success", "average", "fastest", "slowest", "p95"]
    # 1..19 s built: mean 10, p95 = the 19th of 19 sorted (ceil(0.95 * 19) = 19).
    assert table["build:a"] == ["build:a", "20", "95.0%", "10.0s", "1.0s", "19.0s", "19.0s"]
    assert table["test:a"] == ["test:a", "2", "100.0%", "4.0s", "4.0s", "4.0s", "4.0s"]
    assert "flaky tasks: test:a (2 of 2 runs)" in lines
    assert not any(line.startswith("cache hit rate") for line in lines)


def test_stats_of_one_task(history: History) -> None:
    """A few lines: runs, success rate, durations, flaky count."""
    twenty_runs(history)
    assert task_lines(gather(history), "build:a") == [
        "build:a over 20 runs of doit:",
        "  runs: 20 (not counting 0 up to date)",
        "  success rate: 95.0% (19 of 20; 1 failed)",
        "  duration: average 10.0s, fastest 1.0s, slowest 19.0s, p95 19.0s "
        "(of 19 successful executions)",
        "  flaky: 0 of 20 runs"]
    assert task_lines(gather(history), "test:a")[1] == "  runs: 2 (not counting 1 up to date)"


def test_stats_window_of_the_last_runs(history: History) -> None:
    """--last N only counts the N newest runs."""
    twenty_runs(history)
    window = gather(history, last=5)
    assert len(window.runs) == 5
    assert sorted(window.tasks["build:a"].durations) == [16.0, 17.0, 18.0, 19.0]
    assert "test:a" not in window.tasks
    assert "flaky tasks: none" in overview_lines(window)


def test_cache_hit_rate_only_once_a_cache_answered(history: History) -> None:
    """Cached rows bring the hit rate: hits among the executions that asked the cache."""
    record(history, "doit", [row("build:a", "built", 2.0), row("build:b", "skipped", 0.0)])
    record(history, "doit", [row("build:a", "cached", 0.1), row("build:b", "skipped", 0.0)])
    record(history, "doit", [row("build:a", "cached", 0.1), row("build:b", "up to date")])
    window = gather(history)
    assert ("cache hit rate: 66.7% (2 of 3 executions restored from the cache)"
            in overview_lines(window))
    assert "  cache hit rate: 66.7% (2 of 3)" in task_lines(window, "build:a")
    # cached counts as a success; its restore time is not a build duration
    assert window.tasks["build:a"].durations == [2.0]


# doit graph --------------------------------------------------------------------------------

def graph_tasks() -> dict[str, Task]:
    """lib: generate -> build; app: build after lib's build (a result_dep-like task_dep), its
    test; `build` a group; fetch a calc_dep; `setup:env` a setup task."""
    def act() -> None:
        return None
    tasks = [
        Task("generate:lib", [act]),
        Task("build:lib", [act], task_dep=["generate:lib"], setup=["setup:env"]),
        Task("build:app", [act], task_dep=["build:lib"], calc_dep=["fetch:app"]),
        Task("fetch:app", [act]),
        Task("setup:env", [act]),
        Task("test:app", [act], task_dep=["build"]),
        Task("build", None, task_dep=["build:lib", "build:app"]),
        Task("verify", None, task_dep=["test:app"]),
        Task("lonely", [act]),
    ]
    return {t.name: t for t in tasks}


DOT_EDGE = re.compile(r'^  "((?:[^"\\]|\\.)*)" -> "((?:[^"\\]|\\.)*)";$')


def dot_edges(text: str) -> set[tuple[str, str]]:
    """The edges of DOT text, parsed back."""
    return {(m.group(1), m.group(2)) for m in map(DOT_EDGE.match, text.splitlines()) if m}


def test_graph_edges_go_from_dependency_to_dependent_through_groups() -> None:
    """task_dep, setup and calc_dep make edges; groups are seen through, never nodes."""
    graph = task_graph(graph_tasks())
    assert graph.nodes == ("build:app", "build:lib", "fetch:app", "generate:lib", "lonely",
                           "setup:env", "test:app")
    assert set(graph.edges) == {("generate:lib", "build:lib"), ("setup:env", "build:lib"),
                                ("build:lib", "build:app"), ("fetch:app", "build:app"),
                                ("build:lib", "test:app"), ("build:app", "test:app")}
    assert needs(graph_tasks(), "verify") == {"test:app"}


def test_dot_output_parses_back_to_the_graph() -> None:
    """digraph fedbuild { quoted nodes; "a" -> "b"; } with every edge."""
    graph = task_graph(graph_tasks())
    text = to_dot(graph)
    lines = text.splitlines()
    assert lines[0] == "digraph fedbuild {" and lines[-1] == "}"
    assert dot_edges(text) == set(graph.edges)
    assert '  "lonely";' in lines
    assert text.count("{") == text.count("}") == 1


def test_dot_quotes_awkward_names() -> None:
    """Quotes and backslashes in names are escaped."""
    def act() -> None:
        return None
    tasks = {"a\"b": Task('a"b', [act]), "c\\d": Task("c\\d", [act], task_dep=['a"b'])}
    text = to_dot(task_graph(tasks))
    assert '  "a\\"b" -> "c\\\\d";' in text.splitlines()


def test_mermaid_output_has_safe_ids_and_quoted_labels() -> None:
    """graph LR, a node line per task (tN["name"]), an edge line per edge (tN --> tM)."""
    graph = task_graph(graph_tasks())
    lines = to_mermaid(graph).splitlines()
    assert lines[0] == "graph LR"
    nodes = [re.fullmatch(r'  (t\d+)\["([^"]+)"\]', line) for line in lines[1:8]]
    ids = {m.group(2): m.group(1) for m in nodes if m}
    assert sorted(ids) == list(graph.nodes)
    edges = [re.fullmatch(r"  (t\d+) --> (t\d+)", line) for line in lines[8:]]
    named = {v: k for k, v in ids.items()}
    assert {(named[m.group(1)], named[m.group(2)]) for m in edges if m} == set(graph.edges)
    assert len(lines) == 1 + len(graph.nodes) + len(graph.edges)


def test_graph_of_one_task_is_what_it_needs() -> None:
    """TASK: that task and what it needs, transitively; nothing that needs it."""
    graph = task_graph(graph_tasks(), "build:app")
    assert graph.nodes == ("build:app", "build:lib", "fetch:app", "generate:lib", "setup:env")
    assert ("build:lib", "test:app") not in graph.edges
    group = task_graph(graph_tasks(), "verify")  # a group: what it gathers and their needs
    assert "test:app" in group.nodes and "verify" not in group.nodes and "lonely" not in group.nodes
    assert task_graph(graph_tasks(), "lonely").nodes == ("lonely",)


# the signature explain reads ----------------------------------------------------------------

def test_signature_saves_its_fields_and_names_what_changed(tmp_path: Path) -> None:
    """Saved values hold the fields (as JSON gives them back); a change is named field by field."""
    fields: dict[str, object] = {"env": {"A": "1"}, "commands": [("cc", "-O1")], "tool": "v1"}
    signature = Signature(lambda: fields, [tmp_path / "out"])
    assert not signature(None, {})
    (tmp_path / "out").mkdir()
    saved = json.loads(json.dumps(signature.saved()))  # through doit's JSON codec
    assert saved == {"signature": {"commands": [["cc", "-O1"]], "env": {"A": "1"}, "tool": "v1"},
                     "present": [str(tmp_path / "out")]}
    assert signature(None, saved)
    fields.update(env={"B": "2"}, commands=[("cc", "-O2")], tool="v2")
    assert not signature(None, saved)
    changes = [(c.field, c.added, c.removed) for c in signature.changes(saved)]
    assert changes == [("commands[0][1]", False, False), ("env.A", False, True),
                       ("env.B", True, False), ("tool", False, False)]
    assert [(c.old, c.new) for c in signature.changes(saved)][::3] == [("-O1", "-O2"),
                                                                       ("v1", "v2")]


def test_signature_notices_a_missing_output(tmp_path: Path) -> None:
    """Something that existed after the last success is gone: not up to date, and named."""
    (tmp_path / "out").mkdir()
    signature = Signature(lambda: {"x": 1}, [tmp_path / "out", tmp_path / "never"])
    saved = json.loads(json.dumps(signature.saved()))
    assert saved["present"] == [str(tmp_path / "out")]
    assert signature(None, saved)
    (tmp_path / "out").rmdir()
    assert not signature(None, saved)
    assert signature.gone(saved) == [str(tmp_path / "out")]
    assert signature.changes(saved) == []
