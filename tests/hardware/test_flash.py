"""`python -m hardware flash`: real esptool (a subprocess, as in a build) writes real image
files to esp32-mock-bootloader boards on loopback, and reads them back to compare.

Failures are real too: a mock of another chip, a closed TCP port, a pty another program
holds exclusively, a pty nothing answers on, a listener that never answers. Only a verify
mismatch is staged by hand: a flash's files are replaced between its write and its verify.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil
import pytest
import serial

from core.errors import HardwareError
from hardware import flash
from hardware.flash import (
    VERIFY,
    FlashOptions,
    PortResult,
    esptool_argv,
    explain,
    flash_all,
    flash_port,
    run_step,
)
from hardware.flasher_args import FlashFile, FlashPlan, read_flasher_args
from hardware.ports import port_slug
from tests.hardware.mock_boards import (
    MockBoard,
    flash_cli,
    mock_board,
    read_flash,
    write_firmware,
)
from tests.servers import HOST, free_port, silent_server


@pytest.fixture
def firmware(tmp_path: Path) -> Path:
    """A build folder's flasher_args.json: a 40000-byte bootloader and a 64 KiB app."""
    return write_firmware(tmp_path / "build")


@pytest.fixture
def board(tmp_path: Path) -> Iterator[MockBoard]:
    """An ESP32-C3 mock board."""
    with mock_board(tmp_path) as mock:
        yield mock


def cli_args(firmware: Path, tmp_path: Path, *more: str) -> list[str]:
    return ["--flasher-args", str(firmware), "--target", "esp32c3",
            "--lock-dir", str(tmp_path / "locks"), *more]


def assert_holds(board: MockBoard, firmware: Path, tmp_path: Path) -> None:
    """The board's flash holds every file of the firmware at its offset."""
    data = read_flash(board, 0x0, 0x20000, tmp_path / f"read-{board.port}.bin")
    for region in read_flasher_args(firmware).files:
        expected = region.path.read_bytes()
        assert data[region.offset:region.offset + len(expected)] == expected, region


def options(tmp_path: Path, **changes: Any) -> FlashOptions:
    defaults = FlashOptions(chip="esp32c3", log_dir=tmp_path / "logs",
                            lock_dir=tmp_path / "locks", timeout=30.0)
    return replace(defaults, **changes)


def test_flashes_verifies_and_resets_one_board(board: MockBoard, firmware: Path,
                                               tmp_path: Path) -> None:
    # Empty values are "not given": the firmware step passes them so.
    done = flash_cli(*cli_args(firmware, tmp_path, "--port", board.url, "--ports", "",
                               "--baud", "", "--chip", "", "--timeout", "", "--log-dir", ""))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert re.fullmatch(re.escape(board.url) + r": flashed 2 regions \(105\.5 KB\) to esp32c3 "
                        r"in \d+\.\ds, verified, reset\n", done.stdout)
    assert_holds(board, firmware, tmp_path)
    log = (firmware.parent / "flash-logs" / f"{port_slug(board.url)}.log").read_text()
    write, verify = [line for line in log.splitlines() if line.startswith("$ ")]
    assert "--after no-reset write-flash" in write and "--baud 460800" in write
    assert "--after hard-reset verify-flash" in verify


def test_flashes_two_boards_in_parallel(firmware: Path, tmp_path: Path) -> None:
    with mock_board(tmp_path) as first, mock_board(tmp_path) as second:
        done = flash_cli(*cli_args(firmware, tmp_path, "--port", "",
                                   "--ports", f"{first.url},{second.url}"))
        assert done.returncode == 0, done.stderr
        lines = sorted(done.stdout.splitlines())
        assert [line.split(": ")[0] for line in lines] == sorted([first.url, second.url])
        assert all("flashed 2 regions (105.5 KB) to esp32c3" in line for line in lines)
        assert_holds(first, firmware, tmp_path)
        assert_holds(second, firmware, tmp_path)


