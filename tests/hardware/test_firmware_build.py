"""Real bare-metal builds: the RISC-V cross compiler, esptool on the images, QEMU running
the Unity tests, and the fixtures the Unity readers use."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import HardwareError
from hardware.flasher_args import read_flasher_args
from hardware.image import (
    APP_OFFSET,
    FACTORY_TABLE,
    RUNTIME,
    TABLE_OFFSET,
    BuildFailed,
    BuildResult,
    build_app,
    inputs,
    outputs,
    partition_table,
)
from tests.conftest import FIXTURES, REPO

APP = FIXTURES / "firmware" / "app"
CASES = FIXTURES / "firmware" / "unity-cases"
QEMU = "qemu-system-riscv32"

pytestmark = pytest.mark.skipif(
    shutil.which("riscv64-unknown-elf-gcc") is None,
    reason="needs gcc-riscv64-unknown-elf and picolibc-riscv64-unknown-elf (scripts/setup)")
needs_qemu = pytest.mark.skipif(shutil.which(QEMU) is None,
                                reason="needs qemu-system-riscv32 (qemu-system-misc)")


def hardware(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`python -m hardware ARGS` as a toolchain step runs it."""
    return subprocess.run([sys.executable, "-m", "hardware", *args], cwd=REPO, text=True,
                          capture_output=True, timeout=60, check=False,
                          env={**os.environ, **(env or {})})


