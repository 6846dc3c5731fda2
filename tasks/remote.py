"""Run cacheable steps on a Dask cluster (`doit executor=dask scheduler=tcp://HOST:PORT`),
with the remote action cache as the data plane: no shared filesystem.

The client uploads the step's input files to the cache's /cas (missing blobs only) and
submits an Action (shaped like the Remote Execution API's Action and Command) to Dask with
the task's priority. A worker materialises the inputs in a private folder under its
--local-directory, runs the commands through core/runner.py, stores the outputs and the log
in /cas and the record in /ac under the action's key (the cache's own store), and answers
with the runner's results and its address. The client then restores the outputs exactly as
on a cache hit. doit still decides what is up to date and in what order.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import doit

from core.confine import remove_tree
from core.digests import file_digest
from core.errors import COMMAND_LINE, UsageError
from core.runner import Command, Result, run
from federation.manifest import Execution
from tasks import schedule, slots
from tasks.cache.actions import Lookup
from tasks.cache.backend import Backend, CacheError
from tasks.cache.cache import Cache, CacheConfig

FALLBACK = "local-fallback"  # executor=dask,local-fallback: here when no scheduler answers
EXECUTORS = ("local", "dask", f"dask,{FALLBACK}")
_CONNECT_TIMEOUT = 5.0  # seconds to reach the scheduler at the start of a run
_HEX = re.compile(r"[0-9a-f]{64}")  # a blob's name: its sha256
_QUEUE_MARGIN = 600.0  # seconds a submitted action may wait for a worker, beyond its own run

_lock = threading.Lock()
_scheduler: str | None = None  # the scheduler's address when executor=dask
_jobs: int | None = None  # remote_jobs=: tasks in flight on the cluster (None: its threads)
_client: Any = None


# The action, shaped like REAPI's Command and Action ------------------------------------------

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


@dataclass(frozen=True)
class Ran:
    """A worker's answer: the runner's results, whether {out} was made, where it ran, the log
    of a failure (a success's log is in the cache), or why it could not run at all."""

    results: tuple[Result, ...]
    wrote: bool
    worker: str
    log: bytes | None = None
    failure: str = ""


# Configuration -----------------------------------------------------------------------------

def configure(cache: CacheConfig | None, execution: Execution | None = None,
              check: bool = True, given: Mapping[str, str] | None = None) -> None:
    """Read `executor=`, `scheduler=` and `remote_jobs=` (over FEDBUILD_SCHEDULER, over the
    manifest's federation.execution); with executor=dask, require a remote cache and (when
    `check`: a run, not `doit list`) a scheduler that answers, or with
    `executor=dask,local-fallback` run here after one warning line. Each mistake is one
    UsageError."""
    global _scheduler, _jobs
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
    _scheduler = address
    if check:
        _reach(executor.endswith(FALLBACK))


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
            except (OSError, TimeoutError) as err:
                raise UsageError(COMMAND_LINE, "scheduler", f"no Dask scheduler answers at "
                                 f"{_scheduler} ({err}); start one (`dask scheduler`) or "
                                 "leave out executor=dask") from None
            atexit.register(_client.close)
        return _client


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

def run_remotely(plan: Any, cached: Lookup | None, more_inputs: Iterable[Path]) -> Ran | None:
    """Run the step `plan` (a StepPlan) on the cluster and restore what it made; None when it
    runs here (executor=local, not cacheable, exclusive, or no remote cache this run)."""
    if _scheduler is None or cached is None or plan.exclusive or plan.always_run:
        return None
    backend = cached.cache.remote
    if backend is None:
        return None
    try:
        action = _action(plan, cached.key, backend, more_inputs)
    except (CacheError, OSError) as err:
        return Ran((), False, "", failure=f"{plan.task}: inputs not uploaded to {backend.name} "
                   f"for the Dask workers ({err})")
    with slots.remote():  # no local slot held while the cluster runs it
        ran = _submit(action, backend, _wait(plan))
    return _restore(plan, cached, ran)


def _wait(plan: Any) -> float:
    """How long to wait for a submitted action: its commands' timeouts, plus the queue."""
    return plan.timeout * (plan.retries + 1) * len(plan.commands) + _QUEUE_MARGIN


def _action(plan: Any, key: str, backend: Backend, more: Iterable[Path]) -> Action:
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
                  plan.timeout, plan.retries, dict(plan.resources))


def _files(paths: Iterable[Path]) -> Iterable[Path]:
    """The files of `paths`, folders walked (symlinks not followed)."""
    for path in paths:
        if path.is_file():
            yield path
        elif path.is_dir():
            yield from (p for p in sorted(path.rglob("*")) if p.is_file())


def _submit(action: Action, backend: Backend, wait: float) -> Ran:
    """Submit the action with the task's priority and wait for the worker's answer."""
    client = _connect()
    rank = schedule.priority_of(action.task)
    try:
        missing = _no_worker_has(action, client.scheduler_info()["workers"])
        if missing:
            return Ran((), False, "", failure=missing)
        future = client.submit(run_action, action, backend, key=f"{action.task}-{uuid.uuid4()}",
                               priority=int(rank * 1000), pure=False,
                               resources=dict(action.resources) or None)
        ran: Ran = _result(future, wait)
    except Exception as err:  # the cluster's failure is this task's, in one line
        first = (str(err) or type(err).__name__).splitlines()[0]
        return Ran((), False, "", failure=f"{action.task}: Dask execution at {_scheduler} "
                   f"failed ({type(err).__name__}: {first})")
    return ran


