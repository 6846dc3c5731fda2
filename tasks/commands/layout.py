"""How the commands show times, durations, sizes, paths and tables."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from core.outcome import Status
from core.state import State
from tasks.history import FILE, History

# The order statuses are counted in: core/outcome.py's Status order.
STATUS_ORDER = tuple(s.value for s in Status)


def repository_history(root: Path) -> History:
    """The run history of the repository at `root`."""
    return History(State(root).dir / FILE)


def clock(timestamp: float) -> str:
    """A moment in local time: 2024-05-01 10:00:00."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(timestamp))


def duration(seconds: float | None) -> str:
    """0.04s, 12.3s, 2m05s, 1h02m; '-' when unknown."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def percent(part: int, whole: int) -> str:
    """90.5%; '-' of nothing."""
    return f"{100 * part / whole:.1f}%" if whole else "-"


def mebibytes(size: int | None) -> str | None:
    """A byte count in MiB, None when unknown."""
    return f"{size / (1 << 20):.1f} MiB" if size else None


def shown_path(path: str | None, root: Path) -> str:
    """A path relative to the repository when it is inside it."""
    if not path:
        return "-"
    if os.path.isabs(path):
        relative = os.path.relpath(path, root)
        if not relative.startswith(".."):
            return relative
    return path


def counts(statuses: Iterable[str]) -> str:
    """'5 built, 2 up to date, 1 failed' (statuses in their usual order, others after)."""
    tally: dict[str, int] = {}
    for status in statuses:
        tally[status] = tally.get(status, 0) + 1
    order = [s for s in STATUS_ORDER if s in tally] + sorted(set(tally) - set(STATUS_ORDER))
    return ", ".join(f"{tally[s]} {s}" for s in order) or "no tasks"


def table(header: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[int] = ()
          ) -> list[str]:
    """Aligned columns; the columns numbered in `right` are aligned right."""
    lines = [list(header), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for line in lines:
        cells = [cell.rjust(w) if i in right else cell.ljust(w)
                 for i, (cell, w) in enumerate(zip(line, widths, strict=True))]
        out.append("  ".join(cells).rstrip())
    return out
