"""The repository lock between real processes: held, waited for, taken over from the dead."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tasks.lock import Holder, LockHeld, RepoLock
from tests.conftest import eventually

ROOT = Path(__file__).resolve().parents[2]

# Run in a subprocess: sys.argv[1] is the lock path, sys.argv[2] how long to hold it.
HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from tasks.lock import RepoLock
lock = RepoLock(__import__("pathlib").Path(sys.argv[1]))
lock.acquire()
time.sleep(float(sys.argv[2]))
lock.release()
"""

# Run in a subprocess: tries the lock once and prints what LockHeld said.
TRY = """
import sys
sys.path.insert(0, {root!r})
from tasks.lock import LockHeld, RepoLock
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
        proc = subprocess.Popen(python(HOLD, str(tmp_path / "state" / "lock"), str(seconds)))
        procs.append(proc)
        assert eventually(lambda: written_by(tmp_path / "state" / "lock", proc.pid))
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=5)


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
    with RepoLock(path):
        started = time.monotonic()
        tried = subprocess.run(python(TRY, str(path)), capture_output=True, text=True, timeout=20)
        assert time.monotonic() - started < 5
    assert tried.returncode == 3, tried.stderr
    message, pid = tried.stdout.splitlines()
    assert message.startswith(f"another fedbuild run holds {path}: pid {os.getpid()} (`")
    assert message.endswith("; wait for it or run with lock_wait=SECONDS")
    assert pid == str(os.getpid())


def test_wait_outlasts_a_holder_that_releases(
    tmp_path: Path, holder: Callable[[float], subprocess.Popen[bytes]]
) -> None:
    proc = holder(0.5)
    lock = RepoLock(tmp_path / "state" / "lock")
    with pytest.raises(LockHeld) as held:
        lock.acquire()
    assert held.value.holder is not None and held.value.holder.pid == proc.pid
    assert str(held.value).count("\n") == 0
    assert lock.acquire(wait=2) is None  # released cleanly: nothing stale
    lock.release()


def test_wait_gives_up_at_the_deadline(
    tmp_path: Path, holder: Callable[[float], subprocess.Popen[bytes]]
) -> None:
    holder(30)
    started = time.monotonic()
    with pytest.raises(LockHeld, match=r"\(waited 0.3s\)"):
        RepoLock(tmp_path / "state" / "lock").acquire(wait=0.3)
    assert 0.3 <= time.monotonic() - started < 2


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
