"""Smoke test of bench/pertask.py: two tiny sizes built for real by fedbuild and plain doit,
the table and the JSON read back. No timing is asserted, only what the runs did."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import pertask
from bench.measure import BenchError
from bench.pertask import HEADERS, Results


def test_a_tiny_benchmark_prints_a_table_that_parses(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "pertask.json"

    code = pertask.main(["--tasks", "3,2", "--repeat", "1", "--json", str(out_json)])

    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("tasks"))
    assert all(h in lines[header] for h in HEADERS)
    document = json.loads(out_json.read_text())
    assert [s["executed"] for s in document["sizes"]] == [4, 6]  # ascending, chain + free
    rows = [line.split() for line in lines[header + 1:] if line[:1].isdigit()]
    assert len(rows) == 2 * 6
    for size in document["sizes"]:
        wall = next(r for r in rows if r[0] == str(size["executed"]) and r[1:4] ==
                    ["wall", "s", "median"])
        ours, theirs = size["wall"]["fedbuild"][0], size["wall"]["plain-doit"][0]
        assert float(wall[4]) == pytest.approx(ours, abs=0.0005)
        assert float(wall[5]) == pytest.approx(theirs, abs=0.0005)
        # one gap per link of the chain, per round, for both tools and in fedbuild's record
        links = size["tasks"] - 1
        assert len(size["gaps_ms"]["fedbuild"]) == len(size["gaps_ms"]["plain-doit"]) == links
        assert len(size["fedbuild_recorded_gaps_ms"]) == links
    assert set(document["slope_ms_per_task"]) == {"wall", "cpu"}
    assert any(line.startswith("added per executed task") for line in lines)


def test_a_run_that_skipped_or_repeated_a_task_stops_the_benchmark(tmp_path: Path) -> None:
    stamps = tmp_path / "stamps"
    lines = [f"{n} {e} 1.0" for n in ("c000", "c001", "i000", "i001") for e in ("start", "end")]
    stamps.write_text("\n".join(lines) + "\n")
    assert pertask.stamps(stamps, 2, "fedbuild") == [0.0]

    stamps.write_text("\n".join([*lines, "c001 start 2.0"]) + "\n")
    with pytest.raises(BenchError, match="not run exactly once"):
        pertask.stamps(stamps, 2, "fedbuild")
    stamps.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(BenchError, match="not run exactly once"):
        pertask.stamps(stamps, 2, "fedbuild")


def test_the_slope_leaves_the_fixed_cost_out() -> None:
    small, large = Results(10), Results(40)
    for results, ours, theirs in ((small, 1.5, 1.0), (large, 1.8, 1.1)):
        results.add("fedbuild", ours, ours / 2, [])
        results.add("plain-doit", theirs, theirs / 2, [])

    slope = pertask.slopes([small, large])

    # the difference grows from 0.5 s to 0.7 s over 60 more tasks: 3.33 ms a task
    assert slope is not None
    assert slope["wall"] == pytest.approx(200 / 60)
    assert slope["cpu"] == pytest.approx(100 / 60)
    assert pertask.slopes([small]) is None
