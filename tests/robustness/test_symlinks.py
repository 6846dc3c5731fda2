"""Symlinks inside a module's files (issue 16, item 7), through real doit runs.

Inside the repository they are inputs like any file (a folder link is walked, a file
link is tracked by its target's content); out of it they are refused with one line.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.conftest import copy_fixture, run_doit

CONTENT = "modules/alpha/content"


def test_folder_symlink_in_a_site_module_builds_and_is_tracked(tmp_path: Path) -> None:
    """A link to a sibling folder of the same module no longer crashes the run, and an edit
    under the folder it names rebuilds the module."""
    repo = copy_fixture("basic", tmp_path / "repo")
    (repo / "modules/alpha/extra").mkdir()
    (repo / "modules/alpha/extra/page.md").write_text("extra page\n")
    os.symlink("../extra", repo / CONTENT / "linked")

    first = run_doit(repo, "build:alpha")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Traceback" not in first.stdout + first.stderr
    info = run_doit(repo, "info", "build:alpha")
    assert f"{CONTENT}/linked/page.md" in info.stdout, info.stdout
    assert "build:alpha up to date" in run_doit(repo, "build:alpha").stdout

    (repo / "modules/alpha/extra/page.md").write_text("edited\n")
    again = run_doit(repo, "build:alpha")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "build:alpha up to date" not in again.stdout  # built again


def test_file_symlink_inside_the_repository_is_tracked_by_content(tmp_path: Path) -> None:
    """A link to a file elsewhere in the repository: editing the target rebuilds."""
    repo = copy_fixture("basic", tmp_path / "repo")
    (repo / "shared.md").write_text("shared\n")
    os.symlink("../../../shared.md", repo / CONTENT / "shared.md")
    assert run_doit(repo, "build:alpha").returncode == 0
    assert "build:alpha up to date" in run_doit(repo, "build:alpha").stdout

    (repo / "shared.md").write_text("changed\n")
    again = run_doit(repo, "build:alpha")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "build:alpha up to date" not in again.stdout


def test_symlink_out_of_the_repository_is_one_line(tmp_path: Path) -> None:
    """A folder or a file link leading out of the repository is refused, naming the link."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret\n")
    for name, target in (("dir", outside), ("file", outside / "secret.txt"),
                         ("root", Path("/"))):
        repo = copy_fixture("basic", tmp_path / f"repo-{name}")
        os.symlink(target, repo / CONTENT / "out")

        result = run_doit(repo, "list")

        assert result.returncode == 3, result.stdout + result.stderr
        assert result.stderr.splitlines() == [
            f"ERROR: {CONTENT}/out: is a symlink to {target.resolve()}, outside the repository; "
            "fedbuild reads no inputs from there: copy what the module needs into the "
            "repository, or link to a place inside it"]


def test_symlink_loops_and_cycles_end(tmp_path: Path) -> None:
    """A link to itself, one to the folder it is in and two leading to each other: `doit
    list` and a build end, each folder listed once."""
    repo = copy_fixture("basic", tmp_path / "repo")
    content = repo / CONTENT
    os.symlink("self", content / "self")
    os.symlink(".", content / "here")
    os.symlink("../../..", content / "top")  # the repository: holds the link's own folder
    (content / "a").mkdir()
    (content / "b").mkdir()
    (content / "b/page.md").write_text("b\n")
    os.symlink("../b", content / "a/to-b")
    os.symlink("../a", content / "b/to-a")

    result = run_doit(repo, "build:alpha", timeout=60)

    assert result.returncode == 0, result.stdout + result.stderr
    info = run_doit(repo, "info", "build:alpha").stdout
    assert f"{CONTENT}/b/page.md" in info and f"{CONTENT}/a/to-b/page.md" in info
    assert "/self" not in info and "/here/" not in info and "/top/" not in info


def test_folder_symlink_in_a_step_module_is_walked(tmp_path: Path) -> None:
    """A toolchain module's inputs follow a folder link inside the repository too."""
    repo = copy_fixture("steps", tmp_path / "repo")
    (repo / "modules/lib/more").mkdir()
    (repo / "modules/lib/more/extra.txt").write_text("extra\n")
    os.symlink("../more", repo / "modules/lib/src/linked")

    info = run_doit(repo, "info", "build:lib")  # exit 1: not up to date

    assert "Traceback" not in info.stdout + info.stderr
    assert "modules/lib/src/linked/extra.txt" in info.stdout
