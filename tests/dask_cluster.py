"""A real Dask cluster on loopback for tests and benchmarks: `dask scheduler` and `dask
worker` processes started by PID, fedbuild importable in them as if installed."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NamedTuple

from tests.servers import free_port, stop_process

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0


def _wait_until(check: object, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `check()` until true; fail with the process's log if it exits or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    while not check():  # type: ignore[operator]
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def _answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _start(argv: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """A Dask process in `cwd`, its own session (stopped by PID), fedbuild importable as if
    installed (PYTHONPATH: the checkout's code, not the test repository)."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "dask", *argv], cwd=cwd, env=env,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True)


def _workers_of(address: str, count: int) -> list[str]:
    """The addresses of the scheduler's workers, once `count` have joined."""
    from distributed import Client

    with Client(address, timeout=START_TIMEOUT, set_as_default=False) as client:
        client.wait_for_workers(count, timeout=START_TIMEOUT)
        return sorted(client.scheduler_info()["workers"])


class Cluster(NamedTuple):
    """A running scheduler and its workers."""

    address: str
    workers: list[str]  # their addresses
    processes: dict[str, subprocess.Popen[bytes]]  # `dask worker` by name; "scheduler"


TWO_WORKERS = (("w1", ("--resources", "qemu=1")), ("w2", ()))


@contextmanager
def dask_cluster(tmp_path: Path, workers: Sequence[tuple[str, Sequence[str]]] = TWO_WORKERS
                 ) -> Iterator[Cluster]:
    """A scheduler and single-threaded workers on 127.0.0.1, each started in its own folder
    under `tmp_path` with its own --local-directory (by default w1, advertising QEMU with
    `--resources qemu=1`, and w2 with nothing). Every process is stopped by its PID when
    the block ends."""
    port = free_port()
    home = tmp_path / "cluster"  # outside every repository the tests build
    with ExitStack() as stack:
        scheduler = _start(["scheduler", "--host", "127.0.0.1", "--port", str(port),
                            "--no-dashboard"], home / "scheduler", tmp_path / "scheduler.log")
        stack.callback(stop_process, scheduler)
        _wait_until(lambda: _answers(port), "dask scheduler", scheduler,
                    tmp_path / "scheduler.log")
        address = f"tcp://127.0.0.1:{port}"
        processes = {"scheduler": scheduler}
        for name, resources in workers:
            log = tmp_path / f"{name}.log"
            worker = _start(["worker", address, "--nthreads", "1", "--nworkers", "1",
                             "--name", name, "--no-dashboard", "--local-directory",
                             str(home / name / "local"), *resources], home / name / "cwd", log)
            stack.callback(stop_process, worker)
            processes[name] = worker
        yield Cluster(address, _workers_of(address, len(workers)), processes)
