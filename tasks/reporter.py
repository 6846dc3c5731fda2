"""fedbuild's doit reporter: what happened to each task, shown (tasks/display.py), recorded
(tasks/history.py), and summed up at the end with the critical path and the run's files.

It runs inside the run session of fedbuild's run command (tasks/commands/run.py), which
holds the repository lock and gives it the run's settings; with another reporter chosen
(`--reporter=json`) it records the run silently beside it (`quiet`).

doit calls it from the main process (and, under `-P thread`, from the worker that
runs a task), so shared state is behind one lock and every write is a whole line:
output of parallel tasks never interleaves. Task output itself is in the log files;
`doit -v 2` streams it (tasks/follow.py).
"""

from __future__ import annotations

import atexit
import functools
import gc
import io
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import doit
from doit.exceptions import UnmetDependency

from core.confine import OutsideRoots
from core.outcome import Outcome, RunStatus, Status
from core.state import State
from federation.manifest import display_path
from tasks import planned, schedule
from tasks.clean import removed_modules
from tasks.critical_path import critical_path, performance_lines
from tasks.display import (
    ETA,
    Display,
    PlainDisplay,
    github_failure,
    in_github_actions,
    paint,
    wants_color,
    wants_live,
)
from tasks.events import EventStream
from tasks.federate import summary_lines
from tasks.follow import LogFollower
from tasks.history import RunRecorder, TaskRecord, git_head
from tasks.needs import needs
from tasks.run_files import RunFiles, write_run_files
from tasks.session import Session, interrupted
from tasks.timeline import RunInfo, TaskRun


@dataclass
class Row:
    """One task's line in the summary."""

    task: str
    status: Status
    duration: float | None = None
    log: str = ""
    note: str = ""


FEDERATE_STOP_TIMEOUT = 10.0  # seconds an interrupted federate has to say what it did


