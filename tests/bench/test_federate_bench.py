"""Smoke test of bench/federate.py: a 3-module x 20-page federation measured once, for real."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bench import federate
from bench.federate import HEADERS, RATIO_HEADERS
from bench.measure import BenchError
from bench.synthetic_site import FILES_BESIDES_PAGES, OUTPUT, Site, generate


@pytest.fixture
def site(tmp_path: Path) -> Site:
    """A tiny generated federation: 3 modules of 20 pages."""
    return generate(tmp_path / "repo", modules=3, pages=20)


def test_one_round_publishes_and_processes_only_what_changed(site: Site, tmp_path: Path) -> None:
    results = federate.measure(site, tmp_path, repeat=1)

    by_measure = {run["measure"]: run for run in results.runs}
    assert site.files == 3 * (20 + FILES_BESIDES_PAGES)
    assert by_measure["full"]["processed"] == site.files
    assert by_measure["one-module"]["module"] == "m01"
    assert by_measure["one-module"]["processed"] == site.files_per_module
    assert by_measure["one-module"]["reused"] == site.files - site.files_per_module
    assert by_measure["no-op"]["builds"] == 0 and by_measure["no-op"]["federate"] is None
    published = site.root / OUTPUT
    assert (published / "m02" / "docs" / "p0001.html").read_text().count('href="/m02/css/') == 1
    table = federate.format_table(results)
    assert all(header in table for header in (*HEADERS, *RATIO_HEADERS))
    assert "one-module/full" in table and "full/cp-a floor" in table


def test_a_wrong_processed_count_stops_the_benchmark(site: Site) -> None:
    run = federate.Run("one-module", 0, 0.5, 1, 0.1, {"state": "published", "files": site.files,
                                                      "processed": site.files, "reused": 0},
                       module="m01")
    with pytest.raises(BenchError, match=r"one-module run 0 \(edited m01\): federate processed"):
        federate.check(site, run)
    with pytest.raises(BenchError, match="federate did not publish: kept old tree"):
        federate.check(site, replace(run, result={"state": "kept old tree"}))


def test_with_search_a_one_module_change_indexes_that_module_only(tmp_path: Path) -> None:
    """--search: every federate builds the Pagefind indexes; the one-module run only that
    module's (checked by the bench), and the table has the search step's time."""
    site = generate(tmp_path / "repo", modules=3, pages=20, search=True)
    results = federate.measure(site, tmp_path, repeat=1)
    by_measure = {run["measure"]: run for run in results.runs}
    assert by_measure["full"]["search"]["indexed"] == ["m00", "m01", "m02"]
    assert by_measure["one-module"]["search"]["indexed"] == ["m01"]
    assert by_measure["one-module"]["search"]["kept"] == ["m00", "m02"]
    assert "its search step" in federate.format_table(results)
    run = federate.Run("one-module", 0, 0.5, 1, 0.1, {
        **by_measure["one-module"], "state": "published", "files": site.files,
        "search": {"indexed": ["m00", "m01"]}}, module="m01")
    with pytest.raises(BenchError, match=r"the search indexed \['m00', 'm01'\], expected"):
        federate.check(site, run)
