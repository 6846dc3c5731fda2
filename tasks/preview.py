"""What a `doit` would do, worked out without doing it: `doit plan`'s content.

Each task the run would reach (the named ones, or the default ones, and everything they
need), dependencies first, gets a state: `run` (it is out of date; the reasons are `doit
explain`'s, from the same Explainer), `run` after what it needs (up to date itself, but a
task it depends on runs first and changes what it reads), `cached` (it is out of date and a
configured cache holds its outputs), `up to date`, `skipped` (a step that does not run on
this machine: why) or `ignored` (`doit ignore`). Its cache key, its recorded duration
(the history's median) and the wall time the whole run would take with N workers follow.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tasks.commands.explain import IGNORED, MAY_RUN, UP_TO_DATE, Explainer, skip_reason
from tasks.needs import needs

RUN, CACHED, FRESH, SKIPPED, IGNORE = "run", "cached", "up to date", "skipped", "ignored"
STATES = (RUN, CACHED, FRESH, SKIPPED, IGNORE)


@dataclass
class Forecast:
    """One task's fate in the next run."""

    task: str
    state: str
    reasons: list[str] = field(default_factory=list)
    after: list[str] = field(default_factory=list)  # tasks it needs that run first
    key: str | None = None  # its action cache key, when it can be known before the run
    duration: float | None = None  # recorded (median of the last successful runs), seconds

    @property
    def runs(self) -> bool:
        """Whether the run executes its action (restoring from the cache counts)."""
        return self.state in (RUN, CACHED)

    @property
    def shown_state(self) -> str:
        """The state as `doit plan` prints it: `run (after build:docs)`."""
        if self.after:
            return f"{self.state} (after {', '.join(self.after)})"
        return self.state

    def as_json(self) -> dict[str, Any]:
        """Its entry in `doit plan --json` (tasks/commands/plan.schema.json)."""
        return {"task": self.task, "state": self.state, "after": self.after,
                "reasons": self.reasons, "key": self.key, "duration": self.duration}


def forecast(explainer: Explainer, names: list[str], keys: Any, estimates: Mapping[str, float]
             ) -> list[Forecast]:
    """Each task's Forecast, in `names`' order (dependencies first); `keys(task, runs)` gives
    (cache key, whether a cache holds it) for a task, knowing which tasks run before it."""
    found: dict[str, Forecast] = {}
    for name in names:
        task = explainer.tasks[name]
        verdict = explainer.verdict(name)
        item = Forecast(name, FRESH, duration=estimates.get(name))
        skipped = skip_reason(task)
        if verdict.state == IGNORED:
            item.state = IGNORE
        elif skipped is not None:
            item.state, item.reasons = SKIPPED, [skipped]
        else:
            item.after = sorted(dep for dep in needs(explainer.tasks, name)
                                if dep in found and found[dep].runs)
            if verdict.reasons:
                item.state, item.reasons = RUN, list(verdict.reasons)
            elif verdict.state == MAY_RUN and item.after:
                item.state = RUN
                item.reasons = [f"{dep} runs first" for dep in item.after]
            elif verdict.state not in (UP_TO_DATE, MAY_RUN):
                item.state = RUN
        if item.state in (RUN, FRESH):
            item.key, hit = keys(task, {n for n, f in found.items() if f.runs})
            if item.state == RUN and hit and not item.after:
                item.state = CACHED
        found[name] = item
    return [found[name] for name in names]


def wall_time(forecasts: list[Forecast], tasks: Mapping[str, Any], workers: int) -> float:
    """The seconds the run would take with `workers` workers: each running task takes its
    recorded duration (none recorded: 0), the others none; a free worker takes the ready
    task heading the longest remaining chain (fedbuild's default order)."""
    cost = {f.task: (f.duration or 0.0) if f.runs else 0.0 for f in forecasts}
    deps = {f.task: needs(tasks, f.task) & cost.keys() for f in forecasts}
    users: dict[str, list[str]] = {name: [] for name in cost}
    for name, before in deps.items():
        for dep in before:
            users[dep].append(name)
    chain: dict[str, float] = {}
    for name in reversed([f.task for f in forecasts]):  # dependents come later in the list
        chain[name] = cost[name] + max((chain[u] for u in users[name]), default=0.0)
    waiting = {name: len(before) for name, before in deps.items()}
    ready = [(-chain[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now = 0.0
    while ready or running:
        while ready and len(running) < max(1, workers):
            _, name = heapq.heappop(ready)
            heapq.heappush(running, (now + cost[name], name))
        now, name = heapq.heappop(running)
        for user in users[name]:
            waiting[user] -= 1
            if waiting[user] == 0:
                heapq.heappush(ready, (-chain[user], user))
    return now
