"""Confined paths: what fedbuild writes, deletes, runs in or reads lies inside its roots.

The roots are the repository and fedbuild's own folders (its state folder, which
may be a link to another disk, and a local cache folder); read-only roots (a
source outside the repository) may be read, never written or deleted. Paths
are resolved with symlinks followed, so neither an absolute path, nor `..`,
nor a link out of the repository gets past the check.

Every delete in fedbuild goes through remove_tree() here: it refuses anything
outside the roots it is given, whatever the caller computed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class OutsideRoots(Exception):
    """A path fedbuild was asked to touch lies outside the folders it may touch (a bug)."""


@dataclass(frozen=True)
class Roots:
    """The folders fedbuild may write and delete in, and the ones it may only read."""

    writable: tuple[Path, ...]
    read_only: tuple[Path, ...] = ()

    @classmethod
    def of(cls, writable: Iterable[Path], read_only: Iterable[Path] = ()) -> Roots:
        """Roots with every folder resolved once (symlinks followed)."""
        return cls(tuple(_real(p) for p in writable), tuple(_real(p) for p in read_only))

    def may_write(self, path: Path | str) -> bool:
        """Whether `path`, resolved, lies strictly inside a writable root."""
        try:
            return _inside(resolved(path), self.writable)
        except ValueError:  # a NUL byte: no such path
            return False

    def may_read(self, path: Path | str) -> bool:
        """Whether `path`, resolved, lies inside (or is) a writable or read-only root."""
        try:
            real = resolved(path)
        except ValueError:  # a NUL byte: no such path
            return False
        return any(real == r for r in (*self.writable, *self.read_only)) or \
            _inside(real, (*self.writable, *self.read_only))


def resolved(path: Path | str) -> Path:
    """`path` made absolute with every symlink followed (also for parts not created yet)."""
    return _real(path)


def remove_tree(path: Path | str, within: Roots | Path, ignore_errors: bool = False,
                missing_ok: bool = True) -> None:
    """Remove a file, a link (never what it points to) or a folder, if it exists, even one a
    build made read-only; OutsideRoots when it is not strictly inside a writable root of
    `within` (a Roots, or one folder). `ignore_errors`: failures to remove (never a
    refusal) are ignored."""
    target = confined(path, within)
    try:
        if os.path.isdir(target) and not os.path.islink(target):
            _rmtree(target)
        else:
            os.unlink(target)
    except FileNotFoundError:
        if not missing_ok:
            raise
    except OSError:
        if not ignore_errors:
            raise


def write_whole(path: Path, data: bytes) -> None:
    """Write `data` to `path` whole or not at all: into a temporary file of this process's
    beside it, then renamed over it, so a reader never sees half of it. Its folder is made
    if missing; OSError when it cannot be written, with the temporary file removed."""
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        part.write_bytes(data)
        os.replace(part, path)
    except OSError:
        remove_tree(part, path.parent, ignore_errors=True)
        raise


def confined(path: Path | str, within: Roots | Path) -> str:
    """`path` with its folder resolved and its own name kept (a link is replaced or removed,
    never followed); OutsideRoots unless that lies strictly inside a writable root."""
    roots = within if isinstance(within, Roots) else Roots.of([within])
    absolute = os.path.abspath(path)
    name = os.path.basename(absolute)
    target = os.path.join(os.path.realpath(os.path.dirname(absolute)), name)
    if name in ("", ".", "..") or not _inside(Path(target), roots.writable):
        allowed = ", ".join(str(r) for r in roots.writable) or "nothing"
        raise OutsideRoots(f"refusing to remove {path} ({target}): it is not inside {allowed}")
    return target


def _rmtree(target: str) -> None:
    try:
        shutil.rmtree(target)  # fd-based on Linux: never follows links inside
    except PermissionError:
        for folder, _dirs, _files in os.walk(target):
            os.chmod(folder, 0o700)
        shutil.rmtree(target)


def _real(path: Path | str) -> Path:
    return Path(os.path.realpath(os.path.abspath(path)))


def _inside(real: Path, roots: Iterable[Path]) -> bool:
    return any(real != root and real.is_relative_to(root) for root in roots)
