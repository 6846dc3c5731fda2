"""Firmware modules through doit: build, size, QEMU tests, flashing and on-device tests.

Real throughout: the RISC-V cross compiler, esptool, esp-idf-size, QEMU, and
esp32-mock-bootloader standing in for a board's ROM over socket://. ESP-IDF itself
cannot be installed here, so the esp-idf toolchain's tests put a stand-in idf.py
(tests/fixtures/idf/fake-idf/idf.py, which builds a real ESP32-C3 image) on PATH.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import psutil
import pytest

from hardware.flasher_args import read_flasher_args
from hardware.portlock import ENV_LOCK_DIR, lock_path, port_lock
from tests.conftest import (
    FIXTURES,
    REPO,
    doit_argv,
    edit_manifest,
    eventually,
    module,
    run_command,
    run_doit,
)
from tests.hardware.mock_boards import MockBoard, board_running, mock_board, read_flash

pytestmark = pytest.mark.heavy(27)  # run early under -n (tests/conftest.py)

FAKE_IDF = FIXTURES / "idf" / "fake-idf"
FEDERATION = {"name": "firmware fixture", "baseURL": "https://fixture.example.org"}


def firmware_module(name: str = "fw", **fields: Any) -> dict[str, Any]:
    """A bare-metal ESP32-C3 module: a copy of the example's firmware."""
    return {"name": name, "source": {"repository": "local", "path": f"modules/{name}"},
            "toolchain": "esp-baremetal", "target": "esp32c3", **fields}


def make_repo(tmp_path: Path, *modules: dict[str, Any]) -> Path:
    """A repository holding `modules`; firmware ones are copies of the example's firmware,
    esp-idf ones of tests/fixtures/idf/project."""
    repo = tmp_path / "repo"
    for entry in modules:
        source = FIXTURES / "idf" / "project" if entry["toolchain"] == "esp-idf" \
            else REPO / "modules" / "firmware"
        shutil.copytree(source, repo / "modules" / entry["name"])
    (repo / "modules.json").write_text(json.dumps(
        {"federation": FEDERATION, "modules": list(modules)}, indent=2))
    return repo


def dist(repo: Path, name: str) -> Path:
    return repo / "dist" / "development" / name


def log(repo: Path, task: str) -> str:
    step, name = task.split(":")
    return (repo / ".fedbuild" / "logs" / step / f"{name}.log").read_text()


