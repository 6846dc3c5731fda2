"""What `doit watch` watches: the files a change to which can make the next build differ.

Worked out from the same plans the build's tasks are made of (federation/plan.py,
federation/steps.py): a site module's inputs (its files, its module.json, the build script,
the templates, themes and components it uses, its `inputs` globs), a step's declared
inputs, and the manifest and repository toolchain files, which change the plan itself. A
file created or removed in a watched module's folder or the assets folder counts too (it
may become an input; the build's own listing decides). Never: fedbuild's state folder, the
published tree and its swap folders, dist/, the steps' outputs, version control and editor
litter, what the repository's .gitignore rules ignore. `select=` and named tasks narrow it
to the modules they build and the modules those depend on.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from core.state import State
from federation.graph import dependencies
from federation.inputs import SKIP_DIRS, GitIgnores, files_under, ignored
from federation.loader import Project, load_project
from federation.plan import plan_federation
from federation.platforms import host
from federation.steps import plan_steps, resolve_step
from federation.toolchains import REPOSITORY_DIR
from tasks.select import selected

DIST_DIR = "dist"


@dataclass(frozen=True)
class WatchSet:
    """The paths a watch reacts to, all absolute."""

    root: Path
    files: frozenset[str]  # inputs: a change to one rebuilds what reads it
    folders: tuple[str, ...]  # a file created below one may be a new input
    plan_files: frozenset[str]  # the manifest, and toolchains/: the plan itself changes
    plan_folders: tuple[str, ...]
    excluded: tuple[str, ...]  # fedbuild's own writes: these paths and what is below them
    swaps: str  # the published tree's swap folders' names start so
    modules: frozenset[str]  # the modules watched
    published: Path  # the folder the federation is published in
    ignores: GitIgnores = field(default_factory=GitIgnores, compare=False, repr=False)

    def triggers(self, path: str, created: bool = False) -> bool:
        """Whether a change to `path` (`created`: it appeared) should start a build."""
        if self.excludes(path):
            return False
        if path in self.files or self.changes_plan(path):
            return True
        # A new file may be a new input; one gone already (an editor's write test) is not.
        return (created and os.path.exists(path) and _below(path, self.folders)
                and not self._ignored(path))

    def changes_plan(self, path: str) -> bool:
        """Whether `path` is the manifest or a toolchain file: the plan must be made anew."""
        return path in self.plan_files or _below(path, self.plan_folders)

    def excludes(self, path: str) -> bool:
        """Whether `path` is fedbuild's own doing, version control or editor litter."""
        name = os.path.basename(path)
        if name.endswith(("~", ".swp", ".swo", ".swx")) or name.startswith(".#"):
            return True
        if path.startswith(self.swaps) or any(
                path == ex or path.startswith(ex + os.sep) for ex in self.excluded):
            return True
        inside = os.path.relpath(path, self.root).split(os.sep)
        return any(part in SKIP_DIRS for part in inside)

    def _ignored(self, path: str) -> bool:
        """Whether the repository's .gitignore rules ignore `path`, as the build's listing of
        a module's files does."""
        rules = self.ignores.above(path)
        return bool(rules) and ignored(rules, path, os.path.isdir(path))


def watch_set(root: Path, tasks: Iterable[str] = (), select: str | None = None,
              mode: str = "development") -> WatchSet:
    """The watch set of a `doit watch` on the repository at `root` (the task names and
    `select=` value of its command line narrow it)."""
    project = load_project(root)
    state = State(root, project.read_only_sources)
    steps = plan_steps(project, state, project.toolchains, mode, host())
    federation = plan_federation(project, state, steps.steps)
    graph = {m.name: list(m.depends_on) for m in project.manifest.modules}
    chosen = _chosen(project, list(tasks), select, graph)
    walk = functools.cache(functools.partial(files_under, ignores=GitIgnores()))
    files: set[str] = set()
    folders: set[Path] = set()
    assets = root / project.manifest.federation.assets_dir
    for step in steps.steps:
        site = step.site
        if site is None or step.module not in chosen or site.git is not None:
            continue
        files.update(_absolute(root, [site.script, *resolve_step(step, walk).inputs]))
        folders.update((site.folder, assets))
    excluded = [state.dir, root / DIST_DIR, federation.output]
    for step in steps.steps:
        excluded.extend(step.outputs)
        if step.module in chosen and step.site is None:  # a site's: its module.json's
            files.update(_absolute(root, step.inputs))
            folders.add(project.local_dir(project.module(step.module)))
    # The published tree is swapped in from a sibling folder named after it (.public.new-*).
    swaps = str(federation.output.parent / f".{federation.output.name}.")
    return WatchSet(
        root=root, files=frozenset(files), folders=tuple(sorted({str(f) for f in folders})),
        plan_files=frozenset({str(project.manifest_file)}),
        plan_folders=(str(root / REPOSITORY_DIR) + os.sep,),
        excluded=tuple(sorted({str(p).rstrip(os.sep) for p in excluded})), swaps=swaps,
        modules=frozenset(chosen), published=federation.output)


def _chosen(project: Project, tasks: list[str], select: str | None,
            graph: dict[str, list[str]]) -> set[str]:
    """The modules the run builds, with what they depend on: those `select=` names, and of
    them those the named tasks name (`build:web`; `federate` or a group such as `build`
    names every module)."""
    chosen = set(graph)
    picked = selected(project, select) if select is not None else None
    if picked is not None:
        chosen &= picked
    named = [task.partition(":")[2] for task in tasks]
    if named and all(named):
        chosen &= set(named)
    return dependencies(graph, chosen) & set(graph)


def _absolute(root: Path, paths: Iterable[str]) -> list[str]:
    return [os.path.normpath(os.path.join(root, p)) for p in paths]


def _below(path: str, folders: Iterable[str]) -> bool:
    return any(path.startswith(f.rstrip(os.sep) + os.sep) for f in folders)
