"""Longest-remaining-path-first: priorities on known graphs, doit's own dispatcher driven by a
simulated runner with known durations, and real `doit -n 2 -P thread` runs."""

from __future__ import annotations

import heapq
import itertools
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import doit.doit_cmd
import pytest
from doit.control import TaskControl
from doit.task import Task

from core.errors import UsageError
from tasks import schedule
from tasks.commands.run import HOOKS
from tasks.critical_path import critical_path
from tasks.doit_compat import FedbuildControl
from tasks.timeline import RunInfo, TaskRun

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def doit_order_afterwards() -> Iterator[None]:
    """Every test leaves doit's order active, as a run without fedbuild's reporter has it."""
    yield
    schedule.deactivate()


def nothing(name: str) -> None:
    """The action of every task here (never run)."""


def work(name: str, *deps: str, setup: tuple[str, ...] = (), calc: tuple[str, ...] = ()) -> Task:
    """A task with an action (never run here) and the given dependencies."""
    return Task(name, [(nothing, [name])], task_dep=list(deps), setup=list(setup),
                calc_dep=list(calc))


def group(name: str, *deps: str) -> Task:
    """A task without actions that only groups others."""
    return Task(name, None, task_dep=list(deps))


def skewed(chain: int = 4, shorts: int = 6) -> list[Task]:
    """Short tasks s1.. listed before a chain c1 -> c2 -> ...; `all` groups them all."""
    tasks = [work(f"s{i}") for i in range(1, shorts + 1)]
    tasks += [work("c1")] + [work(f"c{i}", f"c{i - 1}") for i in range(2, chain + 1)]
    return [*tasks, group("all", *(t.name for t in tasks))]


SKEWED_DURATIONS = {**{f"s{i}": 1.0 for i in range(1, 7)}, **{f"c{i}": 3.0 for i in range(1, 5)}}


# priorities --------------------------------------------------------------------------------

def test_priorities_are_the_longest_remaining_path() -> None:
    #   gen -> lib -> app -> all (group)     lib -> docs     tool: setup of app
    tasks = {t.name: t for t in [work("gen"), work("lib", "gen"), work("docs", "lib"),
                                 work("tool"), work("app", "lib", setup=("tool",)),
                                 group("all", "app", "docs"), work("new", "app")]}
    estimates = {"gen": 2.0, "lib": 3.0, "docs": 0.5, "tool": 4.0, "app": 1.0}

    result = schedule.priorities(tasks, estimates, default=10.0)

    assert result == {"all": 0.0, "new": 10.0, "app": 11.0, "docs": 0.5, "tool": 15.0,
                      "lib": 14.0, "gen": 16.0}


def test_unknown_durations_default_to_the_median_of_known_ones() -> None:
    tasks = {t.name: t for t in [work("a"), work("b"), work("c"), work("d", "a", calc=("b",))]}

    result = schedule.priorities(tasks, {"a": 1.0, "b": 2.0, "c": 6.0})

    assert result == {"d": 2.0, "a": 3.0, "b": 4.0, "c": 6.0}
    assert schedule.default_estimate({}) == 1.0


def test_a_chain_of_3000_tasks_needs_no_recursion() -> None:
    tasks = {"t0": work("t0")}
    tasks.update((f"t{i}", work(f"t{i}", f"t{i - 1}")) for i in range(1, 3000))

    result = schedule.priorities(tasks, {}, default=0.5)

    assert result["t0"] == 1500.0
    assert result["t2999"] == 0.5
    assert schedule._reach(tasks, result)["t2999"] == 1500.0


def test_a_cycle_does_not_hang_the_priorities() -> None:
    tasks = {t.name: t for t in [work("a", "b"), work("b", "a"), work("c", "a")]}

    assert set(schedule.priorities(tasks, {}, default=1.0)) == {"a", "b", "c"}


# doit's dispatcher, driven by a simulated runner ------------------------------------------

@dataclass
class Simulated:
    """What a simulated run did: tasks in the order they started, and when each ran."""

    order: list[str]
    spans: dict[str, tuple[float, float]]

    @property
    def makespan(self) -> float:
        return max((end for _, end in self.spans.values()), default=0.0)


