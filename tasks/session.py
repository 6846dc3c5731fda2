"""One run of doit in a repository: hold the lock, and leave nothing behind however it ends."""

from __future__ import annotations

import atexit
import contextlib
import multiprocessing
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType, TracebackType

from federation.state import State
from tasks.lock import Holder, RepoLock
from tasks.runner import kill_all, kill_marked

# Every process a run starts inherits this variable: a later run that finds the
# lock of a killed run can then find, and kill, what that run left running.
RUN_VARIABLE = "FEDBUILD_RUN"


class Session:
    """Begins after the lock is taken; ends (normally, by exception or at exit) exactly once."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.lock = RepoLock(state.lock)
        self.stale: Holder | None = None
        self._active = False
        self._ended = threading.Lock()

    def begin(self, wait: float = 0.0) -> None:
        """Take the repository lock (raises LockHeld), sweep what a dead run left, guard exits."""
        self.state.dir.mkdir(parents=True, exist_ok=True)
        self.stale = self.lock.acquire(wait=wait)
        self._active = True
        assert self.lock.holder is not None
        os.environ[RUN_VARIABLE] = self.lock.holder.token
        if self.stale is not None:
            kill_marked(RUN_VARIABLE, self.stale.token)
        sweep(self.state)
        _install_signal_handlers()
        atexit.register(self.end)

    def end(self) -> None:
        """Kill any process tree still running, remove temporary folders, release the lock."""
        if not self._active or not self._ended.acquire(blocking=False):
            return
        kill_all()
        _stop_workers()
        # Whatever carries this run's mark is a leftover: a tree a worker started just
        # as it was stopped, or a daemon a build detached with setsid.
        assert self.lock.holder is not None
        kill_marked(RUN_VARIABLE, self.lock.holder.token)
        sweep(self.state)
        self.lock.release()


def _stop_workers(grace: float = 5.0) -> None:
    """Give `-P process` workers a moment to clean up after an interrupt, then kill them."""
    deadline = time.monotonic() + grace
    for worker in multiprocessing.active_children():
        worker.join(timeout=max(0.0, deadline - time.monotonic()))
    for worker in multiprocessing.active_children():
        worker.kill()
        worker.join(timeout=1.0)


def sweep(state: State) -> None:
    """Remove every temporary build folder; only the lock holder may call this."""
    if state.tmp.is_dir():
        for entry in os.scandir(state.tmp):
            shutil.rmtree(entry.path, ignore_errors=True)


_interrupted = threading.Event()
_deferred = 0  # > 0 while the main thread runs code that polls interrupted() instead


def interrupted() -> bool:
    """Whether SIGINT or SIGTERM has asked this run to stop (long actions poll it)."""
    return _interrupted.is_set()


@contextlib.contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Within, a signal only sets the flag that interrupted() reports; it is raised on exit.

    For code that must stop at a point of its choosing: an exception raised at an
    arbitrary line can even break the standard library's own cleanup (shutil.rmtree
    closing a descriptor twice). Other threads are never interrupted asynchronously.
    """
    global _deferred
    main = threading.current_thread() is threading.main_thread()
    if main:
        _deferred += 1
    try:
        yield
    finally:
        if main:
            _deferred -= 1
    if main and _deferred == 0 and _interrupted.is_set():
        raise KeyboardInterrupt("interrupted")


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    # The first signal stops the run; later ones must not abort its cleanup halfway.
    if _interrupted.is_set():
        return
    _interrupted.set()
    if _deferred:
        return
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _quiet_interrupt(kind: type[BaseException], value: BaseException,
                     tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.stderr.write("fedbuild: interrupted; running builds were stopped and their "
                         "temporary folders removed, last good outputs kept\n")
        return
    sys.__excepthook__(kind, value, tb)


def _install_signal_handlers() -> None:
    """SIGINT and SIGTERM stop the run the same way, in this process and in forked workers."""
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    sys.excepthook = _quiet_interrupt
