"""FEDBUILD_EVENTS: a real run's events, one JSON line each, in the order they happened."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import copy_fixture, run_doit


def test_a_run_writes_its_events_as_they_happen(tmp_path: Path) -> None:
    repo = copy_fixture("steps", tmp_path / "repo")
    events_file = tmp_path / "events.jsonl"

    result = run_doit(repo, "-n", "2", env={"FEDBUILD_EVENTS": str(events_file)})

    assert result.returncode == 0, result.stdout + result.stderr
    events = [json.loads(line) for line in events_file.read_text().splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
    total = events[0]["total"]
    finished = [e for e in events if e["event"] == "task.finished"]
    assert len(finished) == total == len(events[0]["tasks"])
    assert [e["done"] for e in finished] == list(range(1, total + 1))
    for event in finished:  # a task that ran was reported started before it finished
        if event["status"] == "built":
            starts = [i for i, e in enumerate(events)
                      if e["event"] == "task.started" and e["task"] == event["task"]]
            assert starts and starts[0] < events.index(event)
    assert events[-1]["status"] == "succeeded"
    assert events[-1]["run_id"] == events[0]["run_id"]
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)


def test_without_the_variable_nothing_is_written(tmp_path: Path) -> None:
    repo = copy_fixture("steps", tmp_path / "repo")
    result = run_doit(repo)
    assert result.returncode == 0
    assert not list(tmp_path.rglob("*.jsonl"))