def simulate(tasks: list[Task], selected: list[str], durations: dict[str, float],
             workers: int, up_to_date: frozenset[str] = frozenset(),
             doits: bool = False) -> Simulated:
    """Drive fedbuild's TaskDispatcher (doit's own with `doits`) as MRunner does (Runner when
    workers == 1), with known durations instead of real actions. Tasks in `up_to_date` are
    skipped, as doit skips up-to-date tasks; all others run."""
    control = TaskControl(tasks) if doits else FedbuildControl(tasks, HOOKS)
    control.process(selected)
    generator = control.task_dispatcher().generator
    result = Simulated([], {})
    clock, count = 0.0, itertools.count()
    running: list[tuple[float, int, Any]] = []
    finished = False

    def start_next(completed: Any) -> bool:
        """Give one free worker a task, as MRunner.get_next_job does; False when there is none
        to give now."""
        nonlocal finished
        node = completed
        while not finished:
            try:
                node = generator.send(node)
            except StopIteration:
                finished = True
                break
            if node == "hold on":
                break
            if node.run_status is None:
                if node.task.name in up_to_date:
                    node.run_status = "up-to-date"
                    continue
                node.run_status = "run"
                if node.task.setup_tasks:
                    continue  # doit selects it again once its setup tasks are done
            result.order.append(node.task.name)
            end = clock + durations.get(node.task.name, 0.0)
            result.spans[node.task.name] = (clock, end)
            heapq.heappush(running, (end, next(count), node))
            return True
        return False

    completed = None
    while True:
        while len(running) < workers and start_next(completed):
            completed = None
        completed = None
        if not running:
            result.order = [n for n in result.order if n in durations]
            return result
        clock, _, completed = heapq.heappop(running)
        completed.run_status = "successful"


def activate_for(tasks: list[Task], durations: dict[str, float]) -> None:
    schedule.activate(schedule.priorities({t.name: t for t in tasks}, durations))


SELECTIONS = pytest.mark.parametrize(
    "selected", [["s1", "s2", "s3", "s4", "s5", "s6", "c4"], ["all"]],
    ids=["selected-in-order", "one-group"])


@SELECTIONS
def test_the_chain_starts_at_once_and_the_run_meets_the_lower_bound(selected: list[str]) -> None:
    tasks = skewed()
    activate_for(tasks, SKEWED_DURATIONS)

    run = simulate(tasks, selected, SKEWED_DURATIONS, workers=2)

    # the first task is doit's pick (nothing had run yet); from the second on, priorities:
    # the chain starts at 0 and the shorts fill the other worker while it runs
    assert run.order == ["s1", "c1", "s2", "s3", "c2", "s4", "s5", "s6", "c3", "c4"]
    assert run.makespan == max(12.0, sum(SKEWED_DURATIONS.values()) / 2)  # the lower bound


@SELECTIONS
def test_doit_order_runs_the_shorts_first(selected: list[str]) -> None:
    run = simulate(skewed(), selected, SKEWED_DURATIONS, workers=2)

    assert run.order == ["s1", "s2", "s3", "s4", "s5", "s6", "c1", "c2", "c3", "c4"]
    assert run.makespan == 3.0 + 12.0


def test_without_a_priority_map_fedbuilds_dispatcher_keeps_doits_order() -> None:
    fedbuilds = simulate(skewed(), ["all"], SKEWED_DURATIONS, workers=2)

    assert simulate(skewed(), ["all"], SKEWED_DURATIONS, workers=2, doits=True) == fedbuilds


def test_a_no_op_or_serial_run_keeps_doits_order_and_computes_nothing() -> None:
    calls = []

    def lazily() -> dict[str, float]:
        calls.append(1)
        return schedule.priorities({t.name: t for t in skewed()}, SKEWED_DURATIONS)

    schedule.activate(lazily)
    names = frozenset(SKEWED_DURATIONS)
    assert simulate(skewed(), ["all"], SKEWED_DURATIONS, workers=2, up_to_date=names).order == []
    schedule.activate(lazily)
    serial = simulate(skewed(), ["all"], SKEWED_DURATIONS, workers=1)
    assert serial.order == ["s1", "s2", "s3", "s4", "s5", "s6", "c1", "c2", "c3", "c4"]
    assert calls == []
    schedule.activate(lazily)
    parallel = simulate(skewed(), ["all"], SKEWED_DURATIONS, workers=2)  # two tasks at once
    assert calls == [1]
    assert parallel.order[:2] == ["s1", "c1"]


