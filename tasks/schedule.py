"""Longest-remaining-path-first: start the task that has the most work still waiting on it.

doit starts tasks in the order they were selected and found (`TaskDispatcher` pops its
`ready` deque from the left, and the selected tasks in command-line order). With a long
chain beside many short tasks, `doit -n 2` can spend its first minutes on the short ones
and then run the chain alone. A task's priority is its expected duration plus the
longest chain of tasks that depend on it (expected durations from the run history), so
the chain's head starts first and the short tasks fill the other workers.

doit has no hook for the order, so fedbuild's run uses its own dispatcher (a
TaskDispatcher subclass in tasks/doit_compat.py, with every other reach into doit) whose
`_get_next_node` calls `next_node`, which changes nothing until `activate()` gives the
next run its priorities, and `doit ... order=doit` keeps doit's own order. Even then a run
keeps doit's order until the next task is chosen while another one runs: the order cannot
matter before, so serial and no-op runs never compute a priority (given as a function).

The dispatcher's `ready` queue holds two kinds of nodes: ones not explored yet (their
dependencies are still unknown to doit) and ones whose dependencies are done. The first
kind is keyed by the highest priority among the task and everything it depends on
(exploring it leads there); the second by its own priority. `ready` becomes a heap on
that key; ties keep doit's order.
"""

from __future__ import annotations

import heapq
import itertools
import statistics
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, TypeAlias

import doit
from doit.control import ExecNode

from core.errors import COMMAND_LINE, UsageError
from tasks import doit_compat

ORDERS = ("longest-path", "doit")
_STATE = "_fedbuild_schedule"  # the per-run state, an attribute of doit's TaskDispatcher

Priorities: TypeAlias = "Mapping[str, float] | Callable[[], Mapping[str, float]]"

_DOIT = object()  # the state of a dispatcher left in doit's order
_active: Priorities | None = None
_ranks: Mapping[str, float] = {}  # the priorities of the run in priority order (remote tasks')


def order() -> str:
    """The task order from doit's command line (`doit order=doit`); longest-path if none."""
    value = doit.get_var("order", None) or ORDERS[0]
    if value not in ORDERS:
        raise UsageError(COMMAND_LINE, "order", f"{value!r} is not an order; use "
                         + " or ".join(f"order={o}" for o in ORDERS))
    return str(value)


def default_estimate(estimates: dict[str, float]) -> float:
    """The duration assumed for a task never timed: the median of known ones, else 1 s."""
    return statistics.median(estimates.values()) if estimates else 1.0


def priorities(tasks: dict[str, Any], estimates: dict[str, float],
               default: float | None = None) -> dict[str, float]:
    """Each task's expected duration plus the longest chain of tasks depending on it."""
    if default is None:
        default = default_estimate(estimates)
    deps, dependents = _graph(tasks)
    result: dict[str, float] = {}
    for name in _after_all(dependents, deps):
        own = estimates.get(name, default) if _has_actions(tasks[name]) else 0.0
        after = [result[d] for d in dependents[name] if d in result]
        result[name] = own + max(after) if after else own
    return result


def activate(priority: Priorities) -> None:
    """Start tasks highest priority first in the next run to dispatch (doit calls reporters'
    `initialize` just before). Given a function, it is called only once tasks run side by
    side: never on a no-op run."""
    global _active
    _active = priority


def priority_of(name: str) -> float:
    """The task's priority in the run being dispatched (0 when its order is doit's)."""
    return float(_ranks.get(name, 0.0))


def deactivate() -> None:
    """Keep doit's own order in the next run to dispatch."""
    global _active
    _active = None


