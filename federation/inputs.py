"""Expand a module's inputs into the file list doit tracks (`file_dep`).

Symlinks in a module's files: one whose target lies inside the repository is an input
like any other (a file is tracked by its target's content; a folder is walked, once,
unless it holds the folder the link is in); one whose target lies outside the
repository is refused with one line: fedbuild never reads inputs from outside it.
A dangling link is nothing to read and is left out.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from federation.errors import ManifestError

# Never inputs: version control, fedbuild's own state, caches and editor litter.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".fedbuild", "__pycache__", "node_modules",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIP_FILES = frozenset({".DS_Store", ".hugo_build.lock"})


def files_under(folder: Path, root: Path) -> list[str]:
    """Every file below `folder`, as sorted POSIX paths relative to `root`."""
    prefix = _prefix(folder, root)
    return sorted(_relative(path, prefix, root) for path in walk_files(folder, root))


def walk_files(folder: Path, root: Path, skip_dirs: Sequence[str] = ()) -> Iterator[str]:
    """The path (below `folder`, as found) of every regular file there, following symlinks
    that stay in `root`; folders in SKIP_DIRS or matching a `skip_dirs` glob are left out."""
    inside = os.path.realpath(root)
    start = os.fspath(folder)
    followed = {os.path.realpath(start)}  # folders reached through a symlink, and the start
    stack = [(start, os.path.realpath(start))]
    while stack:
        current, real = stack.pop()
        for entry in _entries(current):
            name = entry.name
            if not name.isascii():
                _check_name(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if not _skipped(name, skip_dirs):
                    stack.append((entry.path, os.path.join(real, name)))
            elif name in SKIP_FILES or _litter(name):
                continue
            elif entry.is_symlink():
                target = _target(entry.path, inside)
                if target is None:
                    continue
                if not os.path.isdir(target):
                    if os.path.isfile(target):
                        yield entry.path
                elif not (_skipped(name, skip_dirs) or target in followed
                          or _contains(target, real)):
                    followed.add(target)
                    stack.append((entry.path, target))
            elif entry.is_file(follow_symlinks=False):  # not a FIFO, socket or device
                yield entry.path


def glob_files(folder: Path, patterns: Iterable[str], root: Path) -> list[str]:
    """Files matching glob patterns (`**` allowed) relative to `folder`."""
    inside = os.path.realpath(root)
    found = set()
    for pattern in patterns:
        for path in folder.glob(pattern):
            if path.is_file() and _target(os.fspath(path), inside) is not None:
                found.add(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(found)


def _entries(folder: str) -> list[os.DirEntry[str]]:
    """The entries of a folder; none when it is gone or is not a folder."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as err:
        raise ManifestError(_shown(folder), "", f"cannot be listed: {err.strerror}; fedbuild "
                            "reads it for the inputs of a build") from None


def _check_name(path: str) -> None:
    """Refuse a file name that is not UTF-8: it could not be written into a cache key, a
    log or a message (Python holds its bytes as lone surrogates)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError(_shown(path), "", "its name is not UTF-8 text; rename it (the "
                            "inputs of a build are named in UTF-8)") from None


def _target(path: str, inside: str) -> str | None:
    """Where a path leads once symlinks are followed: None when nowhere (dangling, a loop);
    a ManifestError when outside the repository."""
    if not os.path.exists(path):
        return None
    target = os.path.realpath(path)
    if not _contains(inside, target):
        raise ManifestError(_shown(path), "", f"is a symlink to {target}, outside the "
                            "repository; fedbuild reads no inputs from there: copy what the "
                            "module needs into the repository, or link to a place inside it")
    return target


def _contains(folder: str, path: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _skipped(name: str, skip_dirs: Sequence[str]) -> bool:
    return name in SKIP_DIRS or any(fnmatch.fnmatchcase(name, p) for p in skip_dirs)


def _shown(path: str) -> str:
    """A path for a message: relative to the working folder when inside it, and never
    resolved (a symlink is named, not where it leads)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _prefix(folder: Path, root: Path) -> str | None:
    """The text to cut off paths below `folder` to make them relative to `root`, if it can be."""
    base, below = os.fspath(root).rstrip(os.sep) + os.sep, os.fspath(folder)
    return base if (below + os.sep).startswith(base) else None


def _relative(path: str, prefix: str | None, root: Path) -> str:
    # Cutting a known prefix is much cheaper than os.path.relpath for every file.
    rel = path[len(prefix):] if prefix else os.path.relpath(path, root)
    return rel.replace(os.sep, "/")


def _litter(name: str) -> bool:
    return name.endswith(("~", ".swp", ".swo")) or name.startswith(".#")
