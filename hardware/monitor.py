"""The serial test reader: open a port (any pyserial URL), maybe reset the board, and read its
Unity output until the summary, a crash or the timeout."""

from __future__ import annotations

import codecs
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import HardwareError
from hardware.unity import TestCase, UnityParser, UnityReport

if TYPE_CHECKING:
    import serial

READ_SLICE = 0.05  # seconds one read() may block: how often the deadlines are looked at
CRASH_QUIET = 0.5  # after a crash, stop once nothing more arrived for this long...
CRASH_MAX = 5.0  # ...or this long after the crash began, whichever is first
RESET_HOLD = 0.2  # EN held low (esptool holds 0.1 s, 0.2 s on USB-Serial/JTAG)
# No modem lines behind these: a reset is meaningless there.
_NO_CONTROL_LINES = ("socket://", "loop://")


def read_unity(url: str, baud: int = 115200, timeout: float = 30.0, reset: bool = True,
               banner: str | None = None, elf: Path | None = None,
               on_case: Callable[[TestCase], None] | None = None) -> UnityReport:
    """Read Unity output from `url` until its summary, a crash or `timeout` seconds; decode a
    crash's addresses with `elf`; call `on_case` with each case as it arrives."""
    pattern = _banner(banner)
    parser = UnityParser(pattern)
    report = UnityReport(url, timeout=timeout)
    port = _open(url, baud)
    started = time.monotonic()
    try:
        if reset:
            _reset(url, port, report.notes)
        raw, report.closed = _read(port, parser, timeout, on_case or _ignore)
    finally:
        port.close()
    report.duration = time.monotonic() - started
    report.output = raw.decode("utf-8", errors="replace")
    report.cases, report.summary, report.crash = parser.cases, parser.summary, parser.crash
    report.silent = not raw and not report.closed
    if not parser.banner_seen:
        report.banner = banner
    if report.crash is not None:
        from hardware.panic import decode

        decoded = decode(report.crash.lines, elf)
        report.crash.decoded, report.crash.note = decoded.text, decoded.note
    return report


def _read(port: serial.SerialBase, parser: UnityParser, timeout: float,
          on_case: Callable[[TestCase], None]) -> tuple[bytes, str]:
    """Read until the run is complete or the time is up; what arrived, and why the stream
    closed early ("" if it did not)."""
    import serial

    text = codecs.getincrementaldecoder("utf-8")(errors="replace")
    raw = bytearray()
    now = time.monotonic()
    deadline, crashed_at = now + timeout, None
    closed = ""
    while now < deadline:
        try:
            data = port.read(max(1, port.in_waiting))
        except (serial.SerialException, OSError) as err:
            # The peer hung up (QEMU exited, USB unplugged): in read(), or in in_waiting's
            # ioctl, which raises a bare EIO when the hangup came between two reads.
            closed = str(err) or "end of stream"
            break
        now = time.monotonic()
        if data:
            raw += data
            for case in parser.feed(text.decode(data), now):
                on_case(case)
        if parser.summary is not None or parser.rebooted:
            break
        if parser.crash is not None:
            # The backtrace follows the crash's first line: read until the board goes quiet.
            crashed_at = crashed_at or now
            if data:
                deadline = min(now + CRASH_QUIET, crashed_at + CRASH_MAX)
    for case in parser.finish(time.monotonic()):
        on_case(case)
    if parser.complete:
        closed = ""
    return bytes(raw), closed


def _open(url: str, baud: int) -> serial.SerialBase:
    """The port, open, with DTR and RTS released so that opening does not reset the board."""
    try:
        import serial
    except ImportError:
        raise HardwareError("pyserial is not installed; pip install 'fedbuild[hardware]'") \
            from None
    try:
        port = serial.serial_for_url(url, baudrate=baud, timeout=READ_SLICE, do_not_open=True)
        if not url.startswith(_NO_CONTROL_LINES):
            # Asserted, they hold an auto-reset board in reset or in its bootloader.
            port.dtr = False
            port.rts = False
        if url.startswith("socket://"):
            # pyserial empties the input right after connecting (FACTS); a peer that starts
            # talking on connect (QEMU with wait=on) would lose its first bytes.
            port.reset_input_buffer = _ignore
        port.open()
    except (ValueError, OSError, serial.SerialException) as err:
        raise HardwareError(f"could not open {url}: {err}") from None
    return port


def _reset(url: str, port: serial.SerialBase, notes: list[str]) -> None:
    """Restart the app as esptool's hard reset does: EN low through RTS, then released."""
    import serial

    if url.startswith(_NO_CONTROL_LINES):
        return
    try:
        port.reset_input_buffer()  # what came before the reset is an earlier run's
        port.dtr = False  # IO0 high: the app boots, not the ROM bootloader
        port.rts = True
        port.dtr = port.dtr  # some drivers (Windows usbser) apply RTS only with a DTR write
        time.sleep(RESET_HOLD)
        port.rts = False
        port.dtr = port.dtr
    except (OSError, serial.SerialException) as err:
        notes.append(f"could not reset the board through RTS ({err}); read without a reset")


def _banner(banner: str | None) -> re.Pattern[str] | None:
    if not banner:
        return None
    try:
        return re.compile(banner)
    except re.error as err:
        raise HardwareError(f"--banner {banner!r} is not a regular expression: {err}") from None


def _ignore(*_args: object) -> None:
    pass
