"""`doit clean`'s lines and the removal of former modules' outputs (tasks/clean.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from doit.cmd_clean import Clean
from doit.task import Task

from core.sizes import format_size
from core.state import State
from tasks.clean import remove, removed_modules, tree_size


def test_the_doit_internals_it_wraps_are_still_there() -> None:
    """Task.clean(outstream, dryrun), its clean_actions and init_options, and
    Clean._execute's arguments (doit 0.37)."""
    assert list(inspect.signature(Task.clean).parameters) == ["self", "outstream", "dryrun"]
    assert list(inspect.signature(Clean._execute).parameters) == [
        "self", "dryrun", "cleandep", "cleanall", "cleanforget", "pos_args"]
    task = Task("t", actions=[], clean=[(test_sizes, [])])
    assert hasattr(task, "clean_actions") and hasattr(task, "init_options")


def test_remove_says_what_it_removed_with_its_size(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "repo"
    (root / "dist/development/web").mkdir(parents=True)
    (root / "dist/development/web/a.js").write_bytes(b"x" * 3100)
    lines = remove([root / "dist/development/web", root / "gone"], State(root).roots, root)
    assert lines == ["removed dist/development/web/ (3.1 KB)"]
    assert capsys.readouterr().out == "removed dist/development/web/ (3.1 KB)\n"
    assert not (root / "dist/development/web").exists()


def test_former_modules_lose_every_output_and_others_are_left(tmp_path: Path) -> None:
    """Every place a module's outputs live, for a name fedbuild has an outcome of; a folder of
    dist/ it never wrote stays."""
    state = State(tmp_path / "repo")
    for path in (state.root / "dist/development/gone", state.root / "dist/production/gone",
                 state.dir / "work/development/gone", state.staged("gone"),
                 state.clone("gone") / ".git", state.root / "dist/development/kept",
                 state.root / "dist/development/users", state.dir / "logs/build",
                 state.dir / "logs/fetch"):
        path.mkdir(parents=True)
    state.head("gone").write_text("abc\n")
    for task in ("build:gone", "fetch:gone", "build:kept"):
        state.outcome(task).write_text("{}")
    lines = removed_modules(state, ["kept"])
    assert len(lines) == 1 and lines[0].startswith("fedbuild: removed the outputs of gone, "), lines
    for shown in ("dist/development/gone/", "dist/production/gone/",
                  ".fedbuild/work/development/gone/", ".fedbuild/staging/gone/",
                  ".fedbuild/sources/gone/", ".fedbuild/sources/gone.head"):
        assert shown in lines[0]
    assert not state.clone("gone").exists() and not state.head("gone").exists()
    assert (state.root / "dist/development/kept").is_dir()
    assert (state.root / "dist/development/users").is_dir()
    assert removed_modules(state, ["kept"]) == []


def test_sizes() -> None:
    assert [format_size(n) for n in (0, 999, 3100, 3_100_000, 5 * 10**9)] == [
        "0 B", "999 B", "3.1 KB", "3.1 MB", "5.0 GB"]


def test_a_link_counts_as_itself(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * 5000)
    (tmp_path / "link").symlink_to(tmp_path / "big")
    assert tree_size(tmp_path / "link") < 5000
