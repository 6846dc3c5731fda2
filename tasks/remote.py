"""Run cacheable steps on a Dask cluster (`doit executor=dask scheduler=tcp://HOST:PORT`),
with the remote action cache as the data plane: no shared filesystem.

The client uploads the step's input files to the cache's /cas (missing blobs only) and
submits an Action (tasks/remote_action.py, shaped like the Remote Execution API's Action and
Command) to Dask with the task's priority, restricted to the workers advertising the
module's resources and having its tool at the version in its key (each worker is asked
once per run). A worker runs it (tasks/remote_worker.py) and stores the result in the cache
under the action's key; the client then restores the outputs exactly as on a cache hit.
doit still decides what is up to date and in what order.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import doit

from core.digests import file_digest
from core.errors import COMMAND_LINE, UsageError
from federation.manifest import Execution
from federation.steps import ToolPlan
from tasks import schedule, slots
from tasks.cache.actions import Lookup
from tasks.cache.backend import Backend, CacheError
from tasks.cache.cache import CacheConfig
from tasks.remote_action import Action, FileNode, Ran, RemoteCommand
from tasks.remote_worker import run_action, tool_version

FALLBACK = "local-fallback"  # executor=dask,local-fallback: here when no scheduler answers
EXECUTORS = ("local", "dask", f"dask,{FALLBACK}")
_CONNECT_TIMEOUT = 5.0  # seconds to reach the scheduler at the start of a run
_QUEUE_MARGIN = 600.0  # seconds a submitted action may wait for a worker, beyond its own run

_lock = threading.Lock()
_scheduler: str | None = None  # the scheduler's address when executor=dask
_jobs: int | None = None  # remote_jobs=: tasks in flight on the cluster (None: its threads)
_fallback = False  # executor=dask,local-fallback: here when the cluster is not there
_client: Any = None
_worker_tools: dict[tuple[str, ToolPlan], str | None] = {}  # each worker's tool versions


# Configuration -----------------------------------------------------------------------------

def configure(cache: CacheConfig | None, execution: Execution | None = None,
              check: bool = True, given: Mapping[str, str] | None = None) -> None:
    """Read `executor=`, `scheduler=` and `remote_jobs=` (over FEDBUILD_SCHEDULER, over the
    manifest's federation.execution); with executor=dask, require a remote cache and (when
    `check`: a run, not `doit list`) a scheduler that answers, or with
    `executor=dask,local-fallback` run here after one warning line. Each mistake is one
    UsageError."""
    global _scheduler, _jobs, _fallback
    settings = execution or Execution()
    given = given if given is not None else {
        name: doit.get_var(name, None) for name in ("executor", "scheduler", "remote_jobs")}
    _scheduler = None
    _jobs = _remote_jobs(given.get("remote_jobs")) or settings.remote_jobs
    executor = given.get("executor") or settings.executor
    if executor not in EXECUTORS:
        raise UsageError(COMMAND_LINE, "executor", f"{executor!r} is not an executor; use "
                         + " or ".join(f"executor={e}" for e in EXECUTORS))
    if executor == "local":
        return
    address = given.get("scheduler") or os.environ.get("FEDBUILD_SCHEDULER") or \
        settings.scheduler or ""
    if not address:
        raise UsageError(COMMAND_LINE, "scheduler", "executor=dask needs the scheduler's "
                         "address: scheduler=tcp://HOST:PORT (or FEDBUILD_SCHEDULER, or "
                         "federation.execution.scheduler)")
    if cache is None or not cache.enabled or not cache.remote_url:
        raise UsageError(COMMAND_LINE, "executor", "executor=dask moves inputs and outputs "
                         "through a remote cache: set FEDBUILD_CACHE_URL (or "
                         "federation.cache.remote.url)")
    _scheduler, _fallback = address, executor.endswith(FALLBACK)
    if check:
        _reach(_fallback)


def _reach(fallback: bool) -> None:
    """Connect to the scheduler; unreachable, with local-fallback: one warning line on
    stderr and every step runs here."""
    global _scheduler
    try:
        _connect()
    except UsageError as err:
        if not fallback:
            raise
        _scheduler = None
        print(f"WARNING: {err.message.split('; ')[0]}: executor=dask,{FALLBACK} runs every "
              "step here", file=sys.stderr)


def _remote_jobs(value: str | None) -> int | None:
    """remote_jobs=N: a whole number from 1 (None when not given)."""
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise UsageError(COMMAND_LINE, "remote_jobs", f"{value!r} is not a number of tasks "
                         "in flight on the cluster; give a whole number from 1 "
                         "(remote_jobs=8), or leave it out for the cluster's threads")
    return int(value)


def in_flight() -> int:
    """How many tasks may wait on the cluster at once: remote_jobs=, else the cluster's
    total threads now (at least 1); 0 with executor=local."""
    if _scheduler is None:
        return 0
    if _jobs is not None:
        return _jobs
    workers = _connect().scheduler_info(n_workers=-1)["workers"]
    return max(1, sum(int(info.get("nthreads", 1)) for info in workers.values()))


def _connect() -> Any:
    """The Dask client of this process, connected on first use (one UsageError line if the
    scheduler does not answer)."""
    global _client
    with _lock:
        if _client is None:
            from distributed import Client  # heavy: only when executor=dask

            _quiet()
            try:
                _client = Client(_scheduler, timeout=_CONNECT_TIMEOUT, set_as_default=False)
            except (OSError, TimeoutError, TypeError, ValueError) as err:
                raise UsageError(COMMAND_LINE, "scheduler", _unreachable(err)) from None
            atexit.register(_client.close)
        return _client


def _unreachable(err: Exception) -> str:
    """Why the scheduler could not be reached, and what to do: over TLS, most often Dask's
    configuration lacks the certificates (the client reads them from there)."""
    first = (str(err) or type(err).__name__).splitlines()[0]
    if str(_scheduler).startswith("tls://"):
        return (f"no Dask scheduler answers at {_scheduler} over TLS ({first}); give this "
                "client its certificates in Dask's configuration (distributed.comm.tls."
                "ca-file, distributed.comm.tls.client.cert and .key: a YAML file in "
                "~/.config/dask/ or DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ...__CLIENT__CERT, "
                "...__CLIENT__KEY)")
    return (f"no Dask scheduler answers at {_scheduler} ({first}); start one (`dask "
            "scheduler`) or leave out executor=dask")


def _quiet() -> None:
    """Silence distributed's loggers in this process: a lost scheduler makes its client log
    tracebacks (even at exit); what failed is said in each task's one line."""
    for name in ["distributed", *logging.root.manager.loggerDict]:
        if name == "distributed" or name.startswith("distributed."):
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _forked() -> None:
    """A forked `-P process` worker: the parent's client threads did not come along."""
    global _client
    _client = None


