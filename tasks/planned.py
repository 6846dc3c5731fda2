"""What this run will execute, as doit tells the reporter when the run begins.

Actions that plan ahead read it: the tool probes start together for the tasks the
run needs, and a lazy step (`lazy: true`, npm's install) asks whether any task
needing it will really run. Without fedbuild's reporter (`--reporter json`) there
is no plan: probes run one by one and lazy steps always run.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Plan:
    """The tasks with actions the run needs, what each needs directly, and what was named."""

    tasks: tuple[str, ...]
    needs: Mapping[str, tuple[str, ...]]  # direct task_dep, setup and calc_dep
    named: frozenset[str]  # named on the command line (not by default), groups expanded
    forks: bool = False  # doit forks worker processes (-P process) while the run goes on

    def dependents(self, task: str) -> list[str]:
        """The run's tasks that need `task` directly."""
        return [name for name in self.tasks if task in self.needs.get(name, ())]


# Task meta of an on-device step (a board's port in its commands) when the command line gives
# no port: {"default": bool}. Group runs (`doit test`) and plain `doit` leave it out.
ON_DEVICE = "fedbuild.on_device"

_lock = threading.Lock()
_current: Plan | None = None
_defaults: tuple[str, ...] = ()


def set_defaults(names: Iterable[str]) -> None:
    """The tasks plain `doit` runs (DOIT_CONFIG's default_tasks): selected, not named."""
    global _defaults
    _defaults = tuple(names)


def begin(tasks: Mapping[str, Any], planned: Iterable[str], selected: Iterable[str],
          forks: bool = False) -> Plan:
    """Record the plan from doit's tasks (name -> Task), the planned names, the selected ones
    and whether doit forks workers."""
    global _current
    selected = tuple(selected)
    named: set[str] = set()
    for name in selected if selected != _defaults else ():
        named.add(name)
        task = tasks.get(name)
        if task is not None and not task.actions:  # a group (`doit install`): its members
            named.update(task.task_dep)
    plan = Plan(tuple(planned),
                {name: (*tasks[name].task_dep, *tasks[name].setup_tasks,
                        *getattr(tasks[name], "calc_dep", ())) for name in planned},
                frozenset(named), forks)
    with _lock:
        _current = plan
    return plan


def current() -> Plan | None:
    """This run's plan, once doit has started it."""
    with _lock:
        return _current


def end() -> None:
    """Forget the plan (the run is over)."""
    global _current
    with _lock:
        _current = None


def left_out(tasks: Mapping[str, Any], selected: Iterable[str],
             planned: Iterable[str]) -> list[str]:
    """The on-device tasks this run leaves out for want of a board's port: members of a
    selected group (`doit test`), or default steps under plain `doit`."""
    selected = tuple(selected)
    chosen, by_default = set(planned), selected == _defaults
    found = []
    for name, task in tasks.items():
        device = (task.meta or {}).get(ON_DEVICE)
        if device is None or name in chosen:
            continue
        if task.subtask_of in selected or (by_default and device.get("default")):
            found.append(name)
    return sorted(found)
