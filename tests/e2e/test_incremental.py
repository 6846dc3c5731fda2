"""Incremental builds through real doit runs: exactly the affected modules rebuild."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import edit_manifest, run_doit

Repo = Callable[[str], Path]


def built(repo: Path, *args: str) -> list[str]:
    """Run doit; return the modules whose build.sh ran, in start order. Without the action
    cache: these tests are about what doit decides to run, which the cache would otherwise
    satisfy from earlier results (tests/e2e/test_cache.py is about that)."""
    runs = repo / "runs.log"
    runs.unlink(missing_ok=True)
    result = run_doit(repo, *args, env={"RUNS_LOG": str(runs), "FEDBUILD_CACHE": "off"})
    assert result.returncode == 0, result.stdout + result.stderr
    if not runs.exists():
        return []
    return [line.split()[0] for line in runs.read_text().splitlines() if " start " in line]


@pytest.fixture
def repo(monorepo: Repo) -> Path:
    """The basic fixture, built once."""
    path = monorepo("basic")
    assert sorted(built(path)) == ["alpha", "beta", "gamma"]
    return path



def test_second_run_builds_nothing(repo: Path) -> None:
    """With nothing changed, a second `doit` runs no build and says every task is up to date."""
    result = run_doit(repo)
    assert result.returncode == 0
    assert "build:alpha up to date" in result.stdout
    assert built(repo) == []


def test_one_content_file_rebuilds_only_its_module(repo: Path) -> None:
    """Editing a content file rebuilds that module alone."""
    (repo / "modules/beta/content/one.md").write_text("beta page one, edited\n")
    assert built(repo) == ["beta"]
    assert "edited" in (repo / ".fedbuild/staging/beta/index.html").read_text()
    assert built(repo) == []


def test_module_json_change_rebuilds_that_module(repo: Path) -> None:
    """A module's own module.json is one of its inputs."""
    path = repo / "modules/gamma/module.json"
    path.write_text(path.read_text().replace("plain", "plain", 1) + "\n")
    assert built(repo) == ["gamma"]


def test_manifest_entry_change_rebuilds_that_module(repo: Path) -> None:
    """Changing a module's entry in modules.json rebuilds it, not the others."""
    edit_manifest(repo, lambda m: m["modules"][1]["overrides"].update(title="Beta!")
                  if "overrides" in m["modules"][1]
                  else m["modules"][1].update(overrides={"title": "Beta!"}))
    assert built(repo) == ["beta"]
    assert "<title>Beta!</title>" in (repo / ".fedbuild/staging/beta/index.html").read_text()


def test_build_script_change_rebuilds_every_module(repo: Path) -> None:
    """The build script is an input of every site module."""
    script = repo / "scripts/build.sh"
    script.write_text(script.read_text() + "\n# changed\n")
    assert sorted(built(repo)) == ["alpha", "beta", "gamma"]


def test_component_change_rebuilds_only_modules_using_it(repo: Path) -> None:
    """Only alpha uses the `note` component."""
    (repo / "site/components/note/note.html").write_text("<aside>{{ .Inner }}</aside>\n")
    assert built(repo) == ["alpha"]


def test_theme_change_rebuilds_modules_using_it(repo: Path) -> None:
    """Every module uses the `plain` theme; a new, unused theme rebuilds nothing."""
    (repo / "site/themes/other").mkdir()
    (repo / "site/themes/other/layout.html").write_text("x\n")
    assert built(repo) == []
    (repo / "site/themes/plain/layout.html").write_text("<main>{{ .Content }}</main>\n")
    assert sorted(built(repo)) == ["alpha", "beta", "gamma"]


def test_adding_and_deleting_a_file_rebuilds(repo: Path) -> None:
    """A new or removed file in a module's source changes its inputs."""
    (repo / "modules/alpha/content/three.md").write_text("alpha three\n")
    assert built(repo) == ["alpha"]
    (repo / "modules/alpha/content/three.md").unlink()
    assert built(repo) == ["alpha"]
    assert "three" not in (repo / ".fedbuild/staging/alpha/index.html").read_text()


def test_deleted_or_edited_output_is_rebuilt(repo: Path) -> None:
    """The staged output is checked, not only its existence."""
    staged = repo / ".fedbuild/staging/gamma"
    for path in sorted(staged.rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    staged.rmdir()
    assert built(repo) == ["gamma"]
    (staged / "index.html").write_text("tampered")
    assert built(repo) == ["gamma"]
    assert "tampered" not in (staged / "index.html").read_text()


def test_one_module_by_name(monorepo: Repo) -> None:
    """`doit build:beta` builds beta only."""
    repo = monorepo("basic")
    assert built(repo, "build:beta") == ["beta"]
    assert not (repo / ".fedbuild/staging/alpha").exists()


def test_dependent_module_rebuilds_after_its_dependency(monorepo: Repo) -> None:
    """depends_on orders builds and a rebuilt dependency rebuilds its dependents."""
    repo = monorepo("basic")
    edit_manifest(repo, lambda m: m["modules"][0].update(depends_on=["gamma"]))
    order = built(repo)
    assert order.index("gamma") < order.index("alpha")
    (repo / "modules/gamma/content/one.md").write_text("changed\n")
    assert built(repo) == ["gamma", "alpha"]
    assert built(repo, "build:alpha") == []


def test_list_and_info(repo: Path) -> None:
    """`doit list` shows one build:<module> each; `doit info` says why a task would run."""
    listing = run_doit(repo, "list")
    assert listing.returncode == 0
    names = [line.split()[0] for line in listing.stdout.splitlines()]
    assert {"build", "build:alpha", "build:beta", "build:gamma"} <= set(names)
    assert "modules/beta" in next(ln for ln in listing.stdout.splitlines()
                                  if ln.startswith("build:beta"))
    (repo / "modules/beta/content/two.md").write_text("new text\n")
    info = run_doit(repo, "info", "build:beta")
    assert "modules/beta/content/two.md" in info.stdout
    assert os.path.exists(repo / ".fedbuild/doit.sqlite3")


def test_clean_removes_one_modules_output_only(repo: Path) -> None:
    """`doit clean build:beta` removes beta's staged output, nothing else and no source."""
    result = run_doit(repo, "clean", "build:beta")
    assert result.returncode == 0, result.stderr
    staging = repo / ".fedbuild/staging"
    assert not (staging / "beta").exists()
    assert (staging / "alpha/index.html").exists() and (staging / "gamma/index.html").exists()
    assert (repo / "modules/beta/content/one.md").exists()
    assert built(repo) == ["beta"]
    assert run_doit(repo, "clean").returncode == 0
    assert list(staging.iterdir()) == []
