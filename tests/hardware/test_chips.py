"""The ESP32 chips are listed once, in core/chips.py, and everything else reads them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from core.chips import CHIPS, NAMES, chip, chip_from_title
from core.errors import HardwareError
from federation import manifest
from federation.manifest import json_schema
from federation.toolchains import load_toolchains
from hardware import qemu

ROOT = Path(__file__).resolve().parents[2]
# A chip's name, not a GCC toolchain's (xtensa-esp32s3-elf-) nor a board's macro.
_CHIP = re.compile(r"\besp32(?:s2|s3|c2|c3|c5|c6|h2|p4)?\b(?!-elf)", re.IGNORECASE)


def test_the_manifest_and_its_schema_take_the_chips_of_chips_py() -> None:
    assert get_args(manifest.Chip) == NAMES
    module = json_schema()["$defs"]["Module"]["properties"]["target"]
    assert [c for option in module["anyOf"] for c in option.get("enum", [])] == list(NAMES)


def test_esp_idf_builds_for_every_chip_and_a_toolchain_may_say_all() -> None:
    chains = load_toolchains(Path("/nonexistent"))
    assert chains["esp-idf"].targets == list(NAMES)
    assert chains["esp-baremetal"].targets == ["esp32c3"]
    assert manifest.Toolchain.model_validate({"targets": "all"}).targets == list(NAMES)


def test_qemu_machines_are_the_chips_that_have_one() -> None:
    assert {c.name: c.qemu for c in CHIPS.values() if c.qemu} == qemu.ESP_MACHINES
    assert set(qemu.ESP_MACHINES) == {"esp32", "esp32s3", "esp32c3"}


def test_chip_lookup() -> None:
    assert chip("ESP32C3").bootloader_offset == 0 and chip("esp32").arch == "xtensa"
    assert chip_from_title("ESP32-S3 (QFN56) (revision v0.2)") == "esp32s3"
    with pytest.raises(HardwareError, match="unknown target 'esp8266'; use one of esp32, "):
        chip("esp8266")


def _product_files() -> list[Path]:
    folders = ("core", "federation", "tasks", "hardware", "service")
    return [p for folder in folders for p in (ROOT / folder).rglob("*")
            if p.suffix in (".py", ".yaml", ".yml", ".json") and p.is_file()]


def test_no_other_product_file_lists_the_chips() -> None:
    """A file naming three chips or more is a second list that would drift from chips.py
    (one chip is a board or a toolchain that builds for it alone)."""
    lists = {p.relative_to(ROOT).as_posix(): names for p in _product_files()
             if len(names := {m.lower() for m in _CHIP.findall(p.read_text())}) >= 3}
    assert lists == {"core/chips.py": set(NAMES)}


def test_readme_names_every_chip() -> None:
    readme = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in readme for name in NAMES)
