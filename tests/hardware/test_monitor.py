"""The serial reader and `python -m hardware test` against a pseudo-terminal as the port.

A thread plays the board on the pty's master side; the reader opens the slave by name as it
would /dev/ttyUSB0. No board can be here: the pty stands in for the UART (the reset it
cannot do is reported as a note).
"""

from __future__ import annotations

import os
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from core.errors import HardwareError
from hardware import device_test
from hardware.monitor import read_unity
from hardware.unity import TestCase

PASSING = ["boot: fedbuild test app", "test/test_math.c:10:test_add:PASS",
           "test/test_math.c:20:test_later:IGNORE: needs a sensor", "",
           "-----------------------", "2 Tests 0 Failures 1 Ignored", "OK"]
FAILING = ["test/test_math.c:10:test_add:PASS",
           "test/test_math.c:14:test_div:FAIL: Expected 2 Was 3",
           "2 Tests 1 Failures 0 Ignored", "FAIL"]
CRASHING = ["test/test_main.c:34:test_first:PASS",
            "Guru Meditation Error: Core  0 panic'ed (Load access fault). Exception was unhandled.",
            "MEPC    : 0x8000031e  RA      : 0x80000328  SP      : 0x800051e0",
            "Backtrace: 0x8000031e:0x800051e0 0x80000328:0x800051e0"]


# The boards by their tty's name, each told when its reader first reads: pyserial's open()
# and a reset empty the input, so a board that wrote before then would lose its lines.
_BOARDS: dict[str, PtyBoard] = {}


