"""How an action's outcome travels back to the run's record: in what the action returns.

doit sends a task's values (and its failure) back to the main process, even from a `-P
process` worker, and hands them to the reporter calls: a finished action's Outcome rides
in its values under RECORD, a failed one's in the failure itself. The record is also kept
as a file (core/state.py `outcome`) for the next runs: federate reads each module's last
build, a dependent's cache key its dependencies' output digests, a lazy step its last end.

A task whose dependents compare its result (doit's result_dep) has a second action,
`result`, so that what they compare is the task's own values without the outcome, which
differs on every run (its duration).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed

from core.outcome import Outcome

RECORD = "fedbuild.outcome"  # the key of the outcome in an action's values


class ActionFailed(TaskFailed):
    """doit's failure of a task, carrying the outcome of its action."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.message)
        self.outcome = outcome.to_dict()


def returned(outcome: Outcome, path: Path | None, values: dict[str, Any]
             ) -> dict[str, Any] | ActionFailed:
    """What an action returns to doit: its values and its outcome, or the failure carrying
    the outcome (a failure skip_on_error tolerates is not one for doit). The outcome is
    kept at `path` first (None: the action kept it already)."""
    if path is not None:
        outcome.write(path)
    if outcome.status.failed and not outcome.tolerated:
        return ActionFailed(outcome)
    return {**values, RECORD: outcome.to_dict()}


def result(task: Any) -> dict[str, Any]:
    """The second action: what the task's dependents compare (its values, no outcome)."""
    return {key: value for key, value in task.values.items() if key != RECORD}


def outcome_of(task: Any, failure: Any = None) -> Outcome | None:
    """The outcome the task's action returned in this run (None: it returned none)."""
    data = task.values.get(RECORD) if failure is None else getattr(failure, "outcome", None)
    return None if data is None else Outcome.from_dict(data)
