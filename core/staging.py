"""Build into a temporary folder, then replace the last good output in one step."""

from __future__ import annotations

import ctypes
import os
import tempfile
import uuid
from pathlib import Path

from core.confine import Roots, confined, remove_tree
from core.digests import forget_fingerprints

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def new_workdir(tmp_root: Path, prefix: str) -> Path:
    """A fresh, empty temporary folder for one build."""
    tmp_root.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir=tmp_root))


def replace_dir(new: Path, dest: Path, within: Roots | Path) -> None:
    """Make `new` appear at `dest` at once; the old `dest` is removed afterwards.

    Readers see the old tree or the new one, never a mix: on Linux the two
    folders are exchanged by renameat2(RENAME_EXCHANGE); elsewhere the old one
    is renamed aside first (a crash in between leaves `dest` missing, never
    half-written, and the aside copy is swept by the next run). What is removed must lie
    inside `within` (core/confine.py).
    """
    confined(dest, within)
    try:
        _replace(new, dest, within)
    finally:
        forget_fingerprints()  # the fingerprints this run took (of `dest`, any spelling)


def _replace(new: Path, dest: Path, within: Roots | Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if not dest.exists():
        os.rename(new, dest)
        return
    if _exchange(new, dest):
        remove_tree(new, within)
        return
    aside = dest.with_name(f".{dest.name}.old-{uuid.uuid4().hex[:8]}")
    os.rename(dest, aside)
    os.rename(new, dest)
    remove_tree(aside, within)


def _exchange(a: Path, b: Path) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(result == 0)
