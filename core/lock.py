"""One build at a time per repository: an flock on a file that says who holds it.

The flock belongs to the open file, so a process forked while it is held would keep the
repository locked after the run died: forked children close it at once, and a lock whose
locker is dead while processes it forked still hold it is taken over, those killed.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import socket
import sys
import time
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType

# How often a waiting acquire() retries; short, since the holder may finish at any moment.
POLL_INTERVAL = 0.1
_MAX_CONTENT = 64 * 1024
# How long the leftovers of a dead holder, once sent SIGKILL, may take to let go of the lock.
TAKEOVER_GRACE = 5.0


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
        _held.add(self)
        return self.stale

    def release(self) -> None:
        """Clear the file and unlock; a no-op if not held."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        self.holder = None
        _held.discard(self)
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
        took_over = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if _take_over(fd) and not took_over:
                    took_over = True  # what was killed may take a moment to let go
                    deadline = max(deadline, time.monotonic() + TAKEOVER_GRACE)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LockHeld(self.path, _read(fd), wait) from None
                time.sleep(min(POLL_INTERVAL, left))

    def _forget_in_child(self) -> None:
        """In a forked child: close our copy of the descriptor, so only the parent holds it."""
        if self._fd is not None:
            with suppress(OSError):
                os.close(self._fd)
        self._fd = None
        self.holder = None


# Locks this process holds (even one whose object was dropped unreleased: its descriptor is
# still open): a child forked meanwhile closes them (os.register_at_fork).
_held: set[RepoLock] = set()


def _after_fork_in_child() -> None:
    for lock in list(_held):
        lock._forget_in_child()
    _held.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _take_over(fd: int) -> bool:
    """If the process that took the flock on fd's file is dead, kill the processes that still
    hold its locked descriptor (what it forked) and return True; else False.

    Who took the lock comes from the kernel (/proc/locks), never from the file: a new run
    writes itself there only just after its flock, and must not be taken for a dead one.
    """
    locker = _locker(fd)
    if locker is None or (_running(locker) and not _reused(locker, _read(fd))):
        return False
    leftovers = _sharing_the_lock(fd)
    for pid in leftovers:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return bool(leftovers)


def _locker(fd: int) -> int | None:
    """The pid that took the flock on fd's file (0 if the kernel no longer knows it), or
    None where /proc/locks cannot tell."""
    st = os.fstat(fd)
    inode = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                # "1: FLOCK  ADVISORY  WRITE 10441 fe:00:2149086 0 EOF"; blocked waiters
                # are listed after " ->" and never hold it.
                if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == inode:
                    return int(fields[4]) if fields[4].lstrip("-").isdigit() else 0
    except OSError:
        return None
    return None


def _running(pid: int) -> bool:
    """Whether pid is a live process (a zombie is dead: it holds no descriptors)."""
    if pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _reused(pid: int, holder: Holder | None) -> bool:
    """Whether pid, named by the file as the holder, is a later process under the same pid."""
    if holder is None or holder.pid != pid or holder.host != socket.gethostname():
        return False
    import psutil

    try:
        return psutil.Process(pid).create_time() > holder.since + 1.0
    except psutil.Error:
        return False


def _sharing_the_lock(fd: int) -> list[int]:
    """Pids (not ours) with a descriptor on the locked open file of fd's inode: the kernel
    lists the flock in the fdinfo of exactly those descriptors."""
    st = os.fstat(fd)
    found: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        with suppress(OSError):
            for entry in os.scandir(f"/proc/{name}/fd"):
                target = os.stat(entry.path)
                if (target.st_dev, target.st_ino) == (st.st_dev, st.st_ino) and _flocked(
                        f"/proc/{name}/fdinfo/{entry.name}"):
                    found.append(int(name))
                    break
    return found


def _flocked(fdinfo: str) -> bool:
    with suppress(OSError), open(fdinfo) as info:
        return any(line.startswith("lock:") and "FLOCK" in line for line in info)
    return False


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
