"""`doit explain TASK`: why TASK would run in the next `doit` (same mode), in words.

It asks doit's dependency manager what `doit` itself would ask (`get_status`,
with every reason logged) and translates each reason: an input file added,
removed or changed, a signature field changed from what to what, an output
missing, an up-to-date check that is always false, a dependency that will run
first. What a task depends on is explained first, as doit runs it first.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doit.exceptions import InvalidCommand
from doit.task import result_dep

from core.outcome import SUCCEEDED
from core.state import State
from federation.loader import Project, load_project, source_resolved
from tasks import doit_compat
from tasks.commands.base import FedbuildCommand
from tasks.config import run_mode
from tasks.federate import PublishedCurrent
from tasks.needs import needs
from tasks.signature import FieldChange, Signature
from tasks.sites import BranchUnmoved, StagedOutputIntact

WILL_RUN, MAY_RUN, UP_TO_DATE, IGNORED = "will run", "may run", "is up to date", "is ignored"
_SHOWN_VALUE = 120  # characters of a signature value shown before eliding


@dataclass
class Verdict:
    """What the next run does with one task, and why."""

    task: str
    reasons: list[str] = field(default_factory=list)  # its own: it will run
    first: list[tuple[Verdict, bool]] = field(default_factory=list)  # deps that run, result_dep?
    ignored: bool = False

    @property
    def state(self) -> str:
        """will run, may run (only after what it needs runs), is up to date, is ignored."""
        if self.ignored:
            return IGNORED
        if self.reasons:
            return WILL_RUN
        return MAY_RUN if self.first else UP_TO_DATE

    def cause(self) -> str:
        """The first reason, followed down to its root: for a line about a dependent."""
        if self.reasons:
            more = len(self.reasons) - 1
            return self.reasons[0] + (f" and {more} more reason{'s' * (more > 1)}" if more else "")
        return ", ".join(f"{dep.task} {dep.state}: {dep.cause()}" for dep, _ in self.first[:1])


class Explainer:
    """Verdicts on tasks, each computed once, dependencies first."""

    def __init__(self, dep_manager: Any, tasks: dict[str, Any], root: Path, mode: str,
                 project: Project | None = None) -> None:
        self.dep_manager = dep_manager
        self.project = project  # the loaded manifest: where each module's source resolved
        self.tasks = tasks
        self.root = root
        self.mode = mode  # each mode has its own state: what ran in another one does not count
        self._verdicts: dict[str, Verdict] = {}

    def verdict(self, name: str) -> Verdict:
        """Why `name` will run, may run or is up to date."""
        if name not in self._verdicts:
            task = self.tasks[name]
            verdict = self._verdicts[name] = Verdict(name)  # a cycle ends here
            # Asked first: any read of a task's state (ignore, get_status) caches an entry.
            recorded = doit_compat.recorded(self.dep_manager, name)
            results = {u.dep_name for u, _, _ in task.uptodate if isinstance(u, result_dep)}
            for dep in sorted(needs(self.tasks, name)):
                before = self.verdict(dep)
                if before.state in (WILL_RUN, MAY_RUN):
                    verdict.first.append((before, dep in results))
            if self.dep_manager.status_is_ignore(task):
                verdict.ignored = True
            elif not recorded and task.actions:
                always = [line for check, _, _ in task.uptodate if check is False
                          for line in self._uptodate(task, check, {})]
                verdict.reasons = [f"never built in {self.mode} mode: no successful run "
                                   "is recorded", *always]
            elif task.actions:
                verdict.reasons = self._reasons(task)
        return self._verdicts[name]

    def _reasons(self, task: Any) -> list[str]:
        for calc in sorted(task.calc_dep):  # doit adds what they computed before it checks
            task.update_deps(self.dep_manager.get_values(calc))
        values = self.dep_manager.get_values(task.name)
        status = self.dep_manager.get_status(task, self.tasks, get_log=True)
        if status.status == "up-to-date":
            return []
        reasons = status.reasons
        lines = [f"input removed: {p}" for p in reasons.get("removed_file_dep", [])]
        added = reasons.get("added_file_dep", [])
        lines += [f"input added: {p}" for p in added]
        lines += [f"input changed: {p}" for p in reasons.get("changed_file_dep", [])
                  if p not in added]
        lines += [f"input missing: {p} (an input that does not exist: the run stops with an "
                  "error)" for p in reasons.get("missing_file_dep", [])]
        missing = [self._shown(t) for t in reasons.get("missing_target", [])]
        lines += [f"output missing: {p}" for p in missing]
        for check, _, _ in reasons.get("uptodate_false", []):
            if isinstance(check, Signature):
                lines += self._signature(check, values, set(missing))
            else:
                lines += self._uptodate(task, check, values)
        if reasons.get("checker_changed"):
            old, new = reasons["checker_changed"]
            lines.append(f"doit's file checker changed from {old} to {new}")
        if reasons.get("has_no_dependencies"):
            lines.append("it has no inputs and no up-to-date check: it runs every time")
        return lines or ["doit finds it out of date (a check without words for it here)"]

    def _uptodate(self, task: Any, check: Any, values: dict[str, Any]) -> list[str]:
        """Words for one up-to-date check that said no."""
        if isinstance(check, result_dep):
            return [f"{check.dep_name}, which it depends on, has another result than when "
                    f"{task.name} last ran (it was rebuilt since)"]
        if isinstance(check, StagedOutputIntact):
            if values.get("outcome") not in SUCCEEDED:
                return [f"its last build failed ({values.get('outcome')}, tolerated by "
                        "skip_on_error): it is built again"]
            if check.staged.exists():
                return [f"its output {self._shown(str(check.staged))} was changed since it "
                        "was built"]
            return []  # reported as a missing output
        if isinstance(check, BranchUnmoved):
            return ["the remote branch head moved since the last fetch (or nothing was "
                    "fetched yet)"]
        if isinstance(check, PublishedCurrent):
            return ["a module's build, the federation settings or the published tree changed "
                    "since it last published"]
        if check is False:
            skipped = skip_reason(task)
            if skipped is not None:
                return [f"skipped on this machine, and reported on every run: {skipped}"]
            return [f"runs on every build (its up-to-date check is always false): "
                    f"{task.doc or ''}".rstrip(": ")]
        return [f"its up-to-date check {check!r} says it is not up to date"]

    def _signature(self, check: Signature, values: dict[str, Any], reported: set[str]
                   ) -> list[str]:
        """Words for a signature that changed; outputs in `reported` are already named."""
        gone = [self._shown(p) for p in check.gone(values)]
        lines = [f"output missing: {p} (it existed after the last build)"
                 for p in gone if p not in reported]
        lines += [_change(c) for c in check.changes(values)]
        if not lines and not gone:
            lines.append("its signature was recorded by an older fedbuild: it runs once to "
                         "record the new one")
        return lines

    def source(self, name: str) -> list[str]:
        """`  source: WHERE` for a task of a module (`build:web`): where its source resolved."""
        module = name.partition(":")[2]
        if self.project is None or module not in {m.name for m in self.project.manifest.modules}:
            return []
        where = source_resolved(self.project, self.project.module(module),
                                State(self.root).clone(module))
        return [f"  source: {where}"]

    def _shown(self, path: str) -> str:
        if os.path.isabs(path):
            relative = os.path.relpath(path, self.root)
            return path if relative.startswith("..") else relative
        return path


def skip_reason(task: Any) -> str | None:
    """Why a step does not run on this machine (its doc says `[skipped here: why]`), or None."""
    doc = task.doc or ""
    if "[skipped here: " not in doc:
        return None
    return doc.split("[skipped here: ", 1)[1].rstrip("]")


def _change(change: FieldChange) -> str:
    if change.added:
        return f"signature field {change.field} added: {_value(change.new)}"
    if change.removed:
        return f"signature field {change.field} removed (it was {_value(change.old)})"
    return (f"signature field {change.field} changed from {_value(change.old)} "
            f"to {_value(change.new)}")


def _value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= _SHOWN_VALUE else text[:_SHOWN_VALUE - 1] + "…"


def explanation(explainer: Explainer, name: str, mode: str) -> list[str]:
    """The lines `doit explain` prints for one task (a group: for each task it gathers)."""
    task = explainer.tasks[name]
    if not task.actions and task.task_dep:
        members = sorted(needs(explainer.tasks, name))
        lines = [f"{name} gathers {len(members)} tasks ({mode} mode):"]
        for member in members:
            lines += ["", *explanation(explainer, member, mode)]
        return lines
    verdict = explainer.verdict(name)
    source = explainer.source(name)
    if verdict.state == IGNORED:
        return [f"{name} is ignored (`doit ignore`): it does not run until `doit forget {name}`",
                *source]
    if verdict.state == UP_TO_DATE:
        return [f"{name} is up to date ({mode} mode)", *source]
    if verdict.state == MAY_RUN:
        lines = [f"{name} may run ({mode} mode): it is up to date itself, but what it needs "
                 "runs first:"]
    else:
        lines = [f"{name} will run ({mode} mode):"]
    lines += source
    lines += [f"  - {reason}" for reason in verdict.reasons]
    for dep, result in verdict.first:
        if verdict.reasons:
            lines.append(f"  - before it, {dep.task} {dep.state} ({dep.cause()})")
        else:
            after = (f"{name} runs again if its result changes" if result
                     else f"{name} is checked again once it has run")
            lines.append(f"  - {dep.task} {dep.state} ({dep.cause()}): {after}")
    return lines


class ExplainCommand(FedbuildCommand):
    """`doit explain TASK`."""

    name = "explain"
    doc_purpose = "say, in words, why a task will run in the next `doit`, or that it is up to date"
    doc_usage = "TASK [mode=MODE]"
    doc_description = ("Names each input file added, removed or changed, each signature field "
                       "changed (from what to what), each missing output, and what the task "
                       "needs that will run first.")

    def _execute(self, pos_args: list[str]) -> int:
        if len(pos_args) != 1:
            raise InvalidCommand("`doit explain` takes one task name: doit explain TASK "
                                 "(see `doit list`)")
        tasks = {task.name: task for task in self.task_list}
        name = pos_args[0]
        if name not in tasks:
            raise InvalidCommand(f"'{name}' is not a task (see `doit list`)")
        mode = run_mode()
        explainer = Explainer(self.dep_manager, tasks, Path.cwd(), mode,
                              load_project(Path.cwd()))
        self.outstream.write("\n".join(explanation(explainer, name, mode)) + "\n")
        return 0
