"""Tasks for build.sh site modules: `fetch:<module>` for git sources, `build:<module>`.

The generators only describe (they yield doit task dicts); the actions below
run when doit decides a task is not up to date. A site build is the build.sh toolchain's
build step (federation/plan.py `site_step`), run through the one pipeline of every step
(tasks/steps.py `execute`).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed
from doit.tools import result_dep

from core.digests import stat_fingerprint
from core.errors import ManifestError
from core.outcome import SUCCEEDED, Outcome, Status
from core.state import State
from federation.inputs import GitIgnores, files_under
from federation.loader import Project
from federation.plan import ResolvedSite, SiteBuild, Walk, resolve_site, site_step
from federation.script_options import script_options, unsupported
from federation.sources import SourceError
from tasks import doit_compat
from tasks.clean import CLEAN, clean_paths
from tasks.doit_compat import AFTER_FAILURES
from tasks.returned import result, returned
from tasks.signature import Signature, UptodateCheck
from tasks.steps import execute, register_tool, tool_version

TaskDict = dict[str, Any]


def with_script_options(project: Project, state: State,
                        sites: list[SiteBuild]) -> list[SiteBuild]:
    """The site builds passing only the options their build script accepts (learned once
    per script digest, federation/script_options.py), after one warning line on stderr per
    override it does not accept (and one for a --help that failed)."""
    keep = not doit_compat.reads_only(doit_compat.loading_command())
    options = script_options(project, state, keep) if sites else None
    if options is None:
        return sites
    for line in ([f"WARNING: {options.failure}"] if options.failure else []) + \
            unsupported(project, options):
        print(line, file=sys.stderr)
    return [dataclasses.replace(site, options=options.accepted) for site in sites]


def fetch_tasks(sites: list[SiteBuild]) -> Iterator[TaskDict]:
    """A `fetch:<module>` task per git-sourced module: clone, or refresh when the branch moved."""
    for site in sites:
        if site.git is None:
            continue
        # No `targets`: the head stamp would make doit add an implicit task_dep beside the
        # build's calc_dep, and doit 0.37 deadlocks on a task that is both (BranchUnmoved
        # checks the stamp instead).
        yield {
            "basename": f"fetch:{site.name}",
            "doc": f"clone {site.git.url} ({site.git.branch}) for {site.name}; "
                   "refreshed when the branch head moves",
            "actions": [(fetch_source, [site])],
            "uptodate": [BranchUnmoved(site)],
            "clean": [(clean_paths, [[site.git.clone, site.git.head_file], site.root])],
            "meta": {CLEAN: True},
        }


def build_tasks(sites: list[SiteBuild]) -> Iterator[TaskDict]:
    """A `build:<module>` subtask per site module, highest priority first."""
    ignores = GitIgnores()  # each .gitignore read once per load
    # Shared asset folders are listed once per load.
    walk = functools.cache(functools.partial(files_under, ignores=ignores))
    # The group task `build` only gathers its subtasks: a failed one is reported once,
    # by itself, and the run ends "failed" (exit 1), not "dependency error" (exit 2).
    yield {"name": None, "meta": {AFTER_FAILURES: True},
           "doc": "build every module (build:<module> for one, with what it depends on)"}
    for site in sites:
        yield _build_task(site, walk)


def _build_task(site: SiteBuild, walk: Walk) -> TaskDict:
    register_tool(site.task, site.tool)
    file_dep = [site.script]
    calc_dep: list[str] = []
    task_dep = [f"build:{dep}" for dep in site.depends_on]
    if site.git is None:
        file_dep += resolve_site(site, walk).inputs
        where = _relative(site.folder, site.root)
    else:
        file_dep.append(str(site.git.head_file))
        # calc_dep alone orders the fetch first: doit 0.37 hangs when a task is
        # both a calc_dep and a task_dep of the same task.
        calc_dep.append(f"fetch:{site.name}")
        where = f"{site.git.url}@{site.git.branch}"
    return {
        "name": site.name,
        "doc": f"build.sh site {where} -> {_relative(site.staged, site.root)}",
        "actions": [(build_site, [site]), (result, [])],
        "file_dep": sorted(set(file_dep)),
        "calc_dep": calc_dep,
        "task_dep": task_dep,
        "targets": [str(site.staged)],
        "uptodate": [Signature(functools.partial(site_fields, site)),
                     StagedOutputIntact(site.staged),
                     *(result_dep(f"build:{dep}") for dep in site.depends_on)],
        "clean": [(clean_paths, [[site.staged], site.root])],
        "meta": {CLEAN: True},
    }


def cache_fields(site: SiteBuild, resolved: ResolvedSite) -> list[Any]:
    """What the build's cache key covers besides its input files (`doit plan` shows it)."""
    commit = site.git.recorded_head() if site.git else None
    return [site_fields(site), resolved.argv, commit]


