"""The pictures of real runs: `doit graph --format html|svg` and `doit stats --plot` on the
reporting fixture after real builds, opened in Debian's headless Chromium through
Playwright (nothing downloaded): no console error, no request beyond file://, a click
shows a task's facts. Screenshots go to the test's folder; with FEDBUILD_PICTURES=DIR
(the README's pictures: docs/pictures) they are copied there too."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DODO, copy_example, copy_fixture, run_doit

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
SVG = "{http://www.w3.org/2000/svg}"
pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed"),
    pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium, headless."""
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                              args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reporting fixture after two runs: all built but broken (failed); then quick
    forgotten and restored from the action cache."""
    repo = copy_fixture("reporting", tmp_path_factory.mktemp("pictures") / "repo")
    assert run_doit(repo, env={"BREAK": "1"}).returncode != 0
    assert run_doit(repo, "forget", "build:quick").returncode == 0
    assert run_doit(repo, "build:quick").returncode == 0
    return repo


def command(repo: Path, name: str, *args: str, path: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    """`doit <name> <args>` (a fedbuild command) on the repository, for real."""
    env = {**os.environ, "NO_COLOR": "1", **({"PATH": path} if path is not None else {})}
    return subprocess.run([sys.executable, "-m", "doit", name, "-f", str(DODO), "-d", str(repo),
                           *args], cwd=repo, env=env, text=True, capture_output=True,
                          timeout=120, check=False)


def opened(browser: Any, page_file: Path) -> tuple[Any, list[str], list[str]]:
    """The page opened from its file, with the lists its console errors and its requests
    for anything but file:// and data: are gathered in."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url)
            if not r.url.startswith(("file://", "data:")) else None)
    page.goto(page_file.as_uri())
    page.wait_for_load_state("load")
    return page, errors, requests


def screenshot(page: Any, shot: Path) -> None:
    """Save a screenshot of the page's top in the test's folder, and in FEDBUILD_PICTURES
    when that is set."""
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shot), full_page=False)
    assert shot.stat().st_size > 1000
    keep = os.environ.get("FEDBUILD_PICTURES")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / shot.name)


def fill_of(node: ET.Element) -> str | None:
    """A node's fill colour (its box is a rounded <path>)."""
    shape = node.find(f".//{SVG}path")
    assert shape is not None
    return shape.get("fill")


def test_svg_of_real_runs_shows_last_statuses_and_the_critical_path(built: Path) -> None:
    result = command(built, "graph", "--format", "svg")
    assert result.returncode == 0, result.stderr
    root = ET.fromstring(result.stdout)
    nodes = {g.findtext(f"{SVG}title"): g for g in root.iter(f"{SVG}g")
             if "node" in g.get("class", "").split()}
    assert set(nodes) == {"build:quick", "test:quick", "build:slow", "build:chatty",
                          "build:broken", "test:broken"}
    fills = {name: fill_of(g) for name, g in nodes.items()}
    assert fills["build:broken"] == "#f19a9a"  # failed in the first run
    assert fills["build:slow"] == "#8fd19e"  # built in the first
    assert fills["build:quick"] == "#9cc7ee"  # restored from the cache in the second
    assert fills["test:broken"] == "#dddddd"  # skipped: what it needs failed
    critical = [name for name, g in nodes.items() if "critical" in g.get("class", "").split()]
    assert critical, "a critical path is marked"


def test_html_graph_opens_offline_and_shows_a_tasks_facts(built: Path, browser: Any,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "graph.html"
    result = command(built, "graph", "--format", "html", "--output", str(out))
    assert result.returncode == 0, result.stderr
    page, errors, requests = opened(browser, out)
    page.locator("g.node", has_text="build:broken").click()
    details = page.locator("#details")
    sync_api.expect(details.locator("h2")).to_have_text("build:broken")
    sync_api.expect(details).to_contain_text("last status: failed")
    sync_api.expect(details).to_contain_text("cache key:")
    sync_api.expect(details.locator("pre")).to_contain_text("build:broken will run")
    page.fill("#filter", "quick")
    sync_api.expect(page.locator("#shown")).to_have_text("2 of 6 tasks")
    assert page.locator("g.node.dim").count() == 4
    screenshot(page, tmp_path / "graph.png")
    assert errors == [] and requests == []


def test_without_graphviz_one_line_and_exit_3(built: Path, tmp_path: Path) -> None:
    """No `dot` on PATH: one line naming graphviz, exit 3, no traceback."""
    empty = tmp_path / "bin"
    empty.mkdir()
    result = command(built, "graph", "--format", "svg", path=str(empty))
    assert result.returncode == 3
    assert "install graphviz" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""
    assert re.fullmatch(r"ERROR: [^\n]*\n", result.stderr), result.stderr


def test_stats_report_opens_offline_with_its_charts(built: Path, browser: Any,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = command(built, "stats", "--plot", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"report written to {out} (2 runs)\n"
    page, errors, requests = opened(browser, out)
    titles = page.locator("svg.chart > title").all_text_contents()
    assert titles == ["slowest tasks (average successful execution)", "build time per run",
                      "cache hit rate per run", "time saved by the cache per run"]
    # the four tasks with a successful execution (broken failed; its test never ran)
    assert page.locator("svg.chart").first.locator("g.bar").count() == 4
    assert page.locator("svg.chart").nth(2).locator("circle.point").count() == 2
    screenshot(page, tmp_path / "report.png")
    assert errors == [] and requests == []


def test_pictures_of_the_example_monorepo(browser: Any, tmp_path: Path) -> None:
    """The README's pictures: this repository's example after its three site modules were
    built, then docs forgotten and restored from the cache."""
    repo = copy_example(tmp_path / "example")
    assert run_doit(repo, "build:home", "build:docs", "build:blog").returncode == 0
    assert run_doit(repo, "forget", "build:docs").returncode == 0
    assert run_doit(repo, "build:docs").returncode == 0
    graph, report = tmp_path / "graph.html", tmp_path / "report.html"
    assert command(repo, "graph", "--format", "html", "-o", str(graph)).returncode == 0
    assert command(repo, "stats", "--plot", str(report)).returncode == 0
    page, errors, requests = opened(browser, graph)
    page.locator("g.node", has_text="build:docs").click()
    sync_api.expect(page.locator("#details")).to_contain_text("last status: cached")
    screenshot(page, tmp_path / "graph-example.png")
    assert errors == [] and requests == []
    page, errors, requests = opened(browser, report)
    sync_api.expect(page.locator("svg.chart").first).to_contain_text("build:home")
    screenshot(page, tmp_path / "report-example.png")
    assert errors == [] and requests == []
