"""Smoke test of bench/schedule.py: a tiny skewed graph run for real in both orders, and the
table read back. No timing is asserted, only what the orders decide."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import schedule
from bench.schedule import HEADERS, Graph, Results, Run


def test_a_tiny_benchmark_prints_a_table_that_parses(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    out_json = tmp_path / "schedule.json"

    code = schedule.main(["--chain", "3", "--shorts", "4", "--unit", "0.02", "--repeat", "1",
                          "--json", str(out_json)])

    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("order"))
    assert lines[header].split("  ")[0] == "order"
    assert all(h in lines[header] for h in HEADERS)
    rows = {line.split()[0]: line.split() for line in lines[header + 1:header + 4]}
    document = json.loads(out_json.read_text())
    bound = document["lower_bound"]["seconds"]
    assert float(rows["lower"][2]) == pytest.approx(bound, abs=0.0005)
    assert rows["lower"][3] == "1.00x"
    for order, head in (("doit", "#5"), ("fedbuild", "#2")):
        cells = rows[order]
        best = document["best"][order]
        # the printed cells are the unrounded figures rounded (the ratio of two rounded
        # figures can be off by more than the last digit when the bound is a tenth of a second)
        assert float(cells[1]) == pytest.approx(best["wall"], abs=0.0005)
        assert cells[2] == f"{best['wall'] / bound:.2f}x" == f"{best['ratio_to_bound']:.2f}x"
        assert float(cells[3]) > 0 and 0 < float(cells[4]) <= 2
        # dispatch order, decided by the order, not by timing: doit starts the four short
        # tasks first; fedbuild starts the chain second (the first pick is doit's)
        assert cells[5:8] == [head, "of", "7"]
        assert float(cells[8]) > 0
    assert [r["order"] for r in document["runs"]] == ["doit", "fedbuild"]
    assert set(document["recorded"]["durations"]) == {"s1", "s2", "s3", "s4", "c1", "c2", "c3"}


def run(order: str, wall: float) -> Run:
    durations = {"s1": 1.0, "s2": 1.0, "c1": 2.0, "c2": 2.0}
    return Run(order, 1, wall + 0.3, wall, durations, 6.0 / wall, 0, wall)


def test_the_lower_bound_and_ratios_come_from_the_recorded_durations() -> None:
    graph = Graph(chain=2, shorts=2, unit=1.0, workers=2)
    results = Results(graph, run("doit", 6.0), [run("doit", 6.0), run("doit", 5.0),
                                                run("fedbuild", 4.2)])

    table = schedule.format_table(results, repeat=2)

    assert (results.critical, results.work, results.bound) == (4.0, 6.0, 4.0)
    assert results.best("doit").wall == 5.0
    rows = {line.split()[0]: line.split() for line in table.splitlines() if line}
    assert rows["lower"][2:4] == ["4.000", "1.00x"]
    assert rows["doit"][1:3] == ["5.000", "1.25x"]
    assert rows["fedbuild"][1:3] == ["4.200", "1.05x"]
    assert "fedbuild/doit: 0.84x (wall)" in table