def test_each_failing_port_is_reported_and_the_others_complete(firmware: Path,
                                                               tmp_path: Path) -> None:
    closed = f"socket://{HOST}:{free_port()}"
    busy_master, busy_slave = os.openpty()
    silent_master, silent_slave = os.openpty()
    busy, silent = os.ttyname(busy_slave), os.ttyname(silent_slave)
    holder = serial.Serial(busy, exclusive=True)  # a serial monitor, say
    try:
        with mock_board(tmp_path) as good, mock_board(tmp_path, "esp32") as wrong:
            ports = [good.url, wrong.url, closed, busy, silent]
            done = flash_cli(*cli_args(firmware, tmp_path, "--ports", ",".join(ports)))
            assert_holds(good, firmware, tmp_path)
    finally:
        holder.close()
        for fd in (busy_master, busy_slave, silent_master, silent_slave):
            os.close(fd)
    assert done.returncode == 1
    lines = {line.split(": ")[0]: line for line in done.stdout.splitlines()}
    assert set(lines) == set(ports)
    assert f"{good.url}: flashed 2 regions" in lines[good.url]
    assert (f"{wrong.url}: FAILED: wrong chip on {wrong.url}: found ESP32, the firmware is for "
            "esp32c3 (log: ") in lines[wrong.url]
    assert (f"FAILED: could not open {closed}: connection refused (nothing listens there)"
            in lines[closed])
    assert (f"FAILED: {busy} is busy: another program has it open (a serial monitor?); close "
            "it and try again" in lines[busy])
    assert (f"FAILED: no ESP32 answering on {silent} (No serial data received); check the "
            "cable and the port, or hold BOOT while pressing RESET" in lines[silent])
    failed = ", ".join(p for p in ports if p != good.url)
    assert done.stderr == f"error: flashing failed on 4 of 5 ports: {failed}\n"


def test_a_board_that_never_answers_times_out_and_esptool_is_killed(
        firmware: Path, tmp_path: Path) -> None:
    with silent_server() as silent:
        url = f"socket://{HOST}:{silent.port}"
        # Killed at its 1.5 s timeout: flash_cli's own 60 s timeout would end a hang.
        done = flash_cli(*cli_args(firmware, tmp_path, "--port", url, "--timeout", "1.5"))
        assert done.returncode == 1
        assert done.stderr.startswith(f"error: esptool write-flash on {url} timed out after "
                                      "1.5s and was killed; is the board stuck, or is it the "
                                      "wrong port? (log: ")
        assert not [p for p in psutil.process_iter(["cmdline"]) if url in (p.info["cmdline"]
                                                                          or [])]


def test_a_flash_that_differs_fails_verify_with_region_and_file(board: MockBoard,
                                                                tmp_path: Path) -> None:
    written = read_flasher_args(write_firmware(tmp_path / "a"))
    settings = options(tmp_path, verify=False, reset=False)
    result = flash_port(written, board.url, settings)
    assert result.ok, result.reason
    assert (result.verified, result.reset) == (False, False)
    # The same bootloader, another app: only the app's region differs on the board.
    other = read_flasher_args(write_firmware(tmp_path / "b"))
    other.files[0].path.write_bytes(written.files[0].path.read_bytes())
    with pytest.raises(HardwareError) as failure:
        run_step(other, board.url, settings, VERIFY, result.log or tmp_path, append=True,
                 after="no-reset")
    assert str(failure.value) == (f"verify failed on {board.url} at 0x10000: flash content "
                                  f"differs from {other.files[1].path} (log: {result.log})")


