"""tasks/toolchains/copy_source.py: the python toolchain builds a copy of the module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

SCRIPT = REPO / "tasks" / "toolchains" / "copy_source.py"


def test_copies_the_tree_without_excluded_names(tmp_path: Path) -> None:
    """Sources and links are copied; build outputs named by --exclude are not."""
    src = tmp_path / "src"
    (src / "pkg" / "build").mkdir(parents=True)
    (src / "pkg" / "__init__.py").write_text("x = 1\n")
    (src / "pkg" / "build" / "junk").write_text("")
    (src / "x.egg-info").mkdir()
    (src / "link").symlink_to("pkg/__init__.py")
    result = subprocess.run([sys.executable, "-S", str(SCRIPT), str(src), str(tmp_path / "dst"),
                             "--exclude", "build", "--exclude", "*.egg-info"],
                            capture_output=True, text=True, check=False, timeout=30)
    assert result.returncode == 0, result.stderr
    copied = sorted(p.relative_to(tmp_path / "dst").as_posix()
                    for p in (tmp_path / "dst").rglob("*"))
    assert copied == ["link", "pkg", "pkg/__init__.py"]
    assert (tmp_path / "dst" / "link").is_symlink()


def test_a_missing_source_is_one_line(tmp_path: Path) -> None:
    """Exit 1 naming the folder."""
    result = subprocess.run([sys.executable, "-S", str(SCRIPT), str(tmp_path / "nope"),
                             str(tmp_path / "dst")], capture_output=True, text=True,
                            check=False, timeout=30)
    assert result.returncode == 1
    assert result.stderr == f"copy_source: {tmp_path / 'nope'} is not a folder\n"
