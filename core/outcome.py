"""What happened to a task, as data: returned by its action (doit carries it back to the run's
record), and kept as a file for the next runs.

`Status` is the one vocabulary of a task's end, from the runner's result (`of_result`) to
the table, the history, summary.json, junit.xml, the events and the service; `RunStatus`
the one of a whole run. Other modules compare with these members, or with their `.value`
where they hold the word as text (a history row): never with a word spelled again.
"""

from __future__ import annotations

import enum
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path

from core.runner import RUN_VARIABLE, Result
from core.runner import Status as Ended


class Status(str, enum.Enum):
    """A task's status in a run's summary."""

    BUILT = "built"
    FLAKY = "flaky"  # built, but only after a failed attempt
    CACHED = "cached"  # outputs and log restored from the cache instead of building
    UP_TO_DATE = "up to date"
    FAILED = "failed"
    TIMED_OUT = "timed out"
    SKIPPED = "skipped"
    NOT_NEEDED = "not needed"  # a lazy step whose every dependent was in the cache
    NO_TESTS = "no tests"  # a test step whose runner found no test to run: a failure
    INTERRUPTED = "interrupted"  # stopped, or never started, by SIGINT or SIGTERM
    NO_BOARD = "no board"  # an on-device step left out: no board's port was given

    @property
    def failed(self) -> bool:
        """True for the statuses that mean the task did not produce its output."""
        return self in (Status.FAILED, Status.TIMED_OUT, Status.NO_TESTS, Status.INTERRUPTED)

    @property
    def succeeded(self) -> bool:
        """True for the statuses that leave the task's outputs in place, made or restored."""
        return self in (Status.BUILT, Status.FLAKY, Status.CACHED)

    @classmethod
    def of_result(cls, result: Result) -> Status:
        """A command's end as a task's: passed (flaky when only after a failed attempt),
        timed out, interrupted, or failed (a failure or a missing tool)."""
        if result.ok:
            return cls.FLAKY if result.attempts > 1 else cls.BUILT
        return {Ended.TIMED_OUT: cls.TIMED_OUT,
                Ended.INTERRUPTED: cls.INTERRUPTED}.get(result.status, cls.FAILED)


class RunStatus(str, enum.Enum):
    """How a whole run ended (history, summary.json, the run.finished event)."""

    RUNNING = "running"  # not ended, or ended without a word (killed)
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


# The words as text, for rows and records that hold them as str.
BUILT, FLAKY, CACHED = Status.BUILT.value, Status.FLAKY.value, Status.CACHED.value
UP_TO_DATE = Status.UP_TO_DATE.value
SUCCEEDED = frozenset(s.value for s in Status if s.succeeded)  # built, flaky, cached


@dataclass(frozen=True)
class Outcome:
    """The record of one execution of a task's action."""

    task: str
    status: Status
    duration: float
    log: str
    exit_code: int | None = None
    attempts: int = 1
    peak_rss: int = 0
    cpu_time: float = 0.0
    tolerated: bool = False  # failed, but skip_on_error says the run goes on
    message: str = ""
    inputs_digest: str = ""  # of everything the task read (files and signature)
    output_digest: str = ""  # of what it produced
    saved: float = 0.0  # cached: the seconds the original build took
    warnings: tuple[str, ...] = ()  # lines to show (a cache that could not be used)
    run: str = ""  # the run that kept it (its lock's token; "": not written by a run)
    worker: str = ""  # the Dask worker that ran it (executor=dask; "": here)
    queued: float = 0.0  # executor=dask: seconds from its submission until a worker started it
    remote_run: float = 0.0  # executor=dask: seconds the worker worked on it (inputs, commands,
    remote_started: float = 0.0  # storing the result); when it started there (epoch, our clock)

    def write(self, path: Path) -> None:
        """Save as JSON, atomically (a reader never sees half a record), marked with the run
        that keeps it."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({**self.to_dict(), "run": os.environ.get(RUN_VARIABLE, "")}))
        tmp.replace(path)

    def to_dict(self) -> dict[str, object]:
        """As plain data (JSON, doit's task values): the status as its word."""
        # Its fields are plain values (warnings: a tuple of str): no deep copy (asdict) needed.
        return {**{name: getattr(self, name) for name in _OUTCOME_FIELDS},
                "status": self.status.value}

    @classmethod
    def from_dict(cls, data: object) -> Outcome | None:
        """The outcome `to_dict` made, or None for anything else."""
        try:
            given = dict(data)  # type: ignore[call-overload]
            given["status"] = Status(given["status"])
            given["warnings"] = tuple(given.get("warnings", ()))
            return cls(**given)
        except (ValueError, TypeError, KeyError):
            return None

    @classmethod
    def read(cls, path: Path) -> Outcome | None:
        """The record at `path`, or None when there is none (or it is unreadable)."""
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return cls.from_dict(data)


_OUTCOME_FIELDS = tuple(f.name for f in fields(Outcome))
