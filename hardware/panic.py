"""A crash's code addresses as function and file:line, read from the app's ELF.

esp-idf-panic-decoder tells which addresses of the crash text are code (the ELF's executable
sections): the PCs of `Backtrace: PC:SP ...`, `MEPC`/`RA` and other registers holding code
addresses, `abort() was called at PC ...`; stack pointers and data are left alone. The
toolchain's addr2line, run through fedbuild's runner, names them.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from core.runner import Command, run

ADDR2LINE_TIMEOUT = 30.0
# Toolchain prefixes by ELF machine, the ESP-IDF one first.
PREFIXES = {
    "RISC-V": ("riscv32-esp-elf-", "riscv64-unknown-elf-", "riscv-none-elf-"),
    "Xtensa": ("xtensa-esp-elf-", "xtensa-esp32-elf-", "xtensa-esp32s3-elf-",
               "xtensa-esp32s2-elf-"),
}
_MACHINES = {243: "RISC-V", 94: "Xtensa"}  # ELF e_machine
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{8}\b")
_LOCATION = re.compile(r"^(0x[0-9a-fA-F]+): (.*)$")
_INLINED = re.compile(r"^\s*\(inlined by\) (.*)$")


@dataclass(frozen=True)
class Decoded:
    """The crash text with each code address's source location under its line, and how."""

    text: str
    note: str  # the tool and ELF used, or why decoding was skipped
    locations: dict[int, list[str]] = field(default_factory=dict)  # "func at file:line", ...


def decode(lines: list[str], elf: Path | None) -> Decoded:
    """Decode the code addresses in the crash `lines` with `elf`; the raw lines and the reason
    when there is no ELF, no addr2line or no code address."""
    raw = "\n".join(lines)
    if elf is None:
        return Decoded(raw, "not decoded: no ELF given (--elf)")
    if not elf.is_file():
        return Decoded(raw, f"not decoded: {elf} does not exist")
    arch = elf_machine(elf)
    if arch is None:
        return Decoded(raw, f"not decoded: {elf} is not a RISC-V or Xtensa ELF")
    tool = addr2line_for(arch)
    if tool is None:
        names = ", ".join(p + "addr2line" for p in PREFIXES[arch])
        return Decoded(raw, f"not decoded: no {arch} addr2line on PATH (looked for {names});"
                            " add the ESP-IDF toolchain to PATH")
    code = code_addresses(lines, elf)
    if isinstance(code, str):
        return Decoded(raw, code)
    if not code:
        return Decoded(raw, f"not decoded: no address in the crash text is code in {elf}")
    locations = _addr2line(tool, elf, code)
    if isinstance(locations, str):
        return Decoded(raw, locations)
    return Decoded(_annotate(lines, locations), f"decoded with {tool} from {elf}", locations)


def elf_machine(elf: Path) -> str | None:
    """"RISC-V" or "Xtensa" from the ELF header, None for anything else."""
    with elf.open("rb") as f:
        header = f.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    machine = header[18:20] if header[5] == 1 else header[19:17:-1]  # EI_DATA: endianness
    return _MACHINES.get(int.from_bytes(machine, "little"))


def addr2line_for(arch: str) -> str | None:
    """The first `<prefix>addr2line` on PATH for `arch`."""
    for prefix in PREFIXES[arch]:
        found = shutil.which(prefix + "addr2line")
        if found:
            return found
    return None


def code_addresses(lines: list[str], elf: Path) -> list[int] | str:
    """The distinct addresses in `lines` inside the ELF's executable sections, in order of
    appearance; a note (str) when that cannot be told."""
    try:
        from esp_idf_panic_decoder.pc_address_matcher import PcAddressMatcher
    except ImportError:
        return "not decoded: esp-idf-panic-decoder is not installed " \
               "(pip install 'fedbuild[hardware]')"
    matcher = PcAddressMatcher(str(elf))
    found = dict.fromkeys(int(a, 16) for line in lines for a in _ADDRESS.findall(line))
    return [address for address in found if matcher.is_executable_address(address)]


def _addr2line(tool: str, elf: Path, addresses: list[int]) -> dict[int, list[str]] | str:
    """Source locations by address (the function itself, then those it is inlined into)."""
    with tempfile.TemporaryDirectory(prefix="fedbuild-addr2line-") as tmp:
        argv = (tool, "-pfiaC", "-e", str(elf), *(f"0x{a:08x}" for a in addresses))
        result = run(Command(argv, cwd=Path(tmp), log=Path(tmp, "addr2line.log"),
                             timeout=ADDR2LINE_TIMEOUT))
        if not result.ok:
            return f"not decoded: {result.describe().splitlines()[0]}"
        output = Path(tmp, "addr2line.log").read_text(errors="replace")
    return parse_addr2line(output)


def parse_addr2line(output: str) -> dict[int, list[str]]:
    """`addr2line -pfiaC` output as {address: ["func at file:line", ...]}; unknowns left out."""
    locations: dict[int, list[str]] = {}
    current: list[str] | None = None
    for line in output.splitlines():
        if found := _LOCATION.match(line):
            current = None
            if not found[2].startswith("?? ??"):
                current = locations.setdefault(int(found[1], 16), [])
                current.append(found[2])
        elif (inlined := _INLINED.match(line)) and current is not None:
            current.append(inlined[1])
    return locations


def _annotate(lines: list[str], locations: dict[int, list[str]]) -> str:
    """Each crash line, followed by the source locations of the code addresses in it."""
    out = []
    for line in lines:
        out.append(line)
        for address in dict.fromkeys(int(a, 16) for a in _ADDRESS.findall(line)):
            where = locations.get(address)
            if where:
                out.append(f"  0x{address:08x}: {where[0]}")
                out.extend(f"    (inlined by) {outer}" for outer in where[1:])
    return "\n".join(out)
