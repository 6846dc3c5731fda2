"""A Dask worker's side of executor=dask: run one Action sent by a client (tasks/remote.py).

The worker materialises the action's inputs in a private folder under its
--local-directory (keeping the blobs it fetched for later actions), runs the commands
through core/runner.py, stores the outputs and the log in the cache's /cas and the record
in /ac under the action's key (the cache's own store), and answers with the runner's
results, its address and when it started and finished. Its tools' versions are probed here
the way the client probes its own (tasks/tool_probe.py), once per worker process: a worker
whose version is not the one in the action's key refuses the action.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.confine import remove_tree
from core.runner import Command, Result, run
from federation.steps import ToolPlan
from tasks.cache.backend import Backend, CacheError
from tasks.cache.cache import Cache
from tasks.remote_action import Action, FileNode, Ran
from tasks.tool_probe import joined, version_line

_HEX = re.compile(r"[0-9a-f]{64}")  # a blob's name: its sha256
_versions: dict[tuple[tuple[str, ...], str], str | None] = {}  # this worker's probes' lines
_probe_lock = threading.Lock()


def tool_version(tool: ToolPlan, dask_worker: Any = None) -> str | None:
    """This worker's version of `tool`, as the key records it (asked by the client through
    `Client.run`, which passes `dask_worker`, and before each action)."""
    from distributed import get_worker

    base = Path((dask_worker or get_worker()).local_directory) / "fedbuild" / "tools"
    lines = []
    for probe in tool.probes():
        with _probe_lock:  # one probe of each program per worker process
            if (probe.version, probe.line) not in _versions:
                base.mkdir(parents=True, exist_ok=True)
                tag = hashlib.sha256("\0".join(probe.version).encode()).hexdigest()[:8]
                _versions[probe.version, probe.line] = version_line(
                    probe, base, base / f"{Path(probe.version[0]).name}-{tag}.log")
            lines.append(_versions[probe.version, probe.line])
    return joined(tool, lines)


def run_action(action: Action, backend: Backend) -> Ran:
    """On a Dask worker: materialise the inputs, run the commands, store a success in the
    cache (outputs and log in /cas, the record in /ac), answer with the results."""
    from distributed import get_worker

    started = time.time()
    worker = get_worker()
    if action.tool is not None and (mine := tool_version(action.tool)) != action.tool_version:
        return Ran((), False, worker.address, started=started, finished=time.time(),
                   failure=f"{action.task}: worker {worker.address} has {action.tool.command} "
                   f"{mine!r}, not {action.tool_version!r} (the version in its key)")
    base = Path(worker.local_directory) / "fedbuild"
    (base / "actions").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="action-", dir=base / "actions"))
    try:
        src = work / "src"
        _materialise(action.input_root, src, base / "cas", backend)
        results, wrote, log = _run(action, src, work)
        if all(r.ok for r in results) and wrote:
            _store(action, backend, src, log, sum(r.duration for r in results), worker.address)
            return Ran(tuple(results), wrote, worker.address, started=started,
                       finished=time.time())
        return Ran(tuple(results), wrote, worker.address, started=started,
                   finished=time.time(), log=log.read_bytes() if log.is_file() else b"")
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
