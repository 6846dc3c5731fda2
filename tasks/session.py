"""One run of doit in a repository: hold the lock, and leave nothing behind however it ends."""

from __future__ import annotations

import atexit
import contextlib
import math
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from types import FrameType, TracebackType

import doit

from core.confine import remove_tree
from core.errors import COMMAND_LINE, ENVIRONMENT, UsageError
from core.lock import Holder, RepoLock
from core.runner import RUN_VARIABLE, kill_all, kill_marked
from core.state import State

__all__ = ["RUN_VARIABLE", "Session", "interrupted", "interrupts_deferred", "lock_wait", "sweep"]


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
        _Forks.run_pid = os.getpid()
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
        _Forks.run_pid = None


class _Forks:
    """What a child forked by a running session (a `-P process` worker) needs to know."""

    run_pid: int | None = None  # the process whose session is running
    from_main_thread = False  # PR_SET_PDEATHSIG fires when the forking *thread* ends


def _before_fork() -> None:
    _Forks.from_main_thread = threading.current_thread() is threading.main_thread()


def _die_with_parent() -> None:
    """In a worker forked by a run: be killed when the run's process dies, even by SIGKILL.

    Its builds' trees are left for the next run, which kills them by their FEDBUILD_RUN mark.
    """
    parent, _Forks.run_pid = _Forks.run_pid, None
    if parent is None or not _Forks.from_main_thread or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # it died before prctl: the signal will never come
        os._exit(1)


os.register_at_fork(before=_before_fork, after_in_child=_die_with_parent)


def lock_wait() -> float:
    """Seconds to wait for another run's lock: doit var `lock_wait=S` or FEDBUILD_LOCK_WAIT;
    a UsageError for anything but a number of seconds (it was read as 0: no wait)."""
    given = doit.get_var("lock_wait", None)
    source, name = (COMMAND_LINE, "lock_wait") if given else (ENVIRONMENT, "FEDBUILD_LOCK_WAIT")
    value = given or os.environ.get("FEDBUILD_LOCK_WAIT", "") or "0"
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < math.inf:
        raise UsageError(source, name, f"{value!r} is not a number of seconds to wait for "
                         "another run's lock; use e.g. lock_wait=60 (0: do not wait)")
    return seconds


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
            remove_tree(entry.path, state.tmp, ignore_errors=True)


_interrupted = threading.Event()
_signal: int | None = None  # the signal that stopped the run
_deferred = 0  # > 0 while the main thread runs code that polls interrupted() instead
# Exit code of a run (or `doit clean`) refused because another run holds the repository.
LOCKED_OUT = 2
INTERRUPTED = ("fedbuild: interrupted; running builds were stopped and their temporary "
               "folders removed, last good outputs kept\n")


# The interpreter runs a signal's handler in the main thread, at its next bytecode: a
# thread publishing the federation could reach its swap first. It also writes the signal's
# number to this pipe the moment the signal arrives, which any thread can read at once.
_arrived = threading.Event()
_wakeup: tuple[int, int] | None = None  # (read, write) ends, while handlers are installed


def interrupted() -> bool:
    """Whether SIGINT or SIGTERM has asked this run to stop (long actions poll it); seen in
    every thread from the moment the signal arrives."""
    return _interrupted.is_set() or _arrived.is_set() or _signal_arrived()


def _signal_arrived() -> bool:
    """Read what the interpreter wrote to the wakeup pipe; True once SIGINT or SIGTERM did."""
    if _wakeup is None:
        return False
    try:
        numbers = os.read(_wakeup[0], 256)
    except OSError:  # nothing arrived (the pipe does not block), or it was just closed
        return _arrived.is_set()
    if signal.SIGINT in numbers or signal.SIGTERM in numbers:
        _arrived.set()
    return _arrived.is_set()


def _forget_wakeup_in_child() -> None:
    """A forked child does not share its parent's pipe (it would read the parent's signals)."""
    global _wakeup
    if _wakeup is None:
        return
    with contextlib.suppress(ValueError):  # not the child's main thread: nothing to undo
        signal.set_wakeup_fd(-1)
    for fd in _wakeup:
        with contextlib.suppress(OSError):
            os.close(fd)
    _wakeup = None
    _arrived.clear()


os.register_at_fork(after_in_child=_forget_wakeup_in_child)


def stopping_signal() -> int | None:
    """The signal (SIGINT, SIGTERM) that stopped this run, if one did."""
    return _signal


def interrupted_exit_code() -> int:
    """128 + the signal that stopped the run (SIGINT when none was recorded: a Ctrl-C
    before fedbuild's handlers were installed)."""
    return 128 + int(stopping_signal() or signal.SIGINT)


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
    global _signal
    if _interrupted.is_set():
        return
    _signal = signum
    _interrupted.set()
    if _deferred:
        return
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _quiet_interrupt(kind: type[BaseException], value: BaseException,
                     tb: TracebackType | None) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.stderr.write(INTERRUPTED)
        return
    sys.__excepthook__(kind, value, tb)


def _install_signal_handlers() -> None:
    """SIGINT and SIGTERM stop the run the same way, in this process and in forked workers."""
    if threading.current_thread() is not threading.main_thread():
        return
    global _wakeup
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    if _wakeup is None:
        _wakeup = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(_wakeup[1], warn_on_full_buffer=False)
    sys.excepthook = _quiet_interrupt
