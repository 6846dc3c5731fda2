"""Smoke test of bench/cache.py, for real (the example monorepo cold, from two fresh copies
with a warm cache, and a small synthetic graph). No timing is asserted: only that every warm
build restored every cacheable task (the bench checks it) and the table is whole. The example
builds its sites, C library and npm module (--tasks): the Rust, Python and firmware modules
would add a minute of compiling on 2 cores and nothing the cache does differently."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bench import cache

pytestmark = pytest.mark.heavy(14)  # run early under -n (tests/conftest.py)
TASKS = ("build:home", "build:docs", "build:blog", "build:clib", "build:web")


def test_cold_warm_remote_warm_local_and_per_hit(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cache.json"
    assert cache.main(["--repeat", "1", "--modules", "3", "--json", str(out),
                       "--tasks", ",".join(TASKS)]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["measure", "seconds", "cold", "/", "this"]
    for line, name in zip(lines[1:4], ("cold", "warm remote", "warm local"), strict=True):
        assert re.fullmatch(rf"{name}\s+\d+\.\d{{3}}\s+\d+\.\dx", line.strip()), line
    hits = next(i for i, line in enumerate(lines) if line.startswith("synthetic"))
    assert re.fullmatch(r"6\s+\d+\.\d{3}\s+\d+\.\d{3}\s+-?\d+\.\d", lines[hits + 1].strip())
    assert any(line.startswith("warm cache at least 10x faster than cold: ") for line in lines)
    document = json.loads(out.read_text())
    assert document["example"]["tasks built cold"] == 6  # 3 sites, clib, web, its install
    assert document["per_hit"]["tasks"] == 6
