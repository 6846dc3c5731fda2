"""`python -m hardware build`: a bare-metal app, or its Unity tests, for an ESP32-C3 or QEMU.

No ESP-IDF is needed: Debian's riscv64-unknown-elf-gcc and picolibc compile the module
with fedbuild's own runtime (hardware/firmware/: startup, board console, panic report,
app descriptor, a small Unity-compatible test framework), and esptool makes the image.

A firmware module:

    src/*.c, *.S   the app; src/main.c holds `int main(void)`. The runtime calls it
                   after board_init() and hands its return value to board_exit()
                   (0: success; on QEMU the emulator's exit status, on a chip a halt).
    include/       headers (optional); include/ and src/ are on the include path.
    test/*.c, *.S  Unity tests; one file (test/test_main.c, say) holds their own
                   `int main(void) { UNITY_BEGIN(); RUN_TEST(...); return UNITY_END(); }`

`--test` builds test/* with src/* except src/main.c, so tests call the app's
functions. Every build defines FEDBUILD_BOARD_ESP32C3 or FEDBUILD_BOARD_VIRT, a test
build also FEDBUILD_TEST; `--define FEDBUILD_APP_VERSION='"1.2.0"'` sets the version in
the ESP32-C3 app descriptor.

Boards: `esp32c3` gives NAME.elf, NAME.map, NAME.bin (app image for flash offset
0x10000), partition-table.bin (a factory app at 0x10000, at 0x8000),
flasher_args.json + flash_args (as ESP-IDF writes them) and NAME-merged.bin (everything
at its offset, from 0x0; no second-stage bootloader, so flash it over one that is
there already). `virt` (QEMU's riscv32 machine: `qemu-system-riscv32 -M virt -bios none
-kernel NAME.elf`) gives NAME.elf and NAME.map. A test build names them NAME-test.*;
flasher_args.json describes the last build written to --out, so give a test build its
own --out. Files appear in --out only once the whole build succeeded; objects and the
build's one log (NAME.log or NAME-test.log) stay in --work.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import struct
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.confine import remove_tree
from core.errors import HardwareError
from core.runner import Command, Status, run
from hardware.flasher_args import (
    FILE_NAME,
    FlashFile,
    FlashPlan,
    merge_args,
    write_flasher_args,
)

RUNTIME = Path(__file__).resolve().parent / "firmware"
GCC = "riscv64-unknown-elf-gcc"
PICOLIBC_SPECS = Path("/usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs")
INSTALL = "apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf"
ARCH = ("-march=rv32imc_zicsr_zifencei", "-mabi=ilp32")
# GCC 12 picks a multilib only for a plain ISA string: rv32imc links picolibc's rv32im.
LINK_ARCH = ("-march=rv32imc", "-mabi=ilp32")
CFLAGS = ("--specs=picolibc.specs", "-g", "-std=gnu11", "-Wall", "-Wextra",
          "-ffunction-sections", "-fdata-sections", "-fno-asynchronous-unwind-tables")
OPT_LEVELS = ("-O0", "-O1", "-O2", "-O3", "-Os", "-Og", "-Oz")
SOURCE_SUFFIXES = (".c", ".S")
APP_OFFSET = 0x10000
TABLE_OFFSET = 0x8000
TABLE_FILE = "partition-table.bin"
_TIMEOUT = 300.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_DEFINE = re.compile(r"[A-Za-z_]\w*(=.*)?\Z", re.S)


@dataclass(frozen=True)
class Board:
    """Where an app runs: its linker script, runtime sources and esptool chip (if any)."""

    name: str
    linker_script: str
    runtime: tuple[str, ...]
    chip: str | None = None  # None: the ELF is the product (QEMU loads it)


BOARDS = {b.name: b for b in (
    Board("esp32c3", "esp32c3.ld",
          ("start.S", "board_esp32c3.c", "panic.c", "console.c", "app_desc.c"),
          chip="esp32c3"),
    Board("virt", "virt.ld", ("start.S", "board_virt.c", "panic.c", "console.c")),
)}
FLASH_MODE, FLASH_FREQ, FLASH_SIZE = "dio", "80m", "2MB"


@dataclass(frozen=True)
class Partition:
    """One entry of an ESP-IDF partition table."""

    label: str
    type: int
    subtype: int
    offset: int
    size: int
    flags: int = 0


# ESP-IDF's "Single factory app, no OTA" table.
FACTORY_TABLE = (
    Partition("nvs", 0x01, 0x02, 0x9000, 0x6000),
    Partition("phy_init", 0x01, 0x01, 0xF000, 0x1000),
    Partition("factory", 0x00, 0x00, APP_OFFSET, 0x100000),
)


@dataclass(frozen=True)
class BuildResult:
    """What a build put into --out."""

    board: str
    elf: Path
    map: Path
    log: Path
    image: Path | None = None
    merged: Path | None = None
    partition_table: Path | None = None
    flasher_args: Path | None = None
    flash_args: Path | None = None

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file written to --out."""
        extra = (self.image, self.merged, self.partition_table, self.flasher_args,
                 self.flash_args)
        return (self.elf, self.map, *(p for p in extra if p is not None))

    def moved(self, out: Path) -> BuildResult:
        """The same files, in `out`."""
        def there(path: Path | None) -> Path | None:
            return None if path is None else out / path.name

        return BuildResult(self.board, out / self.elf.name, out / self.map.name, self.log,
                           there(self.image), there(self.merged), there(self.partition_table),
                           there(self.flasher_args), there(self.flash_args))


