"""`doit stats [TASK]`: how each task has fared over the recorded runs.

A task's *runs* are its executions: the runs where it was not up to date. Its
durations are those of its successful executions (built, or flaky: passed on a
retry), the figures an estimate is made from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from doit.exceptions import InvalidCommand

from core.outcome import BUILT, CACHED, FLAKY, UP_TO_DATE, RunStatus, Status
from tasks.commands.base import FedbuildCommand
from tasks.commands.layout import (
    clock,
    duration,
    percent,
    repository_history,
    shown_path,
    table,
)
from tasks.history import History, RunRecord

# As words (history rows hold them as text): a task that did not fail (up to date is
# counted apart), one that did (an interrupted one did neither), one that was timed.
SUCCESS = frozenset(s.value for s in Status if not s.failed and s is not Status.UP_TO_DATE)
FAILURE = frozenset(s.value for s in Status if s.failed and s is not Status.INTERRUPTED)
TIMED = frozenset((BUILT, FLAKY))
# the statuses of tasks that asked the cache
LOOKUPS = frozenset((BUILT, FLAKY, CACHED, *FAILURE))
_ALL_RUNS = 1 << 62

opt_last = {
    "name": "last", "short": "", "long": "last", "type": int, "default": 0,
    "help": "only the last N runs of doit [default: all recorded]",
}


@dataclass
class TaskStats:
    """One task's figures over a window of runs."""

    name: str
    up_to_date: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    durations: list[float] = field(default_factory=list)

    def add(self, status: str, seconds: float | None) -> None:
        """Count one row of the task."""
        if status == UP_TO_DATE:
            self.up_to_date += 1
            return
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status in TIMED and seconds is not None:
            self.durations.append(float(seconds))

    @property
    def runs(self) -> int:
        """Executions: the rows that were not up to date."""
        return sum(self.statuses.values())

    def count(self, statuses: Iterable[str]) -> int:
        """How many executions ended in one of `statuses`."""
        return sum(self.statuses.get(s, 0) for s in statuses)

    @property
    def p95(self) -> float | None:
        """The 95th percentile duration (nearest rank)."""
        if not self.durations:
            return None
        ordered = sorted(self.durations)
        return ordered[math.ceil(0.95 * len(ordered)) - 1]

    @property
    def average(self) -> float | None:
        """The mean duration."""
        return sum(self.durations) / len(self.durations) if self.durations else None


@dataclass
class Window:
    """The runs looked at and every task's figures over them."""

    runs: list[RunRecord]
    tasks: dict[str, TaskStats]

    @property
    def cached(self) -> bool:
        """Whether any task was ever restored from a cache (else no hit rate is shown)."""
        return any(t.statuses.get(CACHED) for t in self.tasks.values())


def gather(history: History, last: int = 0) -> Window:
    """Every task's figures over the last `last` runs (all runs with 0)."""
    runs = history.runs(last if last > 0 else _ALL_RUNS)
    tasks: dict[str, TaskStats] = {}
    for run in runs:
        for record in history.tasks(run.id):
            tasks.setdefault(record.name, TaskStats(record.name)).add(record.status,
                                                                       record.duration)
    return Window(runs, dict(sorted(tasks.items())))


def overview_lines(window: Window) -> list[str]:
    """The whole history: runs of doit, a table per task, flaky tasks, the cache hit rate."""
    lines = [_runs_line(window), ""]
    rows = [[t.name, str(t.runs), percent(t.count(SUCCESS), t.runs), duration(t.average),
             duration(min(t.durations, default=None)), duration(max(t.durations, default=None)),
             duration(t.p95)] for t in window.tasks.values()]
    lines += table(["task", "runs", "success", "average", "fastest", "slowest", "p95"], rows,
                   right=(1, 2, 3, 4, 5, 6))
    flaky = [f"{t.name} ({t.count([FLAKY])} of {t.runs} runs)"
             for t in window.tasks.values() if t.count([FLAKY])]
    lines += ["", "flaky tasks: " + (", ".join(flaky) if flaky else "none")]
    if window.cached:
        hits = sum(t.count([CACHED]) for t in window.tasks.values())
        lookups = sum(t.count(LOOKUPS) for t in window.tasks.values())
        lines.append(f"cache hit rate: {percent(hits, lookups)} ({hits} of {lookups} "
                     "executions restored from the cache)")
    lines.append("runs: executions (not up to date); durations: of successful executions")
    return lines