def test_each_activation_serves_one_run() -> None:
    activate_for(skewed(), SKEWED_DURATIONS)
    assert simulate(skewed(), ["all"], SKEWED_DURATIONS, workers=2).order[1] == "c1"
    assert simulate(skewed(), ["all"], SKEWED_DURATIONS, workers=2).order[1] == "s2"


def test_priorities_that_fail_leave_doits_order(capsys: pytest.CaptureFixture[str]) -> None:
    def broken() -> dict[str, float]:
        raise OSError("history unreadable")

    schedule.activate(broken)
    run = simulate(skewed(), ["all"], SKEWED_DURATIONS, workers=2)

    assert run.order == ["s1", "s2", "s3", "s4", "s5", "s6", "c1", "c2", "c3", "c4"]
    assert capsys.readouterr().err == \
        "fedbuild: tasks start in doit's order (OSError: history unreadable)\n"


def test_setup_tasks_are_prioritised_by_the_task_that_needs_them() -> None:
    def graph() -> list[Task]:
        return [work("s1"), work("s2"), work("server"), work("check", setup=("server",))]
    durations = {"s1": 1.0, "s2": 1.0, "server": 1.0, "check": 5.0}
    activate_for(graph(), durations)

    ours = simulate(graph(), ["s1", "s2", "check"], durations, workers=2)
    schedule.deactivate()
    theirs = simulate(graph(), ["s1", "s2", "check"], durations, workers=2)

    assert ours.order[:2] == ["s1", "server"]
    assert (ours.makespan, theirs.makespan) == (6.0, 7.0)