os.register_at_fork(after_in_child=_forked)


# The client's side ---------------------------------------------------------------------------

def run_remotely(plan: Any, cached: Lookup | None, more_inputs: Iterable[Path],
                 version: Callable[[], str | None] = lambda: None) -> Ran | None:
    """Run the step `plan` (a StepPlan) on the cluster, on a worker whose version of its tool
    is `version()` (its key's), and restore what it made; None when it runs here
    (executor=local, not cacheable, exclusive, or no remote cache this run)."""
    if _scheduler is None or cached is None or plan.exclusive or plan.always_run:
        return None
    backend = cached.cache.remote
    if backend is None:
        return None
    try:
        action = _action(plan, cached.key, backend, more_inputs, version())
    except (CacheError, OSError) as err:
        return Ran((), False, "", failure=f"{plan.task}: inputs not uploaded to {backend.name} "
                   f"for the Dask workers ({err})")
    with slots.remote():  # no local slot held while the cluster runs it
        ran = _submit(action, backend, _wait(plan))
    if ran.lost and _fallback:
        return _here_from_now_on(ran)
    return _restore(plan, cached, ran)


def _here_from_now_on(ran: Ran) -> Ran:
    """executor=dask,local-fallback and the cluster failed a task (the scheduler lost): it
    and every later step run here, the first saying why."""
    global _scheduler
    with _lock:
        _scheduler = None
    return Ran((), False, "", here=f"{ran.failure}; executor=dask,{FALLBACK}: it and the "
               "rest run here")


