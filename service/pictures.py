"""The data the dashboard draws (static/pictures.js): a build's timeline, read from the run
files its doit run wrote (summary.json: the lane each task ran in, its times and what it
waited for; the critical path is tasks/critical_path.py's), a project's trends over
its last builds, from the service's own database (each build's duration and every
task's status and duration in it), and a project's task graph, laid out by Graphviz's
`dot` (the picture of `doit graph --format html`, as positions and paths to draw)."""

from __future__ import annotations

import functools
import itertools
import json
from pathlib import Path
from typing import Any

from service.db import Database
from service.status import FINISHED
from tasks.commands.graph_model import Graph
from tasks.commands.graph_view import (
    RUNS_LOOKED_AT,
    DotFailed,
    NodeFacts,
    graph_chain,
    node_ids,
    run_dot,
    to_picture_dot,
)
from tasks.commands.palette import CRITICAL, legend
from tasks.commands.stats_model import TIMED
from tasks.critical_path import critical_path
from tasks.run_files import SUMMARY
from tasks.timeline import RunInfo, TaskRun

TREND_BUILDS = 20  # builds in a project's trends, by default
MOST_BUILDS = 200
# The fill of each task status (and of the critical path's outline): tasks/commands/palette.py,
# the same colours as `doit graph --format html`.
COLOURS = {**dict(legend()), "critical": CRITICAL}
POINTS = 72.0  # Graphviz's points an inch: node sizes come in inches, positions in points
# What a node's details show of its entry in summary.json (tasks/run_files.py), in order.
DETAILS = ("status", "duration", "attempts", "exit_code", "started", "ended", "cpu_time",
           "peak_rss", "inputs_digest", "output_digest", "saved", "message", "outputs", "deps")


class GraphUnavailable(Exception):
    """Graphviz is missing or could not lay the graph out: one line saying which."""


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


def project_graph(db: Database, project_id: str) -> dict[str, Any] | None:
    """The project's task graph as its newest finished build with run files left it: each
    task's status in it, its last recorded duration (of that build or the ones before),
    the critical path over those durations, and where `dot` put each node and edge (in
    points, y downwards). None when no finished build has run files."""
    builds, _ = db.builds(project_id, limit=MOST_BUILDS)
    finished = [b for b in builds if b["status"] in FINISHED]
    found = next(((i, s) for i, s in enumerate(_summary(b.get("run_files")) for b in finished)
                  if s is not None), None)
    if found is None:
        return None
    index, summary = found
    build = finished[index]
    entries = {str(t["name"]): t for t in summary["tasks"]}
    names = set(entries)
    edges = {(str(dep), name) for name, t in entries.items() for dep in t.get("deps") or ()
             if dep in names and dep != name}
    graph = Graph(tuple(sorted(names)), tuple(sorted(edges)))
    recorded = _recorded(db, finished[index:index + RUNS_LOOKED_AT], names)
    facts = {name: NodeFacts(name, status=str(entries[name]["status"]),
                             duration=recorded.get(name, (None, None))[0])
             for name in graph.nodes}
    chain = graph_chain(graph, facts)
    return _drawn(graph, facts, chain, entries, recorded, int(build["id"]))


def _recorded(db: Database, builds: list[dict[str, Any]], names: set[str]
              ) -> dict[str, tuple[float, int]]:
    """Each task's latest timed duration (built or flaky) in these builds, newest first,
    with the build it is from."""
    found: dict[str, tuple[float, int]] = {}
    for build in builds:
        for row in db.tasks(build["id"]):
            if (row["task"] in names and row["status"] in TIMED
                    and row["duration"] is not None):
                found.setdefault(row["task"], (float(row["duration"]), int(build["id"])))
        if len(found) == len(names):
            break
    return found


def _drawn(graph: Graph, facts: dict[str, NodeFacts], chain: tuple[str, ...],
           entries: dict[str, dict[str, Any]], recorded: dict[str, tuple[float, int]],
           build: int) -> dict[str, Any]:
    """The answer: nodes and edges with their places, facts and details."""
    places, paths, size = _layout(to_picture_dot(graph, facts, chain))
    on_path, ids = set(chain), node_ids(graph)
    path_edges = set(itertools.pairwise(chain))
    nodes = []
    for name in graph.nodes:
        duration, source = recorded.get(name, (None, None))
        nodes.append({"id": ids[name], "name": name, "status": facts[name].status,
                      "duration": duration, "duration_build": source,
                      "critical": name in on_path, **places[ids[name]],
                      "details": {key: entries[name].get(key) for key in DETAILS}})
    lines = [{"from": before, "to": after, "critical": (before, after) in path_edges,
              **paths[f"{ids[before]}-{ids[after]}"]} for before, after in graph.edges]
    return {"build": build, "colours": COLOURS, "width": size[0], "height": size[1],
            "nodes": nodes, "edges": lines, "critical_path": list(chain)}


@functools.lru_cache(maxsize=8)
def _layout(dot_text: str) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, Any]],
                                     tuple[float, float]]:
    """Where `dot -Tjson` puts each node (centre, width, height, by id) and each edge (its
    Bezier control points and arrowhead, by id), and the drawing's size; y downwards.
    Remembered: the dashboard asks again until a newer build finishes."""
    laid = _dot_json(dot_text)
    _, _, width, height = (float(v) for v in str(laid["bb"]).split(","))

    def flip(point: list[float]) -> list[float]:
        return [round(point[0], 2), round(height - point[1], 2)]

    places = {}
    for node in laid.get("objects", []):
        x, y = flip([float(v) for v in str(node["pos"]).split(",")])
        places[str(node["id"])] = {
            "x": x, "y": y,
            "width": round(float(node["width"]) * POINTS, 2),
            "height": round(float(node["height"]) * POINTS, 2)}
    paths = {}
    for edge in laid.get("edges", []):
        curve = _points(edge.get("_draw_", []), "b")
        arrow = _points(edge.get("_hdraw_", []), "P")
        paths[str(edge["id"])] = {"path": [flip(p) for p in curve],
                                  "arrow": [flip(p) for p in arrow]}
    return places, paths, (round(width, 2), round(height, 2))


def _points(operations: list[dict[str, Any]], op: str) -> list[list[float]]:
    """The points of the first drawing operation `op` (xdot: b a Bezier, P a polygon)."""
    return next((list(o["points"]) for o in operations if o.get("op") == op), [])


def _dot_json(dot_text: str) -> dict[str, Any]:
    """`dot -Tjson` of the text."""
    try:
        document: dict[str, Any] = json.loads(run_dot(dot_text, "json"))
    except DotFailed as err:
        raise GraphUnavailable(str(err).partition(", or use")[0]) from None
    return document