def read_back(board: MockBoard, app: bytes, out: Path) -> bytes:
    """What the board holds where the app goes (0x10000), as long as the app."""
    return read_flash(board, 0x10000, (len(app) + 0xFFF) // 0x1000 * 0x1000, out)[:len(app)]


def test_build_makes_a_flashable_image_and_size_checks_it(tmp_path: Path) -> None:
    """build:fw writes the image, its flasher_args.json (IDF's shape), the merged image;
    size:fw prints the memory table and writes JSON beside the image."""
    repo = make_repo(tmp_path, firmware_module(budget={"flash": "64K"}))

    result = run_doit(repo, "build:fw", "size:fw")

    assert result.returncode == 0, result.stdout + result.stderr
    out = dist(repo, "fw")
    plan = read_flasher_args(out / "flasher_args.json")
    assert plan.chip == "esp32c3"
    assert [(f.offset, f.path.name) for f in plan.files] == [
        (0x8000, "partition-table.bin"), (0x10000, "fw.bin")]
    merged = (out / "fw-merged.bin").read_bytes()
    app = (out / "fw.bin").read_bytes()
    assert merged[0x10000 - 0x8000:][:len(app)] == app or merged[0x10000:][:len(app)] == app
    size = json.loads((out / "fw.size.json").read_text())
    assert 0 < size["fedbuild"]["flash"]["used"] <= 65536
    assert size["fedbuild"]["flash"]["budget"] == 65536
    assert "Flash Code" in log(repo, "size:fw")


def test_a_budget_exceeded_fails_naming_it_and_by_how_much(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, firmware_module(budget={"flash": 1024, "iram": "64K"}))

    result = run_doit(repo, "size:fw")

    assert result.returncode != 0
    assert re.search(r"flash: \d+ bytes used, over the budget of 1024 by \d+ bytes",
                     result.stdout), result.stdout
    assert "iram:" not in log(repo, "size:fw").split("error:", 1)[-1]


def test_plain_doit_builds_and_sizes_but_never_flashes(tmp_path: Path) -> None:
    """Without a board (no port, nothing on USB) a plain doit still succeeds: flash and
    on-device test tasks are not default tasks."""
    repo = make_repo(tmp_path, firmware_module())

    result = run_doit(repo)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "build:fw" in result.stdout and "size:fw" in result.stdout
    assert "flash:fw" not in result.stdout and "test:fw" not in result.stdout


def test_flash_writes_the_image_to_a_board_every_time_it_is_asked(tmp_path: Path) -> None:
    """flash:fw against the ROM bootloader mock: what the board's flash holds afterwards is
    the image; asking again flashes again (never up to date, never from the cache)."""
    repo = make_repo(tmp_path, firmware_module())
    with mock_board(tmp_path) as board:
        first = run_doit(repo, "flash:fw", f"port={board.url}")
        assert first.returncode == 0, first.stdout + first.stderr
        assert f"{board.url}: flashed 2 regions" in log(repo, "flash:fw")
        app = (dist(repo, "fw") / "fw.bin").read_bytes()
        assert read_back(board, app, tmp_path / "read.bin") == app

        again = run_doit(repo, "flash:fw", "--port", board.url)

    assert again.returncode == 0, again.stdout + again.stderr
    assert re.search(r"^flash:fw\s+built", again.stdout, re.M), again.stdout
    assert "flashed 2 regions" in log(repo, "flash:fw")


def test_several_boards_are_flashed_in_parallel_each_reported(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, firmware_module())
    with mock_board(tmp_path) as one, mock_board(tmp_path) as two:
        result = run_doit(repo, "flash:fw", f"ports={one.url},{two.url}")
        app = (dist(repo, "fw") / "fw.bin").read_bytes()
        assert result.returncode == 0, result.stdout + result.stderr
        for board in (one, two):
            assert f"{board.url}: flashed 2 regions" in log(repo, "flash:fw")
            assert read_back(board, app, tmp_path / f"{board.port}.bin") == app


def test_one_port_is_never_used_by_two_tasks_at_once(tmp_path: Path) -> None:
    """Under doit -n 2, two modules flashing the same board take turns: the second waits
    for the port, and both end up written."""
    repo = make_repo(tmp_path, firmware_module("fw1"), firmware_module("fw2"))
    assert run_doit(repo, "build:fw1", "build:fw2").returncode == 0
    with mock_board(tmp_path) as board:
        result = run_doit(repo, "-n", "2", "flash:fw1", "flash:fw2", f"port={board.url}")

    assert result.returncode == 0, result.stdout + result.stderr
    logs = [log(repo, "flash:fw1"), log(repo, "flash:fw2")]
    assert all("flashed 2 regions" in text for text in logs)
    assert sum("for the port)" in text for text in logs) == 1, logs


def test_a_wrong_chip_is_a_clear_failure(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, firmware_module())
    with mock_board(tmp_path, "esp32") as board:
        result = run_doit(repo, "flash:fw", f"port={board.url}")

    assert result.returncode != 0
    assert "wrong chip on" in result.stdout and "the firmware is for esp32c3" in result.stdout


def test_no_port_and_no_board_on_usb_is_a_clear_failure(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, firmware_module())

    result = run_doit(repo, "flash:fw")

    assert result.returncode != 0
    assert "no ESP32 board found on USB" in result.stdout


def test_qemu_runs_the_unity_tests_and_reports_each_case(tmp_path: Path) -> None:
    """qemu:fw builds the module's Unity tests for QEMU's virt board and reads them through
    the serial test reader; a broken test fails the task naming the case and its message."""
    repo = make_repo(tmp_path, firmware_module())

    passed = run_doit(repo, "qemu:fw")

    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "5 Tests 0 Failures 0 Ignored OK" in log(repo, "qemu:fw")
    reports = repo / ".fedbuild" / "work" / "development" / "fw" / "reports"
    cases = _junit_cases(reports / "qemu.xml")
    assert len(cases) == 5 and set(cases.values()) == {"passed"}

    test_file = repo / "modules" / "fw" / "test" / "test_crc16.c"
    test_file.write_text(test_file.read_text().replace("0x29B1", "0x29B2"))
    failed = run_doit(repo, "qemu:fw")

    assert failed.returncode != 0
    assert re.search(r"FAIL test_crc16_check_value: Expected 10674 Was 10673",
                     failed.stdout), failed.stdout
    assert _junit_cases(reports / "qemu.xml")["test_crc16_check_value"] == "failed"


def virt_tests(repo: Path, tmp_path: Path, name: str = "fw") -> Path:
    """The module's Unity tests built for QEMU's virt board: what the stand-in board runs."""
    done = subprocess.run(
        [sys.executable, "-m", "hardware", "build", "--board", "virt", "--test",
         "--module-dir", str(repo / "modules" / name), "--work", str(tmp_path / "virt-work"),
         "--out", str(tmp_path / "virt"), "--name", name],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True,
        text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return tmp_path / "virt" / f"{name}-test.elf"


def test_on_device_tests_flash_the_tests_then_report_each_case(tmp_path: Path) -> None:
    """test:fw builds the tests for the chip, flashes them (real esptool, the ROM mock) and
    reads the board's Unity output (the stand-in board's console is QEMU running the same
    tests: there is no physical board here)."""
    repo = make_repo(tmp_path, firmware_module())
    with board_running(tmp_path, virt_tests(repo, tmp_path)) as url:
        result = run_doit(repo, "test:fw", f"port={url}")

    assert result.returncode == 0, result.stdout + result.stderr
    text = log(repo, "test:fw")
    assert f"{url}: flashed 2 regions" in text and "verified" in text
    assert "PASS test_frame_round_trip" in text and "5 Tests 0 Failures 0 Ignored OK" in text
    cases = _junit_cases(repo / ".fedbuild/work/development/fw/reports/device.xml")
    assert len(cases) == 5


def test_a_board_that_prints_nothing_is_a_clear_failure(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, firmware_module())
    with mock_board(tmp_path) as board:
        result = run_doit(repo, "test:fw", f"port={board.url}",
                          env={"FEDBUILD_SERIAL_TIMEOUT": "2"})

    assert result.returncode != 0
    assert f"no output from {board.url} within 2s" in result.stdout, result.stdout


def opened_in_tree(pid: int, path: Path) -> bool:
    """Whether a process in the tree under `pid` has `path` open (waits for its lock)."""
    try:
        root = psutil.Process(pid)
        tree = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return False
    for proc in tree:
        with contextlib.suppress(psutil.Error):
            if any(f.path == str(path) for f in proc.open_files()):
                return True
    return False


def test_the_port_lock_does_not_hold_up_qemu_tests(tmp_path: Path) -> None:
    """Under doit -n 2, qemu:fw and test:fw of one module: while the board's port is held
    (here by the test itself, as a flash of that board would hold it), the QEMU tests run
    to the end and test:fw waits on the port's lock; let go, test:fw flashes and reads the
    board."""
    repo = make_repo(tmp_path, firmware_module())
    locks = tmp_path / "port-locks"
    env = {**os.environ, "NO_COLOR": "1", ENV_LOCK_DIR: str(locks)}
    qemu_log = repo / ".fedbuild/logs/qemu/fw.log"
    with board_running(tmp_path, virt_tests(repo, tmp_path)) as url:
        with port_lock(url, locks, timeout=10):
            proc = subprocess.Popen(doit_argv(repo, "-n", "2", "qemu:fw", "test:fw",
                                              f"port={url}"),
                                    cwd=repo, env=env, text=True, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT)
            try:
                # The lock's file held open by the run, not by us: test:fw waits for the port.
                assert eventually(lambda: opened_in_tree(proc.pid, lock_path(url, locks))
                                  or proc.poll() is not None, timeout=300)
                assert eventually(lambda: (qemu_log.exists() and "0 Ignored OK"
                                  in qemu_log.read_text()) or proc.poll() is not None,
                                  timeout=300)
                assert proc.poll() is None, proc.communicate()[0]
                assert opened_in_tree(proc.pid, lock_path(url, locks))  # still waiting
                assert "5 Tests 0 Failures 0 Ignored OK" in qemu_log.read_text()
            except BaseException:
                proc.kill()
                proc.communicate()
                raise
        out, _ = proc.communicate(timeout=300)

    assert proc.returncode == 0, out
    text = log(repo, "test:fw")
    assert f"{url}: flashed 2 regions" in text and "5 Tests 0 Failures 0 Ignored OK" in text


# ESP-IDF projects, built by the stand-in idf.py.

def idf_module(**fields: Any) -> dict[str, Any]:
    return {"name": "blink", "source": {"repository": "local", "path": "modules/blink"},
            "toolchain": "esp-idf", "target": "esp32c3", **fields}


def idf_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"PATH": f"{FAKE_IDF}{os.pathsep}{os.environ['PATH']}",
            "FAKE_IDF_LOG": str(tmp_path / "idf-calls.log"), **extra}


def test_without_esp_idf_the_build_says_how_to_install_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, idf_module())
    path = os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep)
                           if not (Path(p) / "idf.py").exists())

    result = run_doit(repo, "build:blink", env={"PATH": path, "IDF_PATH": ""})

    assert result.returncode != 0
    assert "ESP-IDF is not installed (idf.py is not on PATH); install ESP-IDF" in result.stdout


