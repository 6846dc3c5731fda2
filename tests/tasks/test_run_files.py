"""The per-run files (summary.json, trace.json, junit.xml): written, parsed back, checked
against the run they describe."""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from tasks.run_files import (
    LATEST,
    LOG_BYTES,
    RunFiles,
    assign_lanes,
    folder_name,
    latest_run,
    run_folders,
    write_run_files,
)
from tasks.run_files import (
    trace as trace_document,
)
from tasks.timeline import RunInfo, TaskRun

T0 = 1_700_000_000.25  # the run's start, epoch seconds
NASTY = 'alert <script>&"quoted" \x07bell\x00 done'


def log(tmp_path: Path, name: str, text: str) -> str:
    """A real log file for a task; its path as TaskRun.log holds it."""
    path = tmp_path / "logs" / f"{name.replace(':', '_')}.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.fixture
def run(tmp_path: Path) -> RunInfo:
    """Two workers; built, flaky, failed, timed out, skipped, up-to-date tasks; 5 are tests."""
    def task(name: str, status: str, start: float | None, end: float, **kw: Any) -> TaskRun:
        return TaskRun(name=name, status=status, ended=T0 + end,
                       started=None if start is None else T0 + start,
                       duration=None if start is None else end - start - 0.01, **kw)

    tasks = (
        task("build:lib", "built", 0.1, 1.0, attempts=1, exit_code=0, peak_rss=10_000_000,
             cpu_time=0.5, log=log(tmp_path, "build:lib", "compiling lib\n"),
             inputs_digest="in-lib", output_digest="out-lib", outputs=("dist/lib.a",)),
        task("build:app", "flaky", 0.1, 0.6, attempts=2, exit_code=0,
             log=log(tmp_path, "build:app", "try 1 failed\ntry 2 ok\n")),
        task("build:docs", "up to date", None, 0.05),
        task("test:lib", "built", 1.0, 2.0, deps=("build:lib",), attempts=1, exit_code=0,
             test=True, log=log(tmp_path, "test:lib", "3 passed\n")),
        task("test:app", "failed", 0.6, 1.8, deps=("build:app",), attempts=1, exit_code=1,
             test=True, message="exit code 1", log=log(tmp_path, "test:app", NASTY + "\n")),
        task("test:slow", "timed out", 2.0, 3.5, attempts=1, exit_code=-9, test=True,
             message="timed out after 1.5 s", log=log(tmp_path, "test:slow", "waiting\n")),
        task("test:docs", "skipped", None, 3.6, test=True, message="build:gone failed"),
        task("test:old", "up to date", None, 0.06, test=True,
             log=log(tmp_path, "test:old", "an earlier run's output\n")),
    )
    return RunInfo(started=T0, ended=T0 + 4.0, argv=("-n", "2", "mode=development"),
                   mode="development", status="failed", workers=2, id=42,
                   git_commit="0123abcd", git_branch="main", tasks=tasks)


@pytest.fixture
def files(run: RunInfo, tmp_path: Path) -> RunFiles:
    return write_run_files(tmp_path / "runs", run)


def by_name(run: RunInfo) -> dict[str, TaskRun]:
    return {t.name: t for t in run.tasks}


# summary.json ------------------------------------------------------------------


def test_the_summary_lists_the_run_and_every_task_as_it_ran(run: RunInfo,
                                                            files: RunFiles) -> None:
    summary = json.loads(files.summary.read_text())

    assert summary["schema"] == 1
    assert (summary["id"], summary["status"], summary["mode"], summary["workers"]) == \
        (42, "failed", "development", 2)
    assert summary["started"] == "2023-11-14T22:13:20.250Z"
    assert summary["ended"] == "2023-11-14T22:13:24.250Z"
    assert summary["started_epoch"] == T0 and summary["duration"] == pytest.approx(4.0)
    assert summary["argv"] == ["-n", "2", "mode=development"]
    assert summary["git"] == {"commit": "0123abcd", "branch": "main"}
    assert summary["counts"] == {"built": 2, "flaky": 1, "up to date": 2, "failed": 1,
                                 "timed out": 1, "skipped": 1}
    assert [t["name"] for t in summary["tasks"]] == [t.name for t in run.tasks]
    for entry in summary["tasks"]:
        task = by_name(run)[entry["name"]]
        assert entry["status"] == task.status
        assert entry["started_epoch"] == task.started and entry["ended_epoch"] == task.ended
        assert entry["duration"] == task.duration and entry["executed"] == task.executed
        assert (entry["attempts"], entry["exit_code"], entry["log"]) == \
            (task.attempts, task.exit_code, task.log)
        assert entry["deps"] == list(task.deps) and entry["outputs"] == list(task.outputs)
        assert entry["test"] is task.test
    lib = summary["tasks"][0]
    assert (lib["peak_rss"], lib["cpu_time"]) == (10_000_000, 0.5)
    assert (lib["inputs_digest"], lib["output_digest"]) == ("in-lib", "out-lib")
    assert lib["started"] == "2023-11-14T22:13:20.350Z"
    assert summary["tasks"][2]["started"] is None and summary["tasks"][2]["lane"] is None


