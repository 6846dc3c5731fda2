"""tasks/slots.py: a task holds a local slot while it runs here and trades it for a remote
one while it waits on the cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tasks import slots


@pytest.fixture(autouse=True)
def _no_slots_after() -> Iterator[None]:
    yield
    slots.clear()


def _free(semaphore: object) -> int:
    """How many slots of `semaphore` are free (taken and given back to count them)."""
    taken = 0
    while semaphore.acquire(blocking=False):  # type: ignore[attr-defined]
        taken += 1
    for _ in range(taken):
        semaphore.release()  # type: ignore[attr-defined]
    return taken


def test_doit_gets_a_thread_for_each_local_and_remote_slot() -> None:
    assert slots.configure(2, 3) == 5
    assert slots.configure(4, 0) == 4  # executor=local: doit's own workers, no slots
    assert slots.run_task(lambda: "ran") == "ran"


def test_a_task_waiting_on_the_cluster_holds_a_remote_slot_and_no_local_one() -> None:
    slots.configure(1, 2)
    seen: dict[str, int] = {}

    def task() -> None:
        seen["running here"] = _free(slots._local)
        with slots.remote():
            seen["waiting local"], seen["waiting remote"] = (_free(slots._local),
                                                             _free(slots._remote))
        seen["restoring"] = _free(slots._local)

    slots.run_task(task)
    assert seen == {"running here": 0, "waiting local": 1, "waiting remote": 1,
                    "restoring": 0}
    assert (_free(slots._local), _free(slots._remote)) == (1, 2)


def test_outside_a_task_or_without_slots_remote_changes_nothing() -> None:
    with slots.remote():  # no slots configured
        pass
    slots.configure(1, 1)
    with slots.remote():  # not inside run_task: holds no local slot to give back
        assert (_free(slots._local), _free(slots._remote)) == (1, 1)
