"""Fingerprints of folders: a cheap one from file stats, an exact one from contents."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Mapping
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


# Stat fingerprints of staged outputs taken in this run, by folder: each site build's check
# takes its own, and federate's check then reuses them instead of walking every staged output
# again. An entry is good only while nothing rewrote its folder, so all are dropped at the
# start of a run, at every replace of a folder (core/staging.py) and whenever a task ran
# (the runner, in the main process: a task run in another process replaced its folders
# there, where this process cannot see it).
_fingerprints: dict[str, str | None] = {}


def noted_fingerprint(folder: Path) -> str | None:
    """stat_fingerprint(folder), taken now and kept for remembered_fingerprint."""
    fingerprint = _fingerprints[os.fspath(folder)] = stat_fingerprint(folder)
    return fingerprint


def remembered_fingerprint(folder: Path) -> str | None:
    """The folder's fingerprint taken earlier in this run (noted_fingerprint), or now."""
    key = os.fspath(folder)
    return _fingerprints[key] if key in _fingerprints else noted_fingerprint(folder)


def forget_fingerprints() -> None:
    """Drop every fingerprint kept this run: a folder may have been rewritten."""
    _fingerprints.clear()


def content_digest(folder: Path, known: Mapping[str, str] | None = None) -> str:
    """A digest of every file's path and content (symlinks by their target). `known` gives
    the SHA-256 of files already hashed (by path), which are then not read again."""
    h = hashlib.sha256()
    for rel, entry in list_files(folder):
        h.update(rel.encode() + b"\0")
        if entry.is_symlink():
            h.update(b"link:" + os.readlink(entry.path).encode())
        else:
            digest = known.get(entry.path) if known else None
            h.update((digest or file_digest(Path(entry.path))).encode())
        h.update(b"\n")
    return h.hexdigest()


def files_digest(root: Path, paths: Iterable[str], signature: Any) -> str:
    """A digest of a signature (JSON-able) and the paths and contents of files under `root`."""
    h = hashlib.sha256(json.dumps(signature, sort_keys=True, default=str).encode())
    for rel in sorted(paths):
        h.update(f"\n{rel}\0".encode())
        h.update(_known_digest(os.path.join(root, rel)).encode())
    return h.hexdigest()


# Digests of files read in this process, by what stat says of them: a task's inputs are read
# for its cache key and again for its record, and an input shared by several tasks once.
# Only files last modified before this process began are kept: a file written during the
# run could be written again within one tick of the file system's clock, size unchanged
# (git's "racy" entries), so it is read every time.
_digests: dict[tuple[str, int, int, int, int], str] = {}
_SETTLED_BEFORE = time.time_ns() - 100_000_000  # 0.1 s: more than a clock tick


def _known_digest(path: str) -> str:
    """The file's SHA-256, or "missing" (no file there); not read again while its device,
    inode, size and modification time are the same."""
    try:
        st = os.stat(path)
    except OSError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "missing"
    if st.st_mtime_ns >= _SETTLED_BEFORE:
        return file_digest(Path(path))
    key = (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    known = _digests.get(key)
    if known is None:
        known = _digests[key] = file_digest(Path(path))
    return known


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
