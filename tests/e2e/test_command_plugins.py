"""`doit history`, `doit stats` and `doit graph` through the plugins pyproject.toml registers,
after real runs on fixture copies; and the installed `fedbuild_doit` module doit loads them by."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DODO, REPO, run_command, run_doit

Repo = Callable[[str], Path]
SHIM = REPO / "tasks" / "commands" / "install"
DOT_EDGE = re.compile(r'^  "([^"]+)" -> "([^"]+)";$')


def command(repo: Path, *args: str) -> list[str]:
    """The lines one of the commands prints; it must succeed without a traceback."""
    result = run_command(repo, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout.splitlines()


def git(repo: Path, *args: str) -> str:
    """Run git in the fixture copy."""
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def three_runs(monorepo: Repo) -> Path:
    """The steps fixture in a git repository (branch main) after three runs: `doit` (ok),
    `doit run:ghost` (failed: the tool is not installed), `doit flaky:trouble` (passed on
    its second attempt)."""
    repo = monorepo("steps")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "fixture")
    assert run_doit(repo).returncode == 0
    assert run_doit(repo, "run:ghost").returncode == 1
    assert run_doit(repo, "flaky:trouble").returncode == 0
    return repo


def test_history_lists_the_runs_newest_first(three_runs: Path) -> None:
    """One line per run: id, start, duration, status, mode, branch@commit, counts, command."""
    commit = git(three_runs, "rev-parse", "HEAD")[:8]
    lines = command(three_runs, "history")
    assert lines[0].split() == ["id", "started", "duration", "status", "mode", "git", "tasks",
                                "command"]
    date = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"
    expected = [("3", "succeeded", "1 flaky", "flaky:trouble"),
                ("2", "failed", "1 failed", "run:ghost"),
                ("1", "succeeded", "6 built, 2 skipped", "")]
    for line, (run_id, status, tasks, target) in zip(lines[1:], expected, strict=True):
        assert re.fullmatch(rf" *{run_id}  {date} +[\d.]+s  {status} +development  "
                            rf"main@{commit}  {tasks} +doit .*-d {re.escape(str(three_runs))}"
                            rf"{' ' + target if target else ''}", line), line
    assert [line.split() for line in command(three_runs, "history", "--limit", "1")[1:]] == [
        lines[1].split()]


def test_history_of_one_run_lists_its_tasks(three_runs: Path) -> None:
    """--run ID: the header, then each task with its status, exit code and log."""
    lines = command(three_runs, "history", "--run", "2")
    assert re.fullmatch(r"run 2: \S+ \S+, [\d.]+s, failed, development mode, main@\w{8}",
                        lines[0])
    assert lines[1].startswith("command: doit ")
    assert lines[2] == "tasks: 1 failed"
    assert lines[4].split()[:2] == ["task", "status"]
    assert lines[5].split()[:2] == ["run:ghost", "failed"]
    assert lines[5].endswith("  .fedbuild/logs/run/ghost.log")
    flaky = command(three_runs, "history", "--run", "3")[5].split()
    assert flaky[:2] == ["flaky:trouble", "flaky"]
    assert flaky[3:5] == ["2", "0"]  # attempts, exit code
    assert flaky[-1] == ".fedbuild/logs/flaky/trouble.log"


def test_history_before_any_run(monorepo: Repo) -> None:
    """A fresh repository: one line."""
    assert command(monorepo("steps"), "history") == [
        "no runs recorded yet (.fedbuild/history.sqlite3)"]


def test_stats_over_the_runs(three_runs: Path) -> None:
    """A row per task, the flaky tasks, the totals; and one task's figures."""
    lines = command(three_runs, "stats")
    assert re.fullmatch(r"3 runs of doit since \S+ \S+: 2 succeeded \(66\.7% of finished runs\), "
                        r"1 failed", lines[0])
    rows = {line.split()[0]: line.split() for line in lines[2:] if line.strip()}
    assert rows["run:ghost"][1:3] == ["1", "0.0%"]
    assert rows["build:lib"][1:3] == ["1", "100.0%"]
    assert rows["flaky:trouble"][1:3] == ["1", "100.0%"]
    assert "flaky tasks: flaky:trouble (1 of 1 runs)" in lines
    assert not any(line.startswith("cache hit rate") for line in lines)
    one = command(three_runs, "stats", "flaky:trouble")
    assert one[:3] == ["flaky:trouble over 3 runs of doit:",
                       "  runs: 1 (not counting 0 up to date)",
                       "  success rate: 100.0% (1 of 1; 0 failed)"]
    assert one[-1] == "  flaky: 1 of 1 runs"
    last = command(three_runs, "stats", "--last", "2")
    assert last[0].startswith("2 runs of doit")
    assert "build:lib" not in "\n".join(last)


