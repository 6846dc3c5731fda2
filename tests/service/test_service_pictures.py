"""The numbers the dashboard draws: a build's timeline from run files written by the real
writer (tasks/run_files.py), and a project's trends from a real service database."""

from __future__ import annotations

from pathlib import Path

from service.db import Database
from service.pictures import timeline, trends
from tasks.commands.palette import colour
from tasks.run_files import write_run_files
from tasks.timeline import RunInfo, TaskRun


def written_run(tmp_path: Path) -> Path:
    """A run of two workers: gen (1s) then lib (2s) in lane 1 while docs (1.5s) runs in
    lane 2; app (1s) after lib and docs; notes up to date."""
    t0 = 1000.0
    tasks = (TaskRun("gen", "built", t0 + 1, started=t0, duration=1.0),
             TaskRun("docs", "flaky", t0 + 1.5, started=t0, duration=1.5),
             TaskRun("lib", "cached", t0 + 3, started=t0 + 1, duration=2.0, deps=("gen",)),
             TaskRun("app", "failed", t0 + 4, started=t0 + 3, duration=1.0,
                     deps=("lib", "docs")),
             TaskRun("notes", "up to date", t0 + 0.1))
    run = RunInfo(t0, t0 + 4.2, ("doit",), "development", "failed", 2, id=7, tasks=tasks)
    return write_run_files(tmp_path / "runs", run).folder


def test_timeline_has_a_bar_per_executed_task_in_its_lane_and_the_critical_path(
        tmp_path: Path) -> None:
    found = timeline(str(written_run(tmp_path)))
    assert found is not None
    bars = {b["name"]: b for b in found["tasks"]}
    assert set(bars) == {"gen", "docs", "lib", "app"}  # up to date: nothing ran
    assert bars["lib"]["start"] == 1.0 and bars["lib"]["duration"] == 2.0
    assert bars["gen"]["lane"] == bars["lib"]["lane"] != bars["docs"]["lane"]
    assert found["lanes"] == 2 and found["workers"] == 2 and found["wall"] == 4.2
    assert found["critical_path"] == ["gen", "lib", "app"]
    assert found["colours"]["failed"] == colour("failed")


def test_no_run_files_no_timeline(tmp_path: Path) -> None:
    assert timeline(None) is None
    assert timeline(str(tmp_path)) is None  # no summary.json
    (tmp_path / "summary.json").write_text("[1, 2]")
    assert timeline(str(tmp_path)) is None


def test_trends_list_finished_builds_oldest_first_with_each_tasks_runs(tmp_path: Path) -> None:
    db = Database(tmp_path / "service.sqlite3")
    project = str(db.add_project(name="p", path="/repos/p", status="active")["id"])
    ids = []
    for status, seconds in (("success", 3.0), ("failed", 5.0), ("success", 4.0)):
        build = db.add_build(project, "manual", "development", [])
        assert db.claim(set()) is not None
        db.task_started(build["id"], "build:a")
        db.task_finished(build["id"], "build:a", "flaky" if status == "failed" else "built",
                         seconds - 1, None, 1, 1)
        db.finish(build["id"], status, duration=seconds)
        ids.append(build["id"])
    db.add_build(project, "manual", "development", [])  # pending: not in the trends
    found = trends(db, project, last=2)
    assert [b["id"] for b in found["builds"]] == ids[1:]
    assert [b["duration"] for b in found["builds"]] == [5.0, 4.0]
    assert found["tasks"]["build:a"] == [
        {"build": ids[1], "status": "flaky", "duration": 4.0},
        {"build": ids[2], "status": "built", "duration": 3.0}]
