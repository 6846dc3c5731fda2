"""Fingerprints of folders: a cheap one from file stats, an exact one from contents."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any


def stat_fingerprint(folder: Path) -> str | None:
    """A digest of every file's path, size and mtime; None when the folder is missing.

    Cheap enough for every no-op run: it notices a deleted, added or edited
    output file without reading any content.
    """
    if not folder.is_dir():
        return None
    h = hashlib.sha256()
    for rel, entry in list_files(folder):
        st = entry.stat(follow_symlinks=False)
        h.update(f"{rel}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode}\n".encode())
    return h.hexdigest()


def content_digest(folder: Path) -> str:
    """A digest of every file's path and content (symlinks by their target)."""
    h = hashlib.sha256()
    for rel, entry in list_files(folder):
        h.update(rel.encode() + b"\0")
        if entry.is_symlink():
            h.update(b"link:" + os.readlink(entry.path).encode())
        else:
            h.update(file_digest(Path(entry.path)).encode())
        h.update(b"\n")
    return h.hexdigest()


def files_digest(root: Path, paths: Iterable[str], signature: Any) -> str:
    """A digest of a signature (JSON-able) and the paths and contents of files under `root`."""
    h = hashlib.sha256(json.dumps(signature, sort_keys=True, default=str).encode())
    for rel in sorted(paths):
        path = root / rel
        h.update(f"\n{rel}\0".encode())
        h.update(file_digest(path).encode() if path.is_file() else b"missing")
    return h.hexdigest()


def file_digest(path: Path) -> str:
    """The SHA-256 of a file's content."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def list_files(folder: Path) -> list[tuple[str, os.DirEntry[str]]]:
    """Every file and symlink below `folder` (never followed), sorted by POSIX relative path."""
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
