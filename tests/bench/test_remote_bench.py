"""Smoke test of bench/remote.py, for real (a tiny graph locally and on a Dask cluster of one,
then two workers, nginx as the cache). No timing is asserted: only that every build passed
and the results are whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import remote

pytestmark = pytest.mark.heavy(14)  # run early under -n (tests/conftest.py)


def test_per_action_overhead_and_scaling_are_measured(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "remote.json"
    assert remote.main(["--actions", "2", "--tasks", "3", "--seconds", "0.1",
                        "--json", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"per action \(2 and 6 tiny actions, -n 1\): remote execution adds "
                        r"-?\d+\.\d ms to each action over a local build with the same cache "
                        r"\(-?\d+\.\d ms over one without a cache; target under 50 ms\), and "
                        r"-?\d+\.\d\ds once per run \(importing distributed, connecting\); "
                        r"-?\d+\.\d ms each with that spread over 2 actions", lines[0]), lines
    assert re.fullmatch(r"scaling: 3 actions of 0\.1s, 1 worker \d+\.\d{3}s, 2 workers "
                        r"\d+\.\d{3}s: \d+\.\d\dx \(target at least 1\.8x\)", lines[1]), lines
    document = json.loads(out.read_text())
    assert document["per_action"]["actions"] == 2 and document["scaling"]["tasks"] == 3
    walls = document["per_action"]["walls"]
    assert sorted(walls) == ["local", "local_cached", "remote"]
    assert all(sorted(by_size) == ["2", "6"] for by_size in walls.values()), walls
    assert len(document["scaling"]["one_worker"]) == 1
