"""tasks/toolchains/collect.py, run as toolchain steps run it: a file, with python -S."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tasks.toolchains import collect

SCRIPT = Path(collect.__file__)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-S", str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=30, check=False)


def test_copies_the_top_level_files_with_their_modes(tmp_path: Path) -> None:
    profile = tmp_path / "target/debug"
    (profile / "deps").mkdir(parents=True)
    (profile / "deps/fedcrate-1234").write_text("not an artifact")
    (profile / "fedcrate").write_text("binary")
    os.chmod(profile / "fedcrate", 0o755)
    (profile / "libfedcrate.rlib").write_text("library")
    (profile / "fedcrate.d").write_text(f"{tmp_path}/src/main.rs")
    (profile / ".cargo-lock").write_text("")

    done = run(str(profile), str(tmp_path / "out"), "--skip", ".d")

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fedcrate", "libfedcrate.rlib"]
    assert os.access(tmp_path / "out/fedcrate", os.X_OK)
    assert "collected fedcrate, libfedcrate.rlib" in done.stdout


def test_a_missing_or_empty_folder_fails_saying_so(tmp_path: Path) -> None:
    missing = run(str(tmp_path / "nowhere"), str(tmp_path / "out"))
    assert missing.returncode == 1 and "is not a folder" in missing.stderr
    (tmp_path / "empty/deps").mkdir(parents=True)
    empty = run(str(tmp_path / "empty"), str(tmp_path / "out"))
    assert empty.returncode == 1 and "no files at the top" in empty.stderr