# trace.json --------------------------------------------------------------------


def test_the_trace_has_an_event_per_executed_task_in_worker_lanes(run: RunInfo,
                                                                  files: RunFiles) -> None:
    trace = json.loads(files.trace.read_text())
    events = trace["traceEvents"]
    assert trace["displayTimeUnit"] == "ms"

    meta = {(e["name"], e["tid"]): e["args"] for e in events if e["ph"] == "M"}
    assert meta[("process_name", 0)] == {"name": "fedbuild run 42"}
    complete = [e for e in events if e["ph"] == "X"]
    executed = [t for t in run.tasks if t.executed]
    assert sorted(e["name"] for e in complete) == sorted(t.name for t in executed)
    for event in complete:
        task = by_name(run)[event["name"]]
        assert task.started is not None
        assert event["ts"] == round((task.started - T0) * 1e6)
        assert event["ts"] + event["dur"] == round((task.ended - T0) * 1e6)
        assert (event["pid"], event["cat"]) == (1, task.status)
        assert event["args"]["status"] == task.status
        assert event["args"].get("exit_code") == task.exit_code
        assert event["args"].get("log") == task.log
        assert meta[("thread_name", event["tid"])] == {"name": f"worker {event['tid']}"}
    lanes = {e["tid"] for e in complete}
    assert lanes == {1, 2}  # two workers, and two tasks did run at once
    assert_no_overlap(complete)

    instants = [e for e in events if e["ph"] == "i"]
    assert [(e["name"], e["s"]) for e in instants] == [("test:docs", "t")]
    assert meta[("thread_name", instants[0]["tid"])] == {"name": "not run"}
    assert instants[0]["ts"] == round(3.6 * 1e6)
    assert not any(e["name"] in ("build:docs", "test:old") for e in events)  # up to date


def assert_no_overlap(events: list[dict[str, Any]]) -> None:
    per_lane: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for event in events:
        per_lane[event["tid"]].append((event["ts"], event["ts"] + event["dur"]))
    for spans in per_lane.values():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert end <= start


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_lanes_never_overlap_and_never_outnumber_the_workers(workers: int) -> None:
    """A simulated scheduler with `workers` workers: a task starts when one is free."""
    rng = random.Random(workers)
    free = [T0] * workers
    tasks = []
    for i in range(200):
        worker = min(range(workers), key=lambda w: free[w])
        start = free[worker] + rng.choice([0.0, 0.0, rng.random() * 0.01])
        free[worker] = start + rng.choice([0.0, 0.000_001, rng.random()])
        tasks.append(TaskRun(f"build:m{i}", "built", ended=free[worker], started=start))
    run = RunInfo(T0, max(free), (), "development", "succeeded", workers, tasks=tuple(tasks))

    lanes = assign_lanes(run)

    assert set(lanes) == {t.name for t in tasks}
    assert max(lanes.values()) == workers  # as many as were busy at once, no more
    spans = []
    for t in tasks:  # in whole microseconds after the run's start, as in the trace
        start, end = round(((t.started or 0) - T0) * 1e6), round((t.ended - T0) * 1e6)
        spans.append({"tid": lanes[t.name], "ts": start, "dur": end - start})
    assert_no_overlap(spans)


