"""`doit list` (or another doit command) on a repository, in a forked child of the test
process.

The child runs exactly what `python -m doit list` runs (DoitMain, which loads fedbuild's
dodo.py through doit's loader) with stdout encoded strictly as UTF-8, so a lone surrogate
that could not be printed still fails. Forking a process that has already imported doit,
pydantic and fedbuild costs milliseconds where a new interpreter costs a third of a
second, and the child can still segfault, hang or be killed without taking the test
process with it.
"""

from __future__ import annotations

import importlib
import io
import os
import select
import signal
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from doit.doit_cmd import DoitMain

from tests.conftest import DODO

# What dodo.py imports, imported before forking so that each child starts with them.
for _name in ("federation.loader", "federation.plan", "federation.steps", "tasks.config",
              "tasks.federate", "tasks.sites", "tasks.steps", "yaml"):
    importlib.import_module(_name)


@dataclass(frozen=True)
class Listing:
    """How one `doit list` (or other command) ended."""

    returncode: int | None  # None: killed by a signal or by the timeout
    signal: int | None
    timed_out: bool
    stdout: str
    stderr: str


def doit_list(repo: Path, timeout: float) -> Listing:
    """Run `doit list` on `repo` in a forked child; kill it after `timeout` seconds."""
    return doit_forked(repo, "list", timeout)


def doit_forked(repo: Path, command: str, timeout: float) -> Listing:
    """Run `doit COMMAND` (list, clean, run, ...) on `repo` in a forked child; kill it after
    `timeout` seconds."""
    out, err = repo.parent / f"{command}.stdout", repo.parent / f"{command}.stderr"
    pid = os.fork()
    if pid == 0:  # the child: never returns
        _child(repo, command, out, err)
    timed_out = not _wait_exit(pid, timeout)
    if timed_out:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return Listing(
        returncode=os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else None,
        signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        timed_out=timed_out,
        stdout=out.read_text(encoding="utf-8", errors="backslashreplace"),
        stderr=err.read_text(encoding="utf-8", errors="backslashreplace"))


def _wait_exit(pid: int, timeout: float) -> bool:
    """Whether the child ended within `timeout` seconds (its pidfd turns readable)."""
    fd = os.pidfd_open(pid)
    try:
        ready, _, _ = select.select([fd], [], [], timeout)
        return bool(ready)
    finally:
        os.close(fd)


def _child(repo: Path, command: str, out: Path, err: Path) -> None:
    code = 99
    try:
        os.chdir(repo)
        for fd, path in ((1, out), (2, err)):
            target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(target, fd)
            os.close(target)
        # As `python -m doit` has them with a pipe: strict UTF-8 out, escaped errors.
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                      errors="strict", write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", write_through=True)
        sys.modules.pop("dodo", None)  # loaded afresh, as a new process would
        args = [command, "-f", str(DODO), "-d", str(repo)]
        sys.argv = ["doit", *args]  # fedbuild_doit finds the checkout to use in -f
        code = DoitMain().run(args)
    except BaseException:  # anything escaping doit is a finding: show it as a traceback
        traceback.print_exc()
    finally:
        os._exit(code if isinstance(code, int) else 98)