@pytest.mark.parametrize("seed", range(40))
def test_random_graphs_run_every_task_once_after_its_dependencies(seed: int) -> None:
    rng = random.Random(seed)
    tasks: list[Task] = []
    durations: dict[str, float] = {}
    deps: dict[str, list[str]] = {}
    for i in range(rng.randint(5, 40)):
        name = f"t{i}"
        deps[name] = rng.sample([t.name for t in tasks], min(i, rng.choice([0, 1, 2, 3])))
        setup = tuple(rng.sample(deps[name], 1)) if deps[name] and rng.random() < 0.1 else ()
        tasks.append(work(name, *(d for d in deps[name] if d not in setup), setup=setup))
        durations[name] = rng.choice([0.0, 1.0, 2.0, 5.0, rng.random() * 4])
    tasks.append(group("all", *(t.name for t in rng.sample(tasks, len(tasks)))))
    up_to_date = frozenset(rng.sample(list(durations), len(durations) // 4))
    activate_for(tasks, {n: d for n, d in durations.items() if rng.random() < 0.8})

    run = simulate(tasks, ["all"], durations, workers=rng.choice([1, 2, 3]),
                   up_to_date=up_to_date)

    assert sorted(run.order) == sorted(set(durations) - up_to_date)
    for name, (start, _) in run.spans.items():
        assert all(run.spans[d][1] <= start for d in deps.get(name, ()) if d in run.spans)


def test_the_order_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(doit.doit_cmd, "_CMDLINE_VARS", {})
    assert schedule.order() == "longest-path"
    monkeypatch.setattr(doit.doit_cmd, "_CMDLINE_VARS", {"order": "doit"})
    assert schedule.order() == "doit"
    monkeypatch.setattr(doit.doit_cmd, "_CMDLINE_VARS", {"order": "random"})
    with pytest.raises(UsageError, match="'random' is not an order; use "
                                         "order=longest-path or order=doit"):
        schedule.order()


# real doit runs ----------------------------------------------------------------------------

DODO = '''
"""A chain beside short tasks; a reporter that activates fedbuild's order, as fedbuild's does."""
import json
import threading
import time
from pathlib import Path

from doit.reporter import ConsoleReporter

from tasks import schedule

HERE = Path(__file__).resolve().parent
SPEC = json.loads((HERE / "spec.json").read_text())
EVENTS = HERE / "events.log"
_lock = threading.Lock()


def log(event, name):
    with _lock, EVENTS.open("a") as out:
        out.write(f"{time.time():.6f} {event} {name}\\n")


def work(name, seconds):
    log("start", name)
    time.sleep(seconds)
    log("end", name)


class Reporter(ConsoleReporter):
    def initialize(self, tasks, selected_tasks):
        if schedule.order() == "doit":
            schedule.deactivate()
        else:
            schedule.activate(schedule.priorities(tasks, SPEC["estimates"]))

    def get_status(self, task):  # the main thread, just before doit dispatches the task
        log("select", task.name)

    def add_success(self, task):  # the main thread, as soon as the task's result is in
        log("done", task.name)


DOIT_CONFIG = {"reporter": Reporter, "backend": "json", "dep_file": str(HERE / "db.json"),
               "verbosity": 0, "default_tasks": SPEC["select"]}


def task_w():
    for name, seconds, deps in SPEC["tasks"]:
        yield {"name": name, "actions": [(work, [name, seconds])],
               "task_dep": [f"w:{d}" for d in deps]}


def task_all():
    return {"actions": None, "task_dep": [f"w:{n}" for n, _, _ in SPEC["tasks"]]}
'''

CHAIN = [f"c{i}" for i in range(1, 5)]
SHORTS = [f"s{i}" for i in range(1, 7)]


def real_run(tmp_path: Path, select: list[str], order: str) -> list[tuple[float, str, str]]:
    """`doit -n 2 -P thread order=<order>` on the skewed graph: its events, in order."""
    folder = tmp_path / f"{order}-{len(select)}"
    folder.mkdir()
    (folder / "dodo.py").write_text(DODO)
    spec = [[s, 0.1, []] for s in SHORTS] + [["c1", 0.2, []]] + \
        [[c, 0.2, [p]] for p, c in itertools.pairwise(CHAIN)]
    (folder / "spec.json").write_text(json.dumps({
        "tasks": spec, "select": select,
        "estimates": {f"w:{name}": seconds for name, seconds, _ in spec}}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, "-m", "doit", "-n", "2", "-P", "thread",
                           f"order={order}"], cwd=folder, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    events = []
    for line in (folder / "events.log").read_text().splitlines():
        moment, event, name = line.split()
        events.append((float(moment), event, name.removeprefix("w:")))
    return events


def main_thread(events: list[tuple[float, str, str]]) -> list[str]:
    """What doit's main thread did, in order: `select X` (dispatch) and `done X`."""
    return [f"{e} {n}" for _, e, n in events if e in ("select", "done") and n in CHAIN + SHORTS]


def timeline(events: list[tuple[float, str, str]]) -> RunInfo:
    """The run as the reporter would record it, from the actions' own start and end times."""
    start = {n: t for t, e, n in events if e == "start"}
    end = {n: t for t, e, n in events if e == "end"}
    deps = dict(zip(CHAIN[1:], CHAIN[:-1], strict=True))
    tasks = tuple(TaskRun(n, "built", ended=end[n], started=start[n], duration=end[n] - start[n],
                          deps=(deps[n],) if n in deps else ()) for n in start)
    return RunInfo(min(start.values()), max(end.values()), (), "development", "succeeded", 2,
                   tasks=tasks)


@pytest.mark.parametrize("select", [[f"w:{s}" for s in SHORTS] + ["w:c4"], ["all"]],
                         ids=["selected-in-order", "one-group"])
def test_real_doit_starts_the_chain_first_and_never_delays_it(tmp_path: Path,
                                                               select: list[str]) -> None:
    ours = main_thread(events := real_run(tmp_path, select, "longest-path"))
    theirs = main_thread(baseline := real_run(tmp_path, select, "doit"))

    assert ours[:2] == ["select s1", "select c1"]  # s1: doit's pick, before anything ran
    # each link is dispatched the moment its predecessor's result is in: the chain never
    # waits, so the run takes the chain's time (the lower bound here)
    for previous, link in itertools.pairwise(CHAIN):
        assert ours[ours.index(f"done {previous}") + 1] == f"select {link}"
    assert [e for e in theirs if e.startswith("select")][:7] == \
        [f"select {s}" for s in SHORTS] + ["select c1"]
    for run in (events, baseline):
        path = critical_path(timeline(run))
        assert path is not None and path.chain == tuple(CHAIN)
    ours_path, theirs_path = critical_path(timeline(events)), critical_path(timeline(baseline))
    assert ours_path is not None and theirs_path is not None
    assert ours_path.waited < theirs_path.waited  # doit's order: c1 waited for the shorts
