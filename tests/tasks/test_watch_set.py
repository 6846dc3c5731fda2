"""What starts a build of `doit watch`: the build's inputs, never fedbuild's own writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.watch_set import WatchSet, watch_set
from tests.conftest import copy_fixture


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The basic fixture, as a git checkout ignoring *.tmp."""
    root = copy_fixture("basic", tmp_path / "basic").resolve()
    (root / ".git").mkdir()
    (root / ".gitignore").write_text("*.tmp\n")
    return root


def touch(path: Path) -> str:
    """Create the file (and its folders); its path as the watcher reports it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x\n")
    return os.fspath(path)


def test_inputs_and_the_plan_trigger(repo: Path) -> None:
    watched = watch_set(repo)
    assert watched.triggers(str(repo / "modules/alpha/content/one.md"))
    assert watched.triggers(str(repo / "modules/beta/module.json"))
    assert watched.triggers(str(repo / "scripts/build.sh"))
    assert watched.triggers(str(repo / "site/themes/plain/layout.html"))
    assert watched.changes_plan(str(repo / "modules.json"))
    assert watched.changes_plan(str(repo / "toolchains/mine.yaml"))
    assert not watched.changes_plan(str(repo / "modules/alpha/content/one.md"))


def test_fedbuilds_own_writes_and_litter_never_trigger(repo: Path) -> None:
    watched = watch_set(repo)
    for rel in ("public/index.html", ".public.new-abc123/index.html", ".fedbuild/doit.sqlite3",
                "dist/development/x/a.out", ".git/index", "modules/alpha/content/one.md~",
                "modules/alpha/content/.#one.md", "modules/alpha/content/.one.md.swp",
                "modules/alpha/node_modules/pkg/index.js"):
        assert not watched.triggers(touch(repo / rel), created=True), rel


def test_a_new_file_triggers_unless_ignored_or_already_gone(repo: Path) -> None:
    watched = watch_set(repo)
    assert watched.triggers(touch(repo / "modules/alpha/content/three.md"), created=True)
    assert not watched.triggers(touch(repo / "modules/alpha/content/notes.tmp"), created=True)
    assert not watched.triggers(str(repo / "modules/alpha/content/4913"), created=True)
    assert not watched.triggers(touch(repo / "README.md"), created=True)  # no module's


def test_select_and_task_names_narrow_the_watch(repo: Path) -> None:
    alpha, beta = (str(repo / f"modules/{m}/content/one.md") for m in ("alpha", "beta"))
    for narrowed in (watch_set(repo, select="beta"), watch_set(repo, ["build:beta"])):
        assert narrowed.modules == {"beta"}
        assert narrowed.triggers(beta) and not narrowed.triggers(alpha)
    everything: WatchSet = watch_set(repo, ["federate"])
    assert everything.modules == {"alpha", "beta", "gamma"}