def _result(future: Any, wait: float) -> Any:
    """The future's result; cancelled on the cluster when the wait ends otherwise (a timeout,
    Ctrl-C, the scheduler lost), so nothing keeps running for a run that gave up on it."""
    try:
        return future.result(timeout=wait)
    except BaseException:
        with contextlib.suppress(Exception):
            future.cancel()
        raise


def _no_worker_has(action: Action, workers: Mapping[str, Any]) -> str:
    """Why no worker of the cluster can run the action ("" when one can): a task that would
    otherwise wait for ever fails at once, naming what is missing."""
    wanted = action.resources
    if not wanted:  # any worker will do, even one joining later (an adaptive cluster)
        return ""
    for info in workers.values():
        have = info.get("resources") or {}
        if all(have.get(name, 0) >= amount for name, amount in wanted.items()):
            return ""
    needs = ",".join(f"{name}={amount:g}" for name, amount in sorted(wanted.items()))
    return (f"{action.task} needs a Dask worker with resources {needs}; none of the "
            f"{len(workers)} workers at {_scheduler} has them (start one with "
            f"`dask worker --resources \"{needs}\"`)")


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


# The worker's side ---------------------------------------------------------------------------

def run_action(action: Action, backend: Backend) -> Ran:
    """On a Dask worker: materialise the inputs, run the commands, store a success in the
    cache (outputs and log in /cas, the record in /ac), answer with the results."""
    from distributed import get_worker

    worker = get_worker()
    base = Path(worker.local_directory) / "fedbuild"
    (base / "actions").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="action-", dir=base / "actions"))
    try:
        src = work / "src"
        _materialise(action.input_root, src, base / "cas", backend)
        results, wrote, log = _run(action, src, work)
        if all(r.ok for r in results) and wrote:
            _store(action, backend, src, log, sum(r.duration for r in results), worker.address)
            return Ran(tuple(results), wrote, worker.address)
        return Ran(tuple(results), wrote, worker.address,
                   log=log.read_bytes() if log.is_file() else b"")
    finally:
        remove_tree(work, base / "actions", ignore_errors=True)


def _materialise(nodes: Sequence[FileNode], src: Path, blobs: Path, backend: Backend) -> None:
    """Copy each input from this worker's blob folder, fetching only blobs it lacks."""
    blobs.mkdir(parents=True, exist_ok=True)
    for node in nodes:
        dest = src / node.path
        if not _HEX.fullmatch(node.digest) or not os.path.abspath(dest).startswith(
                f"{src}{os.sep}"):
            raise CacheError(f"input {node.path!r} (blob {node.digest[:64]!r}) is not a file "
                             "of the action's own folder")
        blob = blobs / node.digest
        if not blob.is_file():
            part = blobs / f".{node.digest}.{uuid.uuid4().hex[:8]}"
            if not backend.get_blob(node.digest, part):
                raise CacheError(f"input {node.path} (blob {node.digest[:12]}) is not in "
                                 f"{backend.name}")
            os.replace(part, blob)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(blob, dest)  # a copy: a command changing its input keeps the blob
        os.chmod(dest, 0o755 if node.is_executable else 0o644)


def _run(action: Action, src: Path, work: Path) -> tuple[list[Result], bool, Path]:
    """Run the commands as the step would here, {out} and TMPDIR in the work folder; move
    {out} to its place in the input root if they all succeeded."""
    spec = action.command
    out = work / "out" if spec.out_directory is not None else None
    if out is not None and not spec.creates_out:
        out.mkdir()
    values = {action.root: str(src), "{out}": str(out or ""), "{jobs}": str(os.cpu_count() or 1),
              "{scratch}": str(work / "scratch") if out else ""}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    env = {name: fill(value) for name, value in spec.environment_variables.items()}
    if spec.own_tmp:
        (work / "tmp").mkdir()
        env["TMPDIR"] = str(work / "tmp")
    cwd, log = src / spec.working_directory, work / "log"
    cwd.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    for i, argv in enumerate(spec.arguments):
        results.append(run(Command(argv=tuple(fill(a) for a in argv), cwd=cwd, log=log, env=env,
                                   timeout=action.timeout, retries=action.retries,
                                   append=i > 0)))
        if not results[-1].ok:
            break
    wrote = out is None or out.is_dir()
    if out is not None and wrote and all(r.ok for r in results):
        dest = src / (spec.out_directory or "")
        remove_tree(dest, work)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(out, dest)
    return results, wrote, log


def _store(action: Action, backend: Backend, src: Path, log: Path, duration: float,
           address: str) -> None:
    """Store the outputs and log through the cache's own store; a failure names this worker."""
    problems: list[str] = []
    cache = Cache(None, backend, read_only=False, warn=problems.append)
    outputs = [src / path for path in action.command.output_paths]
    cache.store(action.key, action.task, action.module, src, outputs, log, duration)
    if problems:
        raise CacheError(f"worker {address} could not store {action.task}: {problems[0]}")
