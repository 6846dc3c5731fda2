"""`python -m hardware size`: memory use from a link map, against budgets.

`python -m hardware size --map PATH --target CHIP --json PATH [--flash-budget B]
[--dram-budget B] [--iram-budget B]` runs esp-idf-size on the map twice (its table,
printed, and its `json2` report with full section names), writes that JSON with a
`fedbuild` key added, and exits 1 when a budget is exceeded, one line per budget
saying by how much. Budgets are sizes by fedbuild's one rule (core/sizes.py):
bytes, or K/M/KiB/MiB (powers of 1024: 64K = 65536) or KB/MB (powers of 1000).

esp-idf-size reads the target from the map (the linker symbol IDF_TARGET_<CHIP>, which
ESP-IDF's linker scripts and fedbuild's esp32c3.ld both define) or from a
project_description.json beside it. A map that names another chip is refused; a map
that names none is read through a temporary folder holding a project_description.json
for --target. It sorts output sections into the chip's memory types by the addresses
of the map's memory regions, so a bare-metal map is attributed exactly when its
regions and section names follow ESP-IDF's (.iram0.text, .dram0.bss, .flash.text,
.flash.rodata, .flash.appdesc): fedbuild's esp32c3.ld does.

What the budgets measure:
  flash  the image size (esp-idf-size's total_size): code, read-only data and the
         initial contents of RAM, everything the app partition must hold;
  iram   the output sections named .iram* (code in internal RAM);
  dram   every other section in the internal RAM types (DRAM, DIRAM, IRAM): data,
         bss, the stack. On the ESP32-C3 IRAM and DRAM share one SRAM, which
         esp-idf-size reports as DRAM; the split is by section name.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core import sizes
from core.chips import chip
from core.errors import HardwareError
from core.runner import Command, run

RAM_TYPES = ("DRAM", "DIRAM", "IRAM")
REGIONS = ("flash", "dram", "iram")
_TIMEOUT = 120.0
_TARGET = re.compile(r"IDF_TARGET_(\S+) =")


@dataclass(frozen=True)
class Usage:
    """Bytes used in one budgeted region, and its budget if there is one."""

    region: str
    used: int
    budget: int | None = None

    @property
    def over(self) -> int:
        """By how many bytes the budget is exceeded (0: within it or no budget)."""
        return max(0, self.used - self.budget) if self.budget is not None else 0

    def message(self) -> str:
        """The line naming an exceeded budget."""
        return (f"{self.region}: {self.used} bytes used, over the budget of {self.budget} "
                f"by {self.over} bytes")


def parse_size(text: str) -> int:
    """Bytes from a budget by fedbuild's one size rule (core/sizes.py: "64K" is 65536,
    "64KB" 64000); a HardwareError saying the rule otherwise."""
    try:
        return sizes.parse_size(text)
    except ValueError as err:
        raise HardwareError(str(err)) from None


def map_target(link_map: Path) -> str | None:
    """The chip a link map names (IDF_TARGET_<CHIP>), as esp-idf-size finds it."""
    try:
        with link_map.open(errors="replace") as f:
            for line in f:
                found = _TARGET.search(line)
                if found:
                    return found[1].lower()
    except OSError as err:
        raise HardwareError(f"{link_map}: cannot read the link map ({err.strerror})") from None
    return None


def usage(report: dict[str, Any], budgets: dict[str, int | None]) -> list[Usage]:
    """flash, dram and iram use from esp-idf-size's json2 report (full section names)."""
    used = dict.fromkeys(REGIONS, 0)
    used["flash"] = int(report.get("total_size", 0))
    for memory in report.get("layout", []):
        if memory.get("name") not in RAM_TYPES:
            continue
        for section, info in memory.get("parts", {}).items():
            used["iram" if section.startswith(".iram") else "dram"] += int(info["size"])
    return [Usage(region, used[region], budgets.get(region)) for region in REGIONS]


def measure(link_map: Path, target: str, work: Path) -> tuple[dict[str, Any], str]:
    """esp-idf-size's json2 report and its table for the map; work holds the log."""
    chip(target)
    if not link_map.is_file():
        raise HardwareError(f"{link_map}: no such link map; build the firmware first")
    named = map_target(link_map)
    if named is not None and named != target.lower():
        raise HardwareError(f"{link_map} was linked for {named}, not {target}")
    if named is None:
        # esp-idf-size takes the target from a project_description.json beside the map.
        staged = work / link_map.name
        shutil.copyfile(link_map, staged)
        description = {"target": target.lower(), "app_elf": f"{link_map.stem}.elf"}
        (work / "project_description.json").write_text(json.dumps(description))
        link_map = staged
    report, table = work / "size.json", work / "size.txt"
    _esp_idf_size(["--format", "json2", "--no-abbrev", "-o", str(report), str(link_map)], work)
    _esp_idf_size(["--no-color", "-o", str(table), str(link_map)], work)
    try:
        data = json.loads(report.read_text())
    except ValueError as err:
        raise HardwareError(f"esp-idf-size wrote no readable JSON for {link_map}: {err}") from None
    return data, table.read_text()


def _esp_idf_size(args: list[str], work: Path) -> None:
    log = work / "esp-idf-size.log"
    result = run(Command(argv=(sys.executable, "-m", "esp_idf_size", *args), cwd=work,
                         log=log, timeout=_TIMEOUT, append=log.exists()))
    if not result.ok:
        print(result.tail(20), file=sys.stderr)
        raise HardwareError(f"esp-idf-size failed: {result.describe().splitlines()[0]}")


def _budget(region: str, text: str | None) -> int | None:
    try:
        return None if text is None else parse_size(text)
    except HardwareError as err:
        raise HardwareError(f"--{region}-budget: {err}") from None


def _said(found: Usage) -> str:
    budget = "" if found.budget is None else f" (budget {found.budget})"
    return f"{found.region} {found.used} bytes{budget}"


def main(argv: list[str]) -> int:
    """`python -m hardware size`."""
    parser = argparse.ArgumentParser(prog="python -m hardware size",
                                     description="memory use from a link map, against budgets")
    parser.add_argument("--map", type=Path, required=True, dest="link_map")
    parser.add_argument("--target", required=True)
    parser.add_argument("--json", type=Path, required=True)
    for region in REGIONS:
        parser.add_argument(f"--{region}-budget", metavar="BYTES")
    args = parser.parse_args(argv)
    budgets = {region: _budget(region, getattr(args, f"{region}_budget"))
               for region in REGIONS}
    with tempfile.TemporaryDirectory(prefix="fedbuild-size-") as work:
        report, table = measure(args.link_map, args.target, Path(work))
    found = usage(report, budgets)
    report["fedbuild"] = {"target": args.target.lower(), "map": str(args.link_map),
                          **{u.region: {"used": u.used, "budget": u.budget} for u in found}}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=4) + "\n")
    print(table.rstrip("\n"))
    print(", ".join(_said(u) for u in found))
    over = [u for u in found if u.over]
    for u in over:
        print(f"error: {u.message()}", file=sys.stderr)
    return 1 if over else 0