def test_each_dask_worker_has_lanes_of_its_own_named_by_its_address() -> None:
    """executor=dask: tasks that ran on a worker are on that worker's lanes (a second lane
    for a second thread), spanning their work there; the lanes here come first."""
    def remote(name: str, worker: str, start: float, run: float) -> TaskRun:
        return TaskRun(name, "built", ended=T0 + start + run + 0.3, started=T0 + start - 0.2,
                       duration=run + 0.5, worker=worker, queued=0.1, remote_run=run,
                       remote_started=T0 + start)

    a, b = "tcp://10.0.0.7:4001", "tcp://10.0.0.8:4001"
    tasks = (TaskRun("federate", "built", ended=T0 + 3.0, started=T0 + 2.5),
             remote("build:x", a, 0.5, 1.0), remote("build:y", a, 0.7, 1.0),
             remote("build:z", b, 0.5, 0.4), remote("build:w", a, 1.6, 0.2))
    run = RunInfo(T0, T0 + 3.0, (), "development", "succeeded", 1, tasks=tasks)

    events = json.loads(json.dumps(trace_document(run, assign_lanes(run))))["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events if e["name"] == "thread_name"}
    assert names == {1: "worker 1", 2: a, 3: f"{a} #2", 4: b}
    complete = [e for e in events if e["ph"] == "X"]
    assert {e["name"]: e["tid"] for e in complete} == {
        "federate": 1, "build:x": 2, "build:y": 3, "build:w": 2, "build:z": 4}
    spans = {e["name"]: (e["ts"], e["dur"]) for e in complete}
    assert spans["build:x"] == (500_000, 1_000_000)  # its work on the worker
    assert_no_overlap(complete)


# junit.xml ---------------------------------------------------------------------

# The shape of JUnit XML as CI systems read it (Jenkins' junit-10.xsd, which GitLab,
# GitHub actions and Azure follow): element -> (required attributes, allowed ones, children).
JUNIT_SHAPE = {
    "testsuites": ({"tests"}, {"name", "time", "tests", "failures", "errors", "skipped",
                               "disabled"}, {"testsuite"}),
    "testsuite": ({"name", "tests"}, {"name", "tests", "failures", "errors", "skipped", "time",
                                      "timestamp", "hostname", "id", "package", "disabled"},
                  {"properties", "testcase", "system-out", "system-err"}),
    "testcase": ({"name"}, {"name", "classname", "time", "status", "assertions"},
                 {"skipped", "error", "failure", "system-out", "system-err"}),
    "failure": (set(), {"message", "type"}, set()),
    "error": (set(), {"message", "type"}, set()),
    "skipped": (set(), {"message"}, set()),
    "system-out": (set(), set(), set()),
}


def assert_shape(element: ET.Element) -> None:
    required, allowed, children = JUNIT_SHAPE[element.tag]
    assert required <= set(element.attrib), (element.tag, element.attrib)
    assert set(element.attrib) <= allowed, (element.tag, element.attrib)
    for child in element:
        assert child.tag in children, (element.tag, child.tag)
        assert_shape(child)
    if element.tag == "testcase":
        assert len([c for c in element if c.tag in ("failure", "error", "skipped")]) <= 1


def test_junit_has_the_schema_shape_and_consistent_counts(files: RunFiles) -> None:
    root = ET.parse(files.junit).getroot()

    assert root.tag == "testsuites"
    assert_shape(root)
    (suite,) = root
    cases = suite.findall("testcase")
    assert suite.get("name") == "fedbuild"
    assert suite.get("timestamp") == "2023-11-14T22:13:20"
    assert suite.get("hostname")
    counted = {"tests": len(cases),
               "failures": sum(c.find("failure") is not None for c in cases),
               "errors": sum(c.find("error") is not None for c in cases),
               "skipped": sum(c.find("skipped") is not None for c in cases)}
    assert counted == {"tests": 5, "failures": 2, "errors": 0, "skipped": 1}
    for element in (root, suite):
        assert {k: int(element.get(k, -1)) for k in counted} == counted
    assert float(suite.get("time", "")) == pytest.approx(0.99 + 1.19 + 1.49, abs=0.002)
    assert [(c.get("classname"), c.get("name")) for c in cases] == \
        [("lib", "test"), ("app", "test"), ("slow", "test"), ("docs", "test"), ("old", "test")]
    assert float(cases[0].get("time", "")) == pytest.approx(0.99, abs=0.001)


def test_junit_failures_carry_the_log_and_escape_what_xml_cannot_hold(files: RunFiles) -> None:
    raw = files.junit.read_text(encoding="utf-8")
    assert "<script>" not in raw and "\x07" not in raw and "\x00" not in raw
    cases = {c.get("classname"): c for c in ET.parse(files.junit).getroot().iter("testcase")}

    failure = cases["app"].find("failure")
    assert failure is not None
    assert (failure.get("type"), failure.get("message")) == ("failed", "exit code 1")
    safe = 'alert <script>&"quoted" bell done'
    assert failure.text == safe
    assert cases["app"].findtext("system-out") == safe + "\n"
    timeout = cases["slow"].find("failure")
    assert timeout is not None
    assert (timeout.get("type"), timeout.get("message")) == ("timed out", "timed out after 1.5 s")
    assert timeout.text == "waiting"
    skipped = cases["docs"].find("skipped")
    assert skipped is not None and skipped.get("message") == "skipped: build:gone failed"
    assert cases["lib"].findtext("system-out") == "3 passed\n"
    assert list(cases["lib"]) == [cases["lib"][0]]  # a pass: its output, nothing else
    old = cases["old"].findtext("system-out") or ""
    assert old.startswith("up to date: not re-run in this run")
    assert float(cases["old"].get("time", "")) == 0.0


def test_junit_keeps_the_end_of_a_long_log_and_survives_a_missing_one(tmp_path: Path) -> None:
    lines = [f"line {i} " + "x" * 90 for i in range(2000)]  # ~200 KiB
    tasks = (TaskRun("test:big", "failed", T0 + 2, T0 + 1, 1.0, exit_code=1, test=True,
                     log=log(tmp_path, "test:big", "\n".join(lines) + "\n")),
             TaskRun("test:lost", "built", T0 + 2, T0 + 1, 1.0, test=True,
                     log=str(tmp_path / "nowhere.log")))
    run = RunInfo(T0, T0 + 3, (), "development", "failed", 1, tasks=tasks)

    junit = write_run_files(tmp_path / "runs", run).junit
    cases = list(ET.parse(junit).getroot().iter("testcase"))

    out = cases[0].findtext("system-out") or ""
    assert len(out.encode()) <= LOG_BYTES + 100
    assert out.startswith("[... the first ") and out.endswith(lines[-1] + "\n")
    assert out.splitlines()[1].startswith("line ")  # cut at a whole line
    assert (cases[0].findtext("failure") or "").splitlines() == lines[-40:]
    assert "log not readable" in (cases[1].findtext("system-out") or "")


def test_a_run_without_tests_still_writes_valid_junit(tmp_path: Path) -> None:
    run = RunInfo(T0, T0 + 1, (), "development", "succeeded", 1,
                  tasks=(TaskRun("build:a", "built", T0 + 1, T0, 1.0),))
    root = ET.parse(write_run_files(tmp_path / "runs", run).junit).getroot()
    assert_shape(root)
    assert root.get("tests") == "0" and root[0].findall("testcase") == []


# folders, latest, prune ----------------------------------------------------------


def test_latest_names_the_newest_run_and_old_runs_are_pruned(run: RunInfo,
                                                             tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    written = []
    for i in range(7):
        later = RunInfo(**{**run.__dict__, "started": T0 + 60 * i, "ended": T0 + 60 * i + 4,
                           "id": 100 + i})
        written.append(write_run_files(runs_dir, later, keep=3))
        assert latest_run(runs_dir) == written[-1].folder
        assert (runs_dir / LATEST).resolve() == written[-1].folder.resolve()
        assert json.loads((runs_dir / LATEST / "summary.json").read_text())["id"] == 100 + i

    assert run_folders(runs_dir) == [f.folder for f in written[-3:]]
    assert sorted(p.name for p in runs_dir.iterdir()) == sorted(
        [LATEST, f"{LATEST}.json", *(f.folder.name for f in written[-3:])])
    assert written[-1].folder.name == "20231114T221920.250000Z-106"


def test_a_run_without_an_id_is_named_by_its_start(run: RunInfo, tmp_path: Path) -> None:
    anonymous = RunInfo(**{**run.__dict__, "id": None})
    files = write_run_files(tmp_path / "runs", anonymous)
    assert files.folder.name == folder_name(anonymous) == "20231114T221320.250000Z"
    assert json.loads(files.trace.read_text())["traceEvents"][0]["args"] == \
        {"name": "fedbuild run 20231114T221320.250000Z"}


def test_writing_the_same_run_again_replaces_it_whole(run: RunInfo, tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    first = write_run_files(runs_dir, run)
    (first.folder / "stray.txt").write_text("from before")
    again = write_run_files(runs_dir, RunInfo(**{**run.__dict__, "status": "succeeded"}))
    assert again.folder == first.folder
    assert sorted(p.name for p in again.folder.iterdir()) == \
        ["junit.xml", "summary.json", "trace.json"]
    assert json.loads(again.summary.read_text())["status"] == "succeeded"


def test_what_a_dead_writer_left_is_removed_and_a_live_ones_kept(run: RunInfo,
                                                                 tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    leftover = runs_dir / f".tmp-20230101T000000.000000Z-1-{dead.stdout.strip()}"
    (leftover / "sub").mkdir(parents=True)
    (runs_dir / f".tmp-latest.json-{dead.stdout.strip()}").write_text("{}")
    live = runs_dir / f".tmp-20230101T000000.000000Z-2-{os.getppid()}"
    live.mkdir()
    write_run_files(runs_dir, run)
    assert not leftover.exists() and live.exists()
    assert not (runs_dir / f".tmp-latest.json-{dead.stdout.strip()}").exists()
    assert not any(p.name.endswith(f"-{os.getpid()}") for p in runs_dir.iterdir())


def test_latest_run_is_none_before_any_run_or_when_its_folder_is_gone(run: RunInfo,
                                                                      tmp_path: Path) -> None:
    runs_dir = tmp_path / "runs"
    assert latest_run(runs_dir) is None and run_folders(runs_dir) == []
    files = write_run_files(runs_dir, run)
    (runs_dir / "latest.json").write_text('{"run": "../../etc"}')
    assert latest_run(runs_dir) is None
    (runs_dir / "latest.json").write_text(json.dumps({"run": files.folder.name}))
    assert latest_run(runs_dir) == files.folder