def _graph(tasks: dict[str, Any]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Each task's dependencies (task_dep, setup_tasks, calc_dep: the tasks that must finish
    before it runs) and dependents."""
    deps: dict[str, list[str]] = {}
    dependents: dict[str, list[str]] = {name: [] for name in tasks}
    for name, task in tasks.items():
        names = task.task_dep + task.setup_tasks
        if task.calc_dep:
            names += sorted(task.calc_dep)
        if len(names) > 1:
            names = list(dict.fromkeys(names))
        deps[name] = names = [n for n in names if n in tasks and n != name]
        for dep in names:
            dependents[dep].append(name)
    return deps, dependents


def _has_actions(task: Any) -> bool:
    # doit's `actions` property builds action objects, which an up-to-date task never needs
    actions = getattr(task, "_actions", None)
    return bool(task.actions if actions is None else actions)


def _after_all(first: dict[str, list[str]], then: dict[str, list[str]]) -> Iterator[str]:
    """Every node, each after all of `first[node]` (`then` is the reverse: the nodes that list
    it first). Kahn's algorithm, no recursion. Nodes on a cycle, which doit rejects when it
    reaches them, come last in no particular order."""
    waiting = {n: len(before) for n, before in first.items()}
    todo = [n for n, count in waiting.items() if count == 0]
    while todo:
        node = todo.pop()
        yield node
        del waiting[node]
        for after in then[node]:
            waiting[after] -= 1
            if waiting[after] == 0:
                todo.append(after)
    yield from waiting


def _reach(tasks: dict[str, Any], priority: Mapping[str, float]) -> dict[str, float]:
    """The highest priority among each task and everything it depends on."""
    deps, dependents = _graph(tasks)
    reach: dict[str, float] = {}
    for name in _after_all(deps, dependents):
        best = priority.get(name, 0.0)
        for dep in deps[name]:
            if dep in reach and reach[dep] > best:
                best = reach[dep]
        reach[name] = best
    return reach


class _Ready:
    """doit's `ready` deque as a heap: doit appends, the run pops the highest key first, in
    doit's order among equal keys. A node not explored yet is keyed by its reach, an
    explored one by its own priority."""

    def __init__(self, run: _Run, nodes: Iterable[ExecNode]) -> None:
        self.heap: list[tuple[float, int, ExecNode]] = []
        self._count = itertools.count()
        self._run = run
        for node in nodes:
            self.append(node)

    def append(self, node: ExecNode) -> None:
        """Queue a node (doit's call)."""
        name, run = node.task.name, self._run
        key = (run.priority if name in run.explored else run.reach).get(name, 0.0)
        heapq.heappush(self.heap, (-key, next(self._count), node))

    def popleft(self) -> ExecNode:
        """The node with the highest key."""
        return heapq.heappop(self.heap)[2]

    def __len__(self) -> int:
        return len(self.heap)

    def __iter__(self) -> Iterator[ExecNode]:
        return (entry[2] for entry in sorted(self.heap))


class _Run:
    """One dispatcher in priority order: its priorities, and which nodes doit has explored."""

    def __init__(self, dispatcher: Any, priority: Mapping[str, float]) -> None:
        global _ranks
        self.priority = _ranks = priority
        self.reach = _reach(doit_compat.dispatcher_tasks(dispatcher), priority)
        self.explored = doit_compat.explored(dispatcher)
        self.ready = _Ready(self, doit_compat.ready_queue(dispatcher))
        doit_compat.replace_ready(dispatcher, self.ready)
        self.ordered: list[str] | None = None  # the tasks_to_run list already sorted

    def next(self, dispatcher: Any, tasks_to_run: list[str]) -> ExecNode | None:
        """The ready node or selected task with the highest key (the ready one on a tie)."""
        reach, heap = self.reach, self.ready.heap
        if self.ordered is not tasks_to_run:  # popped from the end: ascending, stable
            tasks_to_run.sort(key=lambda name: reach.get(name, 0.0))
            self.ordered = tasks_to_run
        while tasks_to_run:
            if heap and -heap[0][0] >= reach.get(tasks_to_run[-1], 0.0):
                break
            node = doit_compat.gen_node(dispatcher, tasks_to_run.pop())
            if node:
                self.explored.add(node.task.name)
                return node
        if not heap:
            return None
        node = heapq.heappop(heap)[2]
        self.explored.add(node.task.name)
        return node


class _Waiting:
    """A dispatcher in doit's order until the next task is chosen while one (with actions)
    runs: until then the order changes nothing (nothing ran yet, or the run is serial), and
    a no-op run never computes a priority."""

    def __init__(self, source: Priorities) -> None:
        self.source = source
        self.last: ExecNode | None = None  # the node handed out last

    def start(self, dispatcher: Any) -> _Run | None:
        """The dispatcher in priority order; None (doit's order) if the priorities failed."""
        try:
            priority = self.source() if callable(self.source) else self.source
            return _Run(dispatcher, priority)
        except Exception as err:  # the order is an optimisation: never fail a build over it
            print(f"fedbuild: tasks start in doit's order ({type(err).__name__}: {err})",
                  file=sys.stderr)
            return None


def next_node(self: Any, ready: Any, tasks_to_run: list[str],
              doits: Callable[[Any, Any, list[str]], ExecNode | None]) -> ExecNode | None:
    """The dispatcher's next node: doit's choice (`doits`) until the order is active."""
    global _active
    state = self.__dict__.get(_STATE)
    if state is None:
        # The run's first call takes the priorities: held by the module, a function's task
        # graph would live until exit, and freeing it there costs ~7 ms per 1000 tasks.
        state = self.__dict__[_STATE] = _DOIT if _active is None else _Waiting(_active)
        _active = None
    if state.__class__ is _Run:
        return state.next(self, tasks_to_run)
    if state is not _DOIT:
        last = state.last
        if last is None or last.run_status != "run" or not _has_actions(last.task):
            node = doits(self, ready, tasks_to_run)
            if node is not None:
                state.last = node
            return node
        run = state.start(self)
        self.__dict__[_STATE] = run or _DOIT
        if run is not None:
            return run.next(self, tasks_to_run)
    return doits(self, ready, tasks_to_run)
