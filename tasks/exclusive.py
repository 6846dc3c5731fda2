"""Exclusive steps: a step marked `exclusive` never runs beside another step or build.

Every action holds a shared lock on one file while it runs its commands; an
exclusive one holds it exclusively. flock works across threads (each holder
opens the file itself) and across `-P process` workers alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

STEPS_LOCK = "steps.lock"  # under the state folder


@contextlib.contextmanager
def slot(lock_file: Path, exclusive: bool) -> Iterator[None]:
    """Hold the run's step lock, shared or exclusive, for the duration of the block."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock
