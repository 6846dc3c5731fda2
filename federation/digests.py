"""Fingerprints of folders: a cheap one from file stats, an exact one from contents."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def stat_fingerprint(folder: Path) -> str | None:
    """A digest of every file's path, size and mtime; None when the folder is missing.

    Cheap enough for every no-op run: it notices a deleted, added or edited
    output file without reading any content.
    """
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    for rel, entry in _walk(folder):
        st = entry.stat(follow_symlinks=False)
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n".encode())
    return h.hexdigest()


def content_digest(folder: Path) -> str:
    """A digest of every file's path and content (symlinks by their target)."""
    h = hashlib.sha256()
    for rel, entry in _walk(folder):
        h.update(rel.encode() + b"\0")
        if entry.is_symlink():
            h.update(b"link:" + os.readlink(entry.path).encode())
        else:
            h.update(file_digest(Path(entry.path)).encode())
        h.update(b"\n")
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _walk(folder: Path) -> list[tuple[str, os.DirEntry[str]]]:
    found: list[tuple[str, os.DirEntry[str]]] = []
    cut = len(os.fspath(folder).rstrip(os.sep)) + 1
    stack = [folder]
    while stack:
        current = stack.pop()
        for entry in os.scandir(current):
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            else:
                found.append((entry.path[cut:].replace(os.sep, "/"), entry))
    return sorted(found, key=lambda item: item[0])