def test_the_same_port_twice_waits_for_its_lock(board: MockBoard, firmware: Path,
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Two flashes of one port at once take its lock in turn: the second is let in only
    once the first has let go (the order of the lock's events, not how long anything took)."""
    events: list[tuple[str, int]] = []
    real_lock = flash.port_lock

    @contextmanager
    def watched_lock(port: str, *args: Any) -> Iterator[Any]:
        with real_lock(port, *args) as held:
            events.append(("in", threading.get_ident()))
            try:
                yield held
            finally:
                events.append(("out", threading.get_ident()))

    monkeypatch.setattr(flash, "port_lock", watched_lock)
    plan = read_flasher_args(firmware)
    results = flash_all(plan, [board.url, board.url], options(tmp_path))
    assert all(r.ok for r in results), [r.reason for r in results]
    assert [kind for kind, _ in events] == ["in", "out", "in", "out"]
    assert events[0][1] == events[1][1] != events[2][1] == events[3][1]


def test_a_flash_that_waited_for_its_port_says_so() -> None:
    waited = PortResult("/dev/ttyUSB0", True, waited=2.04, duration=3.1, verified=True)
    assert waited.line("2 regions") == ("/dev/ttyUSB0: flashed 2 regions in 3.1s, verified, "
                                        "not reset (waited 2.0s for the port)")
    at_once = PortResult("/dev/ttyUSB0", True, waited=0.01, duration=3.1)
    assert "waited" not in at_once.line("2 regions")


def test_firmware_for_another_target_is_refused(firmware: Path, tmp_path: Path) -> None:
    done = flash_cli(*cli_args(firmware, tmp_path, "--port", "socket://127.0.0.1:9"),
                     "--chip", "esp32s3")
    assert done.returncode == 1
    assert done.stderr == (f"error: {firmware}: the firmware is built for esp32c3, but the "
                           "target is esp32s3; build it for esp32s3 first\n")


def test_port_and_ports_together_are_refused(firmware: Path, tmp_path: Path) -> None:
    done = flash_cli(*cli_args(firmware, tmp_path, "--port", "a", "--ports", "b,c"))
    assert (done.returncode, done.stderr) == (
        1, "error: flash: give port=... or ports=..., not both\n")


def test_esptool_command_lines(tmp_path: Path) -> None:
    plan = FlashPlan(chip="esp32c3", files=(), before="usb-reset", stub=False)
    argv = esptool_argv(plan, "/dev/ttyACM0", options(tmp_path, baud=921600), VERIFY,
                        "watchdog-reset")
    assert argv[1:] == ("-m", "esptool", "--chip", "esp32c3", "--port", "/dev/ttyACM0",
                        "--baud", "921600", "--before", "usb-reset", "--after",
                        "watchdog-reset", "--no-stub", "verify-flash", "--flash-mode", "keep",
                        "--flash-freq", "keep", "--flash-size", "keep")


# esptool 5.6's own words, from runs that cannot be staged here (no USB, no real flash).
PERMISSION = """Serial port /dev/ttyUSB0:

ERROR: A fatal error occurred: Could not open /dev/ttyUSB0, the port is busy or doesn't exist.
([Errno 13] could not open port /dev/ttyUSB0: [Errno 13] Permission denied: '/dev/ttyUSB0')

Hint: Try to add user into dialout or uucp group.
"""
DIFF = """Verifying 0x9c40 (40000) bytes at 0x00000000 in flash against 'boot.bin'...
Verification successful (digest matched).
Verifying 0x10000 (65536) bytes at 0x00010000 in flash against 'app.bin'...
Verification failed: 4 differences, first at 0x00010064:
   0x00010064 c9 58

ERROR: A fatal error occurred: Verification failed.
"""


@pytest.mark.parametrize(("output", "message"), [
    (PERMISSION, "could not open P: permission denied; add your user to the dialout group"),
    (DIFF, "verify failed on P at 0x10000: flash content differs from app.bin (4 bytes "
           "differ, the first at 0x10064)"),
    ("A fatal error occurred: Invalid head of packet (0x65)\n",
     "esptool failed on P: Invalid head of packet (0x65)"),
    ("/usr/bin/python3: No module named esptool\n", "esptool is not installed for "),
    ("ERROR: A fatal error occurred: This chip is ESP32-S3, not ESP32-C3. Wrong chip "
     "argument?\n", "wrong chip on P: found ESP32-S3 (esp32s3), the firmware is for esp32c3"),
])
def test_explain_turns_esptool_output_into_one_line(output: str, message: str) -> None:
    plan = FlashPlan(chip="esp32c3",
                     files=(FlashFile(0x0, Path("boot.bin")), FlashFile(0x10000, Path("app.bin"))))
    assert explain("P", output, plan, "esp32c3").startswith(message)
