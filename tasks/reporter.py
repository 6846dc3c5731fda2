"""fedbuild's doit reporter: a line per task start and end, then a summary table.

doit calls it from the main process (and, under `-P thread`, from worker
threads), so every write goes through one lock and is a whole line: output of
parallel tasks never interleaves. Task output itself is in the log files.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import doit
from doit.exceptions import InvalidTask, UnmetDependency

from federation.manifest import display_path
from federation.state import State
from tasks.federate import summary_lines
from tasks.history import RunRecorder, TaskRecord
from tasks.lock import LockHeld
from tasks.outcome import Outcome, Status
from tasks.session import Session, interrupted

_COLORS = {Status.BUILT: "32", Status.FLAKY: "33", Status.UP_TO_DATE: "2", Status.FAILED: "31",
           Status.TIMED_OUT: "31", Status.SKIPPED: "33"}


@dataclass
class Row:
    """One task's line in the summary."""

    task: str
    status: Status
    duration: float | None = None
    log: str = ""
    note: str = ""


class FedbuildReporter:
    """Progress lines while the run goes, a table and build-time statistics at the end."""

    desc = "fedbuild: a line per task start and end, a summary table at the end"

    def __init__(self, outstream: TextIO, options: dict[str, Any]) -> None:
        self.out = outstream
        self.options = options
        self.color = _wants_color(outstream)
        self.session = Session(State(Path.cwd()))
        self._lock = threading.Lock()
        self._planned: list[str] = []
        self._started: dict[str, tuple[float, float]] = {}
        self._rows: dict[str, Row] = {}
        self._locked_out = False
        self._errors: list[str] = []
        # Its warning may come while self._lock is held: it writes without taking it.
        self.history = RunRecorder(self.session.state.dir, self._write_unlocked)

    # doit's reporter interface -------------------------------------------------

    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        """Take the repository lock; count the tasks this run may execute."""
        try:
            self.session.begin(wait=_lock_wait())
        except LockHeld as err:
            self._locked_out = True
            raise InvalidTask(str(err)) from None
        if self.session.stale is not None:
            self._write(f"fedbuild: the previous run ({self.session.stale.describe()}) ended "
                        "without releasing the lock; its leftovers were removed")
        self._planned = _with_actions(tasks, selected_tasks)
        self.history.begin(Path.cwd(), sys.argv[1:], doit.get_var("mode", None) or "development")
        # Interrupted (no complete_run): the run's row still says how it ended.
        atexit.register(self.history.end, "interrupted")

    def get_status(self, task: Any) -> None:
        """Nothing to show while doit checks whether a task is up to date."""

    def execute_task(self, task: Any) -> None:
        """A task starts."""
        if not task.actions:
            return
        with self._lock:
            self._started[task.name] = (time.monotonic(), time.time())
            self._line(f"{task.name} started")

    def add_success(self, task: Any) -> None:
        """A task finished; its outcome record says how (built, or failed but tolerated)."""
        if not task.actions:
            return
        outcome = self._outcome(task.name)
        status = outcome.status if outcome else Status.BUILT
        note = "failed, tolerated (skip_on_error)" if outcome and outcome.tolerated else ""
        if outcome and outcome.status in (Status.SKIPPED, Status.FLAKY):
            note = outcome.message  # why it was skipped; on which attempt it passed
        self._finish(task.name, status, outcome, note)
        if outcome and outcome.tolerated:
            self._write(outcome.message)

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
        self._write(fail.get_msg().rstrip())

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
        self._write(exception.get_msg())

    def runtime_error(self, msg: str) -> None:
        """An error that stops the run (such as the lock being held)."""
        self._errors.append(msg)
        self._write(f"ERROR: {msg}")

    def teardown_task(self, task: Any) -> None:
        """Teardown actions are not shown."""

    def complete_run(self) -> None:
        """The summary table and statistics; end the run's history; release the lock."""
        try:
            if not self._locked_out:
                self._summary()
            failed = any(r.status.failed for r in self._rows.values()) or self._errors
            # doit calls complete_run even when the run was interrupted.
            self.history.end("interrupted" if interrupted() else
                             "failed" if failed else "succeeded")
        finally:
            self.session.end()

    # helpers --------------------------------------------------------------------

    def _outcome(self, name: str) -> Outcome | None:
        started = self._started.get(name)
        outcome = Outcome.read(self.session.state.outcome(name))
        if outcome is None or started is None:
            return None
        path = self.session.state.outcome(name)
        return outcome if path.stat().st_mtime >= started[1] - 1 else None

    def _finish(self, name: str, status: Status, outcome: Outcome | None, note: str) -> None:
        with self._lock:
            started = self._started.get(name)
            duration = outcome.duration if outcome else (
                time.monotonic() - started[0] if started else None)
            log = display_path(Path(outcome.log)) if outcome else ""
            self._rows[name] = Row(name, status, duration, log, note)
            self.history.task(TaskRecord(
                name=name, status=status.value, ended=time.time(),
                started=started[1] if started else None, duration=duration,
                attempts=outcome.attempts if outcome else None,
                exit_code=outcome.exit_code if outcome else None,
                peak_rss=outcome.peak_rss if outcome else None,
                cpu_time=outcome.cpu_time if outcome else None,
                log=outcome.log if outcome else None,
                message=(outcome.message if outcome else note) or None))
            done = len(self._rows)
            timing = f" {duration:.1f}s" if duration is not None and status != \
                Status.UP_TO_DATE else ""
            text = "ok" if status is Status.BUILT else status.value
            extra = f" ({note})" if note else ""
            self._line(f"{name} {self._paint(status, text)}{timing}{extra}", done)

    def _line(self, text: str, done: int | None = None) -> None:
        total = max(len(self._planned), len(self._rows))
        count = len(self._rows) if done is None else done
        self.out.write(f"[{count}/{total}] {text}\n")
        self.out.flush()

    def _write(self, text: str) -> None:
        with self._lock:
            self._write_unlocked(text)

    def _write_unlocked(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def _paint(self, status: Status, text: str) -> str:
        return f"\033[{_COLORS[status]}m{text}\033[0m" if self.color else text

    def _summary(self) -> None:
        rows = [self._rows.get(name) or Row(name, Status.SKIPPED, note="not started")
                for name in self._planned]
        rows += [row for name, row in self._rows.items() if name not in self._planned]
        if not rows:
            return
        self._write(format_summary(rows, self._paint))
        federate = self._rows.get("federate")
        if federate is None and "federate" in self._planned:
            self._write("\nfederation: not run; the published tree was left as it was")
        elif federate is not None and federate.status is not Status.SKIPPED:
            lines = summary_lines(self.session.state.dir, federate.status is Status.BUILT)
            if lines:
                self._write("\n".join(lines))


def format_summary(rows: list[Row], paint: Any = lambda status, text: text) -> str:
    """The end-of-run table (task, status, duration, log) and build-time statistics."""
    width = max(len("task"), *(len(r.task) for r in rows))
    status_width = max(len("status"), *(len(_status_text(r)) for r in rows))
    lines = ["", f"{'task':<{width}}  {'status':<{status_width}}  {'duration':>8}  log"]
    for r in rows:
        text = _status_text(r)
        duration = f"{r.duration:.1f}s" if r.duration is not None and \
            r.status is not Status.UP_TO_DATE else "-"
        lines.append(f"{r.task:<{width}}  {paint(r.status, text)}"
                     f"{' ' * (status_width - len(text))}  {duration:>8}  {r.log}".rstrip())
    counts: dict[str, int] = {}
    for r in rows:
        counts[_status_text(r)] = counts.get(_status_text(r), 0) + 1
    lines.append("")
    lines.append(f"{len(rows)} tasks: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    timed = [r for r in rows if r.duration is not None and r.status in (
        Status.BUILT, Status.FLAKY, Status.FAILED, Status.TIMED_OUT)]
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


def _wants_color(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and "NO_COLOR" not in os.environ


def _lock_wait() -> float:
    """Seconds to wait for another run's lock: doit var `lock_wait=S` or FEDBUILD_LOCK_WAIT."""
    value = doit.get_var("lock_wait", None) or os.environ.get("FEDBUILD_LOCK_WAIT", "0")
    try:
        return float(value)
    except ValueError:
        return 0.0
