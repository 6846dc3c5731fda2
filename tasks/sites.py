"""What a site module's build step adds to its task: `fetch:<module>` for a git source.

A site build is the build.sh toolchain's build step, planned (federation/steps.py) and run
(tasks/steps.py `step_task`, `run_step`, `execute`) like every step. What only it has
lives here: the fetch task of a git source, the task fields its module.json decides (its
inputs, read at load for a local source and once fetched for a git one), the check that its
staged output was not touched, its values, and the options its build script accepts.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed

from core.confine import write_whole
from core.digests import noted_fingerprint, stat_fingerprint
from core.errors import ManifestError
from core.outcome import SUCCEEDED, Outcome
from core.state import State
from federation.loader import Project
from federation.script_options import script_options, unsupported
from federation.sites import ResolvedSite, Walk
from federation.sources import SourceError
from federation.steps import StepPlan, StepsPlan, resolve_step
from tasks import doit_compat
from tasks.clean import CLEAN, clean_paths
from tasks.returned import returned
from tasks.signature import UptodateCheck

TaskDict = dict[str, Any]


def with_script_options(project: Project, state: State,
                        plan: StepsPlan) -> tuple[StepsPlan, list[str]]:
    """The plan with its site builds passing only the options their build script accepts
    (learned once per script digest, federation/script_options.py), after one warning line
    on stderr per override it does not accept (and one for a --help that failed); and those
    override warnings, which every load says again."""
    keep = not doit_compat.reads_only(doit_compat.loading_command())
    command = next((step.commands[0] for step in plan.steps if step.site is not None), None)
    options = script_options(project, state, command, keep) if command else None
    if options is None:
        return plan, []
    warnings = unsupported(project, options)
    for line in ([f"WARNING: {options.failure}"] if options.failure else []) + warnings:
        print(line, file=sys.stderr)
    return dataclasses.replace(plan, steps=[
        step if step.site is None else dataclasses.replace(
            step, site=dataclasses.replace(step.site, options=options.accepted))
        for step in plan.steps]), warnings


def fetch_tasks(steps: list[StepPlan]) -> Iterator[TaskDict]:
    """A `fetch:<module>` task per git-sourced site module: clone, or refresh when the branch
    moved."""
    for step in steps:
        git = step.site.git if step.site else None
        if git is None:
            continue
        # No `targets`: the head stamp would make doit add an implicit task_dep beside the
        # build's calc_dep, and doit 0.37 deadlocks on a task that is both (BranchUnmoved
        # checks the stamp instead).
        yield {
            "basename": f"fetch:{step.module}",
            "doc": f"clone {git.url} ({git.branch}) for {step.module}; "
                   "refreshed when the branch head moves",
            "actions": [(fetch_source, [step])],
            "uptodate": [BranchUnmoved(step)],
            "clean": [(clean_paths, [[git.clone, git.head_file], step.root])],
            "meta": {CLEAN: True},
        }


def site_fields(step: StepPlan, walk: Walk, resolved: ResolvedSite | None = None) -> TaskDict:
    """The fields of a site build's task that its module.json decides: what it reads (a git
    source's: its head stamp, then what fetch_source tells doit; a local one's from
    `resolved` when given, tasks/snapshot.py), its description, and the check that its
    staged output is as it left it."""
    site = step.site
    assert site is not None
    file_dep = [site.script]
    calc_dep: list[str] = []
    if site.git is None:
        file_dep += (resolved or resolve_step(step, walk)).inputs
        where = os.path.relpath(site.folder, step.root)
    else:
        file_dep.append(str(site.git.head_file))
        # calc_dep alone orders the fetch first: doit 0.37 hangs when a task is
        # both a calc_dep and a task_dep of the same task.
        calc_dep.append(f"fetch:{step.module}")
        where = f"{site.git.url}@{site.git.branch}"
    return {
        "doc": f"build.sh site {where} -> {os.path.relpath(step.dist, step.root)}",
        "file_dep": sorted(set(file_dep)),
        "calc_dep": calc_dep,
        "uptodate": [StagedOutputIntact(step.dist)],
        "clean": [(clean_paths, [[step.dist], step.root])],
    }


def write_config_copy(path: Path, text: str) -> None:
    """The copy of a module's config its build reads (overrides its script has no option
    for), rewritten only when it differs, so its timestamp says when it last changed."""
    try:
        if path.read_text(encoding="utf-8") == text:
            return
    except OSError:
        pass
    write_whole(path, text.encode("utf-8"))


def site_values(step: StepPlan, outcome: Outcome) -> dict[str, Any] | TaskFailed:
    """A site build's values: its status and, built or restored, what StagedOutputIntact
    and its dependents compare (the staged folder's stats, its digest)."""
    values: dict[str, Any] = {"outcome": outcome.status.value}
    if outcome.status.succeeded:
        values.update(stat=stat_fingerprint(step.dist), digest=outcome.output_digest)
    return returned(outcome, step.outcome, values)


class StagedOutputIntact(UptodateCheck):
    """Up to date only if the last build succeeded and its output was not touched since."""

    def __init__(self, staged: Path) -> None:
        self.staged = staged

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        # noted: federate's check reuses it while nothing rewrote the folder (core/digests.py)
        return (values.get("outcome") in SUCCEEDED
                and values.get("stat") == noted_fingerprint(self.staged))


class BranchUnmoved:
    """Up to date while the clone is at the remote branch's head (or the remote is unreachable)."""

    def __init__(self, step: StepPlan) -> None:
        assert step.site is not None and step.site.git is not None
        self.git = step.site.git

    def __call__(self) -> bool:
        recorded = self.git.recorded_head()
        if recorded is None:
            return False
        # Offline, or the branch is gone: keep building from the clone we have.
        remote = self.git.remote_head()
        return remote is None or remote == recorded


def fetch_source(step: StepPlan) -> dict[str, Any] | TaskFailed:
    """Clone or refresh a git source; tell doit which files the build then reads."""
    git = step.site.git if step.site else None
    assert git is not None
    try:
        commit = git.sync()
    except SourceError as err:
        return TaskFailed(str(err))
    try:
        inputs = resolve_step(step).inputs
    except ManifestError as err:
        git.record(None)  # so the next run fetches again and reports this again
        return TaskFailed(str(err))
    return {"commit": commit, "file_dep": list(inputs)}
