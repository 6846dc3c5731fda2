"""The loaded project and its plan, kept between runs while nothing they came from changed.

A no-op run of a large monorepo spent most of its time redoing what the run before knew:
validating modules.json and every module.json, resolving folders, listing every module's
files. The first run keeps what it made (the validated project, the steps, the federate
plan, every local site build's argv and inputs, the override warnings) in
.fedbuild/plan.snapshot, keyed (core/stat_key.py) by the stat signature of every file it
read (modules.json, the repository's toolchain files, each module.json, the build script),
of every folder whose listing it used (a file added or removed changes its folder's mtime;
an edited input is doit's own `file_dep` check) and by what every path it looked up was (a
folder or a link, where it led). The header adds what is not on disk: fedbuild's own files,
the Python, doit and pydantic versions, the repository, the working folder and the
command-line variables. Any difference, or a damaged file, and the run loads and plans
everything as before, then keeps the new result.

Kept only for a plan of site builds alone: any other step (a toolchain module's, a site
module's own steps) looks at files of its own (conditions, globs, digests of installed
packages), so such a plan, a manifest that discovers workspace packages, a site module with
`inputs` globs (the folders a glob walks are not recorded) and a site toolchain whose argv
holds a digest placeholder are planned by every run.
A command that only reads (`doit list`, `doit info`) uses a kept plan but writes none.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core import stat_key
from core.state import STATE_DIR, State
from federation.inputs import GitIgnores, files_under
from federation.loader import Project, load_project
from federation.plan import FederationPlan, plan_federation
from federation.platforms import host
from federation.sites import ResolvedSite, Site
from federation.steps import DIGESTS, SITE_TOOLCHAIN, StepsPlan, plan_steps, resolve_step
from federation.toolchains import REPOSITORY_DIR
from tasks import doit_compat, sites
from tasks.command_line import given_variables

FILE = "plan.snapshot"
_FORMAT = 1
FEDBUILD = Path(__file__).resolve().parent.parent
# fedbuild's own files that decide a plan (its code, shipped toolchains and defaults).
_CODE = ("dodo.py", "core", "federation", "tasks")


@dataclass(frozen=True)
class Loaded:
    """What dodo.py needs of the manifest before it yields its tasks."""

    project: Project
    steps: StepsPlan  # site builds passing the options their build script accepts
    federation: FederationPlan
    resolved: dict[str, ResolvedSite]  # each local site build's argv and inputs, by task
    warnings: list[str] = field(default_factory=list)  # said on every load
    kept: bool = False  # read from the snapshot


def loaded(root: Path, mode: str) -> Loaded:
    """The project and its plan for `mode`: kept from an earlier run when nothing it
    depends on changed, else loaded and planned now (and kept, unless the command only
    reads)."""
    file = root / STATE_DIR / FILE
    head = header(root, mode)
    kept = stat_key.load(file, head)
    if isinstance(kept, Loaded):
        for line in kept.warnings:
            print(line, file=sys.stderr)
        return kept
    started = time.time_ns()
    made, key = fresh(root, mode)
    writes = not doit_compat.reads_only(doit_compat.loading_command())
    if writes and key is not None and not key.racy(started):
        stat_key.save(file, head, key, dataclasses.replace(made, kept=True))
    return made


def fresh(root: Path, mode: str) -> tuple[Loaded, stat_key.StatKey | None]:
    """Load and plan now; with the key of what that read (None: not to be kept)."""
    project = load_project(root)
    state = State(root, project.read_only_sources)
    planned = plan_steps(project, state, project.toolchains, mode, host())
    federation = plan_federation(project, state, planned.steps)
    # After every check of the load: the build script's options (declared, or its --help).
    steps, warnings = sites.with_script_options(project, state, planned)
    if not _keepable(project, steps):
        return Loaded(project, steps, federation, {}, warnings), None
    ignores = GitIgnores()
    walk = functools.cache(functools.partial(files_under, ignores=ignores))
    resolved = {step.task: resolve_step(step, walk) for step in steps.steps
                if step.site is not None and step.site.git is None}
    made = Loaded(project, steps, federation, resolved, warnings)
    return made, _key(root, made, state, ignores)


def _keepable(project: Project, steps: StepsPlan) -> bool:
    """Whether the plan is one this module knows every file of: site builds alone."""
    manifest = project.manifest
    if manifest.discover is not None or "modules" not in manifest.model_fields_set:
        return False
    if steps.verifies or any(step.site is None or step.site.extra_inputs
                             for step in steps.steps):
        return False
    chain = project.toolchains.get(SITE_TOOLCHAIN)
    text = "" if chain is None else chain.model_dump_json()
    return not any(f"{{{name}}}" in text for name in DIGESTS)


def _key(start: Path, made: Loaded, state: State, ignores: GitIgnores) -> stat_key.StatKey:
    """Every file read, folder listed and path looked up while loading and planning."""
    key = stat_key.StatKey()
    project, root = made.project, made.project.root
    look = functools.partial(key.probe, root=root)
    key.probe(os.path.abspath(start), os.sep)  # as named (through links) and resolved
    key.probe(root, os.sep)
    key.read(project.manifest_file)
    toolchains = root / REPOSITORY_DIR
    look(toolchains)
    if toolchains.is_dir():
        key.read(toolchains)
        for yaml in toolchains.glob("*.yaml"):
            look(yaml)
            key.read(yaml)
    fed = project.manifest.federation
    for value in (fed.build_script, fed.assets_dir):
        look(root / value)
    key.read(root / fed.build_script)
    # Both are made, and the published tree replaced whole, by runs: a new inode each time.
    look(root / fed.output_dir, only_link=True)
    look(state.dir, only_link=True)
    for module in project.manifest.modules:
        if module.source.is_local:
            _module_paths(key, project, module)
    # The files of the repository the site command names: its --help answer's digest.
    for arg in {arg for step in made.steps.steps for arg in step.commands[0]}:
        look(root / arg)
        key.read(root / arg)
    for step in made.steps.steps:
        if step.site is not None and step.task in made.resolved:
            _site_paths(key, step.site, made.resolved[step.task])
    for seen in ignores.seen:
        key.read(seen)
    for looked_up in ignores.looked_up:
        key.probe(looked_up, looked_up)
    return key


def _module_paths(key: stat_key.StatKey, project: Project, module: Any) -> None:
    """A local module's folders, its module.json wherever it may be, its project files."""
    root = project.root
    base = root / (module.source.local_path or ".")
    folder = project.local_dir(module)
    for path in (base, base / module.source.path, folder, folder / module.module_json,
                 base / module.module_json):
        key.probe(path, root)
    for name in project.toolchains[module.toolchain].project_files:
        key.probe(folder / name, root)


