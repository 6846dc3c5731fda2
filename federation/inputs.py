"""Expand a module's inputs into the file list doit tracks (`file_dep`)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

# Never inputs: version control, fedbuild's own state, caches and editor litter.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".fedbuild", "__pycache__", "node_modules",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIP_FILES = frozenset({".DS_Store", ".hugo_build.lock"})


def files_under(folder: Path, root: Path) -> list[str]:
    """Every file below `folder`, as sorted POSIX paths relative to `root`."""
    found: list[str] = []
    prefix = _prefix(folder, root)
    stack = [os.fspath(folder)]
    while stack:
        current = stack.pop()
        try:
            entries = list(os.scandir(current))
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIP_DIRS:
                    stack.append(entry.path)
            elif entry.name in SKIP_FILES or _litter(entry.name):
                continue
            elif entry.is_symlink() and not os.path.exists(entry.path):
                continue  # dangling: nothing to read (doit would reject it as a file_dep)
            else:
                found.append(_relative(entry.path, prefix, root))
    return sorted(found)


def glob_files(folder: Path, patterns: Iterable[str], root: Path) -> list[str]:
    """Files matching glob patterns (`**` allowed) relative to `folder`."""
    found = {
        os.path.relpath(path, root).replace(os.sep, "/")
        for pattern in patterns
        for path in folder.glob(pattern)
        if path.is_file()
    }
    return sorted(found)


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
