"""The critical path of a run, read from hand-made timelines with known times."""

from __future__ import annotations

import dataclasses

import pytest

from tasks.critical_path import CriticalPath, critical_path, performance_lines
from tasks.timeline import RunInfo, TaskRun

T0 = 1_700_000_000.0


def ran(name: str, start: float, end: float, *deps: str) -> TaskRun:
    """A task that executed from T0+start to T0+end."""
    return TaskRun(name, "built", ended=T0 + end, started=T0 + start, duration=end - start,
                   deps=deps)


def up_to_date(name: str, at: float, *deps: str) -> TaskRun:
    """A task found up to date at T0+at (it never started)."""
    return TaskRun(name, "up to date", ended=T0 + at, deps=deps)


def run(*tasks: TaskRun, workers: int = 2, wall: float | None = None) -> RunInfo:
    """A run from T0 to T0+wall (default: the last task's end)."""
    end = T0 + wall if wall is not None else max(t.ended for t in tasks)
    return RunInfo(T0, end, ("-n", str(workers)), "development", "succeeded", workers,
                   tasks=tasks)


def path_of(info: RunInfo) -> CriticalPath:
    path = critical_path(info)
    assert path is not None
    return path


def test_a_chain_beside_a_short_task() -> None:
    info = run(ran("build:clib", 0, 3), ran("lint:web", 0, 1),
               ran("build:pyproj", 3, 7, "build:clib"), ran("test:pyproj", 7, 8, "build:pyproj"),
               wall=9)

    path = path_of(info)

    assert path.chain == ("build:clib", "build:pyproj", "test:pyproj")
    assert path.durations == (3, 4, 1)
    assert (path.length, path.wall, path.work, path.peak, path.workers) == (8, 9, 9, 2, 2)
    assert path.parallelism == 1.0
    assert path.waited == 0
    assert path.describe() == [
        "critical path: build:clib 3.0s -> build:pyproj 4.0s -> test:pyproj 1.0s = 8.0s "
        "of 9.0s wall",
        "parallelism: 1.0 of 2 workers on average (peak 2); work 9.0s"]


def test_a_diamond_follows_the_longer_branch() -> None:
    info = run(ran("a", 0, 1), ran("b", 1, 2, "a"), ran("c", 1, 4, "a"),
               ran("d", 4, 5, "b", "c"))

    path = path_of(info)

    assert path.chain == ("a", "c", "d")
    assert path.length == 5
    assert path.work == 6
    assert path.parallelism == pytest.approx(6 / 5)


def test_an_up_to_date_dependency_is_looked_through() -> None:
    # lib is up to date; app waited (through it) for codegen, which ran
    info = run(ran("codegen", 0, 2), ran("docs", 0, 1), up_to_date("lib", 2.1, "codegen"),
               ran("app", 2.2, 5, "lib", "docs"))

    assert path_of(info).chain == ("codegen", "app")


def test_a_dependency_not_in_the_run_ends_the_chain() -> None:
    info = run(ran("b", 1, 2, "a", "elsewhere"))

    assert path_of(info).chain == ("b",)


def test_waiting_for_a_free_worker_is_measured_and_named() -> None:
    # two workers: "long" was ready at 0 but s1 and s2 held both until 2
    info = run(ran("s1", 0, 2), ran("s2", 0, 2), ran("long", 2, 5), workers=2)

    path = path_of(info)

    assert path.chain == ("long",)
    assert path.waited == 2
    assert path.describe()[0] == "critical path: long 3.0s = 3.0s of 5.0s wall " \
        "(waited 2.0s for a free worker)"


def test_with_one_worker_waiting_is_no_news() -> None:
    info = run(ran("s1", 0, 1), ran("s2", 1, 2), ran("long", 2, 5), workers=1)

    path = path_of(info)

    assert path.chain == ("long",)
    assert path.describe() == [
        "critical path: long 3.0s = 3.0s of 5.0s wall",
        "parallelism: 1.0 of 1 worker on average (peak 1); work 5.0s"]


