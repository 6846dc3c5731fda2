"""Smoke test of bench/service.py: every scenario, tiny, against a real `doit serve`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import service as bench


def test_every_scenario_runs_without_errors(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "service.json"
    assert bench.main(["--reads", "4", "--per-client", "2", "--submissions", "3", "--live", "3",
                       "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert all(header in table for header in bench.HEADERS)
    rows = {row["scenario"]: row for row in json.loads(out.read_text())}
    assert set(rows) == {"reads@4", "submit@3", "live@3", "idle after"}
    assert (rows["reads@4"]["requests"], rows["submit@3"]["requests"]) == (8, 3)
    assert all(row["errors"] == 0 for row in rows.values()), rows
    assert rows["live@3"]["requests"] >= 3 * 3  # started, progress..., completed, per client
    assert 0 < rows["idle after"]["peak_rss_mb"] < 1024


def test_percentiles_and_the_table() -> None:
    row = bench.Row("reads@3", latencies=[0.010, 0.020, 0.030], errors=1, peak_rss=2**20 * 50)
    figures = row.figures()
    assert (figures["requests"], figures["p50_ms"], figures["p99_ms"]) == (4, 20.0, 30.0)
    line = bench.format_table([row]).splitlines()[1].split()
    assert line == ["reads@3", "4", "1", "20", "30", "30", "50", "0", "0"]
