"""What one run did, recorded whatever reporter shows it: each task's status and outcome,
the run's history rows, its events, its run files, and the outputs of modules no longer in
the manifest removed after a success.

The run command's session (tasks/commands/run.py) owns one RunRecord and calls it before
the reporter, with doit's reporter calls: the reporter (fedbuild's, doit's `json` or
`console`, a user's) only shows. It also sets the run's plan (tasks/planned.py) and task
order (tasks/schedule.py), which actions and doit's dispatcher read while the run goes.

doit calls it from the main process (and, under `-P thread`, from the worker that runs a
task), so what it collects is behind one lock.
"""

from __future__ import annotations

import atexit
import functools
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import doit
from doit.exceptions import UnmetDependency

from core.confine import OutsideRoots
from core.outcome import Outcome, RunStatus, Status
from federation.manifest import display_path
from tasks import planned, schedule
from tasks.clean import removed_modules
from tasks.events import EventStream
from tasks.history import RunRecorder, TaskRecord, git_head
from tasks.needs import in_order, needs
from tasks.returned import outcome_of
from tasks.run_files import RunFiles, write_run_files
from tasks.session import Session, interrupted
from tasks.timeline import RunInfo, TaskRun

FEDERATE_STOP_TIMEOUT = 10.0  # seconds an interrupted federate has to say what it did


@dataclass(frozen=True)
class Finished:
    """How one task ended, as recorded (and shown)."""

    name: str
    status: Status
    note: str  # why (skipped, tolerated, flaky, cached: saved ...), "" when nothing to say
    outcome: Outcome | None  # what its action returned (None: it did not run to the end)
    run: TaskRun
    log: str  # its log, as shown ("" when it did not run)


