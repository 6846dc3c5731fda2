"""The one place that starts processes: run() one to its end (argv, own process group,
timeout, retries, usage), or start() one that is read while it runs; kill_all() ends both."""

from __future__ import annotations

import atexit
import enum
import errno
import os
import select
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from resource import struct_rusage

    # Imported by the functions that sample or kill a process tree, not when this module
    # loads: most commands end before either is needed (a warm build runs only short
    # version probes), and the import is 5 ms of every run's start.
    import psutil

# Every process a run starts carries this variable (tasks/session.py sets it): a later run
# that finds the lock of a killed one can then find, and kill, what it left running.
RUN_VARIABLE = "FEDBUILD_RUN"
# How often a running tree's memory is sampled; exit itself wakes us at once via pidfd.
SAMPLE_INTERVAL = 0.1
_TAIL_BLOCK = 8192


@dataclass(frozen=True)
class Command:
    """A process to run: argv (never a shell string), where, with what, and how patiently."""

    argv: tuple[str, ...]
    cwd: Path
    log: Path
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 300.0
    retries: int = 0
    backoff: float = 0.5
    kill_grace: float = 3.0
    append: bool = False  # add to the log (a later command of the same step) instead of
    # starting it anew

    def __post_init__(self) -> None:
        # A str here would be a shell command line in disguise (and iterate as characters).
        if isinstance(self.argv, str) or not self.argv:
            raise ValueError(f"Command.argv must be a non-empty tuple of str, got {self.argv!r}")


class Status(str, enum.Enum):
    """How a command ended."""

    OK = "ok"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    MISSING_TOOL = "missing tool"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class Result:
    """What running a command did: status, exit code and resources of all attempts."""

    command: Command
    status: Status
    exit_code: int | None
    duration: float
    peak_rss: int
    cpu_time: float
    attempts: int

    @property
    def ok(self) -> bool:
        """Whether the command succeeded (possibly after retries)."""
        return self.status is Status.OK

    def tail(self, lines: int = 20) -> str:
        """The last `lines` lines of the log."""
        return tail_lines(self.command.log, lines)

    def describe(self) -> str:
        """A message a user can act on: the command, what happened, and the log's last lines."""
        cmd = f"`{shlex.join(self.command.argv)}`"
        if self.status is Status.MISSING_TOOL:
            return f"{cmd} could not run: {_missing_message(self.command)}"
        tries = self.command.retries + 1
        attempt = f" (attempt {self.attempts}/{tries})" if tries > 1 else ""
        after = f"after {self.duration:.1f}s{attempt}"
        if self.status is Status.TIMED_OUT:
            head = f"{cmd} timed out after {self.command.timeout:g}s and was killed{attempt}"
        elif self.status is Status.INTERRUPTED:
            head = f"{cmd} was interrupted {after}"
        elif self.status is Status.OK:
            head = f"{cmd} succeeded {after}"
        elif self.exit_code is None:
            head = f"{cmd} could not be started"
        elif self.exit_code < 0:
            head = f"{cmd} was killed by {signal.Signals(-self.exit_code).name} {after}"
        else:
            head = f"{cmd} failed with exit code {self.exit_code} {after}"
        tail = self.tail()
        return f"{head}\n{tail}" if tail else head


def tail_lines(path: Path, lines: int) -> str:
    """The last `lines` lines of a text file, read backwards from its end ("" if none)."""
    try:
        with path.open("rb") as f:
            end = f.seek(0, os.SEEK_END)
            data = b""
            # One line more than asked: the first block may start mid-line.
            while end > 0 and data.count(b"\n") <= lines:
                start = max(0, end - _TAIL_BLOCK)
                f.seek(start)
                data = f.read(end - start) + data
                end = start
    except OSError:
        return ""
    return "\n".join(data.decode(errors="replace").splitlines()[-lines:])


