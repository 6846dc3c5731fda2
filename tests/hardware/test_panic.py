"""Crash decoding on canned panic text, against a real RISC-V ELF built here."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hardware.panic import PREFIXES, decode, elf_machine, parse_addr2line

GCC = "riscv64-unknown-elf-gcc"
SOURCE = """\
__attribute__((noinline)) int inner(volatile int *p) { return *p; }
__attribute__((noinline)) int outer(void) { return inner((volatile int *)16) + 1; }
void _start(void) { outer(); for (;;) {} }
int data_word = 42;
"""


@pytest.fixture(scope="module")
def elf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which(GCC) is None:
        pytest.skip(f"{GCC} is not installed (Debian: gcc-riscv64-unknown-elf)")
    folder = tmp_path_factory.mktemp("panic")
    (folder / "crash.c").write_text(SOURCE)
    out = folder / "crash.elf"
    subprocess.run([GCC, "-march=rv32imc_zicsr", "-mabi=ilp32", "-nostdlib", "-g", "-O1",
                    "-Wl,-Ttext=0x80000000", "-o", str(out), str(folder / "crash.c")],
                   check=True, capture_output=True, timeout=60)
    return out


def symbol(elf: Path, name: str) -> int:
    nm = subprocess.run(["riscv64-unknown-elf-nm", str(elf)], check=True, text=True,
                        capture_output=True, timeout=30).stdout
    return next(int(line.split()[0], 16) for line in nm.splitlines() if line.endswith(f" {name}"))


def crash_text(elf: Path) -> list[str]:
    inner, outer, data = (symbol(elf, n) for n in ("inner", "outer", "data_word"))
    return ["Guru Meditation Error: Core  0 panic'ed (Load access fault). Exception was unhandled.",
            f"MEPC    : 0x{inner:08x}  RA      : 0x{outer + 4:08x}  SP      : 0x80100000",
            f"A0      : 0x{data:08x}  A1      : 0x00000010",
            f"Backtrace: 0x{inner:08x}:0x80100000 0x{outer + 4:08x}:0x80100010"]


def test_backtrace_and_registers_decoded(elf: Path) -> None:
    lines = crash_text(elf)
    decoded = decode(lines, elf)
    assert decoded.note.startswith("decoded with ") and decoded.note.endswith(str(elf))
    text = decoded.text.splitlines()
    # Each code address's location follows its line; SP values and data are left alone.
    backtrace = text.index(lines[3])
    assert text[backtrace + 1].startswith(f"  0x{symbol(elf, 'inner'):08x}: inner at ")
    assert text[backtrace + 1].endswith("crash.c:1")
    assert text[backtrace + 2].startswith(f"  0x{symbol(elf, 'outer') + 4:08x}: outer at ")
    registers = text.index(lines[1])
    assert "inner at" in text[registers + 1] and "outer at" in text[registers + 2]
    assert text[text.index(lines[2]) + 1] == lines[3]  # A0 holds data: nothing under it
    assert set(decoded.locations) == {symbol(elf, "inner"), symbol(elf, "outer") + 4}


def test_no_elf_keeps_the_raw_lines(tmp_path: Path) -> None:
    lines = ["Guru Meditation Error: Core  0 panic'ed (x)", "Backtrace: 0x80000010:0x80001000"]
    assert decode(lines, None).text == "\n".join(lines)
    assert decode(lines, None).note == "not decoded: no ELF given (--elf)"
    missing = decode(lines, tmp_path / "gone.elf")
    assert missing.note == f"not decoded: {tmp_path / 'gone.elf'} does not exist"
    (tmp_path / "text.elf").write_text("not an ELF")
    assert "is not a RISC-V or Xtensa ELF" in decode(lines, tmp_path / "text.elf").note


def test_no_addr2line_on_path(elf: Path, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:
    lines = crash_text(elf)
    monkeypatch.setenv("PATH", str(tmp_path))
    decoded = decode(lines, elf)
    assert decoded.note.startswith("not decoded: no RISC-V addr2line on PATH (looked for "
                                   "riscv32-esp-elf-addr2line, riscv64-unknown-elf-addr2line")
    assert decoded.text == "\n".join(lines)


def test_xtensa_elf_picks_an_xtensa_toolchain(elf: Path, tmp_path: Path) -> None:
    if any(shutil.which(p + "addr2line") for p in PREFIXES["Xtensa"]):
        pytest.skip("an Xtensa toolchain is installed here")
    header = bytearray(elf.read_bytes())
    header[18:20] = (94).to_bytes(2, "little")  # EM_XTENSA
    xtensa = tmp_path / "xtensa.elf"
    xtensa.write_bytes(bytes(header))
    assert elf_machine(elf) == "RISC-V" and elf_machine(xtensa) == "Xtensa"
    note = decode(["Backtrace: 0x400d1234:0x3ffb0000"], xtensa).note
    assert "no Xtensa addr2line on PATH (looked for xtensa-esp-elf-addr2line" in note


def test_addresses_not_in_the_elf(elf: Path) -> None:
    decoded = decode(["Backtrace: 0x40001234:0x3ffb0000"], elf)
    assert decoded.note == f"not decoded: no address in the crash text is code in {elf}"


def test_parse_addr2line_output() -> None:
    output = ("$ riscv64-unknown-elf-addr2line -pfiaC -e app.elf 0x80000010\n"
              "0x80000010: puts_ at /src/hello.c:4\n"
              " (inlined by) main at /src/hello.c:5\n"
              "0x80000034: ?? ??:0\n"
              "0x80000040: helper at /src/hello.c:9 (discriminator 1)\n")
    assert parse_addr2line(output) == {
        0x80000010: ["puts_ at /src/hello.c:4", "main at /src/hello.c:5"],
        0x80000040: ["helper at /src/hello.c:9 (discriminator 1)"]}