class BuildFailed(HardwareError):
    """A tool of the build failed; `details` holds its command and the log's last lines."""

    def __init__(self, message: str, details: str) -> None:
        super().__init__(message)
        self.details = details


def partition_table(partitions: Sequence[Partition] = FACTORY_TABLE) -> bytes:
    """The binary table ESP-IDF's gen_esp32part.py writes: entries, an MD5 entry, 0xFF."""
    entries = b"".join(
        struct.pack("<2sBBII16sI", b"\xaa\x50", p.type, p.subtype, p.offset, p.size,
                    p.label.encode(), p.flags) for p in partitions)
    digest = hashlib.md5(entries, usedforsecurity=False).digest()
    table = entries + b"\xeb\xeb" + b"\xff" * 14 + digest
    return table.ljust(0xC00, b"\xff")


def sources(module_dir: Path, test: bool) -> list[Path]:
    """The module's sources for an app or a test build, relative to module_dir."""
    def found(folder: str) -> list[Path]:
        return sorted(p.relative_to(module_dir) for p in (module_dir / folder).glob("*")
                      if p.suffix in SOURCE_SUFFIXES and p.is_file())

    app = found("src")
    if not test:
        if not app:
            raise HardwareError(f"{module_dir / 'src'}: no *.c; an app keeps its sources in "
                                "src/, with `int main(void)` in src/main.c")
        return app
    tests = found("test")
    if not tests:
        raise HardwareError(f"{module_dir / 'test'}: no *.c; Unity tests live in test/, one "
                            "file with `int main(void)` that returns UNITY_END()")
    return tests + [p for p in app if p != Path("src/main.c")]


def compile_flags(board: Board, module_dir: Path, name: str, test: bool, opt: str,
                  defines: Sequence[str]) -> list[str]:
    """gcc's options for every source of this build."""
    if opt not in OPT_LEVELS:
        raise HardwareError(f"--opt {opt!r}: use one of {', '.join(OPT_LEVELS)}")
    flags = [*ARCH, *CFLAGS, opt, f"-DFEDBUILD_BOARD_{board.name.upper()}",
             f'-DFEDBUILD_APP_NAME="{name[:31]}"']
    if test:
        flags.append("-DFEDBUILD_TEST")
    for define in defines:
        if not _DEFINE.match(define):
            raise HardwareError(f"--define {define!r}: expected NAME or NAME=VALUE")
        flags.append(f"-D{define}")
    for folder in (module_dir / "include", module_dir / "src", RUNTIME, RUNTIME / "unity"):
        if folder.is_dir():
            flags.append(f"-I{folder}")
    return flags


