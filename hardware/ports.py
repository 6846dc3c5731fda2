"""Serial ports: which connected USB devices are ESP32 boards, and which port(s) to use.

Boards are recognised by their USB-to-serial bridge's vendor:product id. An explicit port
list always wins; with none, exactly one board must be connected: fedbuild never guesses
between several.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from core.errors import HardwareError

KNOWN_BOARDS: dict[tuple[int, int], str] = {
    (0x303A, 0x1001): "Espressif USB-Serial/JTAG",
    (0x10C4, 0xEA60): "CP210x",
    (0x1A86, 0x7523): "CH340",
    (0x1A86, 0x55D4): "CH9102",
    (0x0403, 0x6001): "FTDI FT232R",
    (0x0403, 0x6010): "FTDI FT2232 (dual)",
    (0x0403, 0x6014): "FTDI FT232H (high-speed)",
}

# ESP-WROVER-KIT and ESP-Prog wire the FT2232's first channel to JTAG, the second to the
# UART: only interface 1 is the board's serial port.
_JTAG_CHANNEL = ((0x0403, 0x6010), re.compile(r":1\.0$"))


class PortInfo(Protocol):
    """What pyserial's `ListPortInfo` tells about a port (the fields used here; `location`,
    when present, too)."""

    @property
    def device(self) -> str: ...
    @property
    def vid(self) -> int | None: ...
    @property
    def pid(self) -> int | None: ...
    @property
    def description(self) -> str: ...
    @property
    def serial_number(self) -> str | None: ...


@dataclass(frozen=True)
class Board:
    """A connected board: its port, USB ids and what its bridge is."""

    device: str
    vid: int
    pid: int
    kind: str  # from KNOWN_BOARDS
    description: str = ""  # as the OS describes the port
    serial_number: str | None = None

    def describe(self) -> str:
        """E.g. "/dev/ttyUSB0 (CP210x, serial 0001)"."""
        serial = f", serial {self.serial_number}" if self.serial_number else ""
        return f"{self.device} ({self.kind}{serial})"


def find_boards(comports: Iterable[PortInfo] | None = None) -> list[Board]:
    """The ESP32 boards among `comports` (default: pyserial's list of this machine's ports)."""
    boards = []
    for info in _system_ports() if comports is None else comports:
        vid, pid = info.vid, info.pid
        if vid is None or pid is None or (vid, pid) not in KNOWN_BOARDS:
            continue
        if not _is_jtag_channel(info):
            boards.append(Board(info.device, vid, pid, KNOWN_BOARDS[vid, pid],
                                info.description or "", info.serial_number))
    return sorted(boards, key=lambda b: b.device)


def pick_port(ports_arg: str, comports: Iterable[PortInfo] | None = None) -> list[str]:
    """The ports to use: the comma-separated `ports_arg` if given (any pyserial URL), else
    the one connected board; a HardwareError if there is none or several."""
    given = [p.strip() for p in ports_arg.split(",") if p.strip()]
    if given:
        return _unique(given)
    infos = list(_system_ports() if comports is None else comports)
    boards = find_boards(infos)
    if len(boards) == 1:
        return [boards[0].device]
    if not boards:
        looked_for = ", ".join(f"{name} {vid:04X}:{pid:04X}"
                               for (vid, pid), name in KNOWN_BOARDS.items())
        raise HardwareError(f"no ESP32 board found on USB (looked for {looked_for})"
                            f"{_others(infos)}; connect one or give port=...")
    found = ", ".join(b.describe() for b in boards)
    every = ",".join(b.device for b in boards)
    raise HardwareError(f"several boards found ({found}); choose one with port=... "
                        f"or flash all with ports={every}")


def port_slug(port: str) -> str:
    """`port` as a file name: "/dev/ttyUSB0" -> "dev_ttyUSB0", a symlink as its target."""
    if port.startswith("/"):
        # /dev/serial/by-id/... and /dev/ttyUSB0 are the same board, so the same lock.
        port = os.path.realpath(port)
    return re.sub(r"[^A-Za-z0-9.-]+", "_", port).strip("_") or "port"


def _is_jtag_channel(info: PortInfo) -> bool:
    ids, interface = _JTAG_CHANNEL
    location = getattr(info, "location", None)
    return (info.vid, info.pid) == ids and isinstance(location, str) and bool(
        interface.search(location))


def _system_ports() -> list[PortInfo]:
    from serial.tools import list_ports  # lazy: pyserial is an optional dependency

    return list(list_ports.comports())


def _others(infos: list[PortInfo]) -> str:
    """USB serial ports that are not known boards, to name in the "no board" error."""
    usb = [f"{i.device} {i.vid:04X}:{i.pid:04X}" for i in infos
           if i.vid is not None and i.pid is not None]
    return f"; other USB serial ports: {', '.join(usb)}" if usb else ""


def _unique(ports: list[str]) -> list[str]:
    return list(dict.fromkeys(ports))