@dataclass(eq=False)
class _Child:
    """A live process tree, as kill_all() sees it."""

    proc: subprocess.Popen[bytes]
    grace: float
    killed: bool = False  # by kill_all(): the caller asked us to stop, so no retry


# Re-entrant: kill_all() may be called from a signal handler that interrupted run()
# while it held the lock in the same (main) thread.
_live_lock = threading.RLock()
_live: set[_Child] = set()
# How many times kill_all() ran: a process started meanwhile (after Popen, before it was
# listed in _live) was missed by it, and is killed as soon as it is listed (_register).
_kills = 0


def run(command: Command) -> Result:
    """Run `command` (with retries) and return what happened; re-raises interrupts after killing."""
    started = time.monotonic()
    usage = _Usage()
    env = _environment(command)
    command.log.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
    if not command.append:
        flags |= os.O_TRUNC
    # O_APPEND: our headers and the children's output share one file without clobbering.
    log = os.open(command.log, flags, 0o644)
    try:
        attempt, status, code = 0, Status.FAILED, None
        for attempt in range(1, command.retries + 2):
            if attempt > 1:
                time.sleep(command.backoff * 2 ** (attempt - 2))
            _header(log, command, attempt)
            status, code = _attempt(command, env, log, usage)
            if status not in (Status.FAILED, Status.TIMED_OUT) or code is None:
                break
    finally:
        os.close(log)
    return Result(
        command, status, code, time.monotonic() - started, usage.peak_rss, usage.cpu_time, attempt
    )


def start(command: Command, *, output: int | None = None, pass_fds: tuple[int, ...] = (),
          cgroup: Path | None = None) -> Process:
    """Start a long-running process that is read while it runs (QEMU, a build's doit) and
    return its handle at once. Like run(): own session, the run's mark, kill_all() covers
    it. Its output goes to command.log as it comes (or to the descriptor `output`, such as
    the caller's own stdout); `pass_fds` are inherited; `cgroup` is joined before exec, so
    whatever it starts is in that cgroup too. The caller decides how long to wait (wait()'s
    timeout), so command.retries, backoff and timeout do not apply."""
    env = _environment(command)
    exe = _resolve(command, env)
    if exe is None:
        raise FileNotFoundError(errno.ENOENT, _missing_message(command))
    log = output
    if log is None:
        command.log.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        log = os.open(command.log, flags | (os.O_APPEND if command.append else os.O_TRUNC),
                      0o644)
    kills = _kills
    try:
        proc = subprocess.Popen(
            command.argv, executable=exe, cwd=command.cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True, pass_fds=pass_fds,
            preexec_fn=(lambda: _join_cgroup(cgroup)) if cgroup is not None else None,
        )  # fmt: skip
    finally:
        if output is None:
            os.close(log)
    return Process(command, proc, kills)


class Process:
    """A process tree start() began: polled or waited for, read through its log, killed as
    a tree (its process group and every descendant, as run() kills on a timeout)."""

    def __init__(self, command: Command, proc: subprocess.Popen[bytes], kills: int) -> None:
        self.command = command
        self.pid = proc.pid
        self._child = _Child(proc, command.kill_grace)
        self._usage = _Usage()
        self._started = time.monotonic()
        self._ended: float | None = None
        _register(self._child, kills)

    @property
    def returncode(self) -> int | None:
        """The exit code once the process has exited and been reaped, else None."""
        return self._child.proc.returncode

    def poll(self) -> int | None:
        """The exit code if the process has exited (reaping it and what it left in its
        group), else None; never blocks."""
        if self.returncode is None and _exited(self.pid):
            self._reap()
        return self.returncode

    def wait(self, timeout: float) -> int | None:
        """Wait up to `timeout` seconds for the exit, sampling the tree's memory meanwhile;
        the exit code, or None if it is still running."""
        if self.returncode is None and _wait(self.pid, timeout, self._usage):
            self._reap()
        return self.returncode

    def kill(self) -> int | None:
        """Kill the whole tree (SIGTERM, kill_grace, SIGKILL) and reap it; the exit code."""
        if self.poll() is None:
            self._child.killed = True
            with _signals_deferred():
                _kill_trees([self.pid], self.command.kill_grace)
                self._reap()
        return self.returncode

    def result(self) -> Result:
        """What it did so far: status, exit code, duration, peak memory and CPU time (the
        last two complete once it has been reaped)."""
        code = self.returncode
        if self._child.killed:
            status = Status.INTERRUPTED
        else:
            status = Status.OK if code == 0 else Status.FAILED
        ended = self._ended if self._ended is not None else time.monotonic()
        return Result(self.command, status, code, ended - self._started,
                      self._usage.peak_rss, self._usage.cpu_time, 1)

    def __enter__(self) -> Process:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.kill()

    def _reap(self) -> None:
        _finish(self._child, self._usage)
        if self.returncode is not None:
            self._ended = time.monotonic()