def _wait(plan: Any) -> float:
    """How long to wait for a submitted action: its commands' timeouts, plus the queue."""
    return plan.timeout * (plan.retries + 1) * len(plan.commands) + _QUEUE_MARGIN


def _action(plan: Any, key: str, backend: Backend, more: Iterable[Path],
            version: str | None) -> Action:
    """The step as an Action, its input files uploaded (HEAD first: missing blobs only)."""
    root = Path(plan.root)
    files = {os.path.normpath(name) for name in plan.inputs}
    files |= {os.path.relpath(path, root) for path in _files(more) if path.is_relative_to(root)}
    nodes = []
    for rel in sorted(files):
        path = root / rel
        digest = file_digest(path)
        if not backend.has_blob(digest):
            backend.put_blob(digest, path)
        nodes.append(FileNode(rel, digest, os.access(path, os.X_OK)))
    command = RemoteCommand(
        arguments=tuple(plan.commands), environment_variables=dict(plan.env),
        working_directory=os.path.relpath(plan.cwd, root),
        output_paths=tuple(os.path.relpath(o, root) for o in plan.outputs),
        out_directory=os.path.relpath(plan.dist, root) if plan.uses_out else None,
        creates_out=plan.creates_out, own_tmp=plan.own_tmp)
    return Action(key, plan.task, plan.module, command, tuple(nodes), str(root),
                  plan.timeout, plan.retries, dict(plan.resources), plan.tool, version)


def _files(paths: Iterable[Path]) -> Iterable[Path]:
    """The files of `paths`, folders walked (symlinks not followed)."""
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in sorted(path.rglob("*")) if p.is_file())


def _submit(action: Action, backend: Backend, wait: float) -> Ran:
    """Submit the action with the task's priority, to the workers that have its resources
    and its tool's version, and wait for the worker's answer."""
    client = _connect()
    rank = schedule.priority_of(action.task)
    try:
        allowed, missing = _where_it_can_run(client, action)
        if missing:
            return Ran((), False, "", failure=missing)
        submitted = time.time()
        future = client.submit(run_action, action, backend, key=f"{action.task}-{uuid.uuid4()}",
                               priority=int(rank * 1000), pure=False, workers=allowed,
                               resources=dict(action.resources) or None)
        ran: Ran = _result(future, wait)
    except Exception as err:  # the cluster's failure is this task's, in one line
        first = (str(err) or type(err).__name__).splitlines()[0]
        # a worker that could not store its result said so (CacheError, its name in it):
        # the cluster is there; anything else is the cluster failing the task
        return Ran((), False, "", lost=not isinstance(err, CacheError),
                   failure=f"{action.task}: Dask execution at {_scheduler} failed "
                   f"({type(err).__name__}: {first})")
    return _on_our_clock(ran, submitted)


def _on_our_clock(ran: Ran, submitted: float) -> Ran:
    """The worker's answer with its start and end moved to this machine's clock (its own
    may differ): the queue time is the wait from the submission to the worker's start,
    clocks compared once."""
    if not ran.started:
        return ran
    queued = max(0.0, ran.started - submitted)
    return dataclasses.replace(ran, queued=queued, started=submitted + queued,
                               finished=submitted + queued + (ran.finished - ran.started))


def _result(future: Any, wait: float) -> Any:
    """The future's result; cancelled on the cluster when the wait ends otherwise (a timeout,
    Ctrl-C, the scheduler lost), so nothing keeps running for a run that gave up on it."""
    try:
        return future.result(timeout=wait)
    except BaseException:
        with contextlib.suppress(Exception):
            future.cancel()
        raise


