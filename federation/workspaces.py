"""Modules read from the package managers' workspaces: npm, pnpm, Cargo and uv.

Each workspace package becomes a module (npm and pnpm packages with the npm toolchain,
Cargo members with cargo, uv members with python), named after its package (an npm scope
and characters a module name cannot hold are dropped); what a package depends on inside
the workspace becomes its `depends_on`: an npm `dependencies` (dev, peer, optional) entry
naming a workspace package (`workspace:*`, a version, or `file:../x`), a Cargo path
dependency (also through `[workspace.dependencies]`), a uv dependency whose
`[tool.uv.sources]` entry says `workspace = true`. Only the files are read: no package
manager needs to be installed.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ManifestError
from federation.manifest import WORKSPACE_KINDS, Manifest, Module, display_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

TOOLCHAINS = {"npm": "npm", "pnpm": "npm", "cargo": "cargo", "uv": "python"}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_JS_DEPS = ("dependencies", "devDependencies", "peerDependencies", "optionalDependencies")
_CARGO_DEPS = ("dependencies", "dev-dependencies", "build-dependencies")


@dataclass(frozen=True)
class Package:
    """One workspace package: its folder (relative to the repository), names, dependencies."""

    kind: str
    folder: str
    package: str  # the package manager's name for it
    depends: tuple[str, ...]  # package names or folders (relative) it depends on


def with_discovered(manifest: Manifest, root: Path, label: str) -> Manifest:
    """The manifest with the modules its `discover` finds (every kind when it lists no
    `modules`) after its own; an own entry wins over a discovered one of the same name."""
    kinds: list[str] = list(manifest.discover or [])
    if manifest.discover is None and "modules" not in manifest.model_fields_set:
        kinds = list(WORKSPACE_KINDS)
    if not kinds:
        return manifest
    own = {m.name for m in manifest.modules}
    found = [e for e in discover(root, kinds) if e["name"] not in own]
    names = own | {e["name"] for e in found}
    modules = [*manifest.modules, *(Module.model_validate(
        {**e, "depends_on": [d for d in e["depends_on"] if d in names]}) for e in found)]
    if not modules:
        raise ManifestError(label, "modules", "none listed, and no workspace found here ("
                            f"{', '.join(kinds)}); list the modules, or check the workspace "
                            "files (package.json, pnpm-workspace.yaml, Cargo.toml, "
                            "pyproject.toml)")
    return manifest.model_copy(update={"modules": modules})


def discover(root: Path, kinds: Iterable[str]) -> list[dict[str, Any]]:
    """The module entries (modules.json's shape) of every package of the workspaces of
    `kinds` found at `root`, in kind order, then folder order."""
    packages = [p for kind in kinds for p in _READERS[kind](root)]
    names = _module_names(packages)
    by_package = {(p.kind in ("npm", "pnpm"), p.package): names[p.folder] for p in packages}
    by_folder = {p.folder: names[p.folder] for p in packages}
    entries = []
    for p in packages:
        js = p.kind in ("npm", "pnpm")
        deps = [by_package.get((js, d)) or by_folder.get(d) for d in p.depends]
        entries.append({
            "name": names[p.folder], "source": {"repository": "local", "path": p.folder},
            "toolchain": TOOLCHAINS[p.kind],
            "depends_on": sorted({d for d in deps if d and d != names[p.folder]})})
    return entries


def _module_names(packages: list[Package]) -> dict[str, str]:
    """A unique module name per package folder."""
    names: dict[str, str] = {}
    taken: set[str] = set()
    for p in packages:
        base = p.package.rsplit("/", 1)[-1]
        base = re.sub(r"[^A-Za-z0-9._-]", "-", base).lstrip("._-")[:64]
        if not _NAME.fullmatch(base):
            base = re.sub(r"[^A-Za-z0-9._-]", "-", Path(p.folder).name).lstrip("._-") or "pkg"
        name, n = base, 2
        while name in taken:
            name, n = f"{base}-{n}", n + 1
        taken.add(name)
        names[p.folder] = name
    return names


def _members(root: Path, patterns: Iterable[str], marker: str,
             exclude: Iterable[str] = ()) -> list[str]:
    """The folders (relative, POSIX) the workspace globs match that hold `marker`; `!glob`
    patterns and `exclude` leave folders out."""
    found: set[str] = set()
    dropped: set[str] = set()
    for pattern in patterns:
        target = dropped if pattern.startswith("!") else found
        for folder in root.glob(pattern.lstrip("!").rstrip("/")):
            if (folder / marker).is_file() and "node_modules" not in folder.parts:
                target.add(folder.relative_to(root).as_posix())
    for pattern in exclude:
        dropped |= {f.relative_to(root).as_posix() for f in root.glob(pattern)}
    return sorted(f for f in found - dropped if f != ".")


def _npm(root: Path) -> list[Package]:
    data = _json(root / "package.json")
    spaces = data.get("workspaces") if isinstance(data, dict) else None
    if isinstance(spaces, dict):
        spaces = spaces.get("packages")
    return list(_js_packages(root, "npm", spaces if isinstance(spaces, list) else []))


def _pnpm(root: Path) -> list[Package]:
    path = root / "pnpm-workspace.yaml"
    if not path.is_file():
        return []
    import yaml  # only for a pnpm workspace

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise ManifestError(display_path(path), "", f"unreadable: {err}") from None
    patterns = data.get("packages") if isinstance(data, dict) else None
    return list(_js_packages(root, "pnpm", patterns if isinstance(patterns, list) else []))


def _js_packages(root: Path, kind: str, patterns: list[Any]) -> Iterator[Package]:
    for folder in _members(root, [str(p) for p in patterns], "package.json"):
        data = _json(root / folder / "package.json")
        name = str(data.get("name") or Path(folder).name)
        depends = []
        for field in _JS_DEPS:
            for dep, spec in (data.get(field) or {}).items():
                spec = str(spec)
                if spec.startswith(("file:", "link:")):
                    depends.append(_relative(root, root / folder / spec.split(":", 1)[1]))
                depends.append(str(dep))
        yield Package(kind, folder, name, tuple(depends))


def _cargo(root: Path) -> list[Package]:
    data = _toml(root / "Cargo.toml")
    space = data.get("workspace")
    if not isinstance(space, dict):
        return []
    shared = space.get("dependencies") or {}
    packages = []
    for folder in _members(root, space.get("members") or [], "Cargo.toml",
                           space.get("exclude") or []):
        member = _toml(root / folder / "Cargo.toml")
        name = str((member.get("package") or {}).get("name") or Path(folder).name)
        depends = []
        for field in _CARGO_DEPS:
            for dep, spec in (member.get(field) or {}).items():
                if isinstance(spec, dict) and spec.get("workspace") is True:
                    spec, base = shared.get(dep), root
                else:
                    base = root / folder
                if isinstance(spec, dict) and "path" in spec:
                    depends.append(_relative(root, base / str(spec["path"])))
        packages.append(Package("cargo", folder, name, tuple(depends)))
    return packages


def _uv(root: Path) -> list[Package]:
    data = _toml(root / "pyproject.toml")
    space = ((data.get("tool") or {}).get("uv") or {}).get("workspace")
    if not isinstance(space, dict):
        return []
    packages = []
    for folder in _members(root, space.get("members") or [], "pyproject.toml",
                           space.get("exclude") or []):
        member = _toml(root / folder / "pyproject.toml")
        project = member.get("project") or {}
        sources = ((member.get("tool") or {}).get("uv") or {}).get("sources") or {}
        wanted = {_pep503(re.split(r"[\s<>=!~;\[(@]", str(d), maxsplit=1)[0])
                  for d in project.get("dependencies") or []}
        depends = [_pep503(n) for n, s in sources.items()
                   if isinstance(s, dict) and s.get("workspace") is True
                   and _pep503(n) in wanted]
        name = _pep503(str(project.get("name") or Path(folder).name))
        packages.append(Package("uv", folder, name, tuple(depends)))
    return packages


def _pep503(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _relative(root: Path, path: Path) -> str:
    return Path(os.path.normpath(path)).relative_to(root).as_posix() \
        if Path(os.path.normpath(path)).is_relative_to(root) else str(path)


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(display_path(path), "", f"unreadable: {err}") from None
    return data if isinstance(data, dict) else {}


def _toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ManifestError(display_path(path), "", f"unreadable: {err}") from None


_READERS = {"npm": _npm, "pnpm": _pnpm, "cargo": _cargo, "uv": _uv}
