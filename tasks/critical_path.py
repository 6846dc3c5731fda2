"""The critical path of a run: the chain of dependent tasks with the longest total duration,
and how much of the workers' capacity the run used.

Read from the run's timeline (tasks/timeline.py) after the fact: of every chain of executed
tasks each depending on the one before, the one whose durations add up to the most. It
depends on what ran and how long each took, not on how many workers there were or in
which order they took the tasks: no run with these tasks could be shorter. Up-to-date
dependencies took no time, so chains pass through them to what they depend on. Where a
chain task was ready (its predecessor done) but every worker was busy, the gap is time
spent waiting for a free worker: a sign the scheduler, or the number of workers, cost time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.outcome import Status
from core.sizes import format_size
from tasks.timeline import RunInfo, TaskRun

_BOUNDS_NOTHING = (Status.SKIPPED.value, Status.NOT_NEEDED.value)

SHOWN = 5  # chain links named in the summary line; longer chains are elided in the middle
NOTABLE_WAIT = 0.05  # waits under this share of the wall time are not worth a mention


@dataclass(frozen=True)
class CriticalPath:
    """The chain that bounded a run, with the run's work, wall time and parallelism."""

    chain: tuple[str, ...]  # task names, oldest first
    durations: tuple[float, ...]  # each chain task's duration, seconds
    wall: float  # the run's wall time, seconds
    work: float  # the sum of every executed task's duration, seconds
    peak: int  # the most tasks that ran at once
    workers: int  # doit -n (1 when serial)
    waited: float  # seconds chain tasks were ready but every worker was busy

    @property
    def length(self) -> float:
        """The chain's total duration, seconds."""
        return sum(self.durations)

    @property
    def parallelism(self) -> float:
        """Average busy workers: work divided by wall time."""
        return self.work / self.wall if self.wall > 0 else 0.0

    def describe(self) -> list[str]:
        """Two summary lines: the chain against the wall time, then the parallelism used."""
        links = [f"{name} {_seconds(d)}" for name, d in zip(self.chain, self.durations,
                                                              strict=True)]
        if len(links) > SHOWN:
            hidden = len(links) - SHOWN + 1
            links = [*links[:2], f"({hidden} more)", *links[-(SHOWN - 3):]]
        path = (f"critical path: {' -> '.join(links)} = {_seconds(self.length)} "
                f"of {_seconds(self.wall)} wall")
        # With one worker every task waits for the one before: not worth a mention.
        if self.workers > 1 and self.waited >= max(0.1, NOTABLE_WAIT * self.wall):
            path += f" (waited {_seconds(self.waited)} for a free worker)"
        workers = "worker" if self.workers == 1 else "workers"
        use = (f"parallelism: {self.parallelism:.1f} of {self.workers} {workers} on average "
               f"(peak {self.peak}); work {_seconds(self.work)}")
        return [path, use]


def performance_lines(run: RunInfo, shown: int = SHOWN) -> list[str]:
    """`build_settings.performance_tracking`: the run's slowest executed tasks, each with the
    peak memory and CPU time the runner measured (every run records them in the history;
    this shows them at the end of the run)."""
    executed = sorted((t for t in run.tasks if t.executed and t.duration is not None
                       and t.status not in _BOUNDS_NOTHING),
                      key=lambda t: (-(t.duration or 0.0), t.name))[:shown]
    if not executed:
        return []
    width = max(len(t.name) for t in executed)
    lines = ["performance (build_settings.performance_tracking), slowest first:"]
    for task in executed:
        peak = format_size(task.peak_rss) if task.peak_rss else "-"
        cpu = _seconds(task.cpu_time) if task.cpu_time is not None else "-"
        lines.append(f"  {task.name:<{width}}  {_seconds(task.duration or 0.0):>6}  "
                     f"peak memory {peak}, CPU {cpu}")
    return lines


def critical_path(run: RunInfo) -> CriticalPath | None:
    """The chain of dependent executed tasks with the longest total duration (whatever the
    number of workers that ran them); None if nothing executed."""
    # A skipped step "runs" only to say why it is skipped (a lazy one, why it is not needed):
    # it bounds nothing.
    executed = [t for t in run.tasks if t.executed and t.status not in _BOUNDS_NOTHING]
    if not executed:
        return None
    by_name = {t.name: t for t in run.tasks}
    by_name.update((t.name, t) for t in executed)  # an executed record wins over any other
    chain = _longest_chain(executed, by_name)
    spans = [_span(t) for t in executed]
    return CriticalPath(
        chain=tuple(t.name for t in chain),
        durations=tuple(_duration(t) for t in chain),
        wall=max(run.ended - run.started, 0.0),
        work=sum(_duration(t) for t in executed),
        peak=_peak(spans),
        workers=max(run.workers, 1),
        waited=_waited(chain, spans, min(s for s, _ in spans), max(run.workers, 1)))


