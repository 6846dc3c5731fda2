"""`doit stats [TASK]`: how each task has fared over the recorded runs, as text, or as
an HTML report of charts (`--plot FILE`, report.py). What is counted: stats_model.py.
"""

from __future__ import annotations

from pathlib import Path

from doit.exceptions import InvalidCommand

from core.outcome import CACHED, FLAKY, RunStatus
from tasks.commands.base import FedbuildCommand
from tasks.commands.layout import (
    clock,
    duration,
    percent,
    repository_history,
    shown_path,
    table,
)
from tasks.commands.report import report_html, run_figures
from tasks.commands.stats_model import (
    FAILURE,
    LOOKUPS,
    SUCCESS,
    TaskStats,
    Window,
    gather,
)

opt_last = {
    "name": "last", "short": "", "long": "last", "type": int, "default": 0,
    "help": "only the last N runs of doit [default: all recorded]",
}
opt_plot = {
    "name": "plot", "short": "", "long": "plot", "type": str, "default": "",
    "help": "write an HTML report with charts to this file (slowest, flaky, cache, trends)",
}


def overview_lines(window: Window) -> list[str]:
    """The whole history: runs of doit, a table per task, flaky tasks, the cache hit rate."""
    lines = [_runs_line(window), ""]
    rows = [[t.name, str(t.runs), percent(t.count(SUCCESS), t.runs), duration(t.average),
             duration(min(t.durations, default=None)), duration(max(t.durations, default=None)),
             duration(t.p95)] for t in window.tasks.values()]
    lines += table(["task", "runs", "success", "average", "fastest", "slowest", "p95"], rows,
                   right=(1, 2, 3, 4, 5, 6))
    flaky = [f"{t.name} ({t.count([FLAKY])} of {t.runs} runs)"
             for t in window.tasks.values() if t.count([FLAKY])]
    lines += ["", "flaky tasks: " + (", ".join(flaky) if flaky else "none")]
    if window.cached:
        hits = sum(t.count([CACHED]) for t in window.tasks.values())
        lookups = sum(t.count(LOOKUPS) for t in window.tasks.values())
        lines.append(f"cache hit rate: {percent(hits, lookups)} ({hits} of {lookups} "
                     "executions restored from the cache)")
    lines.append("runs: executions (not up to date); durations: of successful executions")
    return lines


def task_lines(window: Window, name: str) -> list[str]:
    """One task's figures, a few lines."""
    stats = window.tasks.get(name, TaskStats(name))
    failed = stats.count(FAILURE)
    lines = [f"{name} over {_runs_phrase(window)}:",
             f"  runs: {stats.runs} (not counting {stats.up_to_date} up to date)"]
    if stats.runs:
        lines.append(f"  success rate: {percent(stats.count(SUCCESS), stats.runs)} "
                     f"({stats.count(SUCCESS)} of {stats.runs}; {failed} failed)")
    if stats.durations:
        lines.append(f"  duration: average {duration(stats.average)}, "
                     f"fastest {duration(min(stats.durations))}, "
                     f"slowest {duration(max(stats.durations))}, p95 {duration(stats.p95)} "
                     f"(of {len(stats.durations)} successful executions)")
    if stats.runs:
        lines.append(f"  flaky: {stats.count([FLAKY])} of {stats.runs} runs")
    if window.cached and stats.runs:
        lookups = stats.count(LOOKUPS)
        lines.append(f"  cache hit rate: {percent(stats.count([CACHED]), lookups)} "
                     f"({stats.count([CACHED])} of {lookups})")
    return lines


def _runs_phrase(window: Window) -> str:
    count = len(window.runs)
    return f"{count} run{'s' if count != 1 else ''} of doit"


def _runs_line(window: Window) -> str:
    finished = [r for r in window.runs if r.status != RunStatus.RUNNING.value]
    succeeded = sum(r.status == RunStatus.SUCCEEDED.value for r in finished)
    others: dict[str, int] = {}
    for run in window.runs:
        if run.status != RunStatus.SUCCEEDED.value:
            others[run.status] = others.get(run.status, 0) + 1
    rest = "".join(f", {n} {status}" for status, n in sorted(others.items()))
    first = min(r.started for r in window.runs)
    return (f"{_runs_phrase(window)} since {clock(first)}: {succeeded} succeeded "
            f"({percent(succeeded, len(finished))} of finished runs){rest}")


class StatsCommand(FedbuildCommand):
    """`doit stats [TASK]`."""

    name = "stats"
    doc_purpose = "show how tasks have fared: runs, success rate, durations, flaky tasks"
    doc_usage = "[TASK] [--last N] [--plot FILE]"
    doc_description = ("Computed from .fedbuild/history.sqlite3. Runs are executions (not up to "
                       "date); durations are of successful executions; p95 is the nearest-rank "
                       "95th percentile.")
    cmd_options = (opt_last, opt_plot)

    def _execute(self, pos_args: list[str], last: int = 0, plot: str = "") -> int:
        if len(pos_args) > 1:
            raise InvalidCommand("`doit stats` takes at most one task name "
                                 f"(got {' '.join(pos_args)})")
        root = Path.cwd()  # doit has moved to the repository (-d) by now
        history = repository_history(root)
        try:
            window = gather(history, last)
            if plot:
                page = report_html(window, run_figures(history, window),
                                   f"fedbuild run history: {root.name}")
                Path(plot).write_text(page, encoding="utf-8")
                self.outstream.write(f"report written to {plot} ({len(window.runs)} runs)\n")
                return 0
        finally:
            history.close()
        name = pos_args[0] if pos_args else None
        known = {t.name for t in self.task_list}
        if name is not None and name not in known and name not in window.tasks:
            raise InvalidCommand(f"'{name}' is not a task (see `doit list`)")
        if not window.runs:
            lines = [f"no runs recorded yet ({shown_path(str(history.path), root)})"]
        else:
            lines = task_lines(window, name) if name else overview_lines(window)
        self.outstream.write("\n".join(lines) + "\n")
        return 0
