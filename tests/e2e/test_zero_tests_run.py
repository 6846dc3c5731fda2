"""A test step whose runner found no test fails as `no tests`, through real doit and the real
runners: ctest (a CMake project without add_test: "No tests were found!!!", exit 0) and
pytest (a package without tests: exit 5). With `allow_no_tests: true` on the module it
passes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import REPO, run_doit, set_module

PYPROJECT = """[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "notests"
version = "0.1.0"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
addopts = "-p no:benchmark"
"""


def make_repo(root: Path) -> Path:
    """A repository with a cmake module without add_test and a Python package without
    tests (both otherwise real: they build)."""
    root.mkdir()
    clib = root / "modules/clib"
    shutil.copytree(REPO / "modules/clib", clib)
    cmake = (clib / "CMakeLists.txt").read_text()
    (clib / "CMakeLists.txt").write_text(cmake.split("enable_testing()")[0])
    shutil.rmtree(clib / "tests")
    package = root / "modules/pylib/src/notests"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (root / "modules/pylib/pyproject.toml").write_text(PYPROJECT)
    (root / "modules.json").write_text(json.dumps({
        "federation": {"name": "no tests", "baseURL": "https://x.example.org"},
        "modules": [
            {"name": "clib", "source": {"repository": "local", "path": "modules/clib"},
             "toolchain": "cmake"},
            {"name": "pylib", "source": {"repository": "local", "path": "modules/pylib"},
             "toolchain": "python"}]}, indent=2))
    return root


def row_status(out: str, task: str) -> str:
    """The status column of `task`'s row in the summary table."""
    row = next(line for line in out.splitlines() if line.startswith(f"{task}  "))
    return row[len(task):].strip().split("  ")[0]


def test_a_test_step_that_ran_no_test_fails_unless_allowed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    result = run_doit(repo, "test:clib", "test:pylib", timeout=600)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert row_status(result.stdout, "test:clib") == "no tests", out
    assert row_status(result.stdout, "test:pylib") == "no tests", out
    assert "test:clib ran no tests: its log says 'No tests were found!!!'" in out
    assert "test:pylib ran no tests: the test runner exited with 5" in out
    assert '"allow_no_tests": true' in out
    assert row_status(result.stdout, "build:clib") == "built"

    for name in ("clib", "pylib"):
        set_module(repo, name, allow_no_tests=True)
    again = run_doit(repo, "test:clib", "test:pylib", timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert row_status(again.stdout, "test:clib") == "built", again.stdout
    assert row_status(again.stdout, "test:pylib") == "built", again.stdout
    assert "ran no tests" in again.stdout  # the note says why it passed
