"""The esp-baremetal version line changes with fedbuild's firmware runtime, so an edited
linker script or startup file rebuilds firmware modules (it is in their fingerprint)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO


def version_line(hardware: Path, cwd: Path) -> str:
    done = subprocess.run([sys.executable, str(hardware / "toolchain_version.py")], cwd=cwd,
                          capture_output=True, text=True, timeout=60, check=True)
    return done.stdout.strip()


def test_the_version_names_the_compiler_and_follows_the_runtime(tmp_path: Path) -> None:
    hardware = tmp_path / "hardware"
    hardware.mkdir()
    shutil.copy(REPO / "hardware" / "toolchain_version.py", hardware)
    shutil.copytree(REPO / "hardware" / "firmware", hardware / "firmware")
    elsewhere = tmp_path / "repo"  # fedbuild asks from the repository's folder
    elsewhere.mkdir()

    before = version_line(hardware, elsewhere)
    assert before.startswith("riscv64-unknown-elf-gcc ") and ", fedbuild runtime " in before
    assert version_line(hardware, elsewhere) == before
    script = hardware / "firmware" / "esp32c3.ld"
    script.write_text(script.read_text() + "\n/* changed */\n")
    assert version_line(hardware, elsewhere) != before
