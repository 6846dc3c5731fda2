"""Reading a test runner's log for "no test ran", with the shipped toolchains' rules and
logs as each runner writes them (the e2e test runs ctest and pytest for real)."""

from __future__ import annotations

from pathlib import Path

import pytest

from federation.manifest import NoTests
from federation.toolchains import load_toolchains
from tasks.no_tests import ran_no_tests

CARGO_NONE = """   Compiling crate v0.1.0
    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.51s
     Running unittests src/main.rs (target/debug/deps/crate-1)

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out

   Doc-tests crate

running 0 tests

test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out
"""
CARGO_SOME = CARGO_NONE.replace("running 0 tests", "running 2 tests", 1)
NODE_NONE = "1..0\n# tests 0\n# suites 0\n# pass 0\n"
NODE_TTY_SOME = "\u2139 tests 3\n\u2139 suites 0\n\u2139 pass 3\n"


def rule(toolchain: str) -> NoTests:
    """The shipped toolchain's rule for its test step."""
    chain = load_toolchains(Path("/nonexistent"))[toolchain]
    found = next(s.no_tests for s in chain.steps if s.name == "test")
    assert found is not None
    return found


@pytest.mark.parametrize(("toolchain", "log", "code", "none"), [
    ("cargo", CARGO_NONE, 0, True),
    ("cargo", CARGO_SOME, 0, False),
    ("npm", NODE_NONE, 0, True),
    ("npm", NODE_TTY_SOME, 0, False),
    ("npm", "No tests found, exiting with code 1\n", 1, True),
    ("cmake", "Test project /w/build\nNo tests were found!!!\n", 0, True),
    ("cmake", "100% tests passed, 0 tests failed out of 1\n", 0, False),
    ("python", "\nno tests ran in 0.01s\n", 5, True),
    ("python", "3 passed in 0.02s\n", 0, False),
])
def test_shipped_rules(tmp_path: Path, toolchain: str, log: str, code: int, none: bool) -> None:
    path = tmp_path / "log"
    path.write_text(log)
    assert (ran_no_tests(rule(toolchain), path, code) is not None) is none


def test_a_missing_log_tells_nothing(tmp_path: Path) -> None:
    assert ran_no_tests(rule("cargo"), tmp_path / "none", 0) is None
