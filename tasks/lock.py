"""One build at a time per repository: an flock on a file that says who holds it."""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

# How often a waiting acquire() retries; short, since the holder may finish at any moment.
POLL_INTERVAL = 0.1
_MAX_CONTENT = 64 * 1024


@dataclass(frozen=True)
class Holder:
    """The run that holds (or held) a lock, as written into the lock file."""

    pid: int
    since: float
    argv: list[str]
    host: str

    @classmethod
    def current(cls) -> Holder:
        """This process, now."""
        return cls(os.getpid(), time.time(), list(sys.argv), socket.gethostname())

    @property
    def token(self) -> str:
        """Identifies this run among all runs ever (a pid alone is reused)."""
        return f"{self.pid}-{self.since:.6f}"

    def describe(self) -> str:
        """E.g. "pid 1234 (`doit -n 2`) since 2026-11-22 10:04:05"."""
        argv = [os.path.basename(self.argv[0]), *self.argv[1:]] if self.argv else []
        where = "" if self.host == socket.gethostname() else f" on {self.host}"
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))
        return f"pid {self.pid}{where} (`{shlex.join(argv)}`) since {since}"


class LockHeld(Exception):
    """Another run holds the repository lock; str() is one line saying who and what to do."""

    def __init__(self, path: Path, holder: Holder | None, waited: float = 0.0) -> None:
        self.path = path
        self.holder = holder
        who = f": {holder.describe()}" if holder else ""
        waited_for = f" (waited {waited:g}s)" if waited else ""
        super().__init__(
            f"another fedbuild run holds {path}{who}{waited_for}; "
            "wait for it or run with lock_wait=SECONDS"
        )


class RepoLock:
    """An exclusive, non-blocking flock; the kernel frees it when its holder dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stale: Holder | None = None  # what the last acquire() took over, for `with` users
        self.holder: Holder | None = None  # this process, while it holds the lock
        self._fd: int | None = None

    def acquire(self, wait: float = 0.0) -> Holder | None:
        """Take the lock within `wait` seconds or raise LockHeld; return a dead run's Holder."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already held by this RepoLock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            self._lock(fd, wait)
            # We hold the flock, so whoever the file still names died without releasing.
            self.stale = _read(fd)
            self.holder = Holder.current()
            _write(fd, self.holder)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd
        return self.stale

    def release(self) -> None:
        """Clear the file and unlock; a no-op if not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        self.holder = None
        try:
            os.ftruncate(fd, 0)
            # Explicitly: forked children share the open file and would keep it locked past close().
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> RepoLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _lock(self, fd: int, wait: float) -> None:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LockHeld(self.path, _read(fd), wait) from None
                time.sleep(min(POLL_INTERVAL, left))


def _read(fd: int) -> Holder | None:
    """The Holder in the file, or None if it is empty or half-written."""
    try:
        data = json.loads(os.pread(fd, _MAX_CONTENT, 0))
        holder = Holder(int(data["pid"]), float(data["since"]), data["argv"], str(data["host"]))
    except (ValueError, TypeError, KeyError):
        return None
    is_argv = isinstance(holder.argv, list) and all(isinstance(a, str) for a in holder.argv)
    return holder if is_argv else None


def _write(fd: int, holder: Holder) -> None:
    # In place, not by rename: the flock belongs to this inode.
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(asdict(holder)).encode(), 0)
