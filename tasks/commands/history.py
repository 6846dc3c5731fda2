"""`doit history`: the recent runs, one line each; `--run ID`: one run's tasks."""

from __future__ import annotations

from pathlib import Path

from doit.exceptions import InvalidCommand

from tasks.commands.base import FedbuildCommand
from tasks.commands.layout import (
    clock,
    counts,
    duration,
    mebibytes,
    repository_history,
    shown_path,
    table,
)
from tasks.history import MANUAL, History, RunRecord, TaskRecord

opt_limit = {
    "name": "limit", "short": "", "long": "limit", "type": int, "default": 20,
    "help": "how many runs to show, newest first [default: %(default)s]",
}
opt_run = {
    "name": "run_id", "short": "", "long": "run", "type": int, "default": None,
    "help": "show the tasks of the run with this id (the first column of `doit history`)",
}


class HistoryCommand(FedbuildCommand):
    """`doit history`."""

    name = "history"
    doc_purpose = "show the recent runs of doit in this repository (--run ID: one run's tasks)"
    doc_usage = "[--limit N] [--run ID]"
    doc_description = ("Reads .fedbuild/history.sqlite3, written by every run: when it started, "
                       "how long it took, how it ended, the mode, the git commit and the tasks.")
    cmd_options = (opt_limit, opt_run)

    def _execute(self, limit: int = 20, run_id: int | None = None) -> int:
        root = Path.cwd()  # doit has moved to the repository (-d) by now
        history = repository_history(root)
        try:
            lines = (run_lines(history, run_id, root) if run_id is not None
                     else runs_lines(history, limit, root))
        finally:
            history.close()
        self.outstream.write("\n".join(lines) + "\n")
        return 0


def runs_lines(history: History, limit: int, root: Path) -> list[str]:
    """The runs table, newest first (or one line saying there is none)."""
    runs = history.runs(limit)
    if not runs:
        return [f"no runs recorded yet ({shown_path(str(history.path), root)})"]
    rows = [[str(run.id), clock(run.started), _run_duration(run), run.status, run.mode,
             _git(run), counts(t.status for t in history.tasks(run.id)), run.argv]
            for run in runs]
    return table(["id", "started", "duration", "status", "mode", "git", "tasks", "command"],
                 rows, right=(0, 2))


def run_lines(history: History, run_id: int, root: Path) -> list[str]:
    """One run's header, then a line per task in the order they ended."""
    run = _find(history, run_id)
    tasks = history.tasks(run_id)
    lines = [f"run {run.id}: {clock(run.started)}, {_run_duration(run)}, {run.status}, "
             f"{run.mode} mode, {_git(run)}",
             f"command: {run.argv}" + (f"  (trigger: {run.trigger})"
                                       if run.trigger != MANUAL else ""),
             f"tasks: {counts(t.status for t in tasks)}"]
    if tasks:
        lines.append("")
        remote = any(task.worker for task in tasks)  # executor=dask: where, wait and work
        lines += table(["task", "status", "duration", "attempts", "exit", "memory", "cpu", "log",
                        *(["worker", "queued", "remote run"] if remote else [])],
                       [_task_row(task, root, remote) for task in tasks],
                       right=(2, 3, 4, 5, 6, *((9, 10) if remote else ())))
    fixes = [task.fix for task in tasks if task.fix]  # fix=auto: what each fixer did
    return [*lines, "", *fixes] if fixes else lines


def _find(history: History, run_id: int) -> RunRecord:
    latest = history.runs(1)
    if latest and 1 <= run_id <= latest[0].id:
        # runs() reads newest first: run_id is within the latest (latest - run_id + 1) rows.
        for run in history.runs(latest[0].id - run_id + 1):
            if run.id == run_id:
                return run
    known = f"runs are numbered 1 to {latest[0].id}" if latest else "no runs recorded yet"
    raise InvalidCommand(f"no run {run_id} in {history.path.name} ({known}; "
                         "see `doit history`)")


def _task_row(task: TaskRecord, root: Path, remote: bool = False) -> list[str]:
    attempts = str(task.attempts) if task.attempts and task.attempts > 1 else ""
    exit_code = "" if task.exit_code is None else str(task.exit_code)
    cpu = duration(task.cpu_time) if task.cpu_time else ""
    row = [task.name, task.status, duration(task.duration), attempts, exit_code,
           mebibytes(task.peak_rss) or "", cpu, shown_path(task.log, root)]
    if remote:
        timed = (duration(task.queued), duration(task.remote_run)) if task.worker else ("", "")
        row += [task.worker or "here", *timed]
    return row


def _run_duration(run: RunRecord) -> str:
    return duration(run.ended - run.started) if run.ended is not None else "-"


def _git(run: RunRecord) -> str:
    commit = (run.git_commit or "")[:8]
    if run.git_branch and commit:
        return f"{run.git_branch}@{commit}"
    return run.git_branch or commit or "-"

