"""A real Dask cluster on loopback for tests and benchmarks: `dask scheduler` and `dask
worker` processes started by PID, fedbuild importable in them as if installed.

Each worker runs in a private mount namespace where the test's folder is an empty tmpfs but
for the cluster's own folder: the repositories a test builds there do not exist for the
workers, so inputs and outputs can only move through the cache. With `tls` the scheduler
and workers speak TLS only, with certificates made by `self_signed`; a client is given the
same ones through Dask's configuration (`Cluster.env`, `Cluster.security`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from tests.servers import stop_process

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT = 60.0
# In the worker's own mount namespace: keep the cluster's folder ($1) at /mnt, cover the
# test's folder ($2) with an empty tmpfs, put the cluster's folder back, then run the worker
# in its folder ($3).
_HIDE = """set -e
mount -t tmpfs fedbuild-keep /mnt
mkdir /mnt/cluster
mount --bind "$1" /mnt/cluster
mount -t tmpfs fedbuild-hidden "$2"
mkdir -p "$1"
mount --bind /mnt/cluster "$1"
cd "$3"
shift 3
exec "$@"
"""


class Tls(NamedTuple):
    """A certificate authority's certificate, and a certificate and key it signed."""

    ca: Path
    cert: Path
    key: Path

    def flags(self) -> list[str]:
        """The `dask scheduler` / `dask worker` options giving them the certificates."""
        return ["--tls-ca-file", str(self.ca), "--tls-cert", str(self.cert),
                "--tls-key", str(self.key)]

    def env(self) -> dict[str, str]:
        """Dask's configuration of a client's TLS (distributed.comm.tls.*), as environment
        variables: what README tells a user to set."""
        return {"DASK_DISTRIBUTED__COMM__TLS__CA_FILE": str(self.ca),
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT": str(self.cert),
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY": str(self.key),
                "DASK_DISTRIBUTED__COMM__REQUIRE_ENCRYPTION": "True"}


def self_signed(folder: Path) -> Tls:
    """A self-signed certificate for 127.0.0.1 (its own authority), made by openssl."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return Tls(cert, cert, key)


def _wait_until(check: object, what: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Poll `check()` until true; fail with the process's log if it exits or time runs out."""
    deadline = time.monotonic() + START_TIMEOUT
    while not check():  # type: ignore[operator]
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not start:\n{log.read_text()[-2000:]}")
        time.sleep(0.2)


def _address(info: Path) -> str | None:
    """The scheduler's address from its --scheduler-file, once it has written it whole."""
    try:
        return str(json.loads(info.read_text())["address"])
    except (OSError, ValueError, KeyError):
        return None


def _start(argv: list[str], cwd: Path, log: Path, extra: Mapping[str, str] | None = None,
           hidden: Path | None = None) -> subprocess.Popen[bytes]:
    """A Dask process in `cwd`, its own session (stopped by PID), fedbuild importable as if
    installed (PYTHONPATH: the checkout's code, not the test repository), `extra` in its
    environment; `hidden` (holding `cwd`'s cluster folder) covered but for that folder."""
    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), **(extra or {})}
    command = [sys.executable, "-m", "dask", *argv]
    if hidden is not None:
        home = next(p for p in cwd.parents if p.parent == hidden)
        unshare = ["unshare", "--mount", "--propagation", "private"]
        if os.geteuid() != 0:  # a user namespace lets a user mount in its own
            unshare[1:1] = ["--user", "--map-root-user"]
        command = [*unshare, "sh", "-c", _HIDE, "sh", str(home), str(hidden), str(cwd),
                   *command]
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=out, start_new_session=True)


def _client(address: str, security: Any = None) -> Any:
    """A Dask client of the cluster (closed by its `with`)."""
    from distributed import Client

    return Client(address, timeout=START_TIMEOUT, set_as_default=False, security=security)


def _workers_of(address: str, count: int, security: Any) -> list[str]:
    """The addresses of the scheduler's workers, once `count` have joined."""
    with _client(address, security) as client:
        client.wait_for_workers(count, timeout=START_TIMEOUT)
        return sorted(client.scheduler_info(n_workers=-1)["workers"])


def seen_by_workers(cluster: Cluster, path: Path) -> dict[str, bool]:
    """Whether each worker sees `path` (a file or folder there)."""
    with _client(cluster.address, cluster.security) as client:
        return {worker: bool(seen) for worker, seen in
                client.run(os.path.exists, str(path)).items()}


class Cluster(NamedTuple):
    """A running scheduler and its workers."""

    address: str
    workers: list[str]  # their addresses
    processes: dict[str, subprocess.Popen[bytes]]  # `dask worker` by name; "scheduler"
    env: dict[str, str] = {}  # what a client's environment needs (TLS: Dask's config)
    security: Any = None  # a distributed.Security for a client in this process (TLS)


TWO_WORKERS = (("w1", ("--resources", "qemu=1")), ("w2", ()))


@contextmanager
def dask_cluster(tmp_path: Path, workers: Sequence[tuple[str, Sequence[str]]] = TWO_WORKERS,
                 env: Mapping[str, Mapping[str, str]] | None = None,
                 tls: Tls | None = None) -> Iterator[Cluster]:
    """A scheduler and single-threaded workers on 127.0.0.1, each started in its own folder
    under `tmp_path`/cluster with its own --local-directory (by default w1, advertising QEMU
    with `--resources qemu=1`, and w2 with nothing) and what `env` gives it (by name) in its
    environment, seeing nothing else of `tmp_path`; with `tls`, over TLS only. Every
    process is stopped by its PID when the block ends."""
    home = tmp_path / "cluster"  # the only folder of tmp_path the workers see
    # The scheduler binds a port the kernel picks and writes its address to a file: a port
    # picked here could be taken before the scheduler binds it, and another server then
    # answer in its place.
    info = home / "scheduler.json"
    info.unlink(missing_ok=True)  # an earlier cluster's, in the same folder
    flags = ["--protocol", "tls", *tls.flags()] if tls else []
    security = None
    if tls is not None:
        from distributed import Security

        security = Security(tls_ca_file=str(tls.ca), tls_client_cert=str(tls.cert),
                            tls_client_key=str(tls.key), require_encryption=True)
    with ExitStack() as stack:
        scheduler = _start(["scheduler", "--host", "127.0.0.1", "--port", "0",
                            "--scheduler-file", str(info), "--no-dashboard", *flags],
                           home / "scheduler", tmp_path / "scheduler.log")
        stack.callback(stop_process, scheduler)
        _wait_until(lambda: _address(info) is not None, "dask scheduler", scheduler,
                    tmp_path / "scheduler.log")
        address = _address(info)
        assert address is not None
        processes = {"scheduler": scheduler}
        for name, resources in workers:
            log = tmp_path / f"{name}.log"
            worker = _start(["worker", address, "--nthreads", "1", "--nworkers", "1",
                             "--name", name, "--no-dashboard", "--local-directory",
                             str(home / name / "local"), *(tls.flags() if tls else []),
                             *resources], home / name / "cwd", log, (env or {}).get(name),
                            hidden=tmp_path)
            stack.callback(stop_process, worker)
            processes[name] = worker
        yield Cluster(address, _workers_of(address, len(workers), security), processes,
                      tls.env() if tls else {}, security)
