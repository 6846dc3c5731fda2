"""Local and remote slots: with executor=dask, `-n` limits the work done here and
`remote_jobs=` the tasks in flight on the cluster, each on its own.

doit runs a task on one of its `-n` workers (threads, `-P thread`, fedbuild's default) from
start to end, and starts a task only on a free worker: its workers bound everything in
flight. doit has no way to start a task and be told later that it finished. So a run with
executor=dask gets `-n` + `remote_jobs` threads from doit (a thread waiting on a Dask future
costs no CPU), and fedbuild gives the slots out itself: every task holds one of the `-n`
local slots while it runs here (its cache lookup, its inputs' upload, a local command, a
restore), and trades it for one of the `remote_jobs` slots while it waits on the cluster.
So at most `-n` tasks work here at once, at most `remote_jobs` wait on the cluster, and a
remote task holds no local slot.

What doit's model still imposes: a thread whose task waits for a local slot is not free for
another task, so many ready tasks that all run here (federate, a board's flash) can keep
remote ones from starting until a local slot frees. With `-P process` (one process per
worker) there are no shared slots: a remote task holds its process, as any task does.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")

_local: threading.Semaphore | None = None  # None: doit's workers are the only limit
_remote: threading.Semaphore | None = None
_holds = threading.local()  # whether this thread's task holds a local slot now


def configure(local: int, remote: int) -> int:
    """Give the next run `local` slots here and `remote` on the cluster (none: no slots,
    doit's workers limit everything); the number of threads doit needs for it."""
    global _local, _remote
    if remote <= 0:
        _local = _remote = None
        return local
    _local, _remote = threading.Semaphore(local), threading.Semaphore(remote)
    return local + remote


def clear() -> None:
    """The run is over: no slots."""
    configure(0, 0)


def run_task(execute: Callable[[], T]) -> T:
    """Run one of doit's tasks (`execute`) holding a local slot, when there are slots."""
    local = _local
    if local is None:
        return execute()
    with local:
        _holds.local = True
        try:
            return execute()
        finally:
            _holds.local = False


@contextlib.contextmanager
def remote() -> Iterator[None]:
    """While waiting on the cluster: this task's local slot given back, a remote one held;
    the local slot taken again after (the result is restored here)."""
    local, away = _local, _remote
    if local is None or away is None or not getattr(_holds, "local", False):
        yield
        return
    local.release()
    try:
        with away:
            yield
    finally:
        local.acquire()
