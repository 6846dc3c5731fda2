"""The repository lock between real processes: held, waited for, taken over from the dead."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.lock import Holder, LockHeld, RepoLock
from tests.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]

# Run in a subprocess: sys.argv[1] is the lock path, sys.argv[2] how long at most to hold it;
# it lets go sooner once its stdin is closed (the test says when, not a clock).
HOLD = """
import select, sys
sys.path.insert(0, {root!r})
from core.lock import RepoLock
lock = RepoLock(__import__("pathlib").Path(sys.argv[1]))
lock.acquire()
select.select([sys.stdin], [], [], float(sys.argv[2]))
lock.release()
"""

# Run in a subprocess: tries the lock once and prints what LockHeld said.
TRY = """
import sys
sys.path.insert(0, {root!r})
from core.lock import LockHeld, RepoLock
try:
    RepoLock(__import__("pathlib").Path(sys.argv[1])).acquire()
except LockHeld as e:
    print(e, e.holder.pid if e.holder else None, sep="\\n")
    sys.exit(3)
"""


def python(script: str, *args: str) -> list[str]:
    return [sys.executable, "-c", script.format(root=str(ROOT)), *args]


def written_by(path: Path, pid: int) -> bool:
    """Whether the lock file names pid (the holder writes it right after locking)."""
    try:
        return json.loads(path.read_text())["pid"] == pid
    except (OSError, ValueError, KeyError):
        return False


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[Callable[[float], subprocess.Popen[bytes]]]:
    """Start a subprocess holding tmp_path/state/lock for some seconds; killed at teardown."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(seconds: float) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(python(HOLD, str(tmp_path / "state" / "lock"), str(seconds)),
                                stdin=subprocess.PIPE)
        procs.append(proc)
        assert eventually(lambda: written_by(tmp_path / "state" / "lock", proc.pid))
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=5)
        if proc.stdin is not None:
            proc.stdin.close()


def test_acquire_writes_us_and_release_clears(tmp_path: Path) -> None:
    path = tmp_path / "state" / "lock"
    lock = RepoLock(path)
    assert lock.acquire() is None
    content = json.loads(path.read_text())
    assert content["pid"] == os.getpid() and content["argv"] == sys.argv
    lock.release()
    assert path.read_text() == ""
    lock.release()  # idempotent
    with RepoLock(path) as again:
        assert again.stale is None and written_by(path, os.getpid())


def test_second_lock_in_another_process_fails_at_once(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    with RepoLock(path):  # held throughout: a TRY that waited would time out, not exit 3
        tried = subprocess.run(python(TRY, str(path)), capture_output=True, text=True, timeout=60)
    assert tried.returncode == 3, tried.stderr
    message, pid = tried.stdout.splitlines()
    assert message.startswith(f"another fedbuild run holds {path}: pid {os.getpid()} (`")
    assert message.endswith("; wait for it or run with lock_wait=SECONDS")
    assert pid == str(os.getpid())


def test_wait_outlasts_a_holder_that_releases(
    tmp_path: Path, holder: Callable[[float], subprocess.Popen[bytes]]
) -> None:
    proc = holder(30)
    lock = RepoLock(tmp_path / "state" / "lock")
    with pytest.raises(LockHeld) as held:
        lock.acquire()
    assert held.value.holder is not None and held.value.holder.pid == proc.pid
    assert str(held.value).count("\n") == 0
    assert proc.stdin is not None
    proc.stdin.close()  # the holder lets go now
    assert lock.acquire(wait=30) is None  # released cleanly: nothing stale
    lock.release()


def test_wait_gives_up_at_the_deadline(
    tmp_path: Path, holder: Callable[[float], subprocess.Popen[bytes]]
) -> None:
    holder(30)
    started = time.monotonic()
    with pytest.raises(LockHeld, match=r"\(waited 0.3s\)"):
        RepoLock(tmp_path / "state" / "lock").acquire(wait=0.3)
    assert 0.3 <= time.monotonic() - started < 15  # gave up long before the holder's 30 s


def test_killed_holder_is_taken_over_as_stale(
    tmp_path: Path, holder: Callable[[float], subprocess.Popen[bytes]]
) -> None:
    proc = holder(30)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=5)
    lock = RepoLock(tmp_path / "state" / "lock")
    stale = lock.acquire()
    assert isinstance(stale, Holder) and stale.pid == proc.pid
    assert stale.describe().startswith(f"pid {proc.pid} (`-c {lock.path} 30`) since ")
    assert written_by(lock.path, os.getpid())
    lock.release()


