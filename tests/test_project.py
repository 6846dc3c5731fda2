"""Project-wide checks: CI runs the README's commands, the schema is current, lint is clean."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import pytest

from federation.schema import render
from tests.conftest import REPO

pytestmark = pytest.mark.heavy(18)  # run early under -n (tests/conftest.py)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    """The last line of .ci/run is the test command README.md gives."""
    ci = [ln for ln in (REPO / ".ci/run").read_text().splitlines() if ln.strip()]
    readme = (REPO / "README.md").read_text().splitlines()
    assert ci[-1] == "python3 -m pytest -q -n 2"
    assert f"    {ci[-1]}" in readme
    assert "./scripts/setup.sh" in ci
    assert "    ./scripts/setup.sh && doit" in readme


def test_schema_file_matches_the_models() -> None:
    """modules.schema.json is regenerated whenever the manifest models change."""
    committed = (REPO / "modules.schema.json").read_text()
    assert committed == render(), "run: python -m federation.schema"
    manifest = json.loads((REPO / "modules.json").read_text())
    assert manifest["$schema"] == "./modules.schema.json"


def test_ruff_is_clean() -> None:
    """ruff check passes on the whole repository."""
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_clean() -> None:
    """mypy passes on the configured files."""
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_test_imports_a_bare_conftest() -> None:
    """Tests import shared helpers as `tests.conftest`: a bare `conftest` is whichever
    conftest.py pytest imported first (tests/service's when folders run together)."""
    bare = []
    for path in sorted((REPO / "tests").rglob("*.py")):
        if "fixtures" in path.relative_to(REPO / "tests").parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            names = [node.module] if isinstance(node, ast.ImportFrom) else \
                [a.name for a in node.names]
            if "conftest" in names:
                bare.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert bare == []


def test_test_module_names_are_unique() -> None:
    """Test files are imported by their base name (no __init__.py): two of one name stop
    the whole suite's collection with "import file mismatch"."""
    names: dict[str, list[str]] = {}
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if "fixtures" not in path.relative_to(REPO / "tests").parts:
            names.setdefault(path.name, []).append(str(path.relative_to(REPO)))
    assert {name: paths for name, paths in names.items() if len(paths) > 1} == {}
