"""The dashboard's pictures in Debian's headless Chromium (Playwright, nothing downloaded),
against the shared real `doit serve` building a git copy of this repository's example
monorepo: a build's timeline (a bar per executed task in its worker's lane, the critical
path outlined), each task's chart over the last builds and the project's build-time
trend; and a fixture project's task graph (Graphviz's layout drawn node by node, a click
shows a task's facts, a filter box); no console error and no request beyond the service.
The screenshots go to the test's folder, and to FEDBUILD_PICTURES (the README's:
docs/pictures) when that is set."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_example
from tests.service.service_server import Service, git
from tests.service.test_dashboard import CHROMIUM, Tab, browser, open_dashboard, tab
from tests.service.test_service_pictures import GRAPH_EDGES, GRAPH_TASKS, graph_repository

sync_api = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
SITES = ["build:home", "build:docs", "build:blog"]
__all__ = ["browser", "tab"]  # the fixtures, shared with test_dashboard.py


def example_repository(dest: Path) -> Path:
    """This repository's example monorepo, committed in git."""
    copy_example(dest)
    (dest / ".gitignore").write_text(".fedbuild/\ndist/\npublic/\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "example")
    return dest


def built_twice(service: Service, tmp_path: Path) -> tuple[dict[str, Any], list[int]]:
    """The example registered, its three sites built twice (the second run: up to date)."""
    project = service.register(example_repository(tmp_path / "example"), name="example")
    ids = []
    for _ in range(2):
        build = service.trigger(project["id"], tasks=SITES)
        assert service.wait_build(build["id"])["status"] == "success"
        ids.append(build["id"])
    return project, ids


def test_timeline_task_charts_and_trend_of_the_example(service: Service, tab: Tab,
                                                       tmp_path: Path) -> None:
    project, (first, second) = built_twice(service, tmp_path)
    answer = service.get(f"/api/builds/{first}/timeline")
    assert answer.status_code == 200, answer.text
    expected = answer.json()
    errors: list[str] = []
    elsewhere: list[str] = []
    tab.page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.page.on("pageerror", lambda e: errors.append(str(e)))
    tab.page.on("request", lambda r: elsewhere.append(r.url)
                if not r.url.startswith(service.url) and not r.url.startswith("data:") else None)
    page = open_dashboard(service, tab, project)

    trend = page.locator("#project-trend svg.trend circle.point")
    sync_api.expect(trend).to_have_count(2)
    assert trend.evaluate_all("ps => ps.map(p => p.getAttribute('data-build-id'))") == [
        str(first), str(second)]

    page.locator(f'#build-list tr[data-build-id="{first}"]').click()
    bars = page.locator("#build-timeline svg.timeline rect.bar")
    sync_api.expect(bars).to_have_count(3)
    names = bars.evaluate_all("bs => bs.map(b => b.getAttribute('data-task'))")
    assert sorted(names) == sorted(SITES)
    assert {b["name"] for b in expected["tasks"]} == set(SITES)
    marked = page.locator("#build-timeline rect.bar.critical").evaluate_all(
        "bs => bs.map(b => b.getAttribute('data-task'))")
    assert marked == expected["critical_path"] and marked
    statuses = set(bars.evaluate_all("bs => bs.map(b => b.getAttribute('data-status'))"))
    assert statuses == {"built"}

    # Each task's chart: one bar per build that ran it (built, then up to date).
    chart = page.locator('#build-tasks tr[data-task="build:docs"] svg.task-chart rect.run')
    sync_api.expect(chart).to_have_count(2)
    assert chart.evaluate_all("rs => rs.map(r => r.getAttribute('data-status'))") == [
        "built", "up to date"]

    # The second build ran nothing: its timeline has no bar, and no error.
    page.locator(f'#build-list tr[data-build-id="{second}"]').click()
    sync_api.expect(page.locator("#build-detail")).to_have_attribute("data-build-id",
                                                                     str(second))
    sync_api.expect(page.locator("#build-timeline svg.timeline")).to_have_count(1)
    assert page.locator("#build-timeline rect.bar").count() == 0

    page.locator(f'#build-list tr[data-build-id="{first}"]').click()
    sync_api.expect(bars).to_have_count(3)
    shot = tmp_path / "dashboard-example.png"
    page.screenshot(path=str(shot), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1280, "height": 1000})  # the log left out
    keep_picture(shot)
    assert errors == [] and elsewhere == []


def keep_picture(shot: Path) -> None:
    """A copy of the screenshot in FEDBUILD_PICTURES, when that is set (the README's)."""
    keep = os.environ.get("FEDBUILD_PICTURES")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)


@pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")
def test_the_project_graph_is_drawn_a_click_shows_a_task_and_the_filter_dims(
        service: Service, tab: Tab, tmp_path: Path) -> None:
    project = service.register(graph_repository(tmp_path / "graph"), name="graph view")
    build = service.wait_build(service.trigger(project["id"], tasks=["build", "test"])["id"])
    assert build["status"] == "success"
    expected = service.get(f"/api/projects/{project['id']}/graph").json()
    errors: list[str] = []
    elsewhere: list[str] = []
    tab.page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.page.on("pageerror", lambda e: errors.append(str(e)))
    tab.page.on("request", lambda r: elsewhere.append(r.url)
                if not r.url.startswith(service.url) and not r.url.startswith("data:") else None)
    page = open_dashboard(service, tab, project)

    nodes = page.locator("#project-graph svg.task-graph g.node")
    sync_api.expect(nodes).to_have_count(len(GRAPH_TASKS))
    drawn = dict(nodes.evaluate_all(
        "ns => ns.map(n => [n.getAttribute('data-task'), n.getAttribute('data-status')])"))
    assert drawn == {n["name"]: n["status"] for n in expected["nodes"]}
    assert drawn["test:lib"] == "flaky"
    edges = page.locator("#project-graph g.edge").evaluate_all(
        "es => es.map(e => [e.getAttribute('data-from'), e.getAttribute('data-to'),"
        " e.querySelectorAll('path').length, e.querySelectorAll('polygon').length])")
    assert {(a, b) for a, b, _, _ in edges} == GRAPH_EDGES
    assert all(paths == arrows == 1 for _, _, paths, arrows in edges)
    marked = page.locator("#project-graph g.node.critical").evaluate_all(
        "ns => ns.map(n => n.getAttribute('data-task'))")
    assert sorted(marked) == sorted(expected["critical_path"]) and marked
    sync_api.expect(page.locator("#graph-note")).to_contain_text(" → ".join(
        expected["critical_path"]))

    page.locator('#project-graph g.node[data-task="test:lib"]').click()
    facts = page.locator("#graph-node-facts")
    sync_api.expect(facts).to_contain_text("flaky")
    sync_api.expect(facts).to_contain_text("Attempts2")
    sync_api.expect(facts).to_contain_text("Needsbuild:gen, build:lib")
    assert page.locator("#graph-details h5").text_content() == "test:lib"

    page.locator("#graph-filter").fill("lib")
    sync_api.expect(page.locator("#graph-shown")).to_have_text("2 of 5 tasks")
    dimmed = page.locator("#project-graph g.node.dim").evaluate_all(
        "ns => ns.map(n => n.getAttribute('data-task')).sort()")
    assert dimmed == ["build:app", "build:gen", "build:notes"]
    page.locator("#graph-filter").fill("")
    sync_api.expect(page.locator("#project-graph g.node.dim")).to_have_count(0)

    shot = tmp_path / "dashboard-graph.png"
    page.locator("#graph-panel").screenshot(path=str(shot))
    keep_picture(shot)
    assert errors == [] and elsewhere == []


def test_picture_endpoints_need_the_token_and_name_what_is_missing(service: Service,
                                                                   tmp_path: Path) -> None:
    project = service.register(example_repository(tmp_path / "example"), name="example 2")
    for path in (f"/api/projects/{project['id']}/trends", "/api/builds/1/timeline"):
        answer = service.request("GET", path, token=None)
        assert answer.status_code == 401, path
    assert service.get(f"/api/projects/{project['id']}/trends").json()["builds"] == []
    assert service.get(f"/api/projects/{project['id']}/trends?last=0").status_code == 422
    assert service.get("/api/projects/no-such/trends").status_code == 404
    assert service.get("/api/builds/999999/timeline").status_code == 404


# A step that fails on its first attempt and passes on the retry: flaky.
FLAKY_STEP = ("import pathlib, sys; mark = pathlib.Path(sys.argv[1]) / '.tried'; "
              "tried = mark.exists(); mark.touch(); sys.exit(0 if tried else 1)")


def flaky_repository(dest: Path) -> Path:
    """One module whose build step passes only on a retry."""
    (dest / "modules" / "wobbly").mkdir(parents=True)
    (dest / "modules" / "wobbly" / "README.txt").write_text("wobbly\n")
    manifest = {"federation": {"name": "flaky fixture", "baseURL": "https://flaky.example.org"},
                "modules": [{"name": "wobbly", "toolchain": "command",
                             "source": {"repository": "local", "path": "modules/wobbly"},
                             "steps": [{"name": "build", "description": "fails once",
                                        "retries": 1,
                                        "argv": ["{python}", "-c", FLAKY_STEP, "{root}"]}]}]}
    (dest / "modules.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (dest / ".gitignore").write_text(".fedbuild/\ndist/\npublic/\n.tried\n")
    git(dest, "init", "-q", "-b", "main")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "flaky")
    return dest


def test_a_flaky_run_is_marked_in_its_tasks_chart(service: Service, tab: Tab,
                                                  tmp_path: Path) -> None:
    project = service.register(flaky_repository(tmp_path / "flaky"), name="flaky")
    build = service.trigger(project["id"])
    assert service.wait_build(build["id"])["status"] == "success"
    page = open_dashboard(service, tab, project)
    page.locator(f'#build-list tr[data-build-id="{build["id"]}"]').click()
    row = page.locator('#build-tasks tr[data-task="build:wobbly"]')
    sync_api.expect(row.locator("svg.task-chart rect.run.flaky")).to_have_count(1)
    sync_api.expect(row.locator("svg.task-chart circle.flaky-mark")).to_have_count(1)
    bar = page.locator('#build-timeline rect.bar[data-task="build:wobbly"]')
    sync_api.expect(bar).to_have_attribute("data-status", "flaky")