def _register(child: _Child, kills: int) -> None:
    """List a just-started child as live, so kill_all() covers it; if kill_all() ran since
    `kills` was read (before its Popen), it could not see the child: kill its tree now."""
    with _live_lock:
        _live.add(child)
        if _kills != kills:
            child.killed = True
            _kill_trees([child.proc.pid], child.grace)


def kill_all() -> None:
    """Kill every process tree still running from this process; safe from any thread."""
    global _kills
    with _live_lock:
        _kills += 1
        children = list(_live)
        for child in children:
            child.killed = True
        # Under the lock: run() reaps only under it, so no group id here can be reused meanwhile.
        if children:
            _kill_trees([c.proc.pid for c in children], max(c.grace for c in children))


def kill_marked(variable: str, value: str) -> int:
    """Kill the processes whose environment has variable=value (a dead run's leftovers)."""
    pids = marked_pids(variable, value)
    if not pids:
        return 0
    import psutil

    marked: list[psutil.Process] = []
    for pid in pids:
        with suppress(psutil.Error):
            proc = psutil.Process(pid)
            if proc.environ().get(variable) == value:  # again: the pid may have been reused
                marked.append(proc)
    _signal_and_wait(marked, signal.SIGKILL, 1.0)
    return len(marked)


def marked_pids(variable: str, value: str) -> list[int]:
    """The pids (not this one) whose environment holds variable=value: read from /proc where
    there is one (a millisecond for a few hundred processes; every run's end looks), else
    asked of psutil."""
    if not os.path.isdir("/proc/self"):
        import psutil

        found: list[int] = []
        for proc in psutil.process_iter():
            with suppress(psutil.Error):
                if proc.environ().get(variable) == value:
                    found.append(proc.pid)
        return [pid for pid in found if pid != os.getpid()]
    entry = f"{variable}={value}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as environ:
                data = environ.read()
        except OSError:  # gone, or another user's
            continue
        if entry in data.split(b"\0"):
            found.append(int(name))
    return found


def _environment(command: Command) -> dict[str, str]:
    """This process's environment with the command's on top, and the run's mark kept."""
    env = {**os.environ, **command.env}
    if RUN_VARIABLE in os.environ:  # the run's mark, whatever a declared env says
        env[RUN_VARIABLE] = os.environ[RUN_VARIABLE]
    return env


def _join_cgroup(cgroup: Path) -> None:
    # In the child between fork and exec: everything it starts is in the cgroup too.
    (cgroup / "cgroup.procs").write_text(str(os.getpid()))


def _after_fork_in_child() -> None:
    # A forked worker (doit -n N) owns none of its parent's trees, and a lock another thread
    # held at fork time would never be released in the child.
    global _live_lock
    _live_lock = threading.RLock()
    _live.clear()


atexit.register(kill_all)
os.register_at_fork(after_in_child=_after_fork_in_child)


