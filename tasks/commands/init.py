"""`doit init`: a working start for fedbuild in the current folder.

Writes modules.json (with `$schema`), a module for each project folder found (or one
example site module), the `[tool.doit]` loader setting in pyproject.toml and the
.gitignore lines for fedbuild's state and outputs. Never overwrites a modules.json.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.cmd_base import Command

from core.state import STATE_DIR
from federation.loader import MANIFEST_FILE

SCHEMA = Path(__file__).resolve().parents[2] / "modules.schema.json"
# node_modules/: what npm installs into a module, beside its sources.
IGNORED = (f"/{STATE_DIR}/", "/public/", "/dist/", "node_modules/")
# Folders never searched for projects: tools' own, outputs, dependencies.
SKIP = {"node_modules", "build", "dist", "public", "target", "venv", ".venv", "site-packages",
        "__pycache__", STATE_DIR}
HUGO_CONFIGS = ("hugo.toml", "hugo.yaml", "hugo.json", "config.toml", "config.yaml")
DEPTH = 3  # how deep below the current folder projects are looked for


def toolchain_of(folder: Path) -> str | None:
    """The toolchain a folder's files call for (None: not a project folder)."""
    names = set(os.listdir(folder))
    if "CMakeLists.txt" in names and _is_esp_idf(folder / "CMakeLists.txt"):
        return "esp-idf"
    for marker, toolchain in (("package.json", "npm"), ("Cargo.toml", "cargo"),
                              ("CMakeLists.txt", "cmake"), ("pyproject.toml", "python"),
                              ("setup.py", "python")):
        if marker in names:
            return toolchain
    if (names & set(HUGO_CONFIGS) and "content" in names) or "module.json" in names:
        return "build.sh"
    return None


def _is_esp_idf(cmake: Path) -> bool:
    """An ESP-IDF project's CMakeLists.txt includes IDF's project.cmake."""
    try:
        return "project.cmake" in cmake.read_text(errors="replace")
    except OSError:
        return False


def find_projects(root: Path) -> Iterator[tuple[Path, str]]:
    """(folder, toolchain) for each project folder below `root`, shallowest first; nothing
    inside a project is looked at, nor hidden or output folders."""
    level = [root]
    for _ in range(DEPTH):
        below: list[Path] = []
        for folder in level:
            for entry in sorted(os.scandir(folder), key=lambda e: e.name):
                if not entry.is_dir(follow_symlinks=False) or entry.name.startswith(".") \
                        or entry.name in SKIP:
                    continue
                path = Path(entry.path)
                toolchain = toolchain_of(path)
                if toolchain:
                    yield path, toolchain
                else:
                    below.append(path)
        level = below


def module_entries(root: Path) -> list[dict[str, Any]]:
    """The modules of the new manifest: one per project found."""
    modules: list[dict[str, Any]] = []
    taken: set[str] = set()
    sites = 0
    for folder, toolchain in find_projects(root):
        name = _unique(_name(folder.name), taken)
        entry: dict[str, Any] = {"name": name, "source": {
            "repository": "local", "path": folder.relative_to(root).as_posix()}}
        if toolchain == "build.sh":
            entry["destination"] = "/" if sites == 0 else f"/{name}/"
            sites += 1
        else:
            entry["toolchain"] = toolchain
        if toolchain == "esp-idf":
            entry["target"] = "esp32"
        if toolchain == "cmake" and not _has_tests(folder / "CMakeLists.txt"):
            entry["allow_no_tests"] = True  # ctest, part of plain `doit`, would find none
        modules.append(entry)
    return modules


def _has_tests(cmake: Path) -> bool:
    """Whether ctest can find tests in a cmake project: its top CMakeLists.txt enables
    testing (enable_testing(), or include(CTest), which calls it)."""
    try:
        text = cmake.read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"(?i)\benable_testing\s*\(|\binclude\s*\(\s*CTest\s*\)", text) is not None


def _name(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:64]
    return name or "module"


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate = f"{name[:60]}-{n}"
        n += 1
    taken.add(candidate)
    return candidate


def example_site(root: Path) -> dict[str, Any]:
    """One site module with a page, for a folder with no project in it."""
    content = root / "site" / "content"
    content.mkdir(parents=True, exist_ok=True)
    index = content / "_index.md"
    if not index.exists():
        index.write_text("---\ntitle: Home\n---\n\nBuilt by `doit`: edit site/content/_index.md "
                         "and run it again.\n")
    return {"name": "site", "source": {"repository": "local", "path": "site"},
            "destination": "/"}


def manifest(root: Path, modules: list[dict[str, Any]]) -> dict[str, Any]:
    """The new modules.json."""
    return {"$schema": SCHEMA.as_uri(),
            "federation": {"name": _name(root.name) or "federation",
                           "baseURL": "https://example.org/"},
            "modules": modules}


def select_loader(pyproject: Path) -> str:
    """Add `[tool.doit] loader = "fedbuild"` to pyproject.toml (made if missing); what was done."""
    text = pyproject.read_text() if pyproject.exists() else ""
    if re.search(r"(?m)^\[tool\.doit\]\s*$", text):
        if re.search(r"(?m)^\[tool\.doit\]\s*\n(?:(?!\[)[^\n]*\n)*?loader\s*=", text):
            return f"{pyproject.name}: [tool.doit] already names a loader, left as it is"
        text = re.sub(r"(?m)^\[tool\.doit\]\s*$", '[tool.doit]\nloader = "fedbuild"', text,
                      count=1)
    else:
        text += ("\n" if text and not text.endswith("\n") else "") + \
            ("\n" if text else "") + '[tool.doit]\nloader = "fedbuild"\n'
    pyproject.write_text(text)
    return f"{pyproject.name}: [tool.doit] loader = \"fedbuild\""


def ignore_outputs(gitignore: Path) -> str:
    """Append fedbuild's lines to .gitignore (made if missing); what was done."""
    text = gitignore.read_text() if gitignore.exists() else ""
    missing = [line for line in IGNORED if line not in text.splitlines()]
    if missing:
        prefix = "\n" if text and not text.endswith("\n") else ""
        gitignore.write_text(text + prefix + "\n".join(missing) + "\n")
    return f".gitignore: {', '.join(missing) if missing else 'already ignores'} " \
        "fedbuild's state and outputs"


class InitCommand(Command):
    """`doit init`."""

    name = "init"
    doc_purpose = "start fedbuild here: modules.json, the pyproject.toml loader, .gitignore"
    doc_usage = ""
    doc_description = ("Finds project folders (package.json, Cargo.toml, CMakeLists.txt, "
                       "pyproject.toml, a Hugo site, an ESP-IDF project) and lists each as a "
                       "module; with none, adds one example site module. Refuses to overwrite "
                       "an existing modules.json.")

    def execute(self, params: Any, args: list[str]) -> int:
        """Write the files; 3 with one line when modules.json exists."""
        root = Path.cwd()
        target = root / MANIFEST_FILE
        if os.path.lexists(target):
            sys.stderr.write(f"ERROR: {target} already exists; doit init never overwrites it "
                             "(edit it, or remove it to start again)\n")
            return 3
        modules = module_entries(root) or [example_site(root)]
        target.write_text(json.dumps(manifest(root, modules), indent=2) + "\n")
        done = [f"{MANIFEST_FILE}: {len(modules)} module(s): " + ", ".join(
            f"{m['name']} ({m.get('toolchain', 'site')})" for m in modules)]
        done += [select_loader(root / "pyproject.toml"), ignore_outputs(root / ".gitignore")]
        sys.stdout.write("".join(f"{line}\n" for line in done) + "next: doit\n")
        return 0