def _site_paths(key: stat_key.StatKey, site: Site, resolved: ResolvedSite) -> None:
    """What a local site's argv and inputs were derived from besides its folder listings:
    its module.json, its content folder, the asset folders it may name."""
    key.probe(resolved.module_json, site.root)
    key.read(resolved.module_json)
    key.probe(site.folder / "content", site.root)
    assets = site.root / site.assets_dir
    for kind in ("templates", "themes", "components"):
        key.probe(assets / kind, site.root)
        for name in _named(site, kind):
            key.probe(assets / kind / name, site.root)


def _named(site: Site, kind: str) -> list[str]:
    """The asset folders of a kind the manifest's overrides name (its module.json's are
    read with it)."""
    value = site.overrides.get(kind.removesuffix("s")) if kind != "components" \
        else site.overrides.get("components")
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def header(root: Path, mode: str) -> dict[str, Any]:
    """What a kept plan depends on besides the repository's files."""
    import doit
    import pydantic

    return {"format": _FORMAT, "code": _code_signature(), "python": sys.version,
            "executable": sys.executable, "doit": doit.__version__,
            "pydantic": pydantic.VERSION, "root": str(root), "cwd": os.getcwd(),
            "mode": mode, "host": [host().platform, host().arch],
            "variables": dict(given_variables())}


def _code_signature() -> list[list[Any]]:
    """The stat signature of each of fedbuild's own files (its code, shipped toolchains
    and defaults)."""
    found: list[list[Any]] = []
    stack = [str(FEDBUILD / name) for name in _CODE]
    while stack:
        path = stack.pop()
        signature = stat_key.content(path)
        found.append([path, signature])
        if signature is not None and os.path.isdir(path):
            with os.scandir(path) as entries:
                stack += [e.path for e in entries if e.name != "__pycache__"]
    return sorted(found)
