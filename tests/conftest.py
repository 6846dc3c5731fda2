"""Shared helpers: fixture monorepos copied to tmp_path and real doit runs against them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
DODO = REPO / "dodo.py"


def copy_fixture(name: str, dest: Path) -> Path:
    """Copy tests/fixtures/<name> to dest (a fresh folder) and return it."""
    shutil.copytree(FIXTURES / name, dest, symlinks=True)
    return dest


COMMANDS = {"run", "list", "info", "clean", "forget", "ignore", "dumpdb", "strace", "help",
            "reset-dep", "tabcompletion"}


def doit_argv(repo: Path, *args: str) -> list[str]:
    """The command line that runs fedbuild's dodo.py against the monorepo at `repo`."""
    if not args or args[0] not in COMMANDS:
        args = ("run", *args)
    return [sys.executable, "-m", "doit", args[0], "-f", str(DODO), "-d", str(repo), *args[1:]]


def run_doit(repo: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `doit <args>` on the monorepo for real and capture its output."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(doit_argv(repo, *args), cwd=repo, env=full_env, text=True,
                          capture_output=True, timeout=timeout, check=False)


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture
def monorepo(tmp_path: Path) -> Callable[[str], Path]:
    """Factory: copy a fixture monorepo into tmp_path."""
    def make(name: str = "basic") -> Path:
        return copy_fixture(name, tmp_path / name)
    return make
