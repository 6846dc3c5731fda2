"""`python -m hardware qemu` running the unity-cases fixtures, built for real, in real QEMU.

Debian's qemu-system-riscv32 runs them on its `virt` machine; Espressif's machines
(esp32c3, ...) are not installed here, so only their absence is tested.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import psutil
import pytest

from core.errors import HardwareError
from hardware.qemu import has_machine, qemu_argv, run_in_qemu
from hardware.unity import TestCase
from tests.conftest import FIXTURES, REPO

CASES = FIXTURES / "firmware" / "unity-cases"
QEMU = "qemu-system-riscv32"
ENV = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}

pytestmark = pytest.mark.skipif(
    shutil.which(QEMU) is None or shutil.which("riscv64-unknown-elf-gcc") is None,
    reason="needs qemu-system-misc and gcc-riscv64-unknown-elf (Debian)")


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each unity case built with `python -m hardware build --board virt --test`."""
    root = tmp_path_factory.mktemp("unity-cases")
    built = {}
    for case in ("passing", "failing", "crashing", "silent"):
        done = subprocess.run(
            [sys.executable, "-m", "hardware", "build", "--board", "virt", "--test",
             "--module-dir", str(CASES / case), "--work", str(root / "work" / case),
             "--out", str(root / "out"), "--name", case],
            cwd=REPO, env=ENV, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        built[case] = root / "out" / f"{case}-test.elf"
    return built


def run_qemu(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hardware", "qemu", *args], cwd=REPO, env=ENV,
                          capture_output=True, text=True, timeout=timeout, check=False)


def qemus_running(kernel: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if str(kernel) in (proc.info["cmdline"] or []):
            found.append(proc)
    return found


def test_passing(kernels: dict[str, Path], tmp_path: Path) -> None:
    junit = tmp_path / "junit" / "passing.xml"
    done = run_qemu("--kernel", str(kernels["passing"]), "--timeout", "20",
                    "--junit", str(junit), "--suite", "", "--elf", "")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1:5] == ["PASS test_doubles", "PASS test_strings", "PASS test_truth",
                          "IGNORE test_not_yet: waiting for hardware"]
    assert lines[5].startswith("4 Tests 0 Failures 1 Ignored OK (")
    assert done.stderr == ""
    root = ET.parse(junit).getroot()
    suite = root.find("testsuite")
    assert suite is not None and suite.get("name") == "passing-test"
    assert {k: suite.get(k) for k in ("tests", "failures", "errors", "skipped")} == {
        "tests": "4", "failures": "0", "errors": "0", "skipped": "1"}
    assert [c.get("name") for c in suite.iter("testcase")] == [
        "test_doubles", "test_strings", "test_truth", "test_not_yet"]
    assert "4 Tests 0 Failures 1 Ignored" in (suite.findtext("system-out") or "")


def test_failing(kernels: dict[str, Path], tmp_path: Path) -> None:
    junit = tmp_path / "failing.xml"
    done = run_qemu("--kernel", str(kernels["failing"]), "--junit", str(junit))
    assert done.returncode == 1
    assert "FAIL test_fails: sensor read 41, expected 42 (test/test_main.c:11)" in done.stdout
    assert done.stderr == "error: 1 of 2 tests failed: test_fails\n"
    failure = ET.parse(junit).getroot().find("testsuite/testcase[@name='test_fails']/failure")
    assert failure is not None and failure.get("message") == "sensor read 41, expected 42"


def test_crashing_decodes_the_backtrace(kernels: dict[str, Path], tmp_path: Path) -> None:
    junit = tmp_path / "crashing.xml"
    # The crash ends the reading, not its 600 s timeout (which would outlast the 180 s).
    done = run_qemu("--kernel", str(kernels["crashing"]), "--timeout", "600",
                    "--junit", str(junit), timeout=180)
    assert done.returncode == 1
    assert "CRASH Guru Meditation Error: Core  0 panic'ed (Load access fault)" in done.stdout
    backtrace = done.stdout.split("  Backtrace: ")[1].splitlines()
    assert backtrace[1].split(": ", 1)[1].startswith("read_sensor at ")
    assert backtrace[1].endswith("crashing/test/test_main.c:13")
    assert backtrace[2].split(": ", 1)[1].startswith("test_crashes at ")
    assert "decoded with" in done.stdout
    assert done.stderr.startswith("error: the firmware crashed: Guru Meditation Error")
    error = ET.parse(junit).getroot().find("testsuite/testcase/error")
    assert error is not None and error.get("type") == "crash"
    assert "read_sensor at" in (error.text or "") and "test_crashes at" in (error.text or "")
    assert not qemus_running(kernels["crashing"])


def test_silent_times_out_and_qemu_is_gone(kernels: dict[str, Path]) -> None:
    started = time.monotonic()
    done = run_qemu("--kernel", str(kernels["silent"]), "--timeout", "1.5")
    assert time.monotonic() - started >= 1.5  # the reading waited out its timeout
    assert done.returncode == 1
    assert done.stderr == "error: no output from QEMU -M virt running silent-test.elf " \
                          "within 1.5s\n"
    assert not qemus_running(kernels["silent"])


def test_run_in_qemu_reports_cases_as_they_come(kernels: dict[str, Path]) -> None:
    seen: list[TestCase] = []
    report = run_in_qemu(kernels["passing"], timeout=20, on_case=seen.append)
    assert report.ok and [c.name for c in seen] == [c.name for c in report.cases]
    assert report.source == "QEMU -M virt running passing-test.elf"


def test_qemu_failing_to_start(kernels: dict[str, Path]) -> None:
    with pytest.raises(HardwareError, match=r"^qemu-system-riscv32 exited with code 1 before "
                                            r"starting: .*unsupported machine type"):
        run_in_qemu(kernels["passing"], machine="nosuchboard", timeout=5)


def test_missing_kernel(tmp_path: Path) -> None:
    with pytest.raises(HardwareError, match="does not exist; build it first"):
        run_in_qemu(tmp_path / "none.elf")
    with pytest.raises(HardwareError, match="give --kernel ELF for -M virt"):
        run_in_qemu(None)


def test_espressif_machine_needs_espressif_qemu(tmp_path: Path) -> None:
    image = tmp_path / "merged.bin"
    image.write_bytes(b"\xff" * 4096)
    if has_machine(QEMU, "esp32c3"):
        pytest.skip("Espressif's QEMU is installed here: the esp32c3 path is real")
    with pytest.raises(HardwareError, match="has no machine 'esp32c3': it is in Espressif's"):
        qemu_argv(None, "esp32c3", image, None)
    with pytest.raises(HardwareError, match="boots from flash: give --image"):
        qemu_argv(None, "esp32c3", None, None)
    assert has_machine(QEMU, "virt")
    assert not has_machine(str(tmp_path / "no-such-qemu"), "virt")
