"""The ESP32 chips fedbuild knows: names, architectures, where their bootloader goes and
how Espressif's QEMU runs them. The one list: the manifest's `target`, a toolchain's
`targets` (and `targets: all`), its JSON Schema and the hardware commands all read it."""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import HardwareError


@dataclass(frozen=True)
class Chip:
    """One ESP32 target as ESP-IDF and esptool name it."""

    name: str
    arch: str  # "xtensa" or "riscv"
    bootloader_offset: int
    title: str  # as esptool prints it ("ESP32-C3")
    # Espressif's QEMU machine `-M <name>`: its binary and the options ESP-IDF's
    # `idf.py qemu` adds; None where Espressif's QEMU has no such machine.
    qemu: tuple[str, tuple[str, ...]] | None = None


CHIPS: dict[str, Chip] = {c.name: c for c in (
    Chip("esp32", "xtensa", 0x1000, "ESP32", ("qemu-system-xtensa", ("-m", "4M"))),
    Chip("esp32s2", "xtensa", 0x1000, "ESP32-S2"),
    Chip("esp32s3", "xtensa", 0x0, "ESP32-S3", ("qemu-system-xtensa", ())),
    Chip("esp32c2", "riscv", 0x0, "ESP32-C2"),
    Chip("esp32c3", "riscv", 0x0, "ESP32-C3", ("qemu-system-riscv32", ("-icount", "3"))),
    Chip("esp32c6", "riscv", 0x0, "ESP32-C6"),
    Chip("esp32h2", "riscv", 0x0, "ESP32-H2"),
    Chip("esp32p4", "riscv", 0x2000, "ESP32-P4"),
)}
NAMES: tuple[str, ...] = tuple(CHIPS)  # in the order users read them
QEMU_MACHINES = {c.name: c.qemu for c in CHIPS.values() if c.qemu is not None}


def chip(name: str) -> Chip:
    """The chip called `name`; a HardwareError listing the known ones otherwise."""
    try:
        return CHIPS[name.lower()]
    except KeyError:
        raise HardwareError(f"unknown target {name!r}; use one of "
                            f"{', '.join(CHIPS)}") from None


def chip_from_title(title: str) -> str | None:
    """esptool's chip description ("ESP32-C3 (QFN32) (revision v0.4)") as a target name."""
    upper = title.upper()
    # Longest first: "ESP32-S3" must not be read as "ESP32".
    for found in sorted(CHIPS.values(), key=lambda c: -len(c.title)):
        if upper.startswith(found.title):
            return found.name
    return None
