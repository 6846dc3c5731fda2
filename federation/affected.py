"""Which modules a change touches: each module's inputs in two trees, compared.

A module's inputs are what its builds read and what decides their result besides those
files: the input files of each of its tasks (the same lists the tasks' `file_dep` are
made of: resolve_step's for a site, each step's `inputs`), each task's signature (commands,
env, ...: where a toolchain YAML's change shows), and its manifest entry. A module is
affected when any of these differs between the base and the head tree, or one of its input
files is among the paths changed between them; then so is everything depending on it.
A change to the `federation` settings affects every module. Pure: it reads files and
plans; it runs nothing (tasks/changes.py asks git).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.state import State
from federation.graph import dependents
from federation.loader import Project, load_project
from federation.platforms import host
from federation.steps import plan_steps, resolve_step

ROOT = "{root}"  # the repository's place, in signatures (the two trees are in two places)


@dataclass(frozen=True)
class ModuleInputs:
    """What one module's builds read and what decides them, in one tree."""

    name: str
    folder: str | None  # the local source folder, relative to the repository
    site: bool
    depends_on: tuple[str, ...]
    entry: str  # the manifest entry, as JSON (tags left out: labels only)
    files: frozenset[str]  # input files, relative to the repository
    signatures: Mapping[str, str]  # task -> its signature fields, as JSON


@dataclass(frozen=True)
class Tree:
    """Every module's inputs in one tree, and the federation settings."""

    modules: Mapping[str, ModuleInputs]
    federation: str  # the `federation` settings, as JSON


@dataclass
class Affected:
    """What a change between two trees touches."""

    modules: dict[str, list[str]] = field(default_factory=dict)  # name -> why, in order
    removed: dict[str, str | None] = field(default_factory=dict)  # name -> renamed to
    sites: frozenset[str] = frozenset()  # the head's site modules (federate publishes them)


def read_tree(root: Path, mode: str) -> Tree:
    """The inputs of every module of the repository at `root` (its manifest as it is there)."""
    project = load_project(root)
    state = State(root)
    steps = plan_steps(project, state, project.toolchains, mode, host())
    sites = {step.module for step in steps.steps if step.site is not None}
    files: dict[str, set[str]] = {m.name: set() for m in project.manifest.modules}
    signatures: dict[str, dict[str, str]] = {m.name: {} for m in project.manifest.modules}
    for step in steps.steps:
        if step.site is not None and step.site.git is None:
            files[step.module].update(resolve_step(step).inputs)
        files[step.module].update(step.inputs)
        signatures[step.module][step.task] = _json(step.signature(), root)
    return Tree({m.name: ModuleInputs(
        name=m.name, folder=_folder(project, m), site=m.name in sites,
        depends_on=tuple(m.depends_on),
        entry=_json(m.model_dump(mode="json", by_alias=True, exclude={"tags"}), root),
        files=frozenset(files[m.name]), signatures=signatures[m.name])
        for m in project.manifest.modules},
        _json(project.manifest.federation.model_dump(mode="json", by_alias=True), root))


def affected(base: Tree, head: Tree, changed: Iterable[str]) -> Affected:
    """The modules of `head` whose inputs differ from `base`'s or include a `changed` path
    (relative to the repository), with everything depending on them; and the modules of
    `base` that `head` no longer has (renamed: the head module with the same folder)."""
    changed = frozenset(changed)
    found = Affected(sites=frozenset(m.name for m in head.modules.values() if m.site))
    for name, now in head.modules.items():
        reasons = _reasons(base.modules.get(name), now, changed)
        if base.federation != head.federation:
            reasons.append("the federation settings changed (they apply to every module)")
        if reasons:
            found.modules[name] = reasons
    _add_dependents(head, found)
    folders = {m.folder: m.name for m in head.modules.values() if m.folder is not None}
    for name, before in base.modules.items():
        if name not in head.modules:
            renamed = folders.get(before.folder) if before.folder is not None else None
            found.removed[name] = renamed if renamed not in base.modules else None
    return found


def _reasons(before: ModuleInputs | None, now: ModuleInputs, changed: frozenset[str]
             ) -> list[str]:
    """Why one module is affected (none: it is not)."""
    if before is None:
        return ["a new module"]
    reasons = [f"input changed: {p}" for p in sorted(now.files & before.files & changed)]
    reasons += [f"input added: {p}" for p in sorted(now.files - before.files)]
    reasons += [f"input removed: {p}" for p in sorted(before.files - now.files)]
    if now.entry != before.entry:
        reasons.append("its entry in modules.json changed")
    for task in sorted(set(now.signatures) | set(before.signatures)):
        if now.signatures.get(task) != before.signatures.get(task):
            what = ("added" if task not in before.signatures else "removed"
                    if task not in now.signatures else "signature changed")
            reasons.append(f"task {task} {what} (its commands, environment or toolchain)")
    return reasons


def _add_dependents(head: Tree, found: Affected) -> None:
    """Every module depending on an affected one, transitively (manifest order), with the
    dependency that makes it affected."""
    reached = dependents({m.name: m.depends_on for m in head.modules.values()},
                         found.modules)
    for name, module in head.modules.items():
        if name in reached and name not in found.modules:
            cause = next(d for d in module.depends_on if d in reached)
            found.modules[name] = [f"it depends on {cause}, which is affected"]


def _folder(project: Project, module: Any) -> str | None:
    if not module.source.is_local:
        return None
    try:
        return project.local_dir(module).relative_to(project.root.resolve()).as_posix()
    except ValueError:
        return None


def _json(value: Any, root: Path) -> str:
    """`value` as JSON with the repository's place written as {root}."""
    text = json.dumps(value, sort_keys=True, default=str)
    for place in sorted({str(root), str(root.resolve())}, key=len, reverse=True):
        text = text.replace(json.dumps(place)[1:-1], ROOT)
    return text
