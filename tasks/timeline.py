"""What one run did, task by task: the data the reporter collects and every per-run file,
the critical path and the scheduler read."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TaskRun:
    """One task (with actions) in one run."""

    name: str
    status: str  # a core.outcome.Status value: built, up to date, failed, ...
    ended: float  # epoch seconds
    started: float | None = None  # epoch seconds its action started; None if never executed
    duration: float | None = None  # seconds its action ran (None if never executed)
    deps: tuple[str, ...] = ()  # the tasks (with actions) it waited for
    attempts: int | None = None
    exit_code: int | None = None
    peak_rss: int | None = None
    cpu_time: float | None = None
    log: str | None = None  # path of its captured output
    message: str | None = None
    inputs_digest: str | None = None
    output_digest: str | None = None
    outputs: tuple[str, ...] = ()  # its targets
    test: bool = False  # a test step (`test:<module>`): a JUnit test case
    saved: float | None = None  # cached: the seconds the original build took
    worker: str | None = None  # executor=dask: the address of the worker that ran it
    queued: float | None = None  # executor=dask: seconds it waited for a worker
    remote_run: float | None = None  # executor=dask: seconds the worker worked on it
    remote_started: float | None = None  # executor=dask: when the worker started (epoch)

    @property
    def executed(self) -> bool:
        """Whether its action ran in this run."""
        return self.started is not None


@dataclass(frozen=True)
class RunInfo:
    """The run itself."""

    started: float  # epoch seconds
    ended: float
    argv: tuple[str, ...]
    mode: str
    status: str  # succeeded, failed, interrupted
    workers: int  # doit -n (1 when serial)
    id: int | None = None  # its row in the run history, when recorded
    git_commit: str | None = None
    git_branch: str | None = None
    tasks: tuple[TaskRun, ...] = field(default=())