def test_the_longest_chain_not_the_task_that_ended_last() -> None:
    # the run: one worker; test:ui (0.9 s, no dependency) only waited for the worker
    # and ended last; the chain build:greet -> test:greet took 17.1 s
    info = run(ran("build:greet", 0, 7.6), ran("test:greet", 7.6, 17.1, "build:greet"),
               ran("test:ui", 17.1, 18.0), workers=1)

    path = path_of(info)

    assert path.chain == ("build:greet", "test:greet")
    assert path.describe()[0] == ("critical path: build:greet 7.6s -> test:greet 9.5s = "
                                  "17.1s of 18.0s wall")


def test_the_path_does_not_depend_on_the_number_of_workers() -> None:
    serial = run(ran("a", 0, 2), ran("b", 2, 3, "a"), ran("c", 3, 5.5), workers=1)
    parallel = run(ran("a", 0, 2), ran("c", 0, 2.5), ran("b", 2, 3, "a"), workers=2)

    assert path_of(serial).chain == path_of(parallel).chain == ("a", "b")


def test_a_gap_with_a_free_worker_is_not_a_wait() -> None:
    # two workers, one idle while "b" waited: the gap is doit's own time, not a queue
    info = run(ran("a", 0, 1), ran("x", 0, 1.5), ran("b", 1.6, 3, "a"), workers=2)

    path = path_of(info)

    assert path.chain == ("a", "b")
    assert path.waited == 0
    assert "waited" not in path.describe()[0]


def test_a_wait_within_a_chain_counts_only_while_every_worker_was_busy() -> None:
    # b was ready at 1; x and y held both workers from 1 to 3 (y until 3.5 on its own)
    info = run(ran("a", 0, 1), ran("x", 0.5, 3), ran("y", 1, 3.5), ran("b", 3.5, 6, "a"))

    path = path_of(info)

    assert path.chain == ("a", "b")
    assert path.waited == pytest.approx(2.0)
    assert path.peak == 2


def test_a_long_chain_is_elided_in_the_summary() -> None:
    tasks = [ran("t0", 0, 1)] + [ran(f"t{i}", i, i + 1, f"t{i - 1}") for i in range(1, 2000)]

    path = path_of(run(*tasks))
    line = path.describe()[0]

    assert len(path.chain) == 2000
    assert line == ("critical path: t0 1.0s -> t1 1.0s -> (1996 more) -> t1998 1.0s -> "
                    "t1999 1.0s = 33m20s of 33m20s wall")


def test_nothing_executed_has_no_critical_path() -> None:
    assert critical_path(run(up_to_date("a", 0.1), up_to_date("b", 0.2, "a"))) is None
    assert critical_path(RunInfo(T0, T0 + 1, (), "development", "succeeded", 1)) is None


def test_a_cyclic_record_ends() -> None:
    info = run(ran("a", 0, 1, "b"), ran("b", 1, 2, "a"))

    assert path_of(info).chain == ("a", "b")


def test_a_lazy_step_not_needed_is_looked_through() -> None:
    # install:web executed only to say it was not needed (every dependent was cached):
    # it bounds nothing, and a chain through it must not fail to find it
    not_needed = TaskRun("install:web", "not needed", ended=T0 + 0.1, started=T0,
                         duration=0.0, deps=("codegen",))
    info = run(ran("codegen", 0, 2), not_needed, ran("build:web", 2, 3, "install:web"))

    assert path_of(info).chain == ("codegen", "build:web")


def test_performance_lines_name_the_slowest_tasks_with_memory_and_cpu() -> None:
    """build_settings.performance_tracking's lines: slowest first, up-to-date tasks left out."""
    slow = dataclasses.replace(ran("build:a", 0, 3), peak_rss=64_000_000, cpu_time=2.5)
    info = run(slow, ran("test:a", 3, 3.5, "build:a"), up_to_date("build:b", 1))
    assert performance_lines(info) == [
        "performance (build_settings.performance_tracking), slowest first:",
        "  build:a    3.0s  peak memory 64.0 MB, CPU 2.5s",
        "  test:a    0.50s  peak memory -, CPU -"]
    assert performance_lines(run(up_to_date("build:b", 1))) == []
