"""Port discovery: which connected serial ports are ESP32 boards, and which port to use.

There is no USB here, so the port lists are fakes: objects with the fields of pyserial's
ListPortInfo (device, vid, pid, description, serial_number, location). They are the only
fake in these tests; one call asks the real pyserial (it finds no board here).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from core.errors import HardwareError
from hardware.ports import Board, find_boards, pick_port, port_slug


@dataclass(frozen=True)
class FakePort:
    """A ListPortInfo as pyserial would list it for one device."""

    device: str
    vid: int | None = None
    pid: int | None = None
    description: str = "n/a"
    serial_number: str | None = None
    location: str | None = None


C3_JTAG = FakePort("/dev/ttyACM0", 0x303A, 0x1001, "USB JTAG/serial debug unit", "F4:12:FA")
CP2102 = FakePort("/dev/ttyUSB0", 0x10C4, 0xEA60, "CP2102N USB to UART Bridge Controller")
BUILTIN_UART = FakePort("/dev/ttyS0")  # no USB ids
PICO = FakePort("/dev/ttyACM1", 0x2E8A, 0x000A, "Board CDC")  # a Raspberry Pi Pico


def test_one_known_board_is_the_port() -> None:
    assert pick_port("", [BUILTIN_UART, PICO, C3_JTAG]) == ["/dev/ttyACM0"]


def test_boards_are_recognised_by_usb_ids_and_unknown_ones_ignored() -> None:
    ch340 = FakePort("/dev/ttyUSB1", 0x1A86, 0x7523, "USB Serial")
    assert find_boards([BUILTIN_UART, PICO, ch340, C3_JTAG]) == [
        Board("/dev/ttyACM0", 0x303A, 0x1001, "Espressif USB-Serial/JTAG",
              "USB JTAG/serial debug unit", "F4:12:FA"),
        Board("/dev/ttyUSB1", 0x1A86, 0x7523, "CH340", "USB Serial"),
    ]


def test_the_jtag_channel_of_an_ft2232_is_not_a_board() -> None:
    jtag = FakePort("/dev/ttyUSB0", 0x0403, 0x6010, "Dual RS232-HS", location="1-2:1.0")
    uart = FakePort("/dev/ttyUSB1", 0x0403, 0x6010, "Dual RS232-HS", location="1-2:1.1")
    assert pick_port("", [jtag, uart]) == ["/dev/ttyUSB1"]


def test_no_board_says_what_was_looked_for() -> None:
    with pytest.raises(HardwareError) as error:
        pick_port("", [BUILTIN_UART, PICO])
    message = str(error.value)
    assert message.startswith("no ESP32 board found on USB (looked for Espressif "
                              "USB-Serial/JTAG 303A:1001, CP210x 10C4:EA60, CH340 1A86:7523, ")
    assert message.endswith("; other USB serial ports: /dev/ttyACM1 2E8A:000A; connect one "
                            "or give port=...")


def test_several_boards_are_never_guessed_between() -> None:
    with pytest.raises(HardwareError) as error:
        pick_port("", [CP2102, C3_JTAG])
    assert str(error.value) == (
        "several boards found (/dev/ttyACM0 (Espressif USB-Serial/JTAG, serial F4:12:FA), "
        "/dev/ttyUSB0 (CP210x)); choose one with port=... or flash all with "
        "ports=/dev/ttyACM0,/dev/ttyUSB0")


def test_an_explicit_list_wins_and_may_name_any_pyserial_url() -> None:
    given = " socket://127.0.0.1:4000 , rfc2217://lab:2217,,/dev/ttyUSB9,socket://127.0.0.1:4000"
    assert pick_port(given, [CP2102, C3_JTAG]) == [
        "socket://127.0.0.1:4000", "rfc2217://lab:2217", "/dev/ttyUSB9"]
    assert pick_port("/dev/ttyUSB9", []) == ["/dev/ttyUSB9"]


def test_without_a_list_pyserial_is_asked() -> None:
    # Real pyserial: no board is plugged in here, but the call must work all the same.
    assert all(isinstance(board, Board) for board in find_boards())


def test_port_slugs_are_file_names_and_follow_symlinks(tmp_path: Path) -> None:
    assert port_slug("socket://127.0.0.1:4000") == "socket_127.0.0.1_4000"
    device = tmp_path / "ttyUSB0"
    device.touch()
    by_id = tmp_path / "usb-Silicon_Labs_CP2102N-if00-port0"
    by_id.symlink_to(device)
    assert port_slug(str(by_id)) == port_slug(str(device))
    assert "/" not in port_slug(str(device))
