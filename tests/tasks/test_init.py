"""`doit init`'s pieces: which folders become which modules, the pyproject.toml and
.gitignore edits (the whole command runs for real in tests/e2e/test_any_repository.py)."""

from __future__ import annotations

from pathlib import Path

from tasks.commands.init import SCHEMA, ignore_outputs, manifest, module_entries, select_loader


def touch(path: Path, text: str = "") -> None:
    """Write a file, making its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_project_folders_become_modules_with_their_toolchain(tmp_path: Path) -> None:
    """package.json, Cargo.toml, CMakeLists.txt, pyproject.toml, a Hugo site and an ESP-IDF
    project, at any depth up to three; nothing inside a project, hidden or output folder."""
    touch(tmp_path / "apps" / "web" / "package.json", "{}")
    touch(tmp_path / "apps" / "web" / "lib" / "Cargo.toml")  # inside a project: not looked at
    touch(tmp_path / "crates" / "tool" / "Cargo.toml")
    touch(tmp_path / "libs" / "core" / "CMakeLists.txt", "project(core C)\n")
    touch(tmp_path / "py" / "pyproject.toml")
    touch(tmp_path / "docs" / "hugo.toml")
    touch(tmp_path / "docs" / "content" / "_index.md")
    touch(tmp_path / "fw" / "CMakeLists.txt", "include($ENV{IDF_PATH}/tools/cmake/project.cmake)\n")
    touch(tmp_path / "node_modules" / "x" / "package.json", "{}")
    touch(tmp_path / ".hidden" / "package.json", "{}")
    modules = {m["name"]: (m["source"]["path"], m.get("toolchain"), m.get("destination"),
                           m.get("target")) for m in module_entries(tmp_path)}
    assert modules == {
        "docs": ("docs", None, "/", None),
        "fw": ("fw", "esp-idf", None, "esp32"),
        "py": ("py", "python", None, None),
        "core": ("libs/core", "cmake", None, None),
        "tool": ("crates/tool", "cargo", None, None),
        "web": ("apps/web", "npm", None, None),
    }


def test_names_are_made_unique(tmp_path: Path) -> None:
    """Two folders of one name get two module names."""
    touch(tmp_path / "a" / "app" / "package.json", "{}")
    touch(tmp_path / "b" / "app" / "package.json", "{}")
    assert [m["name"] for m in module_entries(tmp_path)] == ["app", "app-2"]


def test_the_loader_is_added_to_an_existing_pyproject_toml(tmp_path: Path) -> None:
    """Appended as a table, or into an existing [tool.doit]; a loader already named stays."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"')
    select_loader(pyproject)
    assert pyproject.read_text() == '[project]\nname = "x"\n\n[tool.doit]\nloader = "fedbuild"\n'
    pyproject.write_text('[tool.doit]\nverbosity = 2\n\n[tool.x]\nloader = "y"\n')
    select_loader(pyproject)
    assert pyproject.read_text() == ('[tool.doit]\nloader = "fedbuild"\nverbosity = 2\n\n'
                                     '[tool.x]\nloader = "y"\n')
    pyproject.write_text('[tool.doit]\nloader = "mine"\n')
    assert "left as it is" in select_loader(pyproject)
    assert pyproject.read_text() == '[tool.doit]\nloader = "mine"\n'


def test_gitignore_lines_are_added_once(tmp_path: Path) -> None:
    """Only the missing lines are appended."""
    gitignore = tmp_path / ".gitignore"
    gitignore.write_text("*.log\n/dist/")
    ignore_outputs(gitignore)
    ignore_outputs(gitignore)
    assert gitignore.read_text() == "*.log\n/dist/\n/.fedbuild/\n/public/\nnode_modules/\n"


def test_the_manifest_holds_only_what_has_no_default(tmp_path: Path) -> None:
    """Name, base URL and modules: no build_settings (parallel, one worker per CPU, is the
    default), so the new repository's modules.json shows nothing it need not say."""
    root = tmp_path / "my_repo"
    assert manifest(root, []) == {"$schema": SCHEMA.as_uri(),
                                  "federation": {"name": "my_repo",
                                                 "baseURL": "https://example.org/"},
                                  "modules": []}


def test_a_cmake_project_without_tests_allows_none(tmp_path: Path) -> None:
    """ctest finds no test unless the top CMakeLists.txt calls enable_testing() (or includes
    CTest): such a module gets allow_no_tests, so `doit` right after `doit init` succeeds
    (cmake's test step is part of plain `doit`); one with tests keeps failing on none."""
    touch(tmp_path / "plain" / "CMakeLists.txt", "project(plain C)\nadd_library(p p.c)\n")
    touch(tmp_path / "tested" / "CMakeLists.txt", "project(t C)\nenable_testing()\n")
    touch(tmp_path / "ctest" / "CMakeLists.txt", "project(c C)\ninclude( CTest )\n")
    allowed = {m["name"]: m.get("allow_no_tests") for m in module_entries(tmp_path)}
    assert allowed == {"ctest": None, "plain": True, "tested": None}
