"""fedbuild's doit reporter: what happened to each task, shown (tasks/display.py) and summed
up at the end with the critical path and the run's files.

It only shows. The run command's session (tasks/commands/run.py) records the run (history,
run files, events: tasks/run_record.py) whatever reporter is chosen, and gives this one the
record it reads each task's status from, with the run's settings.

doit calls it from the main process (and, under `-P thread`, from the worker that
runs a task), so shared state is behind one lock and every write is a whole line:
output of parallel tasks never interleaves. Task output itself is in the log files;
`doit -v 2` streams it (tasks/follow.py).
"""

from __future__ import annotations

import atexit
import functools
import os
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from doit.exceptions import UnmetDependency

from core.outcome import Status
from federation.manifest import display_path
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
from tasks.federate import summary_lines
from tasks.follow import LogFollower
from tasks.run_record import Finished, RunRecord
from tasks.session import interrupted
from tasks.timeline import RunInfo


@dataclass
class Row:
    """One task's line in the summary."""

    task: str
    status: Status
    duration: float | None = None
    log: str = ""
    note: str = ""


class FedbuildReporter:
    """Live progress (or plain lines) while the run goes; a table, build-time statistics, the
    critical path and the run's files at the end."""

    desc = "fedbuild: live progress in a terminal, plain lines elsewhere, a summary at the end"
    # Given by the run session (tasks/commands/run.py): doit tells reporters none of them.
    workers = 1  # doit's num_process: the manifest's, or `doit -n N`
    verbosity = 0  # `doit -v N`
    run_record: RunRecord | None = None  # the run's record, which this shows
    # From the manifest (tasks/config.py reporter_for):
    modules: tuple[str, ...] | None = None  # its modules (the session removes others' outputs)
    performance_tracking = False  # build_settings.performance_tracking

    def __init__(self, outstream: TextIO, options: dict[str, Any]) -> None:
        record = type(self).run_record
        if record is None:
            raise RuntimeError("FedbuildReporter shows a run session's record: "
                               "it is built by fedbuild's run command")
        self.record = record
        self.out = outstream
        self.options = options
        self.color = wants_color(outstream)
        self._lock = threading.Lock()
        self._shown: set[str] = set()
        self.github = in_github_actions()
        self.display: Display = PlainDisplay(outstream, self.color)
        self.follower: LogFollower | None = None

    def warn(self, text: str) -> None:
        """A line about the run itself (the record's warnings)."""
        self.display.message(text)

    # doit's reporter interface (the record was told first) -------------------------

    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        """Plan the display and its ETA."""
        planned = self.record.planned
        if wants_live(self.out) and not self.github:
            from tasks.live_display import LiveDisplay  # rich: loaded for a terminal only

            self.display = LiveDisplay(self.out, ETA(self.record.estimates(), planned,
                                                     self.workers), self.workers)
            atexit.register(self.display.stop)  # never leave the cursor hidden
        self.display.start(len(planned) + len(self.record.left_out))
        for name in self.record.left_out:
            self._show(name)
        if self.verbosity >= 2:
            self.follower = LogFollower(self.display.message)
            self.follower.start()

    def get_status(self, task: Any) -> None:
        """Nothing to show while doit checks whether a task is up to date."""

    def execute_task(self, task: Any) -> None:
        """A task starts (doit calls this from the worker that runs it)."""
        if not task.actions:
            return
        self.display.task_started(task.name)
        if self.follower is not None:
            started = self.record.started.get(task.name)
            self.follower.follow(task.name, self.record.state.log(task.name),
                                 started[1] if started else 0.0)

    def add_success(self, task: Any) -> None:
        """A task finished: built, flaky, cached, or failed but tolerated."""
        finished = self._show(task.name)
        if finished and finished.outcome and finished.outcome.tolerated:
            self.display.message(finished.outcome.message)

    def add_failure(self, task: Any, fail: Any) -> None:
        """A task failed, or was not run because a task it needs failed."""
        finished = self._show(task.name)
        if finished is None or isinstance(fail, UnmetDependency):
            return
        message = fail.get_msg().rstrip()
        if self.github:
            outcome = finished.outcome
            log = Path(outcome.log) if outcome else self.record.state.log(task.name)
            self.display.message(github_failure(task.name, message.splitlines()[0]
                                                if message else finished.status.value,
                                                _log_text(log)))
        else:
            self.display.message(message)

    def skip_uptodate(self, task: Any) -> None:
        """A task is up to date."""
        self._show(task.name)

    def skip_ignore(self, task: Any) -> None:
        """A task was ignored with `doit ignore`."""
        self._show(task.name)

    def cleanup_error(self, exception: Any) -> None:
        """An error while cleaning up after a task."""
        self.display.message(exception.get_msg())

    def runtime_error(self, msg: str) -> None:
        """An error that stops the run (such as the lock being held)."""
        self.display.message(f"ERROR: {msg}")

    def teardown_task(self, task: Any) -> None:
        """Teardown actions are not shown."""

    def complete_run(self) -> None:
        """The tasks an interruption stopped, the lines about removed modules, the summary."""
        if self.follower is not None:
            self.follower.stop()
        for name in list(self.record.finished):
            self._show(name)
        self.display.stop()
        for line in self.record.notes:
            self.out.write(line + "\n")
        if self.record.info is not None:
            self._summary(self.record.info)

    # helpers --------------------------------------------------------------------

    def _show(self, name: str) -> Finished | None:
        """The task's line, once, as the record has it (None: not a task it records)."""
        finished = self.record.finished.get(name)
        if finished is None:
            return None
        with self._lock:
            if name in self._shown:
                return finished
            self._shown.add(name)
        if self.follower is not None:
            self.follower.finish(name)
        status, duration = finished.status, finished.run.duration
        timing = f" {duration:.1f}s" if duration is not None and status != \
            Status.UP_TO_DATE else ""
        text = "ok" if status is Status.BUILT else status.value
        extra = f" ({finished.note})" if finished.note else ""
        self.display.task_finished(name, status, f"{text}{timing}{extra}")
        for warning in finished.outcome.warnings if finished.outcome else ():
            self.display.message(warning)
        return finished

    def _summary(self, run: RunInfo) -> None:
        record = self.record
        rows = {name: Row(name, f.status, f.run.duration, f.log, f.note)
                for name, f in record.finished.items()}
        shown = [rows.get(name) or Row(name, Status.SKIPPED, note="not started")
                 for name in record.planned]  # (an interrupted run has a row for each)
        planned = set(record.planned)
        shown += [row for name, row in rows.items() if name not in planned]
        if not shown:
            return
        paint_status = functools.partial(_paint, color=self.color)
        lines = [format_summary(shown, paint_status)]
        lines += run_lines(run)
        if self.performance_tracking:
            lines += performance_lines(run)
        lines += remote_lines(run)
        cached = [t for t in run.tasks if t.saved is not None]
        if cached:
            lines.append(f"cache: {len(cached)} restored instead of built, saved "
                         f"{sum(t.saved or 0.0 for t in cached):.1f}s")
        files = record.files
        if files is not None:
            lines.append(f"run files: {display_path(files.folder)}/ ({files.summary.name}, "
                         f"{files.trace.name}, {files.junit.name})")
        lines += self._federation_lines(rows)
        if record.left_out:
            lines += ["", left_out_line(record.left_out)]
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def _federation_lines(self, rows: dict[str, Row]) -> list[str]:
        """What federate did to the published tree in this run (nothing if not planned)."""
        if "federate" not in self.record.planned and "federate" not in rows:
            return []
        federate = rows.get("federate")
        if federate is None or (federate.status in (Status.SKIPPED, Status.INTERRUPTED)
                                and "federate" not in self.record.started):
            why = " (the run was interrupted)" if interrupted() else ""
            return ["", f"federation: not run{why}; the published tree was left as it was"]
        return summary_lines(self.record.state.dir, federate.status is Status.BUILT)


def left_out_line(names: list[str]) -> str:
    """The one line naming the on-device steps a run left out, and how to run them."""
    them = "it" if len(names) == 1 else "them"
    group = names[0].partition(":")[0]
    return (f"on-device: left out {', '.join(names)} (no board's port given); run {them} with "
            f"a board: doit {names[0]} port=/dev/ttyUSB0, or doit {group} port=... "
            "(ports=a,b for several boards)")


def remote_lines(run: RunInfo) -> list[str]:
    """executor=dask: how many tasks each worker ran, their time queued and their work
    there (nothing when all ran here)."""
    remote = [task for task in run.tasks if task.worker]
    if not remote:
        return []
    counts = Counter(task.worker for task in remote)
    each = ", ".join(f"{worker} {n}" for worker, n in sorted(counts.items()))
    queued = [task.queued or 0.0 for task in remote]
    work = sum(task.remote_run or 0.0 for task in remote)
    return [f"dask: {len(remote)} tasks ran on {len(counts)} "
            f"worker{'s' if len(counts) > 1 else ''} ({each}): {work:.1f}s of work there, "
            f"queued {sum(queued):.1f}s in all (longest {max(queued):.1f}s)"]


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
