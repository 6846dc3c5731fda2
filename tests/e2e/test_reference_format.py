"""Manifests of the reference federation format load as they are written (issue 22 item 1).

That format's schema requires `source.local_path` to be absolute: a module whose source lies
outside the repository, given by an absolute local_path, is read (built and published) and
never written to; `doit explain` says where each module's source resolved.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import copy_fixture, run_command, run_doit
from tests.e2e.test_path_safety import snapshot


def outside_repo(tmp_path: Path) -> tuple[Path, Path]:
    """The basic fixture with module beta moved out of it, named by an absolute local_path."""
    repo = copy_fixture("basic", tmp_path / "repo")
    outside = tmp_path / "sites"
    outside.mkdir()
    shutil.move(repo / "modules/beta", outside / "beta")
    data = json.loads((repo / "modules.json").read_text())
    data["modules"][1]["source"] = {"repository": "local", "local_path": str(outside),
                                    "path": "beta"}
    (repo / "modules.json").write_text(json.dumps(data, indent=2))
    return repo, outside


def test_an_absolute_local_path_outside_the_repository_is_read_never_written(
        tmp_path: Path) -> None:
    repo, outside = outside_repo(tmp_path)
    before = snapshot(outside)
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    page = (repo / "public/beta/index.html").read_text()
    assert "<article>" in page and "base=https://fixture.example.org/beta/" in page
    assert snapshot(outside) == before
    (outside / "beta/content/one.md").write_text("edited outside\n")
    before = snapshot(outside)
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "edited outside" in (repo / "public/beta/index.html").read_text()
    assert run_doit(repo, "clean").returncode == 0
    assert snapshot(outside) == before


def test_explain_says_where_each_source_resolved(tmp_path: Path) -> None:
    repo, outside = outside_repo(tmp_path)
    lines = {}
    for name in ("alpha", "beta"):
        result = run_command(repo, "explain", f"build:{name}")
        assert result.returncode == 0, result.stdout + result.stderr
        lines[name] = [line for line in result.stdout.splitlines()
                       if line.startswith("  source: ")]
    assert lines["alpha"] == ["  source: modules/alpha (in the repository)"]
    assert lines["beta"] == [f"  source: {outside.resolve() / 'beta'} (outside the repository, "
                             f"from the absolute local_path {outside}: read only)"]
