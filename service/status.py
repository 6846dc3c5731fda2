"""The service's status words, defined once: a build's (the database's CHECK, the API's
`status` filter, the events) and the one a task has before fedbuild reports its own."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from core.outcome import Status

PENDING, RUNNING, SUCCESS, FAILED, CANCELLED = (
    "pending", "running", "success", "failed", "cancelled")
BUILD_STATUSES = (PENDING, RUNNING, SUCCESS, FAILED, CANCELLED)
FINISHED = (SUCCESS, FAILED, CANCELLED)

# A task of a build: `started` until fedbuild reports its outcome (a core.outcome.Status
# word); one left `started` when the service stops is then `interrupted`.
TASK_STARTED = "started"
TASK_INTERRUPTED = Status.INTERRUPTED.value

if TYPE_CHECKING:
    BuildStatus = str
else:
    BuildStatus = Literal[BUILD_STATUSES]


def sql_list(words: tuple[str, ...]) -> str:
    """`'a', 'b'`: the words inside an SQL `IN (...)` (they are fixed identifiers here)."""
    return ", ".join(f"'{word}'" for word in words)
