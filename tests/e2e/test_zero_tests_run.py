"""A test step whose runner found no test fails as `no tests`, through real doit and the real
runners: ctest (a CMake project without add_test: "No tests were found!!!", exit 0), pytest
(a package without tests: exit 5), cargo (a crate without tests: "running 0 tests", exit 0)
and npm test running node --test without test files ("tests 0", exit 0). With
`allow_no_tests: true` on the module it passes."""

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
    """A repository with a cmake module without add_test, a Python package, a crate and an
    npm package without tests (otherwise real: they build)."""
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
    crate = root / "modules/crate"
    (crate / "src").mkdir(parents=True)
    (crate / "Cargo.toml").write_text('[package]\nname = "notests"\nversion = "0.1.0"\n'
                                      'edition = "2021"\n\n[dependencies]\n')
    (crate / "Cargo.lock").write_text('version = 3\n\n[[package]]\nname = "notests"\n'
                                      'version = "0.1.0"\n')
    (crate / "src/main.rs").write_text('fn main() {\n    println!("hello");\n}\n')
    web = root / "modules/web"
    web.mkdir()
    (web / "package.json").write_text(json.dumps({
        "name": "notests", "version": "1.0.0", "private": True,
        "scripts": {"build": "node -e \"require('fs').writeFileSync("
                             "process.env.FEDBUILD_OUT + '/x.txt', 'x')\"",
                    "test": "node --test"}}))
    (web / "package-lock.json").write_text(json.dumps({
        "name": "notests", "version": "1.0.0", "lockfileVersion": 3, "requires": True,
        "packages": {"": {"name": "notests", "version": "1.0.0"}}}))
    (root / "modules.json").write_text(json.dumps({
        "federation": {"name": "no tests", "baseURL": "https://x.example.org"},
        "modules": [
            {"name": "clib", "source": {"repository": "local", "path": "modules/clib"},
             "toolchain": "cmake"},
            {"name": "pylib", "source": {"repository": "local", "path": "modules/pylib"},
             "toolchain": "python"},
            {"name": "crate", "source": {"repository": "local", "path": "modules/crate"},
             "toolchain": "cargo"},
            {"name": "web", "source": {"repository": "local", "path": "modules/web"},
             "toolchain": "npm"}]}, indent=2))
    return root


TESTS = ("test:clib", "test:pylib", "test:crate", "test:web")


def row_status(out: str, task: str) -> str:
    """The status column of `task`'s row in the summary table."""
    row = next(line for line in out.splitlines() if line.startswith(f"{task}  "))
    return row[len(task):].strip().split("  ")[0]


def test_a_test_step_that_ran_no_test_fails_unless_allowed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    result = run_doit(repo, *TESTS, timeout=900)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    for task in TESTS:
        assert row_status(result.stdout, task) == "no tests", out
    assert "test:clib ran no tests: its log says 'No tests were found!!!'" in out
    assert "test:pylib ran no tests: the test runner exited with 5" in out
    assert "test:crate ran no tests: its log says 'running 0 tests'" in out
    assert "test:web ran no tests: its log says '# tests 0'" in out
    assert '"allow_no_tests": true' in out
    for task in ("build:clib", "build:pylib", "build:crate", "build:web"):
        assert row_status(result.stdout, task) == "built"

    for name in ("clib", "pylib", "crate", "web"):
        set_module(repo, name, allow_no_tests=True)
    again = run_doit(repo, *TESTS, timeout=900)
    assert again.returncode == 0, again.stdout + again.stderr
    for task in TESTS:
        assert row_status(again.stdout, task) == "built", again.stdout
    assert "ran no tests" in again.stdout  # the note says why it passed
