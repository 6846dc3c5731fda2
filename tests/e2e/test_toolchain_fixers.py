"""The shipped toolchains' fixers (tasks/toolchains/*.yaml `fix:`), each run for real under
`doit fix=auto` on a module failing for a reason its tool mends: ruff (python's lint step),
clang-format (cmake's format step), eslint and prettier (npm's lint step, the module has
both), a lock file out of step with package.json (npm's install step). Each patch is kept,
leaves the working tree alone, and makes `doit` pass once applied.

The toolchain-fixers fixture: pystyle, cfmt, webfmt, lockstale (its package.json depends on
a folder of its own the lock file does not list, so no download is needed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import copy_fixture, run_doit
from tests.tasks.test_fix import LINE, git


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The fixture, as a git repository with everything committed."""
    repo = copy_fixture("toolchain-fixers", tmp_path / "fixers")
    (repo / ".gitignore").write_text(".fedbuild/\ndist/\nnode_modules/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fixture")
    return repo


def proposed(repo: Path, task: str, timeout: float = 300) -> re.Match[str]:
    """Run `doit fix=auto <task>` (which fails) and return its fix line."""
    done = run_doit(repo, "fix=auto", task, timeout=timeout)
    assert done.returncode != 0, done.stdout
    found = LINE.search(done.stdout)
    assert found and found["task"] == task, done.stdout + done.stderr
    assert git(repo, "status", "--porcelain") == ""
    return found


def applied(repo: Path, found: re.Match[str], task: str, timeout: float = 300) -> str:
    """Apply the proposed patch; `doit <task>` passes then. The patch's text."""
    git(repo, "apply", found["patch"])
    done = run_doit(repo, task, timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return (repo / found["patch"]).read_text()


def test_ruff_mends_the_python_lint_step(repo: Path) -> None:
    found = proposed(repo, "lint:pystyle")
    assert re.fullmatch(r"\S+ -m ruff check --fix --no-cache \. \+ \S+ -m ruff format "
                        r"--no-cache \.", found["fixer"])
    patch = applied(repo, found, "lint:pystyle")
    assert "-import os" in patch and "+def greet(name):" in patch


def test_clang_format_mends_the_cmake_format_step(repo: Path) -> None:
    found = proposed(repo, "format:cfmt")
    assert found["fixer"].endswith("clang-format -i --fallback-style=none "
                                   f"--files={repo}/.fedbuild/work/development/cfmt/"
                                   "clang-format-files")
    patch = applied(repo, found, "format:cfmt")
    assert "+int cfmt_add(int a, int b) { return a + b; }" in patch


def test_a_module_without_clang_format_settings_has_nothing_to_check(repo: Path) -> None:
    (repo / "modules/cfmt/.clang-format").unlink()
    done = run_doit(repo, "format:cfmt")
    assert done.returncode == 0, done.stdout + done.stderr


def test_eslint_and_prettier_mend_the_npm_lint_step(repo: Path) -> None:
    found = proposed(repo, "lint:webfmt")
    assert found["fixer"] == ("npm exec --no --offline -- eslint --fix . + npm exec --no "
                              "--offline -- prettier --write --log-level=warn .")
    patch = applied(repo, found, "lint:webfmt")
    assert "+  const text = \"hello \" + name;" in patch  # eslint's const, prettier's quotes


def test_a_stale_lock_file_is_refreshed_and_proven_by_the_build_and_test(repo: Path) -> None:
    found = proposed(repo, "install:lockstale")
    assert found["fixer"].startswith("npm install --package-lock-only --ignore-scripts ")
    record = json.loads((repo / found["patch"]).with_suffix(".json").read_text())
    assert record["proven"] == ["install:lockstale", "build:lockstale", "test:lockstale",
                               "lint:lockstale"]
    patch = applied(repo, found, "test:lockstale")
    assert "diff --git a/modules/lockstale/package-lock.json" in patch
    assert (repo / "dist/development/lockstale/value.txt").read_text() == "42"


def test_an_install_no_refresh_can_mend_has_no_fix(repo: Path) -> None:
    manifest = repo / "modules/lockstale/package.json"
    manifest.write_text(manifest.read_text()[:-4])  # cut short: not JSON any more
    done = run_doit(repo, "fix=auto", "install:lockstale", timeout=300)
    assert done.returncode != 0
    assert not LINE.search(done.stdout)
    assert re.search(r"^fix:lockstale: no fix found for install:lockstale: ", done.stdout,
                     re.M), done.stdout
    assert not list((repo / ".fedbuild").glob("fixes/*/*.patch"))
