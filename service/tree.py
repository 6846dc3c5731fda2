"""Killing a build's processes by what a child cannot shed.

A step may drop the build's environment marker (`env -i`), start a new session
(`setsid`) or let its parent die so that it is re-parented. What still finds it:
- the build's cgroup (cgroup v2, where the service may make one): every descendant is in
  it whatever it does, and `cgroup.kill` ends them all at once;
- the supervisor (service.supervise) is a child subreaper: orphans of the build are
  re-parented to it, never to PID 1, so they stay in its process tree;
- a snapshot of the tree under the marked processes and of every process in their
  sessions, each stopped (SIGSTOP) as it is found so none can fork meanwhile, then killed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

from core.runner import marked_pids
from service.config import ServiceConfig

if TYPE_CHECKING:
    import psutil

MARKER = "FEDBUILD_SERVICE_BUILD"
KILL_WAIT = 5.0  # seconds to wait for killed processes to be gone
_ROUNDS = 10  # snapshots taken until one finds nothing new


def cgroup_base(config: ServiceConfig, make: bool = False) -> Path | None:
    """The cgroup v2 folder holding this service's build cgroups (made if `make`); None
    where the machine has no cgroup v2, or does not let this user make one, or (without
    `make`) there is none yet."""
    mount = _cgroup2_mount()
    own = _own_cgroup()
    if mount is None or own is None:
        return None
    digest = hashlib.sha256(str(config.data).encode()).hexdigest()[:12]
    base = mount / own.lstrip("/") / f"fedbuild-{digest}"
    if make:
        try:
            base.mkdir(exist_ok=True)
        except OSError:
            return None
    return base if os.access(base / "cgroup.procs", os.W_OK) else None


def build_cgroup(config: ServiceConfig, build_id: int, make: bool = False) -> Path | None:
    """Where a build's cgroup is (or would be); None without cgroup v2."""
    base = cgroup_base(config, make)
    return base / f"build-{build_id}" if base is not None else None


def remove_cgroups(config: ServiceConfig) -> None:
    """Remove the service's cgroup folder once its builds' are gone (at stop)."""
    base = cgroup_base(config)
    if base is not None:
        for group in base.glob("build-*"):
            remove_cgroup(group)
        remove_cgroup(base)


def kill_build(config: ServiceConfig, build_id: int) -> int:
    """Kill every process of the build (its cgroup, then the tree and sessions of its
    marked processes); returns how many were found."""
    found = 0
    group = build_cgroup(config, build_id)
    if group is not None and group.is_dir():
        found += kill_cgroup(group)
    roots = marked_pids(MARKER, config.marker(build_id))
    found += kill_tree(roots)
    if group is not None:
        remove_cgroup(group)
    return found


def kill_cgroup(group: Path) -> int:
    """SIGKILL every process in the cgroup (cgroup.kill, else frozen and killed one by
    one) and wait until it is empty; returns how many there were."""
    pids = _cgroup_pids(group)
    if not pids:
        return 0
    if (group / "cgroup.kill").exists():
        with suppress(OSError):
            (group / "cgroup.kill").write_text("1")
    else:
        with suppress(OSError):
            (group / "cgroup.freeze").write_text("1")
        for pid in pids:
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with suppress(OSError):
            (group / "cgroup.freeze").write_text("0")
    deadline = time.monotonic() + KILL_WAIT
    while _cgroup_pids(group) and time.monotonic() < deadline:
        time.sleep(0.02)
    return len(pids)


def remove_cgroup(group: Path) -> None:
    """Remove an empty build cgroup (a populated one is left: rmdir refuses it)."""
    with suppress(OSError):
        group.rmdir()


def kill_tree(roots: list[int]) -> int:
    """Stop, then SIGKILL, the roots, all their descendants and every process sharing a
    session with one of them (never this process or its session); returns the count."""
    import psutil

    stopped: dict[int, psutil.Process] = {}
    for _ in range(_ROUNDS):
        new = [p for p in _snapshot(roots, stopped) if p.pid not in stopped]
        if not new:
            break
        for proc in new:
            with suppress(psutil.Error):
                proc.send_signal(signal.SIGSTOP)
            stopped[proc.pid] = proc
    for proc in stopped.values():
        with suppress(psutil.Error):
            proc.send_signal(signal.SIGKILL)  # psutil refuses a pid reused meanwhile
    _wait_gone(list(stopped.values()))
    return len(stopped)


def _snapshot(roots: list[int], known: dict[int, psutil.Process]) -> list[psutil.Process]:
    """The roots, their descendants and their sessions' members, as they are now."""
    import psutil

    mine = {os.getpid(), os.getppid()}
    own_session = os.getsid(0)
    tree: dict[int, psutil.Process] = {}
    for pid in [*roots, *known]:
        with suppress(psutil.Error):
            root = known.get(pid) or psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                tree[proc.pid] = proc
    sessions = set()
    for pid in tree:
        with suppress(OSError):
            sessions.add(os.getsid(pid))
    sessions -= {0, 1, own_session}
    if sessions:
        for proc in psutil.process_iter():
            with suppress(OSError, psutil.Error):
                if proc.pid not in tree and os.getsid(proc.pid) in sessions:
                    tree[proc.pid] = proc
    return [p for pid, p in tree.items() if pid not in mine]


def _wait_gone(procs: list[psutil.Process]) -> None:
    import psutil

    deadline = time.monotonic() + KILL_WAIT
    while procs and time.monotonic() < deadline:
        alive = []
        for proc in procs:
            with suppress(psutil.NoSuchProcess):
                if proc.status() != psutil.STATUS_ZOMBIE:  # a zombie is dead, not reaped
                    alive.append(proc)
        procs = alive
        if procs:
            time.sleep(0.02)


def _cgroup_pids(group: Path) -> list[int]:
    try:
        return [int(line) for line in (group / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _cgroup2_mount() -> Path | None:
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified)."""
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split(" - ")
        if len(fields) == 2 and fields[1].split(" ")[0] == "cgroup2":
            return Path(fields[0].split(" ")[4])
    return None


def _own_cgroup() -> str | None:
    """This process's cgroup v2 path (the `0::` line of /proc/self/cgroup)."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("0::"):
            return line[3:]
    return None
