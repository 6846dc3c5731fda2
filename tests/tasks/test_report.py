"""`doit stats --plot`: the HTML report of a history written with the History API, its
charts parsed back as SVG (bars in order, one point per run, names as text)."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

from tasks.commands.report import report_html, run_figures
from tasks.commands.stats_model import gather
from tasks.history import FILE, History, TaskRecord

SVG = "{http://www.w3.org/2000/svg}"
ODD = "build:<b>&odd"


def recorded(tmp_path: Path) -> History:
    """Three runs: a, b and an oddly named task built; then b flaky and a cached; then a
    built and b failed."""
    history = History(tmp_path / FILE)
    runs: list[list[tuple[str, str, float, float | None]]] = [
            [("build:a", "built", 4.0, None), ("build:b", "built", 1.0, None),
             (ODD, "built", 0.5, None)],
            [("build:a", "cached", 0.1, 4.0), ("build:b", "flaky", 2.0, None)],
            [("build:a", "built", 6.0, None), ("build:b", "failed", 0.2, None)]]
    for i, rows in enumerate(runs):
        run_id = history.begin_run("doit", "development", None, None, 1)
        for name, status, seconds, saved in rows:
            history.record_task(run_id, TaskRecord(name, status, 100.0 + i, duration=seconds,
                                                   saved=saved))
        history.end_run(run_id, "succeeded")
    return history


def charts_of(page: str) -> dict[str, ET.Element]:
    """Each inline <svg> chart of the page, by its title."""
    found = {}
    for text in re.findall(r"<svg .*?</svg>", page, flags=re.S):
        svg = ET.fromstring(text)
        found[svg.findtext(f"{SVG}title") or ""] = svg
    return found


def bar_labels(svg: ET.Element) -> list[str]:
    """The labels of a bar chart, top to bottom."""
    return [g.findtext(f"{SVG}text") or "" for g in svg.iter(f"{SVG}g")
            if g.get("class") == "bar"]


def test_report_ranks_slowest_and_flaky_and_draws_a_point_per_run(tmp_path: Path) -> None:
    history = recorded(tmp_path)
    window = gather(history)
    page = report_html(window, run_figures(history, window), "history")
    charts = charts_of(page)
    slowest = charts["slowest tasks (average successful execution)"]
    assert bar_labels(slowest) == ["build:a", "build:b", ODD]  # 5.0s, 1.5s, 0.5s
    flaky = charts["most flaky tasks (passed only on a retry)"]
    assert bar_labels(flaky) == ["build:b"]
    assert "33.3% (1 of 3)" in "".join(flaky.itertext())
    for title in ("build time per run", "time saved by the cache per run"):
        assert len(list(charts[title].iter(f"{SVG}circle"))) == 3
    hit_rate = [c.findtext(f"{SVG}title") for c in
                charts["cache hit rate per run"].iter(f"{SVG}circle")]
    assert [t.split(": ", 1)[1] if t else "" for t in hit_rate] == [
        "0.0% (0 of 3)", "50.0% (1 of 2)", "0.0% (0 of 2)"]
    saved = [c.findtext(f"{SVG}title") or "" for c in
             charts["time saved by the cache per run"].iter(f"{SVG}circle")]
    assert saved[1].endswith(": 4.0s")
    assert "<b>" not in page and "<script" not in page


def test_empty_history_still_makes_a_page(tmp_path: Path) -> None:
    history = History(tmp_path / FILE)
    window = gather(history)
    page = report_html(window, run_figures(history, window), "nothing")
    assert "no runs recorded." in page and "flaky tasks: none." in page
