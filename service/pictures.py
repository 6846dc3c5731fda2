"""The data the dashboard draws (static/pictures.js): a build's timeline, read from the run
files its doit run wrote (summary.json: the lane each task ran in, its times and what it
waited for; the critical path is tasks/critical_path.py's), and a project's trends over
its last builds, from the service's own database (each build's duration and every
task's status and duration in it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from service.db import Database
from service.status import FINISHED
from tasks.commands.palette import CRITICAL, legend
from tasks.critical_path import critical_path
from tasks.run_files import SUMMARY
from tasks.timeline import RunInfo, TaskRun

TREND_BUILDS = 20  # builds in a project's trends, by default
MOST_BUILDS = 200
# The fill of each task status (and of the critical path's outline): tasks/commands/palette.py,
# the same colours as `doit graph --format html`.
COLOURS = {**dict(legend()), "critical": CRITICAL}


def timeline(run_files: str | None) -> dict[str, Any] | None:
    """A run's timeline: each executed task's lane, start (seconds after the run's start),
    duration and status; the run's wall time, workers and critical path. None without
    readable run files."""
    summary = _summary(run_files)
    if summary is None:
        return None
    origin = float(summary["started_epoch"])
    run = _run_info(summary)
    path = critical_path(run)
    bars: list[dict[str, Any]] = [
        {"name": str(t["name"]), "status": str(t["status"]), "lane": int(t["lane"]),
         "start": round(float(t["started_epoch"]) - origin, 3),
         "duration": round(max(float(t["ended_epoch"]) - float(t["started_epoch"]), 0.0), 3)}
        for t in summary["tasks"] if t.get("executed") and t.get("lane") is not None]
    return {"colours": COLOURS, "wall": round(run.ended - run.started, 3),
            "workers": run.workers,
            "lanes": max((int(b["lane"]) for b in bars), default=0), "tasks": bars,
            "critical_path": list(path.chain) if path is not None else []}


def _summary(run_files: str | None) -> dict[str, Any] | None:
    """The run's summary.json, or None when it is missing or not what run_files.py writes."""
    if not run_files:
        return None
    try:
        document = json.loads((Path(run_files) / SUMMARY).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("tasks"), list):
        return None
    return document


def _run_info(summary: dict[str, Any]) -> RunInfo:
    """The run as tasks/timeline.py has it, for the critical path."""
    tasks = tuple(TaskRun(str(t["name"]), str(t["status"]), float(t["ended_epoch"]),
                          started=t.get("started_epoch"), duration=t.get("duration"),
                          deps=tuple(t.get("deps") or ()))
                  for t in summary["tasks"])
    return RunInfo(float(summary["started_epoch"]), float(summary["ended_epoch"]),
                   tuple(summary.get("argv") or ()), str(summary.get("mode", "")),
                   str(summary.get("status", "")), int(summary.get("workers") or 1),
                   tasks=tasks)


def trends(db: Database, project_id: str, last: int = TREND_BUILDS) -> dict[str, Any]:
    """The project's last `last` finished builds, oldest first (id, status, duration), and
    per task its status and duration in each of them that ran it."""
    builds, _ = db.builds(project_id, limit=MOST_BUILDS)
    finished = [b for b in builds if b["status"] in FINISHED][:max(1, min(last, MOST_BUILDS))]
    finished.reverse()
    tasks: dict[str, list[dict[str, Any]]] = {}
    for build in finished:
        for row in db.tasks(build["id"]):
            tasks.setdefault(row["task"], []).append(
                {"build": build["id"], "status": row["status"], "duration": row["duration"]})
    builds = [{"id": b["id"], "status": b["status"], "duration": b["duration"],
               "created_at": b["created_at"]} for b in finished]
    return {"colours": COLOURS, "builds": builds, "tasks": dict(sorted(tasks.items()))}