class RunRecord:
    """One run's record: begun when doit starts the run, ended by complete_run."""

    def __init__(self, session: Session, warn: Callable[[str], None], workers: int = 1,
                 forks: bool = False, modules: tuple[str, ...] | None = None) -> None:
        self.session = session
        self.state = session.state
        self.warn = warn
        self.workers = workers
        self.forks = forks
        self.modules = modules  # the manifest's (None: not known, nothing is removed)
        self.began = time.time()
        self.planned: list[str] = []
        self.left_out: list[str] = []  # on-device tasks left out: no board's port given
        self.finished: dict[str, Finished] = {}
        self.started: dict[str, tuple[float, float]] = {}  # monotonic, epoch
        self.errors: list[str] = []
        self.notes: list[str] = []  # lines for the end of the run (removed modules)
        self.status: str | None = None
        self.info: RunInfo | None = None
        self.files: RunFiles | None = None
        self._deps: dict[str, tuple[str, ...]] = {}
        self._outputs: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self.history = RunRecorder(self.state.dir, warn)
        self.events = EventStream(warn)
        self.estimates = functools.cache(self.history.estimates)  # read only when needed

    # doit's reporter calls ----------------------------------------------------------

    def initialize(self, tasks: dict[str, Any], selected: list[str]) -> None:
        """The run starts: its plan, its task order, its history row, its first event."""
        if self.session.stale is not None:
            self.warn(f"fedbuild: the previous run ({self.session.stale.describe()}) ended "
                      "without releasing the lock; its leftovers were removed")
        self.began = time.time()
        gc.freeze()  # doit's task objects live for the whole run: no collection walks them
        self.planned = in_order(tasks, selected)
        planned.begin(tasks, self.planned, selected, forks=self.forks)
        self._deps = {name: tuple(sorted(needs(tasks, name))) for name in self.planned}
        cwd = os.getcwd() + os.sep
        self._outputs = {name: tuple(t[len(cwd):] if t.startswith(cwd) else t
                                     for t in tasks[name].targets) for name in self.planned}
        self.history.begin(Path.cwd(), sys.argv[1:], _mode())
        # Interrupted (no complete_run): the run's row still says how it ended.
        atexit.register(self.history.end, RunStatus.INTERRUPTED.value)
        if doit.get_var("order", None) == "doit":
            schedule.deactivate()
        else:  # computed only if tasks run in parallel: a no-op run never pays for it
            schedule.activate(lambda: schedule.priorities(tasks, self.estimates()))
        self.left_out = planned.left_out(tasks, selected, self.planned)
        for name in self.left_out:
            self._finish(name, Status.NO_BOARD, None, "on-device; no board's port given")
        self.events.emit("run.started", run_id=self.history.run_id, total=len(self.planned),
                         tasks=self.planned)

    def execute_task(self, task: Any) -> None:
        """A task's action starts."""
        if task.actions:
            with self._lock:
                self.started[task.name] = (time.monotonic(), time.time())
            self.events.emit("task.started", task=task.name)

    def add_success(self, task: Any) -> Finished | None:
        """A task finished; its outcome says how (built, flaky, cached, failed but tolerated)."""
        if not task.actions:
            return None
        outcome = self.outcome(task)
        status = outcome.status if outcome else Status.BUILT
        note = "failed, tolerated (skip_on_error)" if outcome and outcome.tolerated else ""
        if outcome and outcome.status in (Status.SKIPPED, Status.FLAKY, Status.NOT_NEEDED,
                                          Status.BUILT) and not outcome.tolerated:
            # why it was skipped or not needed; which attempt passed; that it ran no tests
            note = outcome.message or note
        if outcome and outcome.status is Status.CACHED:
            note = f"saved {outcome.saved:.1f}s"
        if outcome and outcome.worker:  # executor=dask: where it ran, its wait and its work
            note = (f"on {outcome.worker}, queued {outcome.queued:.1f}s, ran "
                    f"{outcome.remote_run:.1f}s there" + (f", {note}" if note else ""))
        return self._finish(task.name, status, outcome, note)

    def add_failure(self, task: Any, fail: Any) -> Finished | None:
        """A task failed, or was not run because a task it needs failed."""
        if not task.actions and isinstance(fail, UnmetDependency):
            return None  # a group task: its failed member is recorded already
        if isinstance(fail, UnmetDependency):
            return self._finish(task.name, Status.SKIPPED, None, str(fail.message))
        outcome = self.outcome(task, fail)
        status = outcome.status if outcome and outcome.status.failed else Status.FAILED
        return self._finish(task.name, status, outcome, "")

    def skip_uptodate(self, task: Any) -> None:
        """A task is up to date."""
        if task.actions:
            self._finish(task.name, Status.UP_TO_DATE, None, "")

    def skip_ignore(self, task: Any) -> None:
        """A task was ignored with `doit ignore`."""
        if task.actions:
            self._finish(task.name, Status.SKIPPED, None, "ignored")

    def runtime_error(self, msg: str) -> None:
        """An error that stops the run."""
        self.errors.append(msg)

    def complete_run(self) -> None:
        """The run ended: tasks stopped by an interruption, its status, the removed modules,
        its files, the end of its history row and its last event."""
        try:
            if interrupted():
                self._stopped()
            failed = any(f.status.failed for f in self.finished.values()) or self.errors
            # doit calls complete_run even when the run was interrupted.
            status = (RunStatus.INTERRUPTED if interrupted() else RunStatus.FAILED if failed
                      else RunStatus.SUCCEEDED).value
            self.status = status
            if status == RunStatus.SUCCEEDED.value:
                self._remove_former_modules()
            self.info = self._run_info(status)
            self.files = self._write_files(self.info)
            self.history.end(status)
            self.events.emit("run.finished", status=status, run_id=self.history.run_id,
                             duration=time.time() - self.began,
                             run_files=str(self.files.folder) if self.files else None)
        finally:
            planned.end()

    # what the run's actions returned ---------------------------------------------------

    def outcome(self, task: Any, failure: Any = None) -> Outcome | None:
        """The outcome the task's action returned in this run, in its values or its failure
        (None: it returned none, or did not run)."""
        return outcome_of(task, failure) if task.name in self.started else None

    # helpers -------------------------------------------------------------------------

    def _remove_former_modules(self) -> None:
        """After a successful run (the lock still held), the outputs of modules no longer in
        the manifest go, one line per module."""
        if self.modules is None:
            return
        try:
            self.notes += removed_modules(self.state, self.modules)
        except (OSError, OutsideRoots) as err:
            self.notes.append("fedbuild: the outputs of modules no longer in modules.json "
                              f"were not all removed ({err})")

    def _stopped(self) -> None:
        """The run was interrupted: each planned task doit did not report on was stopped
        while it ran, or never started; it says `interrupted` (a task that ended just
        before, its own status)."""
        self._await_federate()
        for name in self.planned:
            if name in self.finished:
                continue
            outcome = self._last_outcome(name)
            if outcome is not None and not outcome.status.failed:
                self._finish(name, outcome.status, outcome, outcome.message)
                continue
            note = "stopped while running" if name in self.started else "not started"
            self._finish(name, Status.INTERRUPTED, outcome, note)

    def _await_federate(self, timeout: float = FEDERATE_STOP_TIMEOUT) -> None:
        """Under workers (`-n`) a federate still running polls for the interruption and
        stops between two files: wait for its record, so the summary says what it did."""
        if "federate" not in self.started or "federate" in self.finished:
            return
        deadline = time.monotonic() + timeout
        while self._last_outcome("federate") is None and time.monotonic() < deadline:
            time.sleep(0.05)

    def _last_outcome(self, name: str) -> Outcome | None:
        """The record kept by a task of this run whose end doit did not report (the run was
        interrupted): the only trace of its action, whose returned values never came back."""
        holder = self.session.lock.holder
        outcome = Outcome.read(self.state.outcome(name))
        if outcome is None or holder is None or name not in self.started:
            return None
        return outcome if outcome.run == holder.token else None

    def _finish(self, name: str, status: Status, outcome: Outcome | None,
                note: str) -> Finished:
        ended = time.time()
        with self._lock:
            started = self.started.get(name)
            begun = started[1] if started else None
            common = dict(name=name, status=status.value, ended=ended, started=begun,
                          deps=self._deps.get(name, ()), outputs=self._outputs.get(name, ()),
                          test=name.startswith("test:"))
            if outcome is None:  # up to date, skipped, or failed before its action ended
                run = TaskRun(**common,  # type: ignore[arg-type]
                              duration=time.monotonic() - started[0] if started else None,
                              message=note or None)
                log = ""
            else:
                run = TaskRun(
                    **common, duration=outcome.duration,  # type: ignore[arg-type]
                    attempts=outcome.attempts, exit_code=outcome.exit_code,
                    peak_rss=outcome.peak_rss, cpu_time=outcome.cpu_time, log=outcome.log,
                    message=outcome.message or None,
                    inputs_digest=outcome.inputs_digest or None,
                    output_digest=outcome.output_digest or None,
                    saved=outcome.saved if outcome.status is Status.CACHED else None,
                    **_remote(outcome))
                log = display_path(Path(outcome.log))
            finished = Finished(name, status, note, outcome, run, log)
            self.finished[name] = finished
            self.history.task(TaskRecord(
                name=name, status=run.status, ended=ended, started=begun, duration=run.duration,
                attempts=run.attempts, exit_code=run.exit_code, peak_rss=run.peak_rss,
                cpu_time=run.cpu_time, log=run.log, message=run.message, saved=run.saved,
                worker=run.worker, queued=run.queued, remote_run=run.remote_run,
                fix=("\n".join(w for w in outcome.warnings if w.startswith("fix:")) or None)
                if outcome else None))
        self.events.emit("task.finished", task=name, status=run.status, duration=run.duration,
                         saved=run.saved, message=run.message)
        return finished

    def _run_info(self, status: str) -> RunInfo:
        commit, branch = git_head(Path.cwd())
        return RunInfo(started=self.began, ended=time.time(), argv=tuple(sys.argv[1:]),
                       mode=_mode(), status=status, workers=self.workers,
                       id=self.history.run_id, git_commit=commit, git_branch=branch,
                       tasks=tuple(f.run for f in self.finished.values()))

    def _write_files(self, run: RunInfo) -> RunFiles | None:
        """The run's summary, trace and JUnit files (a warning, never a failure, if not)."""
        try:
            return write_run_files(self.state.dir / "runs", run)
        except OSError as err:
            self.warn(f"fedbuild: run files not written ({err})")
            return None


def _mode() -> str:
    return doit.get_var("mode", None) or "development"


def _remote(outcome: Outcome) -> dict[str, Any]:
    """executor=dask: where the task ran, its wait for a worker and its work there (None
    each for a task that ran here)."""
    if not outcome.worker:
        return {}
    return {"worker": outcome.worker, "queued": outcome.queued,
            "remote_run": outcome.remote_run, "remote_started": outcome.remote_started or None}