def test_partial_content_reads_as_no_holder(tmp_path: Path) -> None:
    path = tmp_path / "lock"
    path.write_text('{"pid": 12')
    with RepoLock(path) as lock:
        assert lock.stale is None


# Run in a subprocess: takes the lock, forks a child that sleeps, prints the child's pid and
# dies without releasing (as a SIGKILLed run would).
FORK_AND_DIE = """
import os, sys, time
sys.path.insert(0, {root!r})
from core.lock import RepoLock
RepoLock(__import__("pathlib").Path(sys.argv[1])).acquire()
child = os.fork()
if child == 0:
    null = os.open(os.devnull, os.O_WRONLY)  # the test reads our parent's output to its end
    os.dup2(null, 1)
    os.dup2(null, 2)
    time.sleep(30)
    os._exit(0)
print(child, flush=True)
os._exit(0)
"""

# Run in a subprocess: locks the file by hand the way RepoLock does, but its forked child
# keeps the locked descriptor (what a worker of an older fedbuild did); then dies.
LEFTOVER_KEEPS_IT = """
import fcntl, os, sys, time
sys.path.insert(0, {root!r})
from core.lock import Holder, _write
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
_write(fd, Holder.current())
child = os.fork()
if child == 0:
    null = os.open(os.devnull, os.O_WRONLY)  # the test reads our parent's output to its end
    os.dup2(null, 1)
    os.dup2(null, 2)
    time.sleep(30)
    os._exit(0)
print(child, flush=True)
os._exit(0)
"""

# Run in a subprocess: holds the lock alive, but the file names another (dead) pid, as in
# the moment between a new run's flock and its writing itself into the file.
LIVE_BUT_NAMING_THE_DEAD = """
import fcntl, os, socket, sys, time
sys.path.insert(0, {root!r})
from core.lock import Holder, _write
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
_write(fd, Holder(int(sys.argv[2]), time.time(), ["doit"], socket.gethostname()))
print("locked", flush=True)
time.sleep(30)
"""


def alive(pid: int) -> bool:
    """Whether pid runs (a zombie does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture
def reaped() -> Iterator[list[int]]:
    """Pids a test started outside subprocess (forked grandchildren): killed at teardown."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def test_a_forked_child_does_not_inherit_the_lock(tmp_path: Path, reaped: list[int]) -> None:
    """A child forked while the lock is held (a `-P process` worker) does not keep it locked
    after its parent dies: the next acquire finds a stale holder and leaves the child be."""
    path = tmp_path / "lock"
    out = subprocess.run(python(FORK_AND_DIE, str(path)), capture_output=True, text=True,
                         timeout=20, check=True)
    child = int(out.stdout)
    reaped.append(child)
    lock = RepoLock(path)
    stale = lock.acquire()
    assert stale is not None and stale.pid != child
    assert alive(child)  # it never held the lock: nothing had to be killed
    assert not any(os.path.realpath(f"/proc/{child}/fd/{fd}") == str(path.resolve())
                   for fd in os.listdir(f"/proc/{child}/fd"))
    lock.release()


def test_leftovers_of_a_dead_holder_are_killed_and_the_lock_taken_over(
        tmp_path: Path, reaped: list[int]) -> None:
    """The holder died, but a process it forked still holds its locked descriptor: that
    process is the dead run's leftover, so it is killed and the lock taken over."""
    path = tmp_path / "lock"
    out = subprocess.run(python(LEFTOVER_KEEPS_IT, str(path)), capture_output=True, text=True,
                         timeout=20, check=True)
    child = int(out.stdout)
    reaped.append(child)
    lock = RepoLock(path)
    stale = lock.acquire()
    assert stale is not None and stale.pid != child and not alive(stale.pid)
    assert not alive(child)
    assert written_by(path, os.getpid())
    lock.release()


def test_a_live_holder_is_never_taken_over_whatever_the_file_says(tmp_path: Path) -> None:
    """Who holds the flock decides, not the file's content: a live run whose file still
    names a dead pid keeps its lock, and nothing of it is killed."""
    path = tmp_path / "lock"
    dead = subprocess.run(["true"], check=True)
    gone = subprocess.Popen(["true"])
    gone.wait(timeout=10)
    del dead
    proc = subprocess.Popen(python(LIVE_BUT_NAMING_THE_DEAD, str(path), str(gone.pid)),
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld):
            RepoLock(path).acquire(wait=0.3)
        assert proc.poll() is None
    finally:
        proc.kill()
        proc.wait(timeout=5)
