"""The files a real run leaves for other tools (summary, Chrome trace, JUnit), checked against
what ran: the run history, the logs, and the summary's critical path."""

from __future__ import annotations

import itertools
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from tasks.history import History
from tasks.run_files import latest_run
from tests.conftest import copy_fixture, run_doit


def latest(repo: Path) -> Path:
    folder = latest_run(repo / ".fedbuild" / "runs")
    assert folder is not None
    assert (folder.parent / "latest").resolve() == folder.resolve()
    return folder


def test_a_parallel_run_with_a_failing_test_leaves_files_that_match_what_ran(
        tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    result = run_doit(repo, "-n", "2", env={"BREAK_TEST": "1"})
    assert result.returncode == 1, result.stdout
    folder = latest(repo)
    assert f"run files: .fedbuild/runs/{folder.name}/ (summary.json, trace.json, junit.xml)" \
        in result.stdout

    history = History(repo / ".fedbuild" / "history.sqlite3")
    run = history.runs(1)[0]
    recorded = {t.name: t for t in history.tasks(run.id)}
    assert set(recorded) == {"build:quick", "test:quick", "build:slow", "build:chatty",
                             "build:broken", "test:broken"}

    # summary.json: the run as the history has it, every task with its status and timings.
    summary = json.loads((folder / "summary.json").read_text())
    assert (summary["id"], summary["status"], summary["workers"]) == (run.id, "failed", 2)
    assert summary["argv"][-2:] == ["-n", "2"]
    tasks = {t["name"]: t for t in summary["tasks"]}
    assert set(tasks) == set(recorded)
    for name, task in tasks.items():
        assert task["status"] == recorded[name].status
        assert task["duration"] == recorded[name].duration
        assert task["started_epoch"] == recorded[name].started
        assert run.started <= task["started_epoch"] <= task["ended_epoch"] <= summary[
            "ended_epoch"]
        assert task["log"] == recorded[name].log
        assert task["inputs_digest"]  # of what the step read
    assert tasks["test:broken"]["status"] == "failed"
    assert tasks["test:broken"]["exit_code"] == 1
    assert tasks["build:slow"]["deps"] == ["build:quick"]
    assert summary["counts"] == {"built": 5, "failed": 1}

    # trace.json: one complete event per task that ran, on at most two non-overlapping lanes,
    # at the times the summary gives.
    trace = json.loads((folder / "trace.json").read_text())
    events = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    assert sorted(e["name"] for e in events) == sorted(tasks)
    lanes: dict[int, list[dict[str, Any]]] = {}
    for event in events:
        task = tasks[event["name"]]
        assert event["cat"] == task["status"]
        assert abs(event["ts"] - (task["started_epoch"] - summary["started_epoch"]) * 1e6) <= 1
        assert abs(event["dur"] - (task["ended_epoch"] - task["started_epoch"]) * 1e6) <= 1
        lanes.setdefault(event["tid"], []).append(event)
    assert 1 <= len(lanes) <= 2
    for lane in lanes.values():
        lane.sort(key=lambda e: e["ts"])
        for before, after in itertools.pairwise(lane):
            assert before["ts"] + before["dur"] <= after["ts"]
    names = {e["tid"]: e["args"]["name"] for e in trace["traceEvents"]
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {names[tid] for tid in lanes} <= {"worker 1", "worker 2"}

    # junit.xml: the two test steps, one failed with its log, one passed with its output.
    root = ET.parse(folder / "junit.xml").getroot()
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("2", "1", "0")
    cases = {(c.get("classname"), c.get("name")): c for c in suite.findall("testcase")}
    assert set(cases) == {("quick", "test"), ("broken", "test")}
    failure = cases[("broken", "test")].find("failure")
    assert failure is not None and "failing as asked by BREAK_TEST=1" in (failure.text or "")
    out = cases[("quick", "test")].findtext("system-out") or ""
    assert "quick-test line 1" in out and cases[("quick", "test")].find("failure") is None


def test_the_summary_names_the_critical_path_of_a_chain(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    result = run_doit(repo, "-n", "2", "build:slow", "build:chatty")
    assert result.returncode == 0, result.stdout
    path = next(ln for ln in result.stdout.splitlines() if ln.startswith("critical path: "))
    # build:slow waits for build:quick; build:chatty (about 0.5 s) stands alone.
    chain = re.findall(r"(build:\w+) \d+\.\d+s", path)
    assert chain in (["build:quick", "build:slow"], ["build:chatty"]), path
    assert re.search(r"= \d+\.\d+s of \d+\.\d+s wall", path)
    use = next(ln for ln in result.stdout.splitlines() if ln.startswith("parallelism: "))
    assert re.fullmatch(r"parallelism: \d\.\d of 2 workers on average \(peak [12]\); "
                        r"work \d+\.\d+s", use), use