def task_lines(window: Window, name: str) -> list[str]:
    """One task's figures, a few lines."""
    stats = window.tasks.get(name, TaskStats(name))
    failed = stats.count(FAILURE)
    lines = [f"{name} over {_runs_phrase(window)}:",
             f"  runs: {stats.runs} (not counting {stats.up_to_date} up to date)"]
    if stats.runs:
        lines.append(f"  success rate: {percent(stats.count(SUCCESS), stats.runs)} "
                     f"({stats.count(SUCCESS)} of {stats.runs}; {failed} failed)")
    if stats.durations:
        lines.append(f"  duration: average {duration(stats.average)}, "
                     f"fastest {duration(min(stats.durations))}, "
                     f"slowest {duration(max(stats.durations))}, p95 {duration(stats.p95)} "
                     f"(of {len(stats.durations)} successful executions)")
    if stats.runs:
        lines.append(f"  flaky: {stats.count([FLAKY])} of {stats.runs} runs")
    if window.cached and stats.runs:
        lookups = stats.count(LOOKUPS)
        lines.append(f"  cache hit rate: {percent(stats.count([CACHED]), lookups)} "
                     f"({stats.count([CACHED])} of {lookups})")
    return lines


def _runs_phrase(window: Window) -> str:
    count = len(window.runs)
    return f"{count} run{'s' if count != 1 else ''} of doit"


def _runs_line(window: Window) -> str:
    finished = [r for r in window.runs if r.status != RunStatus.RUNNING.value]
    succeeded = sum(r.status == RunStatus.SUCCEEDED.value for r in finished)
    others: dict[str, int] = {}
    for run in window.runs:
        if run.status != RunStatus.SUCCEEDED.value:
            others[run.status] = others.get(run.status, 0) + 1
    rest = "".join(f", {n} {status}" for status, n in sorted(others.items()))
    first = min(r.started for r in window.runs)
    return (f"{_runs_phrase(window)} since {clock(first)}: {succeeded} succeeded "
            f"({percent(succeeded, len(finished))} of finished runs){rest}")


class StatsCommand(FedbuildCommand):
    """`doit stats [TASK]`."""

    name = "stats"
    doc_purpose = "show how tasks have fared: runs, success rate, durations, flaky tasks"
    doc_usage = "[TASK] [--last N]"
    doc_description = ("Computed from .fedbuild/history.sqlite3. Runs are executions (not up to "
                       "date); durations are of successful executions; p95 is the nearest-rank "
                       "95th percentile.")
    cmd_options = (opt_last,)

    def _execute(self, pos_args: list[str], last: int = 0) -> int:
        if len(pos_args) > 1:
            raise InvalidCommand("`doit stats` takes at most one task name "
                                 f"(got {' '.join(pos_args)})")
        root = Path.cwd()  # doit has moved to the repository (-d) by now
        history = repository_history(root)
        try:
            window = gather(history, last)
        finally:
            history.close()
        name = pos_args[0] if pos_args else None
        known = {t.name for t in self.task_list}
        if name is not None and name not in known and name not in window.tasks:
            raise InvalidCommand(f"'{name}' is not a task (see `doit list`)")
        if not window.runs:
            lines = [f"no runs recorded yet ({shown_path(str(history.path), root)})"]
        else:
            lines = task_lines(window, name) if name else overview_lines(window)
        self.outstream.write("\n".join(lines) + "\n")
        return 0
