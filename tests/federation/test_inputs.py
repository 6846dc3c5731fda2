"""The walk that lists a module's inputs: regular files, symlinks inside the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from federation.errors import ManifestError
from federation.inputs import files_under, glob_files, walk_files


def tree(root: Path) -> Path:
    """A repository with a module `m` holding a file, a folder and a few links."""
    module = root / "m"
    (module / "src").mkdir(parents=True)
    (module / "src/a.txt").write_text("a")
    (root / "shared").mkdir()
    (root / "shared/s.txt").write_text("s")
    os.symlink("../../shared", module / "src/shared")  # a folder elsewhere in the repository
    os.symlink("a.txt", module / "src/alias.txt")  # a file link
    os.symlink("missing", module / "src/dangling")
    os.mkfifo(module / "src/pipe")  # reading it as an input would block forever
    return module


def test_links_inside_the_repository_are_followed(tmp_path: Path) -> None:
    """A folder link is walked under its own name, a file link listed; a dangling link and
    a FIFO are not files to read."""
    module = tree(tmp_path)
    assert files_under(module, tmp_path) == ["m/src/a.txt", "m/src/alias.txt",
                                             "m/src/shared/s.txt"]


def test_skip_dirs_apply_to_folder_links(tmp_path: Path) -> None:
    """A linked folder whose name is skipped (node_modules, a toolchain's skip_dirs) is."""
    module = tree(tmp_path)
    os.symlink("../../shared", module / "node_modules")
    found = sorted(walk_files(module, tmp_path, ["shar*"]))
    assert found == [str(module / "src/a.txt"), str(module / "src/alias.txt")]


@pytest.mark.parametrize("target", ["outside", "outside/file.txt"])
def test_a_link_out_of_the_repository_is_refused(tmp_path: Path, target: str) -> None:
    """Listing or globbing through a link that leaves the repository is one ManifestError."""
    root = tmp_path / "repo"
    module = tree(root)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside/file.txt").write_text("secret")
    os.symlink(tmp_path / target, module / "src/out")
    with pytest.raises(ManifestError, match=r"out: is a symlink to .*, outside the repository"):
        files_under(module, root)
    with pytest.raises(ManifestError, match="outside the repository"):
        glob_files(module, ["src/out", "src/out/*"], root)


def test_a_name_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    """A file whose name is not UTF-8 (a cache key, a log could not name it) is one line."""
    (tmp_path / "m").mkdir()
    (tmp_path / "m/caf\udce9.txt").write_text("x")  # the bytes caf\xe9.txt
    with pytest.raises(ManifestError, match=r"caf\\udce9.txt: its name is not UTF-8 text"):
        files_under(tmp_path / "m", tmp_path)
