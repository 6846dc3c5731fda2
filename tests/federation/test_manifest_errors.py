"""Every manifest mistake is one line naming file, field and fix; exit code 3; no traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, copy_fixture, run_doit
from tests.robustness.doit_list import doit_list

CASES = sorted(p.name for p in (FIXTURES / "bad-manifests").iterdir() if p.is_dir())
# Every tenth case runs a real `doit list` process; the others the same DoitMain and dodo.py
# in a forked child (tests/robustness/doit_list.py): the error comes from loading dodo.py
# in both, and a fork skips an interpreter's start and imports.
REAL = set(CASES[::10])


@pytest.mark.parametrize("case", CASES)
def test_bad_manifest_prints_its_exact_line(case: str, tmp_path: Path) -> None:
    """The fixture's modules.json (and overlay files) make doit print exactly expected.txt."""
    folder = FIXTURES / "bad-manifests" / case
    repo = copy_fixture("basic", tmp_path / "repo")
    shutil.copy(folder / "modules.json", repo / "modules.json")
    if (folder / "overlay").is_dir():
        shutil.copytree(folder / "overlay", repo, dirs_exist_ok=True)
    expected = (folder / "expected.txt").read_text().strip()

    result = run_doit(repo, "list") if case in REAL else doit_list(repo, timeout=60)

    assert result.returncode == 3, result.stderr
    assert result.stderr.splitlines() == [f"ERROR: {expected}"]
    assert "Traceback" not in result.stdout + result.stderr



def test_fedbuild_s_own_script_installed_under_a_space_is_not_refused(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The paths handed to a build script may hold no whitespace (issue 22 item 4), but that
    is about the manifest's values: fedbuild's own script, wherever it is installed, is not
    one of them."""
    from federation import loader

    shipped = tmp_path / "my tools" / "scripts" / "build.sh"
    shipped.parent.mkdir(parents=True)
    shipped.write_text("#!/bin/sh\n")
    monkeypatch.setattr(loader, "SHIPPED_SCRIPT", shipped)
    repo = copy_fixture("basic", tmp_path / "repo")
    shutil.rmtree(repo / "scripts")
    manifest = (repo / "modules.json").read_text()
    (repo / "modules.json").write_text(manifest.replace('"build_script": "scripts/build.sh",',
                                                        ""))
    project = loader.load_project(repo)
    assert project.manifest.federation.build_script == str(shipped)
