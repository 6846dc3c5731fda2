"""`python -m hardware size` on a real ESP32-C3 link map, through the real esp-idf-size."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.errors import HardwareError
from hardware.image import build_app
from hardware.size import Usage, map_target, parse_size, usage
from tests.conftest import FIXTURES, REPO

pytestmark = pytest.mark.skipif(
    shutil.which("riscv64-unknown-elf-gcc") is None,
    reason="needs gcc-riscv64-unknown-elf and picolibc-riscv64-unknown-elf (scripts/setup)")


def size(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m hardware size ARGS`, as a toolchain step runs it."""
    return subprocess.run([sys.executable, "-m", "hardware", "size", *args], cwd=REPO,
                          text=True, capture_output=True, timeout=60, check=False)


@pytest.fixture(scope="module")
def link_map(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture app's ESP32-C3 link map, built once for the module."""
    root = tmp_path_factory.mktemp("size")
    return build_app("esp32c3", FIXTURES / "firmware" / "app", root / "work", root / "out",
                     "calc").map


@pytest.fixture(scope="module")
def measured(link_map: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The JSON `size` wrote for that map, with no budgets, and what it printed."""
    report = tmp_path_factory.mktemp("report") / "size.json"
    run = size("--map", str(link_map), "--target", "esp32c3", "--json", str(report))
    assert run.returncode == 0, run.stderr
    return {"json": json.loads(report.read_text()), "stdout": run.stdout}


def test_prints_esp_idf_size_table(measured: dict[str, Any]) -> None:
    table = measured["stdout"]
    assert "Memory Type Usage Summary" in table
    for row in ("DRAM", "Flash Code", "Flash Data", ".bss", ".appdesc"):
        assert row in table
    used = measured["json"]["fedbuild"]
    summary = ", ".join(f"{r} {used[r]['used']} bytes" for r in ("flash", "dram", "iram"))
    assert table.rstrip().splitlines()[-1] == summary


def test_json_holds_esp_idf_size_report_and_fedbuild_totals(measured: dict[str, Any]) -> None:
    report = measured["json"]
    parts = {m["name"]: m["parts"] for m in report["layout"]}
    # Full section names: every one of the linker script's sections is attributed.
    assert set(parts["DRAM"]) == {".iram0.text", ".dram0.bss"}
    assert set(parts["Flash Code"]) == {".flash.text"}
    assert set(parts["Flash Data"]) == {".flash.appdesc", ".flash.rodata"}
    assert parts["Flash Data"][".flash.appdesc"]["size"] == 256
    ours = report["fedbuild"]
    assert ours["target"] == "esp32c3"
    assert ours["iram"] == {"used": parts["DRAM"][".iram0.text"]["size"], "budget": None}
    assert ours["dram"]["used"] == parts["DRAM"][".dram0.bss"]["size"] >= 0x4000  # the stack
    flash = sum(p["size"] for name in ("Flash Code", "Flash Data")
                for p in parts[name].values()) + ours["iram"]["used"]
    assert ours["flash"]["used"] == report["total_size"] == flash


@pytest.mark.parametrize("region", ["flash", "dram", "iram"])
def test_an_exceeded_budget_exits_1_naming_it_and_the_excess(
        link_map: Path, measured: dict[str, Any], tmp_path: Path, region: str) -> None:
    used = measured["json"]["fedbuild"][region]["used"]
    report = tmp_path / "size.json"
    run = size("--map", str(link_map), "--target", "esp32c3", "--json", str(report),
               f"--{region}-budget", "100", "--flash-budget" if region != "flash" else
               "--iram-budget", "1M")
    assert run.returncode == 1
    assert run.stderr.strip() == (f"error: {region}: {used} bytes used, over the budget of "
                                  f"100 by {used - 100} bytes")
    # The report is written all the same, budgets included.
    assert json.loads(report.read_text())["fedbuild"][region]["budget"] == 100


def test_budgets_within_limits_pass(link_map: Path, tmp_path: Path) -> None:
    run = size("--map", str(link_map), "--target", "esp32c3", "--json",
               str(tmp_path / "s.json"), "--flash-budget", "64K", "--dram-budget", "0x40000",
               "--iram-budget", "65536")
    assert run.returncode == 0, run.stderr
    assert "(budget 65536)" in run.stdout and "(budget 262144)" in run.stdout


def test_a_map_for_another_chip_is_refused(link_map: Path, tmp_path: Path) -> None:
    run = size("--map", str(link_map), "--target", "esp32s3", "--json", str(tmp_path / "s.json"))
    assert run.returncode == 1
    assert run.stderr.strip() == f"error: {link_map} was linked for esp32c3, not esp32s3"


def test_a_map_naming_no_chip_is_read_for_target(link_map: Path, tmp_path: Path,
                                                 measured: dict[str, Any]) -> None:
    bare = tmp_path / "bare.map"
    bare.write_text(link_map.read_text().replace("IDF_TARGET_ESP32C3", "FEDBUILD_NO_TARGET"))
    assert map_target(bare) is None
    report = tmp_path / "s.json"
    run = size("--map", str(bare), "--target", "esp32c3", "--json", str(report))
    assert run.returncode == 0, run.stderr
    assert json.loads(report.read_text())["layout"] == measured["json"]["layout"]


def test_missing_map_and_bad_budget_are_one_line_errors(tmp_path: Path) -> None:
    run = size("--map", str(tmp_path / "none.map"), "--target", "esp32c3", "--json",
               str(tmp_path / "s.json"))
    assert run.stderr.strip() == (f"error: {tmp_path / 'none.map'}: no such link map; "
                                  "build the firmware first")
    run = size("--map", str(tmp_path / "none.map"), "--target", "esp32c3", "--json",
               str(tmp_path / "s.json"), "--dram-budget", "12Q")
    assert (run.returncode, run.stderr.strip()) == (1, (
        "error: --dram-budget: '12Q' is not a size: use a number of bytes (65536, 0x10000) or "
        "a number with K, M, G, T or KiB, MiB, GiB, TiB (powers of 1024: 64K = 65536) or KB, "
        "MB, GB, TB (powers of 1000: 64KB = 64000)"))


@pytest.mark.parametrize(("text", "value"), [
    ("65536", 65536), ("64K", 65536), ("64k", 65536), ("64KB", 64000), ("64KiB", 65536),
    ("1M", 1048576), ("1.5M", 1572864), ("0x10000", 65536), (" 2K ", 2048)])
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "K", "64Q", "-1", "0xZZ", "1Q"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(HardwareError, match="is not a size"):
        parse_size(text)


def test_usage_splits_ram_by_section_name() -> None:
    report = {"total_size": 1000, "layout": [
        {"name": "IRAM", "parts": {".iram0.text": {"size": 300}, ".iram0.vectors": {"size": 20}}},
        {"name": "DRAM", "parts": {".dram0.data": {"size": 40}, ".dram0.bss": {"size": 60}}},
        {"name": "Flash Code", "parts": {".flash.text": {"size": 600}}},
        {"name": "RTC SLOW", "parts": {".rtc.data": {"size": 8}}}]}
    assert usage(report, {"iram": 310}) == [
        Usage("flash", 1000), Usage("dram", 100), Usage("iram", 320, 310)]
    assert Usage("iram", 320, 310).message() == (
        "iram: 320 bytes used, over the budget of 310 by 10 bytes")
