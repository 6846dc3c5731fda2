"""`doit plan [TASK ...] [select=...] [-n N] [--json]`: what `doit` with the same arguments
would do, without doing it.

Every task the run reaches, dependencies first, with its state (`run`, `run (after
build:docs)`, `cached`, `up to date`, `skipped`, `ignored`), the reasons in `doit explain`'s
words, its cache key, its recorded duration, and the wall time the run would take with the
workers `-n` gives (or the manifest's). `--json` prints the same for tools, in the shape
tasks/commands/plan.schema.json describes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from doit.cmd_run import opt_num_process
from doit.exceptions import InvalidCommand

from core.state import State
from federation.steps import StepPlan
from tasks.cache import runtime
from tasks.cache.actions import key as cache_key
from tasks.command_line import unknown_task
from tasks.commands.base import FedbuildCommand
from tasks.commands.explain import Explainer
from tasks.config import run_mode
from tasks.history import FILE as HISTORY_FILE
from tasks.history import History
from tasks.needs import in_order, needs
from tasks.preview import STATES, Forecast, forecast, wall_time

SCHEMA = Path(__file__).with_name("plan.schema.json")
SCHEMA_VERSION = 1

opt_json = {"name": "as_json", "long": "json", "type": bool, "default": False,
            "help": "print the plan as JSON (tasks/commands/plan.schema.json)"}


class PlanCommand(FedbuildCommand):
    """`doit plan`."""

    name = "plan"
    doc_purpose = "say what `doit` with the same arguments would do, without doing it"
    doc_usage = "[TASK ...] [select=...] [mode=...] [-n N] [--json]"
    doc_description = ("Each task in order with its state (run, run after what it needs, "
                       "cached, up to date, skipped), why, its cache key and recorded "
                       "duration, and the predicted wall time with N workers.")
    cmd_options = (opt_num_process, opt_json)

    def _execute(self, pos_args: list[str], num_process: int = 0, as_json: bool = False
                 ) -> int:
        tasks = {task.name: task for task in self.task_list}
        # What doit's run takes: the names given, else DOIT_CONFIG's default tasks, else all.
        selection = list(pos_args or getattr(self, "sel_tasks", None) or tasks)
        self.check_selection(selection, tasks)
        mode = run_mode()
        root = Path.cwd()
        names = in_order(tasks, selection)
        estimates = History(State(root).dir / HISTORY_FILE).estimates()
        forecasts = forecast(Explainer(self.dep_manager, tasks, root, mode), names,
                             lambda task, runs: cache_state(task, tasks, runs), estimates)
        workers = max(1, num_process)
        wall = wall_time(forecasts, tasks, workers)
        report = plan_report(forecasts, mode, workers, wall)
        text = (_dumps(report) if as_json else "\n".join(describe(report))) + "\n"
        self.outstream.write(text)
        return 0

    def check_selection(self, selection: list[str], tasks: dict[str, Any]) -> None:
        """The same one-line error a run gives for a name that is no task."""
        for name in selection:
            if name not in tasks:
                raise InvalidCommand(unknown_task(name, tasks))


def cache_state(task: Any, tasks: dict[str, Any], runs: set[str]) -> tuple[str | None, bool]:
    """The task's cache key and whether a configured cache holds it; no key when a task it
    needs runs first (what that makes is part of the key) or it is not cacheable."""
    if needs(tasks, task.name) & runs:
        return None, False
    found = _identity(task)
    if found is None:
        return None, False
    name, fields, root, inputs, deps, outputs = found
    key = cache_key(name, fields, root, inputs, deps)
    cache = runtime.current()
    return key, bool(cache is not None and cache.has(key, root, outputs))


def _identity(task: Any) -> tuple[str, Any, Path, Iterable[str], list[str], list[Path]] | None:
    """What the task's action hands the cache (tasks/steps.py `execute`), from the plan object
    its action is given: a step, or a site build as the step it runs."""
    from tasks.steps import completed, step_signature

    for action in task.actions:
        for arg in getattr(action, "args", None) or ():
            if isinstance(arg, StepPlan) and arg.cache:
                arg = completed(arg)  # a site build's: with its module.json read
                return (arg.task, step_signature(arg).fields(), arg.root, arg.inputs,
                        list(arg.deps), list(arg.outputs))
    return None


def plan_report(forecasts: list[Forecast], mode: str, workers: int, wall: float
                ) -> dict[str, Any]:
    """The plan as `doit plan --json` prints it."""
    counts = {state: sum(f.state == state for f in forecasts) for state in STATES}
    return {"schema": SCHEMA_VERSION, "mode": mode, "workers": workers,
            "tasks": [f.as_json() for f in forecasts], "counts": counts,
            "will_run": [f.task for f in forecasts if f.runs],
            "wall_time": round(wall, 3),
            "untimed": [f.task for f in forecasts if f.runs and f.duration is None]}


def describe(report: dict[str, Any]) -> list[str]:
    """The plan in words: a line per task, its reasons below it, then the totals."""
    tasks = report["tasks"]
    width = max((len(t["task"]) for t in tasks), default=0)
    lines = [f"doit plan ({report['mode']} mode, {report['workers']} "
             f"worker{'s' * (report['workers'] > 1)}):"]
    for task in tasks:
        state = task["state"] + (f" (after {', '.join(task['after'])})" if task["after"]
                                 else "")
        extra = [f"{task['duration']:.1f} s last time" if task["duration"] is not None
                 else "", f"key {task['key'][:12]}" if task["key"] else ""]
        tail = "; ".join(e for e in extra if e)
        lines.append(f"  {task['task']:<{width}}  {state}" + (f"  [{tail}]" if tail else ""))
        if task["state"] != "up to date":
            lines += [f"  {'':<{width}}    - {reason}" for reason in task["reasons"]]
    counts = ", ".join(f"{n} {state}" for state, n in report["counts"].items() if n)
    untimed = report["untimed"]
    note = (f" ({len(untimed)} never timed, counted as 0 s)" if untimed else "")
    lines.append(f"{len(tasks)} tasks: {counts or 'none'}; predicted wall time "
                 f"{report['wall_time']:.1f} s with -n {report['workers']}{note}")
    return lines


def _dumps(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)
