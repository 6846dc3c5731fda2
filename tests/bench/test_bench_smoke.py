"""Smoke test of bench/noop.py: a 3-module monorepo measured once by every tool, for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import noop
from bench.measure import BenchError, Tool, tools_for
from bench.report import HEADERS, SizeResult, format_table
from bench.synthetic import NINJA_FILE, Monorepo, generate


def lines(tool: Tool) -> list[str]:
    """The builds the script recorded for a tool, one output folder per line."""
    return tool.runs.read_text().splitlines() if tool.runs.exists() else []


@pytest.fixture
def repo(tmp_path: Path) -> Monorepo:
    """A tiny synthetic monorepo: 3 modules of 2 content files."""
    return generate(tmp_path / "repo", modules=3, files_per_module=2)


def test_one_tiny_measurement_builds_exactly_what_it_should(repo: Monorepo,
                                                            tmp_path: Path) -> None:
    tools = [t for t in tools_for(repo, tmp_path / "runs") if t.available]
    fedbuild = next(t for t in tools if t.name == "fedbuild")
    result = SizeResult(3, 2)

    noop.run_rounds(result, "cold", tools, 1)
    cold = lines(fedbuild)
    assert len(cold) == 3
    noop.run_rounds(result, "no-op", tools, 1)
    assert lines(fedbuild) == cold, "fedbuild's no-op run ran the build script"
    noop.run_rounds(result, "one-changed", tools, 1, before=repo.edit)
    assert len(lines(fedbuild)) == 4

    noop.check_builds(result, repo)  # every other tool did the same builds
    assert result.builds["no-op"] == {t.name: [0] for t in tools}
    table = format_table([result], repeat=1)
    assert all(header in table for header in HEADERS)
    # every run is a measured process: its CPU time is known, and the detail table shows it
    assert all(cpu[0] > 0 for cpu in result.cpu["no-op"].values())
    assert "no-op in detail" in table and "peak RSS MB" in table


def test_rounds_alternate_the_order_of_the_tools(repo: Monorepo, tmp_path: Path) -> None:
    tools = [t for t in tools_for(repo, tmp_path / "runs") if t.available]
    result = SizeResult(3, 2)
    noop.run_rounds(result, "cold", tools, 1)
    before = {t.name: t.runs.stat().st_mtime_ns for t in tools}
    noop.run_rounds(result, "one-changed", tools, 2, before=repo.edit)
    # round 2 ran in reverse: the first tool's second build is the last one written
    last = max(tools, key=lambda t: t.runs.stat().st_mtime_ns)
    assert last.name == tools[0].name and before[last.name] < last.runs.stat().st_mtime_ns


def test_missing_ninja_is_a_column_of_na(tmp_path: Path) -> None:
    repo = generate(tmp_path / "repo", modules=1, files_per_module=1, ninja=False)
    assert not (repo.root / NINJA_FILE).exists()
    ninja = next(t for t in tools_for(repo, tmp_path / "runs") if t.name == "ninja")
    assert not ninja.available
    result = SizeResult(1, 1)
    result.add("no-op", "fedbuild", 0.2, 0)
    result.add("no-op", "make", 0.1, 0)
    row = next(r for r in format_table([result], 1).splitlines() if "no-op" in r)
    assert row.split()[-4:] == ["n/a", "n/a", "2.0x", "n/a"]


def test_a_wrong_build_count_stops_the_benchmark(repo: Monorepo) -> None:
    result = SizeResult(3, 2)
    result.add("no-op", "make", 0.01, 2)
    with pytest.raises(BenchError, match="make built 2 modules in a no-op run"):
        noop.check_builds(result, repo)
