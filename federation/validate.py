"""Checks a new tree must pass before it replaces the published one.

Every published module's destination holds an index page; every internal
absolute link of a page or stylesheet names a file of the tree; every symlink
stays inside the tree. The checks read the file records (links were collected
while the files were written), never the pages again.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from federation.records import FileInfo


@dataclass(frozen=True)
class Problem:
    """One reason the tree cannot be published."""

    path: str  # the file (or destination) it is about
    message: str

    def describe(self) -> str:
        """One line."""
        return f"{self.path}: {self.message}"


def validate(files: dict[str, FileInfo], destinations: Iterable[tuple[str, str]],
             site_path: str) -> list[Problem]:
    """Every problem of the tree `files` describes (empty when it may be published)."""
    folders = _folders(files)
    problems = [Problem(dest, f"module {name} has no index page at {dest}")
                for name, dest in destinations
                if _index(dest.strip("/") + "/" if dest.strip("/") else "", files) is None]
    for path, info in sorted(files.items()):
        if info.target is not None:
            problem = _symlink_problem(path, info.target, files, folders)
            if problem:
                problems.append(Problem(path, problem))
        for link in dict.fromkeys(info.links):
            if not resolves(link, files, folders, site_path):
                problems.append(Problem(path, f"broken link {link}"))
    return problems


def resolves(link: str, files: dict[str, FileInfo], folders: set[str], site_path: str) -> bool:
    """Whether an internal absolute link names a file of the tree (a folder: its index page)."""
    path = unquote(link)
    if not path.startswith(site_path):
        return path + "/" == site_path and _index("", files) is not None
    rel = path[len(site_path):]
    if rel == "" or rel.endswith("/"):
        return _index(rel, files) is not None
    if rel in files:
        return True
    return rel in folders and _index(rel + "/", files) is not None


def _index(folder: str, files: dict[str, FileInfo]) -> str | None:
    for name in ("index.html", "index.htm"):
        if folder + name in files:
            return folder + name
    return None


def _symlink_problem(path: str, target: str, files: dict[str, FileInfo],
                     folders: set[str]) -> str | None:
    if target.startswith("/"):
        return f"symlink to an absolute path ({target}) leaves the published tree"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"symlink to {target} escapes the published tree"
    if resolved != "." and resolved not in files and resolved not in folders:
        return f"symlink to {target} points to nothing"
    return None


def _folders(files: dict[str, FileInfo]) -> set[str]:
    folders: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add("/".join(parts[:i]))
    return folders
