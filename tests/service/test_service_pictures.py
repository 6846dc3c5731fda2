"""The numbers the dashboard draws: a build's timeline from run files written by the real
writer (tasks/run_files.py), a project's trends from a real service database, and a
project's task graph from a real `doit serve` building a fixture project (laid out by
Graphviz's `dot`)."""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from service.db import Database
from service.pictures import timeline, trends
from tasks.commands.palette import colour
from tasks.run_files import write_run_files
from tasks.timeline import RunInfo, TaskRun
from tests.service.service_server import Service, git


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


# A step that fails on its first attempt and passes on the retry (flaky): a marker in the root.
ONCE_FAILING = ("import pathlib, sys; mark = pathlib.Path(sys.argv[1]) / '.tried'; "
                "tried = mark.exists(); mark.touch(); sys.exit(0 if tried else 1)")
GRAPH_TASKS = {"build:gen", "build:lib", "build:app", "build:notes", "test:lib"}
GRAPH_EDGES = {("build:gen", "build:lib"), ("build:gen", "test:lib"),
               ("build:lib", "build:app"), ("build:lib", "test:lib")}


def graph_repository(dest: Path) -> Path:
    """Four modules in git: gen <- lib <- app, lib with a test step that passes on its retry
    (flaky), and notes on its own."""
    quiet = ["{python}", "-c", "pass"]

    def module(name: str, needs: list[str], steps: list[dict[str, Any]]) -> dict[str, Any]:
        (dest / "modules" / name).mkdir(parents=True)
        (dest / "modules" / name / "README.txt").write_text(f"{name}\n")
        return {"name": name, "toolchain": "command", "depends_on": needs,
                "source": {"repository": "local", "path": f"modules/{name}"}, "steps": steps}

    build = [{"name": "build", "description": "make it", "argv": quiet}]
    modules = [module("gen", [], build),
               module("lib", ["gen"], [*build, {
                   "name": "test", "description": "passes on its retry", "retries": 1,
                   "depends_on": ["build"], "argv": ["{python}", "-c", ONCE_FAILING, "{root}"]}]),
               module("app", ["lib"], build), module("notes", [], build)]
    manifest = {"federation": {"name": "graph fixture", "baseURL": "https://graph.example.org"},
                "modules": modules}
    (dest / "modules.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (dest / ".gitignore").write_text(".fedbuild/\ndist/\npublic/\n.tried\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "graph")
    return dest


def heaviest_chain(durations: dict[str, float], edges: set[tuple[str, str]]) -> float:
    """The largest sum of durations along any chain of edges (the graph is small)."""
    after = {name: [b for a, b in edges if a == name] for name in durations}

    def longest(name: str) -> float:
        return durations[name] + max((longest(n) for n in after[name]), default=0.0)
    return max(longest(name) for name in durations)


def check_picture(graph: dict[str, Any]) -> None:
    """Left to right by depth: each edge starts left of where it ends, a cubic Bezier spline
    with an arrowhead; the critical path a chain of edges as heavy as any, marked as such."""
    nodes = {n["name"]: n for n in graph["nodes"]}
    for edge in graph["edges"]:
        before, after = nodes[edge["from"]], nodes[edge["to"]]
        assert before["x"] < after["x"]
        assert len(edge["path"]) >= 4 and len(edge["path"]) % 3 == 1
        assert len(edge["arrow"]) == 3
        assert edge["path"][0][0] >= before["x"] and edge["arrow"][1][0] <= after["x"]
        assert 0 <= edge["path"][0][1] <= graph["height"]
    chain = graph["critical_path"]
    assert chain and set(itertools.pairwise(chain)) <= GRAPH_EDGES
    durations = {name: node["duration"] for name, node in nodes.items()}
    assert sum(durations[n] for n in chain) == pytest.approx(heaviest_chain(durations, GRAPH_EDGES))
    assert {n for n, node in nodes.items() if node["critical"]} == set(chain)
    assert {(e["from"], e["to"]) for e in graph["edges"] if e["critical"]} == set(
        itertools.pairwise(chain))


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")
def test_the_project_graph_is_its_newest_builds_tasks_with_recorded_durations(
        service: Service, tmp_path: Path) -> None:
    project = service.register(graph_repository(tmp_path / "graph"), name="graph")
    path = f"/api/projects/{project['id']}/graph"
    assert service.request("GET", path, token=None).status_code == 401
    assert service.get(path).status_code == 404  # no build yet
    first = service.wait_build(service.trigger(project["id"], tasks=["build", "test"])["id"])
    assert first["status"] == "success"
    graph = service.get(path).json()
    nodes = {n["name"]: n for n in graph["nodes"]}
    assert graph["build"] == first["id"] and set(nodes) == GRAPH_TASKS
    assert {(e["from"], e["to"]) for e in graph["edges"]} == GRAPH_EDGES
    assert {n: node["status"] for n, node in nodes.items()} == {
        **{n: "built" for n in GRAPH_TASKS}, "test:lib": "flaky"}
    recorded = {t["task"]: t["duration"] for t in first["task_results"]}
    assert {n: node["duration"] for n, node in nodes.items()} == recorded
    assert {node["duration_build"] for node in nodes.values()} == {first["id"]}
    assert nodes["test:lib"]["details"]["attempts"] == 2
    assert nodes["build:lib"]["details"]["deps"] == ["build:gen"]
    assert graph["colours"]["flaky"] == colour("flaky")
    check_picture(graph)

    # Nothing changed: the next build runs nothing; its statuses, the first's durations.
    second = service.wait_build(service.trigger(project["id"], tasks=["build", "test"])["id"])
    again = service.get(path).json()
    assert again["build"] == second["id"]
    assert {n["status"] for n in again["nodes"]} == {"up to date"}
    assert {n["name"]: n["duration"] for n in again["nodes"]} == recorded
    assert {n["duration_build"] for n in again["nodes"]} == {first["id"]}
    assert again["critical_path"] == graph["critical_path"]
    check_picture(again)
    assert service.get("/api/projects/no-such/graph").status_code == 404
