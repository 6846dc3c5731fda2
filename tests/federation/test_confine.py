"""The confined delete: whatever a caller asks, nothing outside the roots is removed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.confine import OutsideRoots, Roots, remove_tree
from core.staging import replace_dir


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, Path]:
    """A repository and, beside it, a folder of someone else's files."""
    repo, other = tmp_path / "repo", tmp_path / "other"
    (repo / "dist/m").mkdir(parents=True)
    (repo / "dist/m/a.txt").write_text("a")
    (other / "sub").mkdir(parents=True)
    (other / "precious.txt").write_text("precious")
    return repo, other


def test_inside_is_removed_files_links_and_folders(world: tuple[Path, Path]) -> None:
    repo, other = world
    (repo / "link").symlink_to(other)
    remove_tree(repo / "link", repo)
    assert not os.path.lexists(repo / "link") and (other / "precious.txt").exists()
    remove_tree(repo / "dist/m/a.txt", repo)
    remove_tree(repo / "dist", repo)
    remove_tree(repo / "never-was", repo)
    assert sorted(os.listdir(repo)) == []


@pytest.mark.parametrize("asked", ["other", "other/precious.txt", "repo/../other",
                                   "repo/escape/precious.txt", "repo/escape/sub", "repo", "/",
                                   "repo/."])
def test_outside_or_the_root_itself_is_refused(world: tuple[Path, Path], asked: str) -> None:
    repo, other = world
    (repo / "escape").symlink_to(other)
    before = sorted(p.name for p in other.rglob("*"))
    with pytest.raises(OutsideRoots):
        remove_tree(repo.parent / asked, repo)
    assert sorted(p.name for p in other.rglob("*")) == before
    assert (repo / "dist/m/a.txt").exists()


def test_read_only_roots_are_never_removed_from(world: tuple[Path, Path]) -> None:
    repo, other = world
    roots = Roots.of([repo], read_only=[other])
    assert roots.may_read(other / "precious.txt") and not roots.may_write(other / "x")
    with pytest.raises(OutsideRoots):
        remove_tree(other / "precious.txt", roots)
    assert (other / "precious.txt").exists()


def test_a_root_that_is_a_link_is_followed(world: tuple[Path, Path]) -> None:
    """A state folder on another disk (a link) is fedbuild's own: removing in it is allowed."""
    repo, other = world
    (repo / ".fedbuild").symlink_to(other)
    roots = Roots.of([repo, repo / ".fedbuild"])
    remove_tree(repo / ".fedbuild/sub", roots)
    assert not (other / "sub").exists()


def test_replace_dir_refuses_a_destination_outside(world: tuple[Path, Path]) -> None:
    repo, other = world
    new = repo / "new"
    new.mkdir()
    (repo / "public").symlink_to(other)
    with pytest.raises(OutsideRoots):
        replace_dir(new, repo / "public/sub", repo)
    assert (other / "sub").is_dir() and (other / "precious.txt").exists()


def test_the_state_roots_follow_a_state_folder_swapped_for_a_link(
        world: tuple[Path, Path]) -> None:
    from core.state import STATE_DIR, State

    repo, other = world
    (repo / STATE_DIR).mkdir()
    before = State(repo).roots  # asked once per task: kept while the folders stay the same
    assert State(repo).roots is before and (repo / STATE_DIR).resolve() in before.writable

    (repo / STATE_DIR).rmdir()
    (repo / STATE_DIR).symlink_to(other / "sub")  # the state folder moved to another disk

    after = State(repo).roots
    assert (other / "sub").resolve() in after.writable
    remove_tree(repo / STATE_DIR / "tmp", State(repo).roots)  # inside: allowed, nothing there
    moved = repo.with_name("moved")
    repo.rename(moved)
    repo.symlink_to(moved)  # the repository itself swapped for a link
    assert moved.resolve() in State(repo).roots.writable