def test_graph_as_dot_and_mermaid(monorepo: Repo) -> None:
    """Edges from dependency to dependent, groups seen through; TASK keeps what it needs."""
    repo = monorepo("steps")
    dot = command(repo, "graph")
    assert dot[0] == "digraph fedbuild {" and dot[-1] == "}"
    edges = {(m.group(1), m.group(2)) for m in map(DOT_EDGE.match, dot) if m}
    assert {("generate:lib", "build:lib"), ("build:lib", "build:app"), ("build:lib", "test:lib"),
            ("build:app", "test:app"), ("build:lib", "verify:lib")} <= edges
    assert '  "build";' not in dot  # a group, not a task that does something
    mermaid = command(repo, "graph", "build:app", "--format", "mermaid")
    assert mermaid == ["graph LR", '  t0["build:app"]', '  t1["build:lib"]',
                       '  t2["generate:lib"]', "  t1 --> t0", "  t2 --> t1"]


def test_errors_are_one_line(three_runs: Path) -> None:
    """An unknown run or task: one line, exit 3, no traceback."""
    for args, message in [
            (("history", "--run", "9"), "ERROR: no run 9 in history.sqlite3 (runs are numbered "
                                        "1 to 3; see `doit history`)"),
            (("stats", "nope"), "ERROR: 'nope' is not a task (see `doit list`)"),
            (("graph", "nope"), "ERROR: 'nope' is not a task (see `doit list`)")]:
        result = run_command(three_runs, *args)
        assert result.returncode == 3, result.stdout + result.stderr
        assert result.stderr.strip() == message


def test_the_doit_console_script_finds_the_commands(monorepo: Repo) -> None:
    """`doit history` run by the installed console script (no checkout on its sys.path): the
    installed fedbuild_doit module adds the checkout it is started in."""
    script = Path(sys.executable).parent / "doit"
    assert script.is_file(), "the doit console script is installed beside python"
    repo = monorepo("steps")
    result = subprocess.run([str(script), "history", "-f", str(DODO), "-d", str(repo)],
                            cwd=REPO, capture_output=True, text=True, check=False, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "no runs recorded yet (.fedbuild/history.sqlite3)\n"


def test_the_registered_reporter_runs_a_build(monorepo: Repo) -> None:
    """`--reporter fedbuild` names the reporter through the same module."""
    repo = monorepo("basic")
    result = run_command(repo, "run", "--reporter", "fedbuild", "build:alpha")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "build:alpha" in result.stdout
    assert command(repo, "history")[1].split()[4] == "succeeded"


def test_outside_a_checkout_the_plugins_use_the_checkout_they_come_from(tmp_path: Path) -> None:
    """Started in another repository (its pyproject.toml selecting the loader `fedbuild`),
    the shim puts the checkout it lives in on sys.path: the commands and the loader work
    there, and the repository's own tasks.py is not imported in fedbuild's place."""
    plugins = (REPO / "pyproject.toml").read_text().split("[tool.doit.plugins.command]")[1]
    (tmp_path / "pyproject.toml").write_text(
        '[tool.doit]\nloader = "fedbuild"\n\n[tool.doit.plugins.command]' + plugins)
    (tmp_path / "tasks.py").write_text("raise SystemExit('the repository tasks.py ran')\n")
    shutil.copytree(REPO / "modules" / "clib", tmp_path / "clib",
                    ignore=shutil.ignore_patterns("build"))
    (tmp_path / "modules.json").write_text(
        '{"federation": {"name": "x", "baseURL": "https://x.example.org"}, "modules": [{"name":'
        ' "clib", "source": {"repository": "local", "path": "clib"}, "toolchain": "cmake"}]}')
    env = {**os.environ, "PYTHONPATH": str(SHIM)}
    for args, out in ((("history",), "no runs recorded yet (.fedbuild/history.sqlite3)\n"),
                      (("list",), "build ")):
        result = subprocess.run([sys.executable, "-m", "doit", *args], cwd=tmp_path, env=env,
                                capture_output=True, text=True, check=False, timeout=60)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith(out)
