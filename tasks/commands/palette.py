"""The colours every picture gives a task's status (graph, report), one table for all."""

from __future__ import annotations

from core.outcome import Status

NEVER_RUN = "never run"
_COLOURS = {
    Status.BUILT.value: "#8fd19e",
    Status.CACHED.value: "#9cc7ee",
    Status.UP_TO_DATE.value: "#d8eedc",
    Status.FLAKY.value: "#f7c77e",
    Status.FAILED.value: "#f19a9a",
    Status.TIMED_OUT.value: "#e58ab8",
    Status.NO_TESTS.value: "#f19a9a",
    Status.INTERRUPTED.value: "#c9b3e6",
    Status.SKIPPED.value: "#dddddd",
    Status.NOT_NEEDED.value: "#dddddd",
    Status.NO_BOARD.value: "#dddddd",
}
_UNKNOWN = "#ffffff"
CRITICAL = "#c0392b"  # the critical path's outline and edges


def colour(status: str | None) -> str:
    """The fill colour of a status (white for a task never run, or a word we do not know)."""
    return _COLOURS.get(status or "", _UNKNOWN)


def legend() -> list[tuple[str, str]]:
    """(status, colour) for every status, in Status order, then `never run`."""
    return [(s.value, colour(s.value)) for s in Status] + [(NEVER_RUN, _UNKNOWN)]
