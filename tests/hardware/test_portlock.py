"""port_lock: one user per serial port, across threads and processes, with real flocks and
real second processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from core.errors import HardwareError
from hardware.portlock import ENV_LOCK_DIR, lock_folder, lock_path, port_lock
from tests.conftest import REPO

PORT = "socket://127.0.0.1:4000"
# A second process that takes the lock (optionally holding it until killed).
_TAKE = """
import sys, time
from pathlib import Path
from core.errors import HardwareError
from hardware.portlock import port_lock
try:
    with port_lock(sys.argv[1], Path(sys.argv[2]), timeout=float(sys.argv[3])):
        print("held", flush=True)
        if sys.argv[4] == "hold":
            time.sleep(60)
except HardwareError as err:
    print(err, flush=True)
"""


def take(lock_dir: Path, timeout: float, then: str = "release") -> subprocess.Popen[str]:
    """Another process trying to take PORT's lock; it prints "held" or the error."""
    return subprocess.Popen(
        [sys.executable, "-c", _TAKE, PORT, str(lock_dir), str(timeout), then], cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.PIPE, text=True,
        start_new_session=True)


def test_a_second_process_waits_then_says_who_holds_the_port(tmp_path: Path) -> None:
    with port_lock(PORT, tmp_path):
        started = time.monotonic()
        other = take(tmp_path, timeout=1.0)
        output, _ = other.communicate(timeout=30)
        took = time.monotonic() - started
    assert took >= 1.0
    line = output.strip()
    assert line.startswith(f"port {PORT} is busy: held by pid {os.getpid()} (`")
    assert line.endswith("(waited 1s)")
    assert " since 20" in line


def test_a_waiter_gets_the_port_once_its_holder_dies(tmp_path: Path) -> None:
    holder = take(tmp_path, timeout=5.0, then="hold")
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    holder_info = json.loads(lock_path(PORT, tmp_path).read_text())
    assert holder_info["pid"] == holder.pid
    # The living holder keeps it.
    with pytest.raises(HardwareError, match="is busy: held by pid"), \
            port_lock(PORT, tmp_path, timeout=0.2):
        pass
    # Killed, not released: the kernel drops its flock, the waiter goes on.
    threading.Timer(0.5, os.killpg, (holder.pid, signal.SIGKILL)).start()
    with port_lock(PORT, tmp_path, timeout=60.0):  # past it, a HardwareError
        assert holder.wait(timeout=5) == -signal.SIGKILL  # in only once the holder died
        assert json.loads(lock_path(PORT, tmp_path).read_text())["pid"] == os.getpid()
    assert lock_path(PORT, tmp_path).read_text() == ""  # released: nobody named


def test_threads_of_one_process_exclude_each_other(tmp_path: Path) -> None:
    errors: list[str] = []

    def try_briefly() -> None:
        try:
            with port_lock(PORT, tmp_path, timeout=0.2):
                pass
        except HardwareError as err:
            errors.append(str(err))

    with port_lock(PORT, tmp_path):
        thread = threading.Thread(target=try_briefly)
        thread.start()
        thread.join(timeout=10)
    assert len(errors) == 1 and "is busy" in errors[0]


def test_other_ports_are_not_held_up(tmp_path: Path) -> None:
    with port_lock(PORT, tmp_path), port_lock("/dev/ttyUSB0", tmp_path, timeout=0):
        assert sorted(p.name for p in tmp_path.iterdir()) == [
            "dev_ttyUSB0.lock", "socket_127.0.0.1_4000.lock"]


def test_the_lock_folder_is_machine_wide_unless_set(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_LOCK_DIR, raising=False)
    assert lock_folder() == Path(tempfile.gettempdir()) / "fedbuild-ports"
    monkeypatch.setenv(ENV_LOCK_DIR, str(tmp_path / "env"))
    assert lock_path(PORT) == tmp_path / "env" / "socket_127.0.0.1_4000.lock"
    assert lock_folder(tmp_path / "given") == tmp_path / "given"


def test_an_unusable_lock_folder_is_a_clear_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    with pytest.raises(HardwareError) as error, port_lock(PORT, not_a_folder / "locks"):
        pass
    assert str(error.value).startswith(f"cannot lock port {PORT} with {not_a_folder}/locks/")
    assert str(error.value).endswith(f"set {ENV_LOCK_DIR} to a folder you can write")
