"""Dealing the default tasks into CI shards: deterministic, balanced by recorded durations."""

from __future__ import annotations

import pytest

from tasks.shard import assign, part

NAMES = [f"build:m{i:02d}" for i in range(12)]


def test_every_task_lands_in_exactly_one_part() -> None:
    parts = [part(NAMES, {}, (k, 3)) for k in (1, 2, 3)]
    assert sorted(n for p in parts for n in p) == sorted(NAMES)
    assert all(p == [n for n in NAMES if n in p] for p in parts)  # in their given order


def test_the_same_inputs_give_the_same_parts_on_any_machine() -> None:
    estimates = {n: float(i % 5 + 1) for i, n in enumerate(NAMES)}
    assert assign(NAMES, estimates, 4) == assign(list(reversed(NAMES)), dict(estimates), 4)
    assert assign(NAMES, {}, 4) == assign(list(reversed(NAMES)), {}, 4)


def test_recorded_durations_balance_the_parts() -> None:
    # One long task and many short ones: the long one gets a part to itself.
    estimates = {"build:big": 10.0, **{n: 1.0 for n in NAMES[:10]}}
    parts = assign(["build:big", *NAMES[:10]], estimates, 2)
    load = {k: sum(estimates[n] for n, p in parts.items() if p == k) for k in (1, 2)}
    assert load == {1: 10.0, 2: 10.0}
    assert [n for n, p in parts.items() if p == parts["build:big"]] == ["build:big"]


def test_tasks_never_timed_go_by_a_stable_hash() -> None:
    parts = assign(NAMES, {}, 3)
    assert set(parts.values()) == {1, 2, 3}  # twelve names spread over the three parts
    assert assign(NAMES[:1], {}, 3)[NAMES[0]] == parts[NAMES[0]]


@pytest.mark.parametrize("count", [1, 2, 5])
def test_one_part_of_one_is_everything(count: int) -> None:
    assert sorted(n for k in range(1, count + 1) for n in part(NAMES, {}, (k, count))) == \
        sorted(NAMES)