class FedbuildReporter:
    """Live progress (or plain lines) while the run goes; a table, build-time statistics, the
    critical path and the run's files at the end; every task's end in the run history."""

    desc = "fedbuild: live progress in a terminal, plain lines elsewhere, a summary at the end"
    # Given by the run session (tasks/commands/run.py): doit tells reporters none of them.
    workers = 1  # doit's num_process: the manifest's, or `doit -n N`
    verbosity = 0  # `doit -v N`
    forks = False  # `-P process` with workers: doit forks them while the run goes on
    given_session: Session | None = None  # the run's session, begun (lock held) before this
    quiet = False  # records the run beside another reporter, shows nothing
    modules: tuple[str, ...] | None = None  # the manifest's modules (None: not known)
    performance_tracking = False  # build_settings.performance_tracking

    def __init__(self, outstream: TextIO, options: dict[str, Any]) -> None:
        if self.quiet:
            outstream = io.StringIO()
        self.out = outstream
        self.options = options
        self.color = wants_color(outstream)
        self.session: Session = type(self).given_session or Session(State(Path.cwd()))
        self._lock = threading.Lock()
        self._planned: list[str] = []
        self._deps: dict[str, tuple[str, ...]] = {}
        self._outputs: dict[str, tuple[str, ...]] = {}  # targets, relative to the cwd
        self._started: dict[str, tuple[float, float]] = {}
        self._rows: dict[str, Row] = {}
        self._runs: dict[str, TaskRun] = {}
        self._left_out: list[str] = []  # on-device tasks left out: no board's port given
        self._errors: list[str] = []
        self._began = time.time()
        self.github = in_github_actions()
        self.display: Display = PlainDisplay(outstream, self.color)
        self.follower: LogFollower | None = None
        self.history = RunRecorder(self.session.state.dir, self._warn)
        self.events = EventStream(self._warn)

    # doit's reporter interface -------------------------------------------------

    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        """Plan the display, the ETA and the task order; begin the run's history."""
        if self.session.stale is not None:
            self._warn(f"fedbuild: the previous run ({self.session.stale.describe()}) ended "
                       "without releasing the lock; its leftovers were removed")
        self._began = time.time()
        gc.freeze()  # doit's task objects live for the whole run: no collection walks them
        self._planned = _with_actions(tasks, selected_tasks)
        planned.begin(tasks, self._planned, selected_tasks, forks=self.forks)
        self._deps = {name: tuple(sorted(needs(tasks, name))) for name in self._planned}
        cwd = os.getcwd() + os.sep
        self._outputs = {name: tuple(t[len(cwd):] if t.startswith(cwd) else t
                                     for t in tasks[name].targets) for name in self._planned}
        self.history.begin(Path.cwd(), sys.argv[1:], doit.get_var("mode", None) or "development")
        # Interrupted (no complete_run): the run's row still says how it ended.
        atexit.register(self.history.end, RunStatus.INTERRUPTED.value)
        # Read from the history only when needed: a no-op run in a pipe never does.
        estimates = functools.cache(self.history.estimates)
        if doit.get_var("order", None) == "doit":
            schedule.deactivate()
        else:  # computed only if tasks run in parallel: a no-op run never pays for it
            schedule.activate(lambda: schedule.priorities(tasks, estimates()))
        if wants_live(self.out) and not self.github and not self.quiet:
            from tasks.live_display import LiveDisplay  # rich: loaded for a terminal only

            self.display = LiveDisplay(self.out, ETA(estimates(), self._planned, self.workers),
                                       self.workers)
            atexit.register(self.display.stop)  # never leave the cursor hidden
        self._left_out = planned.left_out(tasks, selected_tasks, self._planned)
        self.display.start(len(self._planned) + len(self._left_out))
        for name in self._left_out:
            self._finish(name, Status.NO_BOARD, None, "on-device; no board's port given")
        self.events.emit("run.started", run_id=self.history.run_id, total=len(self._planned),
                         tasks=self._planned)
        if self.verbosity >= 2:
            self.follower = LogFollower(self.display.message)
            self.follower.start()

    def get_status(self, task: Any) -> None:
        """Nothing to show while doit checks whether a task is up to date."""

    def execute_task(self, task: Any) -> None:
        """A task starts (doit calls this from the worker that runs it)."""
        if not task.actions:
            return
        with self._lock:
            self._started[task.name] = (time.monotonic(), time.time())
        self.display.task_started(task.name)
        self.events.emit("task.started", task=task.name)
        if self.follower is not None:
            self.follower.follow(task.name, self.session.state.log(task.name), time.time())

    def add_success(self, task: Any) -> None:
        """A task finished; its outcome record says how (built, or failed but tolerated)."""
        if not task.actions:
            return
        outcome = self._outcome(task.name)
        status = outcome.status if outcome else Status.BUILT
        note = "failed, tolerated (skip_on_error)" if outcome and outcome.tolerated else ""
        if outcome and outcome.status in (Status.SKIPPED, Status.FLAKY, Status.NOT_NEEDED,
                                          Status.BUILT) and not outcome.tolerated:
            # why it was skipped or not needed; which attempt passed; that it ran no tests
            note = outcome.message or note
        if outcome and outcome.status is Status.CACHED:
            note = f"saved {outcome.saved:.1f}s"
        self._finish(task.name, status, outcome, note)
        if outcome and outcome.tolerated:
            self.display.message(outcome.message)

    def add_failure(self, task: Any, fail: Any) -> None:
        """A task failed, or was not run because a task it needs failed."""
        if not task.actions and isinstance(fail, UnmetDependency):
            return  # a group task: its failed member is reported already
        if isinstance(fail, UnmetDependency):
            self._finish(task.name, Status.SKIPPED, None, str(fail.message))
            return
        outcome = self._outcome(task.name)
        status = outcome.status if outcome and outcome.status.failed else Status.FAILED
        self._finish(task.name, status, outcome, "")
        message = fail.get_msg().rstrip()
        if self.github:
            log = Path(outcome.log) if outcome else self.session.state.log(task.name)
            self.display.message(github_failure(task.name, message.splitlines()[0]
                                                if message else status.value, _log_text(log)))
        else:
            self.display.message(message)

    def skip_uptodate(self, task: Any) -> None:
        """A task is up to date."""
        if task.actions:
            self._finish(task.name, Status.UP_TO_DATE, None, "")

    def skip_ignore(self, task: Any) -> None:
        """A task was ignored with `doit ignore`."""
        if task.actions:
            self._finish(task.name, Status.SKIPPED, None, "ignored")

    def cleanup_error(self, exception: Any) -> None:
        """An error while cleaning up after a task."""
        self.display.message(exception.get_msg())

    def runtime_error(self, msg: str) -> None:
        """An error that stops the run (such as the lock being held)."""
        self._errors.append(msg)
        self.display.message(f"ERROR: {msg}")

    def teardown_task(self, task: Any) -> None:
        """Teardown actions are not shown."""

    def complete_run(self) -> None:
        """The summary; the run's files; end the run's history (the run command's session
        releases the lock)."""
        try:
            if self.follower is not None:
                self.follower.stop()
            if interrupted():
                self._stopped()
            self.display.stop()
            failed = any(r.status.failed for r in self._rows.values()) or self._errors
            # doit calls complete_run even when the run was interrupted.
            status = (RunStatus.INTERRUPTED if interrupted() else RunStatus.FAILED if failed
                      else RunStatus.SUCCEEDED).value
            if status == RunStatus.SUCCEEDED.value:
                self._remove_former_modules()
            run = self._run_info(status)
            files = self._write_files(run)
            self._summary(run, files)
            self.history.end(status)
            self.events.emit("run.finished", status=status, run_id=self.history.run_id,
                             duration=time.time() - self._began,
                             run_files=str(files.folder) if files else None)
        finally:
            planned.end()

    # helpers --------------------------------------------------------------------

    def _remove_former_modules(self) -> None:
        """After a successful run (the lock still held), the outputs of modules no longer in
        the manifest go, one line per module."""
        if self.modules is None:
            return
        try:
            lines = removed_modules(self.session.state, self.modules)
        except (OSError, OutsideRoots) as err:
            lines = [f"fedbuild: the outputs of modules no longer in modules.json were not "
                     f"all removed ({err})"]
        for line in lines:
            self.out.write(line + "\n")

    def _stopped(self) -> None:
        """The run was interrupted: each planned task doit did not report on was stopped
        while it ran, or never started; it says `interrupted` everywhere (a task that ended
        just before, its own status)."""
        self._await_federate()
        for name in self._planned:
            if name in self._rows:
                continue
            outcome = self._outcome(name)
            if outcome is not None and not outcome.status.failed:
                self._finish(name, outcome.status, outcome, outcome.message)
                continue
            note = "stopped while running" if name in self._started else "not started"
            self._finish(name, Status.INTERRUPTED, outcome, note)

    def _await_federate(self, timeout: float = FEDERATE_STOP_TIMEOUT) -> None:
        """Under workers (`-n`) a federate still running polls for the interruption and
        stops between two files: wait for its record, so the summary says what it did."""
        if "federate" not in self._started or "federate" in self._rows:
            return
        deadline = time.monotonic() + timeout
        while self._outcome("federate") is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _outcome(self, name: str) -> Outcome | None:
        started = self._started.get(name)
        outcome = Outcome.read(self.session.state.outcome(name))
        if outcome is None or started is None:
            return None
        path = self.session.state.outcome(name)
        return outcome if path.stat().st_mtime >= started[1] - 1 else None

    def _finish(self, name: str, status: Status, outcome: Outcome | None, note: str) -> None:
        ended = time.time()
        with self._lock:
            started = self._started.get(name)
            begun = started[1] if started else None
            if outcome is None:  # up to date, skipped, or failed before its action wrote one
                run = TaskRun(name=name, status=status.value, ended=ended, started=begun,
                              duration=time.monotonic() - started[0] if started else None,
                              deps=self._deps.get(name, ()), message=note or None,
                              outputs=self._outputs.get(name, ()),
                              test=name.startswith("test:"))
                log = ""
            else:
                run = TaskRun(
                    name=name, status=status.value, ended=ended, started=begun,
                    duration=outcome.duration, deps=self._deps.get(name, ()),
                    attempts=outcome.attempts, exit_code=outcome.exit_code,
                    peak_rss=outcome.peak_rss, cpu_time=outcome.cpu_time, log=outcome.log,
                    message=outcome.message or None,
                    inputs_digest=outcome.inputs_digest or None,
                    output_digest=outcome.output_digest or None,
                    outputs=self._outputs.get(name, ()), test=name.startswith("test:"),
                    saved=outcome.saved if outcome.status is Status.CACHED else None)
                log = display_path(Path(outcome.log))
            self._rows[name] = Row(name, status, run.duration, log, note)
            self._runs[name] = run
            self.history.task(TaskRecord(
                name=name, status=run.status, ended=ended, started=begun, duration=run.duration,
                attempts=run.attempts, exit_code=run.exit_code, peak_rss=run.peak_rss,
                cpu_time=run.cpu_time, log=run.log, message=run.message, saved=run.saved))
        duration, saved = run.duration, run.saved
        self.events.emit("task.finished", task=name, status=run.status, duration=duration,
                         saved=saved, message=run.message)
        if self.follower is not None:
            self.follower.finish(name)
        timing = f" {duration:.1f}s" if duration is not None and status != \
            Status.UP_TO_DATE else ""
        text = "ok" if status is Status.BUILT else status.value
        extra = f" ({note})" if note else ""
        self.display.task_finished(name, status, f"{text}{timing}{extra}")
        for warning in outcome.warnings if outcome else ():
            self.display.message(warning)

    def _warn(self, text: str) -> None:
        if self.quiet:  # beside another reporter: its display is not ours
            sys.stderr.write(text + "\n")
            return
        self.display.message(text)

    def _run_info(self, status: str) -> RunInfo:
        commit, branch = git_head(Path.cwd())
        return RunInfo(started=self._began, ended=time.time(), argv=tuple(sys.argv[1:]),
                       mode=doit.get_var("mode", None) or "development", status=status,
                       workers=self.workers, id=self.history.run_id, git_commit=commit,
                       git_branch=branch, tasks=tuple(self._runs[n] for n in self._runs))

    def _write_files(self, run: RunInfo) -> RunFiles | None:
        """The run's summary, trace and JUnit files (a warning, never a failure, if not)."""
        try:
            return write_run_files(self.session.state.dir / "runs", run)
        except OSError as err:
            self._warn(f"fedbuild: run files not written ({err})")
            return None

    def _summary(self, run: RunInfo, files: RunFiles | None) -> None:
        rows = [self._rows.get(name) or Row(name, Status.SKIPPED, note="not started")
                for name in self._planned]  # (an interrupted run has a row for each)
        planned = set(self._planned)
        rows += [row for name, row in self._rows.items() if name not in planned]
        if not rows:
            return
        paint_status = functools.partial(_paint, color=self.color)
        lines = [format_summary(rows, paint_status)]
        lines += run_lines(run)
        if self.performance_tracking:
            lines += performance_lines(run)
        cached = [t for t in run.tasks if t.saved is not None]
        if cached:
            lines.append(f"cache: {len(cached)} restored instead of built, saved "
                         f"{sum(t.saved or 0.0 for t in cached):.1f}s")
        if files is not None:
            lines.append(f"run files: {display_path(files.folder)}/ ({files.summary.name}, "
                         f"{files.trace.name}, {files.junit.name})")
        lines += self._federation_lines()
        if self._left_out:
            lines += ["", left_out_line(self._left_out)]
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def _federation_lines(self) -> list[str]:
        """What federate did to the published tree in this run (nothing if not planned)."""
        if "federate" not in self._planned and "federate" not in self._rows:
            return []
        federate = self._rows.get("federate")
        if federate is None or (federate.status in (Status.SKIPPED, Status.INTERRUPTED)
                                and "federate" not in self._started):
            why = " (the run was interrupted)" if interrupted() else ""
            return ["", f"federation: not run{why}; the published tree was left as it was"]
        return summary_lines(self.session.state.dir, federate.status is Status.BUILT)


