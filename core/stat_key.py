"""Stat keys: whether the files and folders a result was made from are still as they were.

A result computed from files (a validated manifest, a plan, the folder listings it used) may
be reused while every file it read has the same stat signature (type, size, mtime_ns,
ctime_ns, inode, device), every folder it listed has the same one too (adding, removing or
renaming an entry changes a folder's mtime) and every path it looked up is still the same
thing, or still missing (type, inode, device: a folder swapped for a link is another inode).

A signature taken within RACY_NS of the moment the result started being made is not
trusted: a file can change again within one tick of the file system's clock, keep its size
and so its signature (git's "racily clean" entries). Such a result is not kept.

A kept result is one file: a first line naming the format, a JSON line with the key, then
the result pickled. The pickle is read only once the key matches, and a key holds inode
numbers and change times no copied or committed file can predict, so only a file this
machine wrote in this checkout is ever unpickled.
"""

from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path
from typing import Any

from core.confine import write_whole

MAGIC = b"fedbuild stat-key 1\n"
RACY_NS = 100_000_000  # far above the file system clock's tick (1-10 ms)
Signature = tuple[int, ...] | str | None
# What a path's signature says: its content, what it is, or only where it links to.
CONTENT, IDENTITY, LINK = "c", "i", "l"


def content(path: str) -> Signature:
    """What a file's content (or a folder's listing) is known by, following links; None when
    missing or unreadable."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def identity(path: str) -> Signature:
    """What a path is, a link not followed: its type, inode and device; None when missing."""
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return None
    return (stat.S_IFMT(st.st_mode), st.st_ino, st.st_dev)


def link(path: str) -> str | None:
    """Where a link leads, as written; None when the path is not a link (a folder a run
    swaps in whole, such as the published tree, is a new inode each time: only whether it
    is a link, and to where, is what planning looked at)."""
    try:
        return os.readlink(path)
    except (OSError, ValueError):
        return None


_SIGN = {CONTENT: content, IDENTITY: identity, LINK: link}


class StatKey:
    """The paths a result depends on, each with the signature it had."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[str, Signature]] = {}
        self._probed: set[str] = set()

    def read(self, path: str | os.PathLike[str]) -> None:
        """A file read, or a folder listed: its content counts (links followed)."""
        text = os.fspath(path)
        if self.entries.get(text, ("",))[0] != CONTENT:
            self.entries[text] = (CONTENT, content(text))

    def probe(self, path: str | os.PathLike[str], root: str | os.PathLike[str],
              only_link: bool = False) -> None:
        """A path looked up (exists? a file, a folder, a link? where does it resolve?): it
        and every folder between `root` and it (all of them up from `/` when it is not
        below `root`) must stay what they are; with `only_link`, the path itself must only
        stay a link to the same place, or no link."""
        text = os.path.abspath(os.fspath(path))
        top = os.fspath(root).rstrip(os.sep)
        if only_link:
            self.entries.setdefault(text, (LINK, link(text)))
            text = os.path.dirname(text)
        while text not in self._probed:
            self._probed.add(text)
            if text not in self.entries:
                self.entries[text] = (IDENTITY, identity(text))
            parent = os.path.dirname(text)
            if text == top or parent == text:
                break
            text = parent

    def matches(self) -> bool:
        """Whether every path still has the signature recorded."""
        return all(_SIGN[kind](path) == signature
                   for path, (kind, signature) in self.entries.items())

    def racy(self, since_ns: int) -> bool:
        """Whether a file or folder changed so close to `since_ns` (or after it) that its
        signature could hide a later change."""
        limit = since_ns - RACY_NS
        return any(kind == CONTENT and isinstance(signature, tuple)
                   and max(signature[2], signature[3]) >= limit
                   for kind, signature in self.entries.values())

    def as_json(self) -> list[list[Any]]:
        """The entries as JSON data."""
        return [[path, kind, signature] for path, (kind, signature) in self.entries.items()]

    @classmethod
    def of_json(cls, data: Any) -> StatKey:
        """The key written by `as_json`; ValueError when the data is not one."""
        key = cls()
        for path, kind, signature in data:
            if kind not in _SIGN or not isinstance(path, str):
                raise ValueError("not a stat key")
            key.entries[path] = (kind, tuple(signature) if isinstance(signature, list)
                                 else signature)
        return key


def load(file: Path, header: dict[str, Any]) -> Any | None:
    """The result kept in `file`, when its header equals `header` and its key still
    matches; None otherwise (missing, of another format, truncated, corrupt, outdated)."""
    try:
        with open(file, "rb") as f:
            if f.readline() != MAGIC:
                return None
            kept = json.loads(f.readline())
            if kept.get("header") != json.loads(json.dumps(header)):
                return None
            if not StatKey.of_json(kept["paths"]).matches():
                return None
            return pickle.load(f)
    except Exception:
        return None


def save(file: Path, header: dict[str, Any], key: StatKey, result: Any) -> bool:
    """Keep `result` in `file` under `header` and `key`, written whole or not at all
    (a temporary file, then renamed over it). False when it could not be written."""
    try:
        kept = pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL)
        write_whole(file, MAGIC + json.dumps({"header": header, "paths": key.as_json()}).encode()
                    + b"\n" + kept)
        return True
    except (OSError, pickle.PicklingError, TypeError, AttributeError):
        return False