def qemu(elf: Path, wait: float) -> tuple[str, int | None]:
    """Run elf on QEMU's virt machine for up to `wait` seconds: its console, its exit code
    (None when it was still running and had to be killed)."""
    proc = subprocess.Popen(
        [QEMU, "-M", "virt", "-bios", "none", "-nographic", "-monitor", "none",
         "-serial", "stdio", "-kernel", str(elf)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=wait)
        return out, proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return out, None


def symbols(elf: Path) -> dict[str, tuple[int, int]]:
    """Function name -> (start, end) from the ELF's symbol table."""
    nm = subprocess.run(["riscv64-unknown-elf-nm", "-S", "--defined-only", str(elf)],
                        text=True, capture_output=True, check=True, timeout=30).stdout
    found = {}
    for line in nm.splitlines():
        parts = line.split()
        if len(parts) == 4 and parts[2] in "tT":
            start = int(parts[0], 16)
            found[parts[3]] = (start, start + int(parts[1], 16))
    return found


@pytest.fixture(scope="module")
def c3(tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    """The fixture app built for the ESP32-C3, once for the module."""
    root = tmp_path_factory.mktemp("c3")
    return build_app("esp32c3", APP, root / "work", root / "out", "calc")


def test_esp32c3_build_writes_every_artifact(c3: BuildResult) -> None:
    names = sorted(p.name for p in c3.elf.parent.iterdir())
    assert names == ["calc-merged.bin", "calc.bin", "calc.elf", "calc.map", "flash_args",
                     "flasher_args.json", "partition-table.bin"]
    assert sorted(outputs("esp32c3", c3.elf.parent, "calc")) == sorted(c3.files)
    assert c3.elf.read_bytes()[:4] == b"\x7fELF"
    assert "IDF_TARGET_ESP32C3" in c3.map.read_text()
    # The staging folder is gone; objects and the log stay in --work.
    work = c3.log.parent
    assert sorted(p.name for p in work.iterdir()) == ["calc.log", "obj"]


def test_inputs_name_module_and_runtime_files() -> None:
    app = {p.relative_to(APP).as_posix() for p in inputs("virt", APP) if p.is_relative_to(APP)}
    assert app == {"src/main.c", "src/calc.c", "include/calc.h"}
    tests = inputs("esp32c3", APP, test=True)
    assert APP / "test" / "test_main.c" in tests
    assert {RUNTIME / "esp32c3.ld", RUNTIME / "app_desc.c", RUNTIME / "unity" / "unity.c"} <= set(
        tests)
    assert all(p.is_file() for p in tests)
    assert [p.name for p in outputs("virt", Path("o"), "calc", test=True)] == [
        "calc-test.elf", "calc-test.map"]


def test_esptool_reads_the_image_and_its_app_descriptor(c3: BuildResult) -> None:
    assert c3.image is not None
    info = subprocess.run([sys.executable, "-m", "esptool", "--chip", "esp32c3", "image-info",
                           str(c3.image)], text=True, capture_output=True, timeout=60)
    assert info.returncode == 0, info.stdout + info.stderr
    out = info.stdout
    assert "Project name: calc" in out
    assert "ESP-IDF: fedbuild-baremetal" in out
    assert re.search(r"Checksum: 0x[0-9a-f]+ \(valid\)", out)
    assert re.search(r"Validation hash: [0-9a-f]{64} \(valid\)", out)
    for memory, address in (("DROM", "0x3c000020"), ("IROM", "0x42010020"),
                            ("IRAM", "0x40380000")):
        assert re.search(rf"{address}\s+0x[0-9a-f]+\s+{memory}", out), out
    # elf2image filled app_elf_sha256 with the ELF's digest.
    digest = hashlib.sha256(c3.elf.read_bytes()).hexdigest()
    assert f"ELF file SHA256: {digest}" in out


def test_flasher_args_name_the_table_and_the_app(c3: BuildResult) -> None:
    assert c3.flasher_args is not None and c3.image is not None
    plan = read_flasher_args(c3.flasher_args)
    assert plan.chip == "esp32c3"
    assert [(f.offset, f.path.name) for f in plan.files] == [
        (TABLE_OFFSET, "partition-table.bin"), (APP_OFFSET, "calc.bin")]
    assert (plan.flash_mode, plan.flash_freq, plan.flash_size) == ("dio", "80m", "2MB")
    flash_args = (c3.flasher_args.parent / "flash_args").read_text().splitlines()
    assert flash_args[1:] == ["0x8000 partition-table.bin", "0x10000 calc.bin"]


def test_merged_image_holds_table_and_app_at_their_offsets(c3: BuildResult) -> None:
    assert c3.merged is not None and c3.image is not None and c3.partition_table
    merged, app = c3.merged.read_bytes(), c3.image.read_bytes()
    table = c3.partition_table.read_bytes()
    assert merged[APP_OFFSET:APP_OFFSET + len(app)] == app
    assert merged[TABLE_OFFSET:TABLE_OFFSET + len(table)] == table
    assert set(merged[:TABLE_OFFSET]) == {0xFF}


def test_partition_table_is_esp_idf_binary_format() -> None:
    table = partition_table()
    assert len(table) == 0xC00
    entries = [struct.unpack("<2sBBII16sI", table[i:i + 32]) for i in range(0, 96, 32)]
    assert all(e[0] == b"\xaa\x50" for e in entries)
    factory = entries[2]
    assert (factory[1], factory[2], factory[3]) == (0x00, 0x00, 0x10000)
    assert factory[5].rstrip(b"\0") == b"factory"
    md5 = table[96:128]
    assert md5[:16] == b"\xeb\xeb" + b"\xff" * 14
    assert md5[16:] == hashlib.md5(table[:96]).digest()
    assert set(table[128:]) == {0xFF}
    assert len(FACTORY_TABLE) == 3


@needs_qemu
def test_virt_test_build_runs_unity_in_qemu(tmp_path: Path) -> None:
    run = hardware("build", "--board", "virt", "--test", "--module-dir", str(APP),
                   "--out", str(tmp_path / "out"), "--work", str(tmp_path / "work"),
                   "--name", "calc", "--opt", "-O2")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "calc-test.elf", "calc-test.map"]
    out, code = qemu(tmp_path / "out" / "calc-test.elf", wait=10)
    assert code == 0, out
    lines = out.splitlines()
    assert lines[:3] == ["test/test_main.c:11:test_add:PASS",
                         "test/test_main.c:12:test_scale:PASS",
                         "test/test_main.c:13:test_name:PASS"]
    assert lines[-3:] == ["-----------------------", "3 Tests 0 Failures 0 Ignored", "OK"]


@needs_qemu
def test_a_failing_case_prints_fail_and_exits_non_zero(tmp_path: Path) -> None:
    built = build_app("virt", APP, tmp_path / "work", tmp_path / "out", "calc", test=True,
                      defines=["CALC_BREAK_A_TEST"])
    out, code = qemu(built.elf, wait=10)
    assert code == 1
    assert "test/test_calc.c:23:test_broken:FAIL: Expected 6 Was 5" in out.splitlines()
    assert out.splitlines()[-2:] == ["4 Tests 1 Failures 0 Ignored", "FAIL"]


@needs_qemu
def test_virt_app_runs_main(tmp_path: Path) -> None:
    built = build_app("virt", APP, tmp_path / "work", tmp_path / "out", "calc")
    assert built.image is None and built.flasher_args is None
    out, code = qemu(built.elf, wait=10)
    assert (out, code) == ("calc: ready\n", 0)


@needs_qemu
def test_printf_writes_to_the_board_console(tmp_path: Path) -> None:
    module = shutil.copytree(APP, tmp_path / "app")
    (module / "src" / "main.c").write_text(
        '#include <stdio.h>\n#include "calc.h"\n'
        'int main(void) { printf("%s %d\\n", calc_name(), calc_add(40, 2)); return 3; }\n')
    built = build_app("virt", module, tmp_path / "work", tmp_path / "out", "calc")
    assert qemu(built.elf, wait=10) == ("calc 42\n", 3)  # main's value is the exit status


def test_compile_error_exits_1_with_the_compilers_message(tmp_path: Path) -> None:
    module = shutil.copytree(APP, tmp_path / "app")
    with (module / "src" / "calc.c").open("a") as f:
        f.write("int broken(void) { return no_such_name; }\n")
    out = tmp_path / "out"
    run = hardware("build", "--board", "esp32c3", "--module-dir", str(module), "--out", str(out),
                   "--work", str(tmp_path / "work"), "--name", "calc")
    assert run.returncode == 1
    assert "src/calc.c:23:27: error: 'no_such_name' undeclared" in run.stderr
    assert run.stderr.rstrip().splitlines()[-1] == (
        f"error: compiling src/calc.c failed with exit code 1 (log: {tmp_path}/work/calc.log)")
    assert not out.exists()  # nothing half-written


def test_link_error_names_the_missing_symbol(tmp_path: Path) -> None:
    module = shutil.copytree(APP, tmp_path / "app")
    (module / "src" / "main.c").write_text("int missing(void);\n"
                                           "int main(void) { return missing(); }\n")
    with pytest.raises(BuildFailed) as caught:
        build_app("virt", module, tmp_path / "work", tmp_path / "out", "calc")
    assert str(caught.value).startswith("linking calc.elf failed with exit code 1")
    assert "undefined reference to `missing'" in caught.value.details


def test_a_missing_compiler_says_what_to_install(tmp_path: Path) -> None:
    run = hardware("build", "--board", "virt", "--module-dir", str(APP), "--out",
                   str(tmp_path / "out"), "--work", str(tmp_path / "work"), "--name", "calc",
                   env={"PATH": str(tmp_path)})
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "error: riscv64-unknown-elf-gcc is not installed; "
        "apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf")


