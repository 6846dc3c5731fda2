"""What the client sends a Dask worker and what the worker answers (executor=dask), shaped
like the Remote Execution API's Action, Command and ActionResult so that a REAPI backend
could take the same records."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from core.runner import Result
from federation.steps import ToolPlan


@dataclass(frozen=True)
class FileNode:
    """One input file: its path from the repository root, its blob, its x bit (REAPI's)."""

    path: str
    digest: str
    is_executable: bool


@dataclass(frozen=True)
class RemoteCommand:
    """What to run (REAPI's Command; a step may run several argvs, one after the other)."""

    arguments: tuple[tuple[str, ...], ...]
    environment_variables: Mapping[str, str]
    working_directory: str  # from the input root
    output_paths: tuple[str, ...]  # from the input root
    out_directory: str | None  # where {out} is moved after a success (None: no {out})
    creates_out: bool  # the command makes {out} itself
    own_tmp: bool  # TMPDIR is a fresh folder of its own


@dataclass(frozen=True)
class Action:
    """One step to run remotely (REAPI's Action), stored under `key` in /ac once it succeeds."""

    key: str  # the action cache key: the client restores from it
    task: str
    module: str | None
    command: RemoteCommand
    input_root: tuple[FileNode, ...]
    root: str  # the client's repository folder, replaced by the worker's input root in argv
    timeout: float
    retries: int
    resources: Mapping[str, float]  # what the worker must advertise (Dask resources)
    tool: ToolPlan | None = None  # the step's program, probed the same way on the worker
    tool_version: str | None = None  # its version in the key: the worker's must be the same


@dataclass(frozen=True)
class Ran:
    """A worker's answer: the runner's results, whether {out} was made, where it ran, the log
    of a failure (a success's log is in the cache), or why it could not run at all; when it
    started and finished there (seconds since the epoch, the worker's clock until the client
    moves them to its own) and how long it waited for a worker (the client's figure)."""

    results: tuple[Result, ...]
    wrote: bool
    worker: str
    log: bytes | None = None
    failure: str = ""
    started: float = 0.0
    finished: float = 0.0
    queued: float = 0.0  # seconds from the submission to the start (the client's figure)
    lost: bool = False  # the cluster failed it (scheduler lost), not its commands
    here: str = ""  # executor=dask,local-fallback: why it runs here after all

    def where(self) -> dict[str, Any]:
        """Where and when it ran, as the outcome's fields (worker, queued, remote_run,
        remote_started)."""
        return {"worker": self.worker, "queued": self.queued,
                "remote_run": max(0.0, self.finished - self.started) if self.started else 0.0,
                "remote_started": self.started}