@pytest.fixture(autouse=True)
def _reads_are_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A board starts writing once its reader is reading (the state, not a guessed delay)."""
    real = serial.Serial.read

    def read(port: serial.Serial, size: int = 1) -> bytes:
        board = _BOARDS.get(str(port.port))
        if board is not None:
            board.reading.set()
        return real(port, size)

    monkeypatch.setattr(serial.Serial, "read", read)


class PtyBoard:
    """A pty whose master side a thread writes to once the reader reads from the slave.
    With `close`, it hangs up once `hang_up` is set (by the reader's on_case: a hangup
    discards what the reader has not read yet)."""

    def __init__(self, lines: list[str], *, delay: float = 0.0, chunk: int = 0,
                 close: bool = False, meet: threading.Barrier | None = None) -> None:
        self.master, self.slave = os.openpty()
        self.port = os.ttyname(self.slave)
        self.text = "".join(line + "\r\n" for line in lines).encode()
        self.delay, self.chunk, self.close, self.meet = delay, chunk, close, meet
        self.hang_up = threading.Event()
        self.reading = threading.Event()
        self.ended = False
        _BOARDS[self.port] = self
        self.thread = threading.Thread(target=self._write, daemon=True)

    def _write(self) -> None:
        if not self.reading.wait(timeout=30) or self.ended:
            return
        if self.meet is not None:  # write only once every board's reader is attached
            try:
                self.meet.wait(timeout=30)
            except threading.BrokenBarrierError:
                return
        step = self.chunk or len(self.text) or 1
        for i in range(0, len(self.text), step):
            os.write(self.master, self.text[i:i + step])
            time.sleep(self.delay)
        if self.close and self.hang_up.wait(timeout=30):
            os.close(self.master)
            self.master = -1

    def __enter__(self) -> PtyBoard:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.ended = True  # a board whose reader never came, or is done, stops waiting
        self.reading.set()
        self.hang_up.set()
        self.thread.join(10)
        _BOARDS.pop(self.port, None)
        for fd in (self.master, self.slave):
            if fd >= 0:
                os.close(fd)


def test_reads_a_passing_run() -> None:
    seen: list[TestCase] = []
    with PtyBoard(PASSING) as board:
        report = read_unity(board.port, timeout=60, reset=False, on_case=seen.append)
    assert [c.describe() for c in seen] == ["PASS test_add", "IGNORE test_later: needs a sensor"]
    assert report.summary is not None and report.summary.ok
    assert report.ok and report.output.startswith("boot: fedbuild test app\r\n")
    assert report.duration < report.timeout  # stopped at the summary, not at the timeout


def test_slow_writer_split_lines() -> None:
    with PtyBoard(FAILING, delay=0.02, chunk=7) as board:  # ~1 s, lines in pieces
        report = read_unity(board.port, timeout=60, reset=False)
    assert [c.name for c in report.cases] == ["test_add", "test_div"]
    assert report.cases[1].message == "Expected 2 Was 3"
    assert report.problems() == ["1 of 2 tests failed: test_div"]
    assert report.duration < report.timeout  # the summary ended it, not the timeout


def test_silent_board_times_out_clearly() -> None:
    started = time.monotonic()
    with PtyBoard([]) as board:
        report = read_unity(board.port, timeout=0.8, reset=False)
    assert time.monotonic() - started >= 0.8  # it waited out its timeout
    assert report.silent
    assert report.problems() == [f"no output from {board.port} within 0.8s"]


def test_partial_output_then_timeout() -> None:
    with PtyBoard(FAILING[:2]) as board:
        report = read_unity(board.port, timeout=0.8, reset=False)
    assert not report.silent and len(report.cases) == 2
    assert report.problems()[0] == (
        "timed out after 0.8s waiting for the Unity summary; received: "
        "test/test_math.c:10:test_add:PASS | test/test_math.c:14:test_div:FAIL: Expected 2 Was 3")


def test_crash_stops_soon_after_the_backtrace() -> None:
    with PtyBoard(CRASHING) as board:  # then hangs, as a panicked board without reboot
        report = read_unity(board.port, timeout=60, reset=False)
    assert report.duration < report.timeout  # a short quiet after the crash, not 60 s
    assert report.crash is not None
    assert report.crash.lines[-1].startswith("Backtrace: 0x8000031e")
    assert report.crash.note == "not decoded: no ELF given (--elf)"
    assert [c.name for c in report.cases] == ["test_first"]


def test_port_closing_early() -> None:
    with PtyBoard(FAILING[:1], close=True) as board:
        report = read_unity(board.port, timeout=10, reset=False,
                            on_case=lambda _case: board.hang_up.set())
    assert report.closed and len(report.cases) == 1
    assert f"{board.port} closed after" in report.problems()[0]


def test_banner_skips_what_came_before() -> None:
    old = ["test/test_math.c:14:test_div:FAIL: stale", "1 Tests 1 Failures 0 Ignored", "FAIL"]
    with PtyBoard([*old, "=== app start ===", *PASSING]) as board:
        report = read_unity(board.port, timeout=10, reset=False, banner=r"^=== app start")
    assert report.ok and [c.name for c in report.cases] == ["test_add", "test_later"]


def test_banner_never_seen() -> None:
    with PtyBoard(PASSING) as board:
        report = read_unity(board.port, timeout=0.8, reset=False, banner="never")
    assert report.problems()[0].startswith("timed out after 0.8s waiting for the banner /never/")


def test_reset_on_a_pty_is_a_note() -> None:
    with PtyBoard(PASSING) as board:
        report = read_unity(board.port, timeout=10, reset=True)
    assert report.ok
    assert report.notes == ["could not reset the board through RTS ([Errno 25] Inappropriate "
                            "ioctl for device); read without a reset"]


def test_socket_peer_talking_at_once() -> None:
    """A TCP peer that writes as soon as it accepts (QEMU's wait=on): nothing is lost."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        conn.sendall("".join(line + "\n" for line in PASSING).encode())
        time.sleep(0.5)
        conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        report = read_unity(f"socket://127.0.0.1:{server.getsockname()[1]}", timeout=10)
    finally:
        thread.join(5)
        server.close()
    assert report.ok and len(report.cases) == 2
    assert report.notes == []  # no reset attempted on a socket


def test_unopenable_port() -> None:
    with pytest.raises(HardwareError, match="could not open /dev/does-not-exist"):
        read_unity("/dev/does-not-exist", timeout=1)
    with pytest.raises(HardwareError, match="is not a regular expression"):
        read_unity("loop://", timeout=1, banner="(")


# python -m hardware test ------------------------------------------------------


@pytest.fixture
def lock_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "locks"


def test_cli_failing_run(tmp_path: Path, lock_dir: Path,
                         capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "out" / "unity.xml"
    with PtyBoard(FAILING) as board:
        # Empty values, as the YAML step passes them, mean "not given".
        code = device_test.main(["--port", board.port, "--no-reset", "--timeout", "10",
                                 "--baud", "", "--banner", "", "--elf", "", "--suite", "",
                                 "--junit", str(junit), "--lock-dir", str(lock_dir)])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines()[1:] == [
        "PASS test_add",
        "FAIL test_div: Expected 2 Was 3 (test/test_math.c:14)",
        out.splitlines()[3],  # with the duration
        f"JUnit XML: {junit}"]
    assert out.splitlines()[3].startswith("2 Tests 1 Failures 0 Ignored FAIL (")
    assert err == "error: 1 of 2 tests failed: test_div\n"
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "unity" and suite.get("failures") == "1"
    assert list(lock_dir.glob("*.lock"))  # the port was held while reading


def test_cli_passing_run(lock_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with PtyBoard(PASSING) as board:
        code = device_test.main(["--port", board.port, "--lock-dir", str(lock_dir)])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    assert "note: could not reset the board through RTS" in out  # --reset is the default


def test_cli_silent(lock_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with PtyBoard([]) as board:
        code = device_test.main(["--port", board.port, "--no-reset", "--timeout", "0.5",
                                 "--lock-dir", str(lock_dir)])
    assert code == 1
    assert capsys.readouterr().err == f"error: no output from {board.port} within 0.5s\n"


def test_cli_several_boards_are_read_at_once_each_reported(
        tmp_path: Path, lock_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """port=a,b: both boards read in parallel (each board writes only once both readers are
    attached: read one after the other, the first would time out), a block each, and a
    JUnit file per board; one failing board fails the run, naming it."""
    junit = tmp_path / "out" / "device.xml"
    both = threading.Barrier(2)
    with PtyBoard(PASSING, delay=0.05, chunk=40, meet=both) as good, \
            PtyBoard(FAILING, delay=0.05, chunk=40, meet=both) as bad:
        code = device_test.main(["--port", f"{good.port},{bad.port}", "--no-reset",
                                 "--timeout", "20", "--junit", str(junit),
                                 "--lock-dir", str(lock_dir)])
    out, err = capsys.readouterr()
    assert code == 1
    assert f"== {good.port}: passed" in out and f"== {bad.port}: FAILED" in out
    assert "FAIL test_div: Expected 2 Was 3" in out.split(f"== {bad.port}")[1]
    assert err == f"error: tests failed on 1 of 2 boards: {bad.port}\n"
    assert len(list(junit.parent.glob("device-*.xml"))) == 2
