"""`flasher_args.json`: what an ESP-IDF build (or fedbuild's bare-metal build) says to flash.

ESP-IDF writes it into its build folder: `flash_files` (offset -> file, relative to
the JSON's folder), `flash_settings` (mode, frequency, size) and `extra_esptool_args`
(chip, before, after, stub). Older IDF releases spell esptool's options with
underscores (`--flash_mode`, `hard_reset`); both forms are read, and esptool 5's
hyphenated spelling is what comes out.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.chips import chip
from core.errors import HardwareError

FILE_NAME = "flasher_args.json"


@dataclass(frozen=True)
class FlashFile:
    """One region to write: an offset in flash and the file written there."""

    offset: int
    path: Path


@dataclass(frozen=True)
class FlashPlan:
    """Everything esptool needs to write a build to a board."""

    chip: str
    files: tuple[FlashFile, ...]
    flash_mode: str = "keep"
    flash_freq: str = "keep"
    flash_size: str = "keep"
    before: str = "default-reset"
    after: str = "hard-reset"
    stub: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def write_args(self) -> list[str]:
        """esptool 5 `write-flash` options and offset/file pairs."""
        args = ["--flash-mode", self.flash_mode, "--flash-freq", self.flash_freq,
                "--flash-size", self.flash_size]
        for f in self.files:
            args += [hex(f.offset), str(f.path)]
        return args


def merge_args(plan: FlashPlan, merged: Path) -> list[str]:
    """esptool's `merge-bin` arguments: one image holding every region at its offset."""
    args = ["merge-bin", "-o", str(merged), "--flash-mode", plan.flash_mode, "--flash-freq",
            plan.flash_freq, "--flash-size", plan.flash_size]
    for f in plan.files:
        args += [hex(f.offset), str(f.path)]
    return args


def read_flasher_args(path: Path) -> FlashPlan:
    """Read a flasher_args.json (old or new spelling); a HardwareError names what is wrong."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise HardwareError(f"{path}: not found; build the firmware first") from None
    except (OSError, ValueError) as err:
        raise HardwareError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise HardwareError(f"{path}: must be a JSON object")
    files = data.get("flash_files")
    if not isinstance(files, dict) or not files:
        raise HardwareError(f"{path}: flash_files must map offsets to files")
    regions = []
    for offset, name in files.items():
        try:
            address = int(str(offset), 0)
        except ValueError:
            raise HardwareError(f"{path}: flash_files offset {offset!r} is not a number") from None
        if not isinstance(name, str) or not name:
            raise HardwareError(f"{path}: flash_files[{offset!r}] must be a file name")
        target = (path.parent / name)
        if not target.is_file():
            raise HardwareError(f"{path}: flash_files[{offset!r}] names {name}, which is "
                                "missing; rebuild the firmware")
        regions.append(FlashFile(address, target))
    settings = data.get("flash_settings") or _settings_from_args(data.get("write_flash_args"))
    extra = data.get("extra_esptool_args") or {}
    if not isinstance(settings, dict) or not isinstance(extra, dict):
        raise HardwareError(f"{path}: flash_settings and extra_esptool_args must be objects")
    name = extra.get("chip")
    if not isinstance(name, str):
        raise HardwareError(f"{path}: extra_esptool_args.chip is missing")
    chip(name)  # known?
    return FlashPlan(
        chip=name.lower(), files=tuple(sorted(regions, key=lambda r: r.offset)),
        flash_mode=str(settings.get("flash_mode", "keep")),
        flash_freq=str(settings.get("flash_freq", "keep")),
        flash_size=str(settings.get("flash_size", "keep")),
        before=_hyphens(str(extra.get("before", "default_reset"))),
        after=_hyphens(str(extra.get("after", "hard_reset"))),
        stub=bool(extra.get("stub", True)), extra=extra)


def write_flasher_args(folder: Path, plan: FlashPlan) -> Path:
    """Write `flasher_args.json` (and esptool's `flash_args` @file) as ESP-IDF 5 does,
    file names relative to `folder`."""
    files = {hex(f.offset): _relative(f.path, folder) for f in plan.files}
    data = {
        "write_flash_args": ["--flash_mode", plan.flash_mode, "--flash_size", plan.flash_size,
                             "--flash_freq", plan.flash_freq],
        "flash_settings": {"flash_mode": plan.flash_mode, "flash_size": plan.flash_size,
                           "flash_freq": plan.flash_freq},
        "flash_files": files,
        **{role: {"offset": hex(f.offset), "file": _relative(f.path, folder),
                  "encrypted": "false"} for role, f in _roles(plan)},
        "extra_esptool_args": {"after": plan.after.replace("-", "_"),
                               "before": plan.before.replace("-", "_"),
                               "stub": plan.stub, "chip": plan.chip},
    }
    out = folder / FILE_NAME
    out.write_text(json.dumps(data, indent=4) + "\n")
    flash_args = [f"--flash_mode {plan.flash_mode} --flash_freq {plan.flash_freq} "
                  f"--flash_size {plan.flash_size}"]
    flash_args += [f"{hex(f.offset)} {_relative(f.path, folder)}" for f in plan.files]
    (folder / "flash_args").write_text("\n".join(flash_args) + "\n")
    return out


def _roles(plan: FlashPlan) -> list[tuple[str, FlashFile]]:
    roles = []
    for f in plan.files:
        if "partition" in f.path.name:
            roles.append(("partition-table", f))
        elif "bootloader" in f.path.name:
            roles.append(("bootloader", f))
        elif f.path.suffix == ".bin" and not any(r == "app" for r, _ in roles):
            roles.append(("app", f))
    return roles


def _relative(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix() if path.is_relative_to(folder) else str(path)


def _settings_from_args(args: object) -> dict[str, str]:
    """`write_flash_args` (["--flash_mode", "dio", ...]) as flash_settings."""
    settings: dict[str, str] = {}
    if isinstance(args, list):
        for key, value in zip(args[::2], args[1::2], strict=False):
            settings[str(key).lstrip("-").replace("-", "_")] = str(value)
    return settings


def _hyphens(value: str) -> str:
    return value.replace("_", "-")