def left_out_line(names: list[str]) -> str:
    """The one line naming the on-device steps a run left out, and how to run them."""
    them = "it" if len(names) == 1 else "them"
    group = names[0].partition(":")[0]
    return (f"on-device: left out {', '.join(names)} (no board's port given); run {them} with "
            f"a board: doit {names[0]} port=/dev/ttyUSB0, or doit {group} port=... "
            "(ports=a,b for several boards)")


def run_lines(run: RunInfo) -> list[str]:
    """The critical path and the parallelism used (when anything executed)."""
    path = critical_path(run)
    return path.describe() if path else []


LISTED_UP_TO_DATE = 20  # more up-to-date tasks than this are counted, not listed


def format_summary(rows: list[Row], paint: Any = lambda status, text: text) -> str:
    """The end-of-run table (task, status, duration, log) and build-time statistics."""
    hidden = [r for r in rows if r.status is Status.UP_TO_DATE]
    counted = rows
    if len(hidden) > LISTED_UP_TO_DATE:
        rows = [r for r in rows if r.status is not Status.UP_TO_DATE]
    width = max([len("task"), *(len(r.task) for r in rows)])
    status_width = max([len("status"), *(len(_status_text(r)) for r in rows)])
    lines = [""]
    if rows:
        lines.append(f"{'task':<{width}}  {'status':<{status_width}}  {'duration':>8}  log")
    for r in rows:
        text = _status_text(r)
        duration = f"{r.duration:.1f}s" if r.duration is not None and \
            r.status is not Status.UP_TO_DATE else "-"
        lines.append(f"{r.task:<{width}}  {paint(r.status, text)}"
                     f"{' ' * (status_width - len(text))}  {duration:>8}  {r.log}".rstrip())
    if len(hidden) > LISTED_UP_TO_DATE:
        lines.append(f"({len(hidden)} up-to-date tasks not listed)")
    counts: dict[str, int] = {}
    for r in counted:
        counts[_status_text(r)] = counts.get(_status_text(r), 0) + 1
    lines.append("")
    lines.append(f"{len(counted)} tasks: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    timed = [r for r in rows if r.duration is not None and r.status in (
        Status.BUILT, Status.FLAKY, Status.FAILED, Status.TIMED_OUT, Status.NO_TESTS)]
    if timed:
        total = sum(r.duration or 0.0 for r in timed)
        fastest = min(timed, key=lambda r: r.duration or 0.0)
        slowest = max(timed, key=lambda r: r.duration or 0.0)
        lines.append(f"build time: total {total:.1f}s, average {total / len(timed):.1f}s, "
                     f"fastest {fastest.duration:.1f}s ({fastest.task}), "
                     f"slowest {slowest.duration:.1f}s ({slowest.task})")
    return "\n".join(lines)


def _status_text(row: Row) -> str:
    if row.note.startswith("failed, tolerated"):
        return "failed (tolerated)"
    return row.status.value


def _with_actions(tasks: dict[str, Any], selected: list[str]) -> list[str]:
    """Names of the tasks with actions that the selected tasks need, in dependency order."""
    seen: set[str] = set()
    order: list[str] = []

    def visit(name: str) -> None:
        if name in seen or name not in tasks:
            return
        seen.add(name)
        task = tasks[name]
        for dep in [*task.setup_tasks, *task.task_dep, *getattr(task, "calc_dep", [])]:
            visit(dep)
        if task.actions:
            order.append(name)

    for name in selected:
        visit(name)
    return order


def _paint(status: Status, text: str, color: bool) -> str:
    return paint(status, text, color)


_LOG_LIMIT = 1 << 20


def _log_text(path: Path) -> str:
    """A task's whole log (its last MiB, if longer)."""
    try:
        with path.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - _LOG_LIMIT))
            data = f.read()
    except OSError:
        return ""
    text = data.decode(errors="replace")
    if size > _LOG_LIMIT:
        text = f"[... first {size - _LOG_LIMIT} bytes left out; whole log: {path}]\n" + \
            text.split("\n", 1)[-1]
    return text
