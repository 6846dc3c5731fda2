"""`doit stats --plot FILE`: the run history as one HTML page of charts (charts.py), no script.

The slowest tasks (average of successful executions), the most flaky ones (share of
their executions that passed only on a retry), and per run, oldest first: its wall
time, the cache hit rate and the time the cache saved (what the restored tasks took
when they were built). The figures are the ones `doit stats` prints (stats.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from core.outcome import CACHED, FLAKY
from tasks.commands import charts
from tasks.commands.layout import clock, duration, percent
from tasks.commands.stats_model import LOOKUPS, Window
from tasks.history import History

SHOWN = 10  # tasks in each ranking
FLAKY_COLOUR = "#e8a33d"


@dataclass(frozen=True)
class RunFigures:
    """One run's figures for the trends."""

    id: int
    started: float
    wall: float | None  # seconds; None while it runs
    hits: int  # tasks restored from the cache
    lookups: int  # tasks that asked the cache
    saved: float  # seconds the restored tasks took when built

    @property
    def label(self) -> str:
        """`run 12, 2026-12-08 01:02:03`."""
        return f"run {self.id}, {clock(self.started)}"


def run_figures(history: History, window: Window) -> list[RunFigures]:
    """Each run of the window, oldest first, with its cache figures."""
    figures = []
    for run in reversed(window.runs):
        records = history.tasks(run.id)
        figures.append(RunFigures(
            run.id, run.started, run.ended - run.started if run.ended is not None else None,
            hits=sum(r.status == CACHED for r in records),
            lookups=sum(r.status in LOOKUPS for r in records),
            saved=sum(r.saved or 0.0 for r in records if r.status == CACHED)))
    return figures


def slowest(window: Window) -> list[tuple[str, float, str]]:
    """(task, average seconds, text) of the slowest tasks, slowest first."""
    timed = [t for t in window.tasks.values() if t.average is not None]
    timed.sort(key=lambda t: (-(t.average or 0.0), t.name))
    return [(t.name, t.average or 0.0, f"{duration(t.average)} over {len(t.durations)}")
            for t in timed[:SHOWN]]


def flakiest(window: Window) -> list[tuple[str, float, str]]:
    """(task, flaky share, text) of the tasks that passed on a retry, most flaky first."""
    flaky = [t for t in window.tasks.values() if t.count([FLAKY])]
    flaky.sort(key=lambda t: (-t.count([FLAKY]) / t.runs, t.name))
    return [(t.name, t.count([FLAKY]) / t.runs,
             f"{percent(t.count([FLAKY]), t.runs)} ({t.count([FLAKY])} of {t.runs})")
            for t in flaky[:SHOWN]]


def report_html(window: Window, figures: list[RunFigures], title: str) -> str:
    """The page: a summary line, the two rankings and the three trends."""
    sections = [f"<p>{len(window.runs)} runs of doit since {escape(clock(figures[0].started))}"
                f", {len(window.tasks)} tasks.</p>" if figures else "<p>no runs recorded.</p>"]
    ranked = slowest(window)
    sections.append(charts.bars("slowest tasks (average successful execution)", ranked)
                    if ranked else "<p>no successful execution recorded yet.</p>")
    flaky = flakiest(window)
    sections.append(charts.bars("most flaky tasks (passed only on a retry)", flaky,
                                FLAKY_COLOUR) if flaky else "<p>flaky tasks: none.</p>")
    walls = [(f.label, f.wall, duration(f.wall)) for f in figures if f.wall is not None]
    sections.append(charts.line("build time per run", walls))
    asked = [f for f in figures if f.lookups]
    sections.append(charts.line("cache hit rate per run", [
        (f.label, f.hits / f.lookups, f"{percent(f.hits, f.lookups)} ({f.hits} of {f.lookups})")
        for f in asked]) if asked else "<p>no task asked the cache yet.</p>")
    sections.append(charts.line("time saved by the cache per run",
                                [(f.label, f.saved, duration(f.saved)) for f in figures]))
    return _PAGE.format(title=escape(title), body="\n".join(f"<section>{s}</section>"
                                                            for s in sections))


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>{title}</title>
<style>body{{font:14px sans-serif;margin:1em 2em;color:#222}}section{{margin:1.5em 0}}
svg.chart{{max-width:100%;height:auto}}</style></head>
<body><h1>{title}</h1>
{body}
</body></html>
"""
