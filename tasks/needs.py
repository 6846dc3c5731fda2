"""Which tasks with actions a task waits for, seen through group tasks (which have none):
what the reporter records, the critical path follows and `doit graph` draws."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Tasks = Mapping[str, Any]  # doit Task objects by name


def needs(tasks: Tasks, name: str) -> set[str]:
    """The tasks with actions that `name` directly needs (task_dep, setup, calc_dep)."""
    found: set[str] = set()
    seen: set[str] = set()
    pending = list(_deps(tasks[name]))
    while pending:
        dep = pending.pop()
        if dep in seen or dep not in tasks:
            continue
        seen.add(dep)
        if tasks[dep].actions:
            found.add(dep)
        else:
            pending += _deps(tasks[dep])
    return found


def in_order(tasks: Tasks, selection: Iterable[str]) -> list[str]:
    """The tasks with actions a run of `selection` executes or checks, each after what it
    needs (`doit plan`'s order, and the run record's planned tasks)."""
    order: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done or name not in tasks:
            return
        done.add(name)
        for dep in _deps(tasks[name]):
            visit(dep)
        if tasks[name].actions:
            order.append(name)

    for name in selection:
        visit(name)
    return order


def _deps(task: Any) -> list[str]:
    return [*task.task_dep, *task.setup_tasks, *sorted(getattr(task, "calc_dep", ()))]