@pytest.mark.parametrize("spelling", ["old", "new"])
def test_esp_idf_build_collects_what_flasher_args_names(tmp_path: Path, spelling: str) -> None:
    """idf.py set-target runs once, idf.py build each time; the artifacts flasher_args.json
    names (in either spelling) land in dist/, with the ELF, map and a merged image."""
    repo = make_repo(tmp_path, idf_module())
    env = idf_env(tmp_path, FAKE_IDF_SPELLING=spelling)

    result = run_doit(repo, "build:blink", "size:blink", env=env)

    assert result.returncode == 0, result.stdout + result.stderr
    out = dist(repo, "blink")
    plan = read_flasher_args(out / "flasher_args.json")
    assert {f.offset: f.path.relative_to(out).as_posix() for f in plan.files} == {
        0x8000: "partition_table/partition-table.bin", 0x10000: "blink.bin"}
    assert (plan.before, plan.after) == ("default-reset", "hard-reset")
    for name in ("blink.elf", "blink.map", "blink-merged.bin", "blink.size.json"):
        assert (out / name).is_file(), name
    (repo / "modules" / "blink" / "main" / "main.c").write_text(
        (repo / "modules" / "blink" / "main" / "main.c").read_text() + "\n/* changed */\n")
    assert run_doit(repo, "build:blink", env=env).returncode == 0
    assert (tmp_path / "idf-calls.log").read_text().splitlines() == [
        "set-target esp32c3", "build", "build"]


def test_esp_idf_target_and_version_are_in_the_fingerprint(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, idf_module())
    assert run_doit(repo, "build:blink", env=idf_env(tmp_path)).returncode == 0

    newer = run_command(repo, "explain", "build:blink",
                     env=idf_env(tmp_path, FAKE_IDF_VERSION="v5.4"))
    assert "ESP-IDF v5.4" in newer.stdout, newer.stdout
    edit_manifest(repo, lambda data: module(data, "blink").update(target="esp32s3"))
    retarget = run_command(repo, "explain", "build:blink", env=idf_env(tmp_path))
    assert "esp32s3" in retarget.stdout, retarget.stdout


def test_esp_idf_project_checks_are_one_line_errors(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, idf_module())
    (repo / "modules" / "blink" / "CMakeLists.txt").write_text("project(blink)\n")

    result = run_doit(repo, "build:blink", env=idf_env(tmp_path))

    assert result.returncode != 0
    assert "is not an ESP-IDF project file: it must include" in result.stdout


def _junit_cases(path: Path) -> dict[str, str]:
    root = ET.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None
    return {case.get("name", ""): ("failed" if case.find("failure") is not None else
                                   "skipped" if case.find("skipped") is not None else "passed")
            for case in suite.iter("testcase")}
