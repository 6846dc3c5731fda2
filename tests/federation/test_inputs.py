"""The walk that lists a module's inputs: regular files, symlinks inside the repository, and
the repository's .gitignore rules where it is a git checkout."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.errors import ManifestError
from federation.inputs import GitIgnores, files_under, glob_files, real_path, walk_files


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


# .gitignore rules ---------------------------------------------------------------------------

GITIGNORE_FILES = ["mod/a.txt", "mod/debug.log", "mod/keep.log", "mod/out/x.txt", "mod/sub/out",
         "mod/sub/b.txt", "mod/sub/c.tmp", "mod/drafts/d.md", "mod/node_modules/n.js",
         "other/o.txt"]


def gitignored_tree(root: Path, gitignores: dict[str, str], checkout: bool = True) -> Path:
    """GITIGNORE_FILES under `root`, .gitignore files (by folder), a .git folder if `checkout`."""
    for rel in GITIGNORE_FILES:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(rel)
    for folder, text in gitignores.items():
        (root / folder / ".gitignore").write_text(text)
    if checkout:
        (root / ".git").mkdir()
    return root


def test_gitignore_rules_of_the_checkout_leave_files_out(tmp_path: Path) -> None:
    """Patterns of the top .gitignore and of nested ones apply below their folders: globs,
    folder-only patterns (`out/`), anchored ones, negations, the innermost file deciding."""
    root = gitignored_tree(tmp_path, {".": "*.log\n!keep.log\nout/\n/mod/drafts/\n",
                           "mod/sub": "*.tmp\n!*.log\n"})
    assert files_under(root / "mod", root) == [
        "mod/a.txt", "mod/keep.log", "mod/sub/.gitignore", "mod/sub/b.txt", "mod/sub/out"]


def test_a_gitignore_above_the_repository_counts(tmp_path: Path) -> None:
    """The fedbuild repository may be a folder of the checkout: .gitignore files above it
    apply too."""
    gitignored_tree(tmp_path, {".": "*.txt\n"})
    (tmp_path / "mod" / "keep.md").write_text("kept")
    assert files_under(tmp_path / "mod" / "sub", tmp_path / "mod") == ["sub/c.tmp", "sub/out"]
    assert "keep.md" in files_under(tmp_path / "mod", tmp_path / "mod")


def test_outside_a_checkout_gitignore_files_mean_nothing(tmp_path: Path) -> None:
    """Without a .git folder above, every file counts (fedbuild's own skip list aside)."""
    root = gitignored_tree(tmp_path, {".": "*\n"}, checkout=False)
    assert files_under(root / "mod", root) == [
        "mod/a.txt", "mod/debug.log", "mod/drafts/d.md", "mod/keep.log", "mod/out/x.txt",
        "mod/sub/b.txt", "mod/sub/c.tmp", "mod/sub/out"]


def test_one_instance_reads_each_gitignore_once(tmp_path: Path) -> None:
    """A GitIgnores serves many listings; an edited .gitignore is read by the next one."""
    root = gitignored_tree(tmp_path, {".": "*.log\n"})
    ignores = GitIgnores()
    assert "mod/debug.log" not in files_under(root / "mod", root, ignores)
    (root / ".gitignore").write_text("*.txt\n")
    assert "mod/debug.log" not in files_under(root / "mod", root, ignores)
    assert "mod/debug.log" in files_under(root / "mod", root)


def test_real_path_agrees_with_realpath_while_it_remembers_folders(tmp_path: Path) -> None:
    """Every kind of path resolves as os.path.realpath resolves it, asked in any order with
    one memo: through folder links (relative, absolute, chained), a dangling link, a loop,
    a missing name, '..' after a link, and relative to the working folder."""
    module = tree(tmp_path)
    os.symlink(tmp_path / "m", tmp_path / "abs")  # an absolute link to a folder
    os.symlink("abs", tmp_path / "chain")  # a link to a link
    os.symlink("loop", tmp_path / "loop")
    asked = ["m/src/a.txt", "m/src/shared/s.txt", "abs/src/shared/s.txt", "chain/src",
             "m/src/dangling", "loop", "loop/x", "m/missing/deeper", "m/src/shared/../a.txt",
             "chain/src/alias.txt", "m/src/alias.txt", "."]
    memo: dict[str, str] = {}
    for name in asked + list(reversed(asked)):
        path = tmp_path / name
        assert real_path(path, memo) == os.path.realpath(path), name
    os.chdir(module)
    assert real_path("src/shared/s.txt", memo) == os.path.realpath("src/shared/s.txt")
