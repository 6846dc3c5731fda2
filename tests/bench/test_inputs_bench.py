"""Smoke test of bench/inputs.py: the three expansions agree on a small generated module."""

from __future__ import annotations

from pathlib import Path

from bench.inputs import by_fedbuild, by_find, by_pathlib, generate, main
from federation.toolchains import SHIPPED, read_toolchain


def test_every_expansion_finds_the_sources_and_no_vendored_file(tmp_path: Path) -> None:
    """fedbuild, pathlib and find find the same files; none under node_modules or dist."""
    module = generate(tmp_path, sources=40, vendored=30)
    chain = read_toolchain(SHIPPED / "npm.yaml")
    patterns, skip = list(chain.inputs), list(chain.skip_dirs)
    found = by_fedbuild(module, patterns, skip)
    assert len(found) == 42  # 40 sources, package.json, package-lock.json
    assert not any(p.startswith(("node_modules/", "dist/")) for p in found)
    assert by_pathlib(module, patterns, skip) == found == by_find(module, patterns, skip)


def test_main_prints_the_table(capsys: object) -> None:
    """The benchmark runs end to end on a small tree and prints its table."""
    assert main(["--sources", "50", "--vendored", "50", "--repeat", "1"]) == 0
