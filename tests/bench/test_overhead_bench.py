"""Smoke test of bench/overhead.py: a 3-module (6-task) monorepo, one round per reporter, for
real. No timing is asserted: only that both runs succeed and the table is whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import overhead
from bench.measure import BenchError


def test_one_round_times_both_reporters_and_prints_the_table(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]
                                                             ) -> None:
    out = tmp_path / "overhead.json"
    assert overhead.main(["--modules", "3", "--repeat", "1", "--json", str(out)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["tasks", "timed", "doit", "default", "s", "fedbuild", "s",
                                "overhead", "fedbuild/default"]
    number = r"\d+\.\d{3}"
    for line, how in zip(lines[1:3], ("best", "median"), strict=True):
        assert re.fullmatch(rf"6\s+{how}\s+{number}\s+{number}\s+[+-]\d+\.\d%\s+{number}x",
                            line.strip()), line
    assert any("Under 10% (best): " in line for line in lines)
    document = json.loads(out.read_text())
    assert document["settings"] == {"modules": 3, "tasks": 6, "repeat": 1}
    assert {name: len(runs) for name, runs in document["samples"].items()} == \
        {"doit default": 1, "fedbuild": 1}


def test_the_graph_has_two_steps_per_module_chained_across_modules(tmp_path: Path) -> None:
    assert overhead.generate(tmp_path, 4) == 8
    modules = json.loads((tmp_path / "modules.json").read_text())["modules"]
    assert [m["depends_on"] for m in modules] == [[], ["m0000"], ["m0000"], ["m0001"]]
    assert [s["name"] for s in modules[0]["steps"]] == ["generate", "build"]


def test_a_failing_run_stops_the_benchmark(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match="failed with exit code"):
        overhead.run(overhead.doit_argv(tmp_path), tmp_path)  # no modules.json there