def _where_it_can_run(client: Any, action: Action) -> tuple[list[str] | None, str]:
    """The workers the action may go to (None: any), or why none can run it. The cluster's
    workers are asked for only when the action needs resources or a tool (a round trip to
    the scheduler per action otherwise spent for nothing)."""
    if not action.resources and action.tool is None:
        return None, ""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    missing = _no_worker_has(action, workers)
    return (None, missing) if missing else _with_tool(client, action, workers)


def _no_worker_has(action: Action, workers: Mapping[str, Any]) -> str:
    """Why no worker of the cluster can run the action ("" when one can): a task that would
    otherwise wait for ever fails at once, naming what is missing."""
    wanted = action.resources
    if not wanted or _resourced(action, workers):  # no resources: any worker, even a later one
        return ""
    needs = ",".join(f"{name}={amount:g}" for name, amount in sorted(wanted.items()))
    return (f"{action.task} needs a Dask worker with resources {needs}; none of the "
            f"{len(workers)} workers at {_scheduler} has them (start one with "
            f"`dask worker --resources \"{needs}\"`)")


def _resourced(action: Action, workers: Mapping[str, Any]) -> list[str]:
    """The workers advertising the resources the action needs."""
    return [address for address, info in workers.items()
            if all((info.get("resources") or {}).get(name, 0) >= amount
                   for name, amount in action.resources.items())]


def _with_tool(client: Any, action: Action, workers: Mapping[str, Any]
               ) -> tuple[list[str] | None, str]:
    """The workers (with its resources) whose version of the step's tool is the one in its
    key (None: any, the step names no tool or no worker is there yet), or why none can run
    it: on another version it would be another action."""
    tool = action.tool
    candidates = _resourced(action, workers)
    if tool is None or not candidates:
        return None, ""
    versions = _tool_versions(client, tool, candidates)
    allowed = [address for address in candidates if versions[address] == action.tool_version]
    if allowed:
        return allowed, ""
    have = ", ".join(f"{address}: {_said(versions[address])}" for address in candidates[:3])
    return None, (f"{action.task} needs {tool.command} {action.tool_version!r} (the version in "
                  f"its key); none of the {len(candidates)} workers at {_scheduler} has it "
                  f"({have}{', ...' if len(candidates) > 3 else ''})")


def _said(version: str | None) -> str:
    return "not installed" if version is None else repr(version)


def _tool_versions(client: Any, tool: ToolPlan, workers: Sequence[str]
                   ) -> dict[str, str | None]:
    """Each worker's version of `tool`, asked once per worker and run (a worker that cannot
    answer has none)."""
    unknown = [address for address in workers if (address, tool) not in _worker_tools]
    if unknown:
        answers = client.run(tool_version, tool, workers=unknown, on_error="return")
        for address in unknown:
            answer = answers.get(address)
            _worker_tools[address, tool] = answer if isinstance(answer, str) else None
    return {address: _worker_tools[address, tool] for address in workers}


def _restore(plan: Any, cached: Lookup, ran: Ran) -> Ran:
    """Bring a worker's result here: on success restore it from the cache like a hit; else
    write the failure's log. The results name the client's log, folders and paths."""
    if ran.failure:
        return ran
    if all(r.ok for r in ran.results) and ran.wrote:
        if cached.restore(Path(plan.log), plan.outputs) is None:
            return dataclasses.replace(ran, failure=f"{plan.task} ran on {ran.worker}, but its "
                                       f"result could not be restored from the cache")
    else:
        Path(plan.log).parent.mkdir(parents=True, exist_ok=True)
        Path(plan.log).write_bytes(ran.log or b"")
    results = tuple(dataclasses.replace(r, command=dataclasses.replace(
        r.command, log=Path(plan.log), cwd=Path(plan.cwd))) for r in ran.results)
    return dataclasses.replace(ran, results=results)