def inputs(board: str, module_dir: Path, test: bool = False) -> list[Path]:
    """Every file a build reads (for a task's file_dep): the module's sources and
    headers, and the runtime's files for this board."""
    spec = _board(board)
    folders = ["src", "include", "test"] if test else ["src", "include"]
    found = [p for folder in folders for p in sorted((module_dir / folder).rglob("*"))
             if p.is_file()]
    runtime = [*spec.runtime, spec.linker_script, "board.h"]
    if test:
        runtime += ["unity/unity.c", "unity/unity.h"]
    return found + [RUNTIME / name for name in runtime]


def outputs(board: str, out: Path, name: str, test: bool = False) -> list[Path]:
    """The files a build writes into `out` (for a task's targets)."""
    stem = f"{name}-test" if test else name
    names = [f"{stem}.elf", f"{stem}.map"]
    if _board(board).chip is not None:
        names += [f"{stem}.bin", f"{stem}-merged.bin", TABLE_FILE, FILE_NAME, "flash_args"]
    return [out / n for n in names]


def _board(name: str) -> Board:
    try:
        return BOARDS[name]
    except KeyError:
        raise HardwareError(f"unknown board {name!r}; use one of {', '.join(BOARDS)}") from None


def check_toolchain() -> None:
    """The cross compiler and picolibc are installed; else a HardwareError saying how."""
    if shutil.which(GCC) is None:
        raise HardwareError(f"{GCC} is not installed; {INSTALL}")
    if not PICOLIBC_SPECS.is_file():
        raise HardwareError(f"picolibc for riscv64-unknown-elf is not installed; {INSTALL}")


def build_app(board: str, module_dir: Path, work: Path, out: Path, name: str,
              test: bool = False, opt: str = "-Os",
              defines: Sequence[str] = ()) -> BuildResult:
    """Compile, link and (for a chip) make the images; move the results into `out`."""
    spec = _board(board)
    if not _NAME.match(name):
        raise HardwareError(f"--name {name!r}: use letters, digits, '_', '.' and '-'")
    module_dir, work, out = module_dir.resolve(), work.resolve(), out.resolve()
    if not module_dir.is_dir():
        raise HardwareError(f"{module_dir}: no such module folder")
    stem = f"{name}-test" if test else name
    flags = compile_flags(spec, module_dir, name, test, opt, defines)
    runtime = [*spec.runtime, "unity/unity.c"] if test else list(spec.runtime)
    units = [(module_dir, p) for p in sources(module_dir, test)]
    units += [(RUNTIME, Path(p)) for p in runtime]
    check_toolchain()
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"{stem}.log"
    remove_tree(log, work)
    objects = [_compile(base, rel, flags, work / "obj" / f"{stem}-{board}", log)
               for base, rel in units]
    stage = Path(tempfile.mkdtemp(prefix=f"stage-{stem}-", dir=work))
    try:
        result = _link(spec, objects, stage, stem, log)
        if spec.chip is not None:
            result = _images(spec.chip, result, stage, stem, log)
        return _publish(result, out)
    finally:
        remove_tree(stage, work, ignore_errors=True)


def _compile(base: Path, rel: Path, flags: list[str], objdir: Path, log: Path) -> Path:
    where = "fedbuild" if base == RUNTIME else "module"
    obj = objdir / where / f"{rel}.o"
    obj.parent.mkdir(parents=True, exist_ok=True)
    # Relative source paths: __FILE__, and so Unity's lines, read "test/test_x.c".
    _tool([GCC, *flags, "-c", str(rel), "-o", str(obj)], base, log, f"compiling {rel}")
    return obj


def _link(board: Board, objects: list[Path], stage: Path, stem: str, log: Path) -> BuildResult:
    elf, link_map = stage / f"{stem}.elf", stage / f"{stem}.map"
    argv = [GCC, *LINK_ARCH, "--specs=picolibc.specs", "-nostartfiles",
            "-T", str(RUNTIME / board.linker_script), "-Wl,--gc-sections",
            "-Wl,--no-warn-rwx-segments", f"-Wl,-Map={link_map}", "-o", str(elf),
            *map(str, objects)]
    _tool(argv, stage, log, f"linking {elf.name}")
    return BuildResult(board.name, elf, link_map, log)


