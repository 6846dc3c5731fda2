"""One user of a serial port at a time, across threads and processes (`doit -n 2`).

A flash and an on-device test reading the same board must not interleave. Each port gets
an flock on a file named after it, in a folder shared by the whole machine (ports are
machine-wide, not per repository); the file names its holder, as the repository lock
does (core/lock.py), so a waiter that gives up can say who has the port.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.errors import HardwareError
from core.lock import LockHeld, RepoLock
from hardware.ports import port_slug

ENV_LOCK_DIR = "FEDBUILD_PORT_LOCKS"


def lock_folder(lock_dir: Path | None = None) -> Path:
    """Where port locks live: `lock_dir`, else $FEDBUILD_PORT_LOCKS, else <tmp>/fedbuild-ports."""
    if lock_dir is not None:
        return lock_dir
    from_env = os.environ.get(ENV_LOCK_DIR)
    return Path(from_env) if from_env else Path(tempfile.gettempdir()) / "fedbuild-ports"


def lock_path(port: str, lock_dir: Path | None = None) -> Path:
    """The lock file of `port`."""
    return lock_folder(lock_dir) / f"{port_slug(port)}.lock"


@contextmanager
def port_lock(port: str, lock_dir: Path | None = None, timeout: float = 60.0) -> Iterator[None]:
    """Hold `port` for the block, waiting up to `timeout` seconds for its current user; a
    HardwareError naming that user if it does not let go in time."""
    path = lock_path(port, lock_dir)
    lock = RepoLock(path)
    try:
        lock.acquire(wait=timeout)
    except LockHeld as held:
        who = held.holder.describe() if held.holder else "another process"
        raise HardwareError(f"port {port} is busy: held by {who} "
                            f"(waited {timeout:g}s)") from None
    except OSError as err:
        raise HardwareError(f"cannot lock port {port} with {path}: {err.strerror or err}; "
                            f"set {ENV_LOCK_DIR} to a folder you can write") from None
    try:
        yield
    finally:
        lock.release()

