"""What `doit stats` and its report count: each task's figures over a window of runs.

A task's *runs* are its executions: the runs where it was not up to date. Its
durations are those of its successful executions (built, or flaky: passed on a
retry), the figures an estimate is made from.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from core.outcome import BUILT, CACHED, FLAKY, UP_TO_DATE, Status
from tasks.history import History, RunRecord

# As words (history rows hold them as text): a task that did not fail (up to date is
# counted apart), one that did (an interrupted one did neither), one that was timed.
SUCCESS = frozenset(s.value for s in Status if not s.failed and s is not Status.UP_TO_DATE)
FAILURE = frozenset(s.value for s in Status if s.failed and s is not Status.INTERRUPTED)
TIMED = frozenset((BUILT, FLAKY))
# the statuses of tasks that asked the cache
LOOKUPS = frozenset((BUILT, FLAKY, CACHED, *FAILURE))
_ALL_RUNS = 1 << 62


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