def _images(chip: str, built: BuildResult, stage: Path, stem: str, log: Path) -> BuildResult:
    """elf2image, the partition table, flasher_args.json and the merged image."""
    image, merged = stage / f"{stem}.bin", stage / f"{stem}-merged.bin"
    settings = ["--flash-mode", FLASH_MODE, "--flash-freq", FLASH_FREQ,
                "--flash-size", FLASH_SIZE]
    # 0xb0: app_elf_sha256 in the app descriptor, after the image and segment headers.
    _esptool([chip, "elf2image", *settings, "--elf-sha256-offset", "0xb0",
              "-o", str(image), str(built.elf)], stage, log, "esptool elf2image")
    table = stage / TABLE_FILE
    table.write_bytes(partition_table())
    plan = FlashPlan(chip=chip, files=(FlashFile(TABLE_OFFSET, table),
                                       FlashFile(APP_OFFSET, image)),
                     flash_mode=FLASH_MODE, flash_freq=FLASH_FREQ, flash_size=FLASH_SIZE)
    args = write_flasher_args(stage, plan)
    _esptool([chip, *merge_args(plan, merged)], stage, log, "esptool merge-bin")
    return BuildResult(built.board, built.elf, built.map, log, image, merged, table, args,
                       stage / "flash_args")


def _esptool(args: list[str], cwd: Path, log: Path, what: str) -> None:
    _tool([sys.executable, "-m", "esptool", "--chip", *args], cwd, log, what)


def _tool(argv: list[str], cwd: Path, log: Path, what: str) -> None:
    start = log.stat().st_size if log.exists() else 0
    result = run(Command(argv=tuple(argv), cwd=cwd, log=log, timeout=_TIMEOUT,
                         append=start > 0))
    if result.status is Status.MISSING_TOOL:
        raise HardwareError(f"{argv[0]} is not installed; {INSTALL}")
    if not result.ok:
        how = (f"timed out after {_TIMEOUT:g}s" if result.status is Status.TIMED_OUT
               else f"failed with exit code {result.exit_code}")
        with log.open("rb") as f:
            f.seek(start)
            said = f.read().decode(errors="replace").splitlines()
        raise BuildFailed(f"{what} {how} (log: {log})", "\n".join(said[-40:]))


def _publish(built: BuildResult, out: Path) -> BuildResult:
    """Move the staged files into `out`, each replaced whole."""
    out.mkdir(parents=True, exist_ok=True)
    for path in built.files:
        try:
            os.replace(path, out / path.name)
        except OSError:  # --work and --out on different file systems
            partial = out / f".{path.name}.partial"
            shutil.copyfile(path, partial)
            os.replace(partial, out / path.name)
    return built.moved(out)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m hardware build",
                                     description="compile a bare-metal app and its image")
    parser.add_argument("--board", required=True, choices=sorted(BOARDS))
    parser.add_argument("--module-dir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--test", action="store_true", help="build test/ with Unity")
    parser.add_argument("--opt", default="-Os", help=f"one of {', '.join(OPT_LEVELS)}")
    parser.add_argument("--define", action="append", default=[], metavar="NAME=VALUE")
    return parser


def main_build(argv: list[str]) -> int:
    """`python -m hardware build`."""
    # argparse reads "--opt -Os" as two options: join them as "--opt=-Os".
    joined: list[str] = []
    for arg in argv:
        if joined and joined[-1] == "--opt" and arg.startswith("-"):
            joined[-1] = f"--opt={arg}"
        else:
            joined.append(arg)
    args = _parser().parse_args(joined)
    try:
        result = build_app(args.board, args.module_dir, args.work, args.out, args.name,
                           test=args.test, opt=args.opt, defines=args.define)
    except BuildFailed as err:
        print(err.details, file=sys.stderr)
        raise
    names = ", ".join(p.name for p in result.files)
    print(f"built {args.name}{'-test' if args.test else ''} for {args.board}: {names}")
    return 0


def main(argv: list[str]) -> int:
    """Same as main_build."""
    return main_build(argv)