class _Usage:
    """Peak memory and CPU time, accumulated over all attempts."""

    def __init__(self) -> None:
        self.peak_rss = 0
        self.cpu_time = 0.0

    def sample(self, pid: int) -> None:
        """Record the summed RSS of the tree under pid, if it is larger than before."""
        import psutil

        with suppress(psutil.Error):
            root = psutil.Process(pid)
            total = 0
            for proc in [root, *root.children(recursive=True)]:
                with suppress(psutil.Error):
                    total += proc.memory_info().rss
            self.peak_rss = max(self.peak_rss, total)

    def add(self, rusage: struct_rusage) -> None:
        """Add the rusage of a reaped child and its reaped descendants."""
        self.cpu_time += rusage.ru_utime + rusage.ru_stime
        # ru_maxrss is in KiB on Linux (bytes on macOS, where this overstates: harmless).
        self.peak_rss = max(self.peak_rss, rusage.ru_maxrss * 1024)


def _attempt(
    command: Command, env: dict[str, str], log: int, usage: _Usage
) -> tuple[Status, int | None]:
    """One attempt: start, wait with sampling, kill on timeout or exception, reap."""
    exe = _resolve(command, env)
    if exe is None:
        os.write(log, f"fedbuild: {_missing_message(command)}\n".encode())
        return Status.MISSING_TOOL, None
    kills = _kills
    try:
        proc = subprocess.Popen(
            command.argv, executable=exe, cwd=command.cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    except OSError as e:  # e.g. a script whose #! interpreter is missing
        os.write(log, f"fedbuild: could not start {exe}: {e}\n".encode())
        return Status.FAILED, None
    child = _Child(proc, command.kill_grace)
    try:
        _register(child, kills)
        exited = _wait(proc.pid, command.timeout, usage)
    except BaseException:
        with _signals_deferred():
            _kill_trees([proc.pid], command.kill_grace)
            _finish(child, usage)
        raise
    if not exited:
        _kill_trees([proc.pid], command.kill_grace)
    _finish(child, usage)
    if child.killed:
        return Status.INTERRUPTED, proc.returncode
    if not exited:
        return Status.TIMED_OUT, proc.returncode
    return (Status.OK if proc.returncode == 0 else Status.FAILED), proc.returncode


def _resolve(command: Command, env: Mapping[str, str]) -> str | None:
    """argv[0] as Popen will find it: relative to cwd if it has a slash, else on env's PATH."""
    name = command.argv[0]
    if os.sep in name:
        path = (command.cwd / name).absolute()
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    found = which(name, env.get("PATH", os.defpath))
    # Absolute: Popen changes to cwd before exec, a relative PATH entry would then miss.
    return os.path.abspath(found) if found else None


_found: dict[tuple[str, str], str] = {}


def which(name: str, path: str | None = None) -> str | None:
    """shutil.which, remembered for this process: a long PATH is a hundred stat calls, for each
    command. What was found is checked again (one stat); what was not is looked for again."""
    path = os.environ.get("PATH", os.defpath) if path is None else path
    known = _found.get((name, path))
    if known is not None and os.access(known, os.X_OK) and not os.path.isdir(known):
        return known
    found = shutil.which(name, path=path)
    if found is not None:
        _found[(name, path)] = found
    return found


def _missing_message(command: Command) -> str:
    name = command.argv[0]
    if os.sep in name:
        return f"'{name}' not found or not executable in {command.cwd}"
    return f"'{name}' not found on PATH; install it or add its folder to PATH"


def _header(log: int, command: Command, attempt: int) -> None:
    tries = command.retries + 1
    line = f"$ {shlex.join(command.argv)}  (attempt {attempt}/{tries}, cwd {command.cwd})\n"
    os.write(log, line.encode())


def _wait(pid: int, timeout: float, usage: _Usage) -> bool:
    """Wait until pid exits (leaving it unreaped), sampling memory; False on timeout."""
    deadline = time.monotonic() + timeout
    with _exit_fd(pid) as fd:
        while True:
            if _exited(pid):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if fd is None:
                time.sleep(min(SAMPLE_INTERVAL, left))
            else:
                select.select([fd], [], [], min(SAMPLE_INTERVAL, left))
            # Sample only a tree still running after an interval: scanning /proc costs about
            # a millisecond, and wait4's ru_maxrss already covers short-lived commands.
            if not _exited(pid):
                usage.sample(pid)


@contextmanager
def _exit_fd(pid: int) -> Iterator[int | None]:
    """A pidfd that becomes readable when pid exits, or None where the kernel lacks them."""
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        yield None
        return
    try:
        yield fd
    finally:
        os.close(fd)


def _exited(pid: int) -> bool:
    # WNOWAIT keeps the zombie, so its pid (= our process group id) cannot be reused yet.
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _finish(child: _Child, usage: _Usage) -> None:
    """Kill what the leader left in its group, then reap it for its exit code and rusage."""
    with _live_lock:
        _live.discard(child)
        pid = child.proc.pid
        if _exited(pid):
            # A build step must not leave daemons behind; the zombie leader pins the group id.
            _signal_group(pid, signal.SIGKILL)
            _, status, rusage = os.wait4(pid, 0)
            # Popen must never wait() again for a pid we reaped.
            child.proc.returncode = os.waitstatus_to_exitcode(status)
            usage.add(rusage)


def _kill_trees(pids: list[int], grace: float) -> None:
    """SIGTERM each tree and its group, wait up to `grace`, then SIGKILL what is left."""
    import psutil

    tree: list[psutil.Process] = []
    for pid in pids:
        # Snapshot first: descendants that called setsid are out of reach of killpg.
        with suppress(psutil.Error):
            root = psutil.Process(pid)
            tree += [root, *root.children(recursive=True)]
    for pid in pids:
        _signal_group(pid, signal.SIGTERM)
    alive = _signal_and_wait(tree, signal.SIGTERM, grace)
    for pid in pids:
        _signal_group(pid, signal.SIGKILL)
    # SIGKILL cannot be caught; the bounded wait lets run() reap the leader right after.
    _signal_and_wait(alive, signal.SIGKILL, 1.0)


def _signal_group(pgid: int, signum: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _signal_and_wait(
    procs: list[psutil.Process], signum: int, timeout: float
) -> list[psutil.Process]:
    """Send signum to procs and return those still alive after `timeout` seconds."""
    import psutil

    for proc in procs:
        with suppress(psutil.Error):
            proc.send_signal(signum)  # psutil refuses if the pid was reused meanwhile
    deadline = time.monotonic() + timeout
    while True:
        procs = [p for p in procs if not _gone(p)]
        if not procs or time.monotonic() >= deadline:
            return procs
        time.sleep(0.02)


def _gone(proc: psutil.Process) -> bool:
    # Never proc.wait(): psutil would reap our own child and lose its rusage. Zombies count
    # as gone: the parent (or a non-reaping container init) reaps them, not us.
    import psutil

    try:
        return proc.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False


_DEFERRED = (signal.SIGINT, signal.SIGTERM)
_Handler = Callable[[int, FrameType | None], object] | int | None


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM until the block ends, so a second Ctrl-C cannot cut a kill short."""
    # Python runs handlers in the main thread only; masking with pthread_sigmask there would
    # not help, since the kernel then hands the signal to another thread whose C handler
    # still makes the main thread raise. Swapping the Python handlers does hold it.
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    saved: dict[int, _Handler] = {}
    for signum in _DEFERRED:
        old = signal.getsignal(signum)
        if old is not None:  # None: installed outside Python, so it could not be restored
            saved[signum] = old
            signal.signal(signum, lambda s, _frame: caught.append(s))
    try:
        yield
    finally:
        for deferred, old in saved.items():
            signal.signal(deferred, old)
        for late in dict.fromkeys(caught):
            signal.raise_signal(late)  # delivered now that the tree is dead