def _longest_chain(executed: list[TaskRun], by_name: dict[str, TaskRun]) -> list[TaskRun]:
    """The heaviest path through the executed tasks' dependencies (oldest first); of equal
    ones, the one ending latest. Iterative: chains can be thousands of tasks long."""
    names = {t.name for t in executed}
    deps = {t.name: _executed_deps(t, by_name, names) for t in executed}
    best: dict[str, tuple[float, str | None]] = {}  # heaviest chain ending here, predecessor
    busy: set[str] = set()  # being computed: a dependency back to it is a cycle, ignored
    for root in sorted(executed, key=lambda t: -t.ended):
        stack = [root.name]
        while stack:
            name = stack[-1]
            if name in best:
                stack.pop()
                continue
            if name not in busy:
                busy.add(name)
                todo = [d for d in deps[name] if d not in best and d not in busy]
                if todo:
                    stack.extend(todo)
                    continue
            done = [d for d in deps[name] if d in best]
            prev = max(done, key=lambda d: (best[d][0], by_name[d].ended), default=None)
            best[name] = (_duration(by_name[name]) + (best[prev][0] if prev else 0.0), prev)
            busy.discard(name)
            stack.pop()
    end: str | None = max(best, key=lambda n: (best[n][0], by_name[n].ended))
    chain: list[TaskRun] = []
    while end is not None and all(t.name != end for t in chain):
        chain.append(by_name[end])
        end = best[end][1]
    chain.reverse()
    return chain


def _executed_deps(task: TaskRun, by_name: dict[str, TaskRun], executed: set[str]) -> list[str]:
    """The executed tasks `task` waited for, looking through up-to-date, skipped and
    not-needed ones (they took no time: what they waited for is what mattered)."""
    found: list[str] = []
    todo, visited = list(task.deps), {task.name}
    while todo:
        name = todo.pop()
        dep = by_name.get(name)
        if dep is None or name in visited:
            continue
        visited.add(name)
        if name in executed:
            found.append(name)
        else:
            todo.extend(dep.deps)
    return found


def _duration(task: TaskRun) -> float:
    if task.duration is not None:
        return task.duration
    return max(task.ended - (task.started or task.ended), 0.0)


def _span(task: TaskRun) -> tuple[float, float]:
    """When the task held a worker: from its start to its recorded end."""
    started = task.started if task.started is not None else task.ended
    return started, max(task.ended, started)


def _peak(spans: Iterable[tuple[float, float]]) -> int:
    """The most spans open at one moment (an end and a start at the same instant don't meet)."""
    events = sorted([(s, 1) for s, _ in spans] + [(e, -1) for _, e in spans])
    running = peak = 0
    for _, change in events:
        running += change
        peak = max(peak, running)
    return peak


def _waited(chain: list[TaskRun], spans: list[tuple[float, float]], first: float,
            workers: int) -> float:
    """Seconds chain tasks were ready to start (predecessor done) while all workers were busy."""
    total = 0.0
    ready = first
    for task in chain:
        started, ended = _span(task)
        total += _busy(spans, ready, started, workers)
        ready = ended
    return total


def _busy(spans: list[tuple[float, float]], start: float, end: float, workers: int) -> float:
    """How long, within [start, end], at least `workers` spans were running."""
    if end <= start:
        return 0.0
    events = sorted([(max(s, start), 1) for s, e in spans if s < end and e > start]
                    + [(min(e, end), -1) for s, e in spans if s < end and e > start])
    total, running, since = 0.0, 0, start
    for moment, change in events:
        if running >= workers:
            total += moment - since
        running += change
        since = moment
    return total


def _seconds(value: float) -> str:
    if value >= 60:
        minutes, seconds = divmod(round(value), 60)
        return f"{minutes}m{seconds:02d}s"
    return f"{value:.1f}s" if value >= 1 else f"{value:.2f}s"