@pytest.mark.parametrize(("args", "message"), [
    (("--name", "a b"), "--name 'a b': use letters, digits, '_', '.' and '-'"),
    (("--opt", "-Ox"), "--opt '-Ox': use one of -O0, -O1, -O2, -O3, -Os, -Og, -Oz"),
    (("--define", "1X=2"), "--define '1X=2': expected NAME or NAME=VALUE"),
])
def test_bad_options_are_one_line_errors(tmp_path: Path, args: tuple[str, ...],
                                         message: str) -> None:
    base = {"--name": "calc", "--board": "virt", "--module-dir": str(APP),
            "--out": str(tmp_path / "out"), "--work": str(tmp_path / "work")}
    argv = [x for key, value in base.items() if key not in args for x in (key, value)]
    run = hardware("build", *argv, *args)
    assert (run.returncode, run.stderr.strip()) == (1, f"error: {message}")


def test_a_module_without_tests_cannot_build_them(tmp_path: Path) -> None:
    module = tmp_path / "app"
    (module / "src").mkdir(parents=True)
    (module / "src" / "main.c").write_text("int main(void) { return 0; }\n")
    with pytest.raises(HardwareError, match=r"/test: no \*\.c; Unity tests live in test/"):
        build_app("virt", module, tmp_path / "w", tmp_path / "o", "x", test=True)


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The Unity reader fixtures built for QEMU: case name -> ELF."""
    root = tmp_path_factory.mktemp("cases")
    return {name: build_app("virt", CASES / name, root / "work", root / "out", name,
                            test=True).elf
            for name in ("passing", "failing", "crashing", "silent")}


@needs_qemu
def test_fixture_passing_and_failing(cases: dict[str, Path]) -> None:
    out, code = qemu(cases["passing"], wait=10)
    assert code == 0
    assert out.count(":PASS\n") == 3
    assert "test/test_main.c:27:test_not_yet:IGNORE: waiting for hardware\n" in out
    assert out.endswith("4 Tests 0 Failures 1 Ignored\nOK\n")
    out, code = qemu(cases["failing"], wait=10)
    assert code == 1
    assert "test/test_main.c:11:test_fails:FAIL: sensor read 41, expected 42\n" in out
    assert out.endswith("2 Tests 1 Failures 0 Ignored\nFAIL\n")


@needs_qemu
def test_fixture_crashing_prints_a_panic_with_real_addresses(cases: dict[str, Path]) -> None:
    out, code = qemu(cases["crashing"], wait=2)
    assert code is None  # it hangs after the panic
    assert out.count(":PASS\n") == 2
    assert ("Guru Meditation Error: Core  0 panic'ed (Load access fault). "
            "Exception was unhandled.") in out
    mepc = re.search(r"^MEPC    : 0x([0-9a-f]{8})", out, re.M)
    trace = re.search(r"^Backtrace: 0x([0-9a-f]{8}):0x[0-9a-f]{8} 0x([0-9a-f]{8}):0x[0-9a-f]{8}$",
                      out, re.M)
    assert mepc and trace, out
    functions = symbols(cases["crashing"])

    def function_at(address: str) -> str:
        return next(name for name, (start, end) in functions.items()
                    if start <= int(address, 16) < end)

    assert function_at(mepc[1]) == function_at(trace[1]) == "read_sensor"
    assert function_at(trace[2]) == "test_crashes"


@needs_qemu
def test_fixture_silent_prints_nothing(cases: dict[str, Path]) -> None:
    assert qemu(cases["silent"], wait=1) == ("", None)
