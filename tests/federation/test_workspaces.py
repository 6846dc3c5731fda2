"""Modules read from npm, pnpm, Cargo and uv workspaces (tests/fixtures/workspaces/*), with
the dependencies between their packages as depends_on."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import ManifestError
from federation.loader import load_project
from tests.conftest import copy_fixture, run_command, run_doit


def modules(repo: Path) -> dict[str, tuple[str, str, list[str]]]:
    """name -> (folder, toolchain, depends_on) of the loaded project."""
    project = load_project(repo)
    return {m.name: (m.source.path, m.toolchain, m.depends_on)
            for m in project.manifest.modules}


@pytest.fixture
def workspace(tmp_path: Path) -> Callable[[str], Path]:
    return lambda kind: copy_fixture(f"workspaces/{kind}", tmp_path / kind)


def test_npm_workspace(workspace: Callable[[str], Path]) -> None:
    assert modules(workspace("npm")) == {
        "ui": ("packages/ui", "npm", ["util"]),  # workspace:*
        "util": ("packages/util", "npm", []),
        "web": ("packages/web", "npm", ["ui", "util"]),  # a version, and file:../util
    }


def test_pnpm_workspace_found_without_discover_or_modules(workspace: Callable[[str], Path]
                                                          ) -> None:
    """No `modules`: every kind is looked for; pnpm itself is not needed to list them."""
    assert modules(workspace("pnpm")) == {
        "app": ("packages/app", "npm", ["core"]),
        "core": ("packages/core", "npm", []),
    }


def test_cargo_workspace_with_an_own_entry_winning(workspace: Callable[[str], Path]) -> None:
    repo = workspace("cargo")
    assert modules(repo) == {
        "cli": ("crates/cli", "cargo", []),  # the manifest's own entry, as it is
        "core": ("crates/core", "cargo", []),
    }
    data = json.loads((repo / "modules.json").read_text())
    del data["modules"]
    (repo / "modules.json").write_text(json.dumps(data))
    assert modules(repo)["cli"] == ("crates/cli", "cargo", ["core"])  # [workspace.dependencies]


def test_uv_workspace(workspace: Callable[[str], Path]) -> None:
    assert modules(workspace("uv")) == {
        "acme-base": ("packages/base", "python", []),
        "acme-tool": ("packages/tool", "python", ["acme-base"]),
    }


def test_a_new_package_needs_no_manifest_edit(workspace: Callable[[str], Path]) -> None:
    repo = workspace("npm")
    (repo / "packages/extra").mkdir()
    (repo / "packages/extra/package.json").write_text(
        json.dumps({"name": "extra", "dependencies": {"@acme/web": "workspace:*"}}))
    assert modules(repo)["extra"] == ("packages/extra", "npm", ["web"])


def test_nothing_to_build_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "modules.json").write_text(json.dumps(
        {"federation": {"name": "x", "baseURL": "https://x.example.org"}}))
    with pytest.raises(ManifestError) as err:
        load_project(tmp_path)
    assert str(err.value).endswith("modules.json: modules: none listed, and no workspace "
                                   "found here (npm, pnpm, cargo, uv); list the modules, or "
                                   "check the workspace files (package.json, "
                                   "pnpm-workspace.yaml, Cargo.toml, pyproject.toml)")


def test_listed_and_graphed(workspace: Callable[[str], Path]) -> None:
    repo = workspace("npm")
    listed = run_doit(repo, "list")
    assert listed.returncode == 0, listed.stderr
    assert {"build:ui", "build:util", "build:web"} <= {
        line.split()[0] for line in listed.stdout.splitlines() if line.strip()}
    graph = run_command(repo, "graph")
    assert graph.returncode == 0, graph.stderr
    assert '"build:util" -> "build:ui";' in graph.stdout
    assert '"build:ui" -> "build:web";' in graph.stdout
