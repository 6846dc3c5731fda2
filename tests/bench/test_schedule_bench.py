"""Smoke test of bench/schedule.py: a tiny skewed graph built for real by fedbuild and plain
doit, the table and the JSON read back. No timing is asserted, only what the runs did and
what fedbuild's order decides."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import schedule
from bench.measure import BenchError
from bench.schedule import HEADERS, TOOLS, Graph


def test_a_tiny_benchmark_prints_a_table_that_parses(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "schedule.json"

    code = schedule.main(["--chain", "3", "--shorts", "4", "--unit", "0.02", "--repeat", "1",
                          "--json", str(out_json)])

    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("tool"))
    assert all(h in lines[header] for h in HEADERS)
    rows = {line.split()[0]: line.split() for line in lines[header + 1:header + 4]}
    document = json.loads(out_json.read_text())
    bound = document["lower_bound"]
    # chain 3 x 0.04 s = 0.12 s against work (4 x 0.02 + 0.12) / 2 = 0.10 s
    assert (bound["critical_path"], bound["work"]) == pytest.approx((0.12, 0.20))
    assert bound["seconds"] == pytest.approx(0.12)
    assert float(rows["lower"][2]) == pytest.approx(bound["seconds"], abs=0.0005)
    assert rows["lower"][3] == "1.00x"
    for tool in TOOLS:
        cells, figures = rows[tool], document["tools"][tool]
        # the printed cells are the unrounded figures rounded
        assert float(cells[1]) == pytest.approx(figures["wall_best"], abs=0.0005)
        assert cells[2] == f"{figures['wall_best_ratio']:.2f}x"
        assert float(cells[3]) == pytest.approx(figures["wall_median"], abs=0.0005)
        assert cells[4] == f"{figures['wall_median_ratio']:.2f}x"
        assert float(cells[5]) == pytest.approx(figures["span_best"], abs=0.0005)
        assert cells[6] == f"{figures['span_best_ratio']:.2f}x"
        assert float(cells[7]) == pytest.approx(figures["cpu_median"], abs=0.0005)
        assert cells[9:11] == ["of", "7"] and cells[11:] == ["1", "x", "each", "task", "once"]
        assert figures["span_best"] <= figures["wall_best"]
    # one recording run and one timed run per tool, every task started once in each
    runs = [*document["recorded"], *document["runs"]]
    assert sorted(r["tool"] for r in runs) == sorted([*TOOLS, *TOOLS])
    assert all(sorted(r["starts"]) == ["c1", "c2", "c3", "s1", "s2", "s3", "s4"] for r in runs)
    # decided by fedbuild's order, not by timing: its first pick is doit's (s1), the second
    # the chain's head (the longest path); the two start together, so either may stamp first
    assert all(r["head_rank"] <= 2 for r in runs if r["tool"] == "fedbuild")


def test_a_run_that_skipped_or_repeated_a_task_stops_the_benchmark(tmp_path: Path) -> None:
    graph = Graph(chain=2, shorts=1, unit=1.0, workers=2)
    stamps = tmp_path / "stamps"
    moments = {"s1": (0.0, 1.0), "c1": (0.1, 2.1), "c2": (2.2, 4.2)}
    lines = [f"{n} {e} {t}" for n, (start, end) in moments.items()
             for e, t in (("start", start), ("end", end))]
    stamps.write_text("\n".join(lines) + "\n")

    run = schedule.read_stamps(stamps, graph, "fedbuild", 1, 5.0, 0.5)

    assert run.starts == ["s1", "c1", "c2"] and run.head_rank == 2
    assert run.span == pytest.approx(4.2)
    assert run.durations == pytest.approx({"s1": 1.0, "c1": 2.0, "c2": 2.0})
    stamps.write_text("\n".join([*lines, "c2 start 5.0"]) + "\n")
    with pytest.raises(BenchError, match="not run exactly once"):
        schedule.read_stamps(stamps, graph, "fedbuild", 1, 5.0, 0.5)
    stamps.write_text("\n".join(lines[:-2]) + "\n")
    with pytest.raises(BenchError, match="not run exactly once"):
        schedule.read_stamps(stamps, graph, "fedbuild", 1, 5.0, 0.5)


def test_the_lower_bound_is_the_chain_or_the_work_shared_by_the_workers() -> None:
    graph = Graph(chain=2, shorts=2, unit=1.0, workers=2)

    assert graph.bound(graph.requested) == (4.0, 4.0, 6.0)  # the chain: 2 x 2 s
    wider = Graph(chain=2, shorts=8, unit=1.0, workers=2)
    assert wider.bound(wider.requested) == (6.0, 4.0, 12.0)  # the work: 12 s / 2
