"""ESP-IDF projects: check one, build it with idf.py, and collect what to flash.

`python -m hardware check --module-dir DIR --target CHIP` checks the project;
`python -m hardware idf-build --module-dir DIR --target CHIP --work DIR --out DIR
--name NAME` runs `idf.py set-target` (only when the build folder is new or was
configured for another chip) and `idf.py build` in --work, then copies into --out
what build/flasher_args.json names (old or new spelling, read by
hardware.flasher_args), the app's ELF and link map as NAME.elf and NAME.map, and a
merged single image NAME-merged.bin. The sdkconfig idf.py generates lives in the
build folder: the project's own files are never rewritten.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
from pathlib import Path

from core.chips import chip
from core.errors import HardwareError
from core.runner import Command, run
from hardware.flasher_args import FILE_NAME, FlashPlan, merge_args, read_flasher_args

INSTALL = ("install ESP-IDF and put idf.py on PATH: git clone --recursive "
           "https://github.com/espressif/esp-idf && ./esp-idf/install.sh && "
           ". ./esp-idf/export.sh (https://docs.espressif.com/projects/esp-idf/en/stable/"
           "esp32/get-started/)")
_TIMEOUT = 3600.0
_CACHED_TARGET = re.compile(r"^IDF_TARGET:\w+=(\S+)$", re.M)
_SDKCONFIG_TARGET = re.compile(r'^CONFIG_IDF_TARGET="(\w+)"$', re.M)


def check_project(module_dir: Path, target: str) -> None:
    """An ESP-IDF project at `module_dir`, buildable for `target`; else a HardwareError."""
    chip(target)
    lists = module_dir / "CMakeLists.txt"
    if not lists.is_file():
        raise HardwareError(f"{lists} is missing: an ESP-IDF project has a CMakeLists.txt at "
                            "its root that includes $ENV{IDF_PATH}/tools/cmake/project.cmake")
    text = lists.read_text(errors="replace")
    if "project.cmake" not in text or not re.search(r"^\s*project\s*\(", text, re.M):
        raise HardwareError(f"{lists} is not an ESP-IDF project file: it must include "
                            "$ENV{IDF_PATH}/tools/cmake/project.cmake and call project(NAME)")
    if not (module_dir / "main").is_dir() and not (module_dir / "components").is_dir():
        raise HardwareError(f"{module_dir} has neither main/ nor components/: an ESP-IDF "
                            "project keeps its code in main/ (and components/)")


def idf_py() -> str:
    """idf.py on PATH (or in $IDF_PATH/tools); a HardwareError saying how to install it."""
    found = shutil.which("idf.py")
    if found:
        return found
    idf_path = os.environ.get("IDF_PATH")
    if idf_path and (Path(idf_path) / "tools" / "idf.py").is_file():
        return str(Path(idf_path) / "tools" / "idf.py")
    raise HardwareError(f"ESP-IDF is not installed (idf.py is not on PATH); {INSTALL}")


def build(module_dir: Path, target: str, work: Path, out: Path, name: str) -> Path:
    """Configure (when needed) and build the project in `work`; collect into `out`."""
    check_project(module_dir, target)
    tool = idf_py()
    log = work / "idf.log"
    work.mkdir(parents=True, exist_ok=True)
    base = [tool, "-C", str(module_dir), "-B", str(work), f"-DSDKCONFIG={work / 'sdkconfig'}"]
    if configured_target(work) != target:
        _idf([*base, "set-target", target], module_dir, log, "set-target")
    _idf([*base, "build"], module_dir, log, "build")
    return collect(work, out, name)


def configured_target(work: Path) -> str | None:
    """The chip the build folder was configured for, if it was."""
    try:
        found = _CACHED_TARGET.search((work / "CMakeCache.txt").read_text(errors="replace"))
    except OSError:
        return None
    return found[1] if found else None


def _idf(argv: list[str], cwd: Path, log: Path, what: str) -> None:
    result = run(Command(argv=tuple(argv), cwd=cwd, log=log, timeout=_TIMEOUT,
                         append=log.exists()))
    if not result.ok:
        print(result.tail(40))
        raise HardwareError(f"idf.py {what} failed: {result.describe().splitlines()[0]}")


def collect(build_dir: Path, out: Path, name: str) -> Path:
    """Copy what build_dir/flasher_args.json names into `out` (same relative paths), with
    the ELF and map as NAME.elf and NAME.map and a merged image NAME-merged.bin."""
    plan = read_flasher_args(build_dir / FILE_NAME)
    out.mkdir(parents=True, exist_ok=True)
    for region in plan.files:
        rel = region.path.relative_to(build_dir)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(region.path, out / rel)
    shutil.copy2(build_dir / FILE_NAME, out / FILE_NAME)
    if (build_dir / "flash_args").is_file():
        shutil.copy2(build_dir / "flash_args", out / "flash_args")
    elf = app_elf(build_dir)
    shutil.copy2(elf, out / f"{name}.elf")
    link_map = elf.with_suffix(".map")
    if link_map.is_file():
        shutil.copy2(link_map, out / f"{name}.map")
    merged = out / f"{name}-merged.bin"
    merge(read_flasher_args(out / FILE_NAME), merged, build_dir / "merge.log")
    return out


def app_elf(build_dir: Path) -> Path:
    """The application ELF: project_description.json's app_elf, else the only *.elf."""
    description = build_dir / "project_description.json"
    if description.is_file():
        try:
            name = json.loads(description.read_text()).get("app_elf")
        except ValueError:
            name = None
        if isinstance(name, str) and (build_dir / name).is_file():
            return build_dir / name
    elves = sorted(build_dir.glob("*.elf"))
    if len(elves) != 1:
        raise HardwareError(f"{build_dir}: cannot tell the application ELF "
                            f"({len(elves)} *.elf files and no project_description.json)")
    return elves[0]


def merge(plan: FlashPlan, merged: Path, log: Path) -> Path:
    """One image holding every region at its offset (`esptool merge-bin`), for QEMU or a
    single-file flash."""
    argv = [sys.executable, "-m", "esptool", "--chip", plan.chip, *merge_args(plan, merged)]
    result = run(Command(argv=tuple(argv), cwd=merged.parent, log=log, timeout=120.0))
    if not result.ok:
        raise HardwareError(f"esptool merge-bin failed: {result.describe()}")
    return merged


def main_check(argv: list[str]) -> int:
    """`python -m hardware check`."""
    parser = argparse.ArgumentParser(prog="python -m hardware check")
    parser.add_argument("--module-dir", type=Path, required=True)
    parser.add_argument("--target", required=True)
    args = parser.parse_args(argv)
    check_project(args.module_dir, args.target)
    print(f"{args.module_dir}: an ESP-IDF project for {args.target}")
    return 0


def main_idf_build(argv: list[str]) -> int:
    """`python -m hardware idf-build`."""
    parser = argparse.ArgumentParser(prog="python -m hardware idf-build")
    parser.add_argument("--module-dir", type=Path, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", required=True)
    args = parser.parse_args(argv)
    out = build(args.module_dir, args.target, args.work, args.out, args.name)
    plan = read_flasher_args(out / FILE_NAME)
    for region in plan.files:
        print(f"{hex(region.offset):>9}  {region.path.relative_to(out)}")
    print(f"built {args.name} for {plan.chip}: {len(plan.files)} regions, "
          f"{args.name}.elf, {args.name}-merged.bin")
    return 0