def site_fields(site: SiteBuild) -> dict[str, Any]:
    """The build's signature with the version of the site builder the script runs (Hugo)."""
    return {**site.signature(), "tool": tool_version(site.tool, site.root)}


def _relative(path: Path, root: Path) -> str:
    return os.path.relpath(path, root)


class StagedOutputIntact(UptodateCheck):
    """Up to date only if the last build succeeded and its output was not touched since."""

    def __init__(self, staged: Path) -> None:
        self.staged = staged

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        return (values.get("outcome") in SUCCEEDED
                and values.get("stat") == stat_fingerprint(self.staged))


class BranchUnmoved:
    """Up to date while the clone is at the remote branch's head (or the remote is unreachable)."""

    def __init__(self, site: SiteBuild) -> None:
        assert site.git is not None
        self.git = site.git

    def __call__(self) -> bool:
        recorded = self.git.recorded_head()
        if recorded is None:
            return False
        # Offline, or the branch is gone: keep building from the clone we have.
        remote = self.git.remote_head()
        return remote is None or remote == recorded


def fetch_source(site: SiteBuild) -> dict[str, Any] | TaskFailed:
    """Clone or refresh a git source; tell doit which files the build then reads."""
    assert site.git is not None
    try:
        commit = site.git.sync()
    except SourceError as err:
        return TaskFailed(str(err))
    try:
        inputs = resolve_site(site).inputs
    except ManifestError as err:
        site.git.record(None)  # so the next run fetches again and reports this again
        return TaskFailed(str(err))
    return {"commit": commit, "file_dep": list(inputs)}


def build_site(site: SiteBuild) -> dict[str, Any] | TaskFailed:
    """Read the module's module.json, then run its build as every action plan runs
    (tasks/steps.py `execute`): published to .fedbuild/staging/<module>/ only if it
    succeeded."""
    started = time.monotonic()
    try:
        resolved = resolve_site(site)
    except ManifestError as err:
        return _returned(site, Outcome(
            task=site.task, status=Status.FAILED, duration=time.monotonic() - started,
            log=str(site.log), tolerated=site.skip_on_error, message=str(err)))
    if resolved.config is not None:
        write_config_copy(*resolved.config)
    fields = cache_fields(site, resolved)
    return _returned(site, execute(site_step(site, resolved, fields), None, started))


def write_config_copy(path: Path, text: str) -> None:
    """The copy of a module's config its build reads (overrides its script has no option
    for), rewritten only when it differs, so its timestamp says when it last changed."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _returned(site: SiteBuild, outcome: Outcome) -> dict[str, Any] | TaskFailed:
    """The build's values: its status and, built or restored, what StagedOutputIntact and
    its dependents compare (the staged folder's stats, its digest)."""
    values: dict[str, Any] = {"outcome": outcome.status.value}
    if outcome.status.succeeded:
        values.update(stat=stat_fingerprint(site.staged), digest=outcome.output_digest)
    return returned(outcome, site.outcome, values)
