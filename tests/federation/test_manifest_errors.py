"""Every manifest mistake is one line naming file, field and fix; exit code 3; no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, copy_fixture, run_doit

CASES = sorted(p.name for p in (FIXTURES / "bad-manifests").iterdir() if p.is_dir())


@pytest.mark.parametrize("case", CASES)
def test_bad_manifest_prints_its_exact_line(case: str, tmp_path: Path) -> None:
    """The fixture's modules.json (and overlay files) make doit print exactly expected.txt."""
    folder = FIXTURES / "bad-manifests" / case
    repo = copy_fixture("basic", tmp_path / "repo")
    shutil.copy(folder / "modules.json", repo / "modules.json")
    if (folder / "overlay").is_dir():
        shutil.copytree(folder / "overlay", repo, dirs_exist_ok=True)
    expected = (folder / "expected.txt").read_text().strip()

    result = run_doit(repo, "list")

    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [f"ERROR: {expected}"]
    assert "Traceback" not in result.stdout + result.stderr

