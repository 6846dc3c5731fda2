"""The build service under load: reads during builds, a burst of submissions, live clients.

    python bench/service.py [--reads 100,500] [--per-client 10] [--submissions 50]
                            [--live 100] [--json PATH]

It starts a real `doit serve` (2 workers, a fresh data folder, loopback) with tiny
generated repositories whose one step takes about a second, keeps builds running on
two of them, and measures from asyncio clients in this process:

- reads@N: N clients at once, each on its own connection doing --per-client GETs (the
  build list, then one build's full view, in turn) while builds run;
- submit@N: N build submissions at once (one client each) to a project whose manifest
  was validated before (at registration): the time until each is accepted (202);
- live@N: N WebSocket clients (each with its own ticket) following one project; a build
  is started and each must see its workflow.completed. Latency: from an event's
  timestamp (the service's clock) to its arrival, over every event every client got.

Each row: requests, errors (anything but the expected status, a refused connection, a
missed event), p50/p99/max in ms, and the service's peak RSS during the row (sampled
every 50 ms). Client and service share the machine's cores: the figures include the
clients' own cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REPO = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
REQUEST_TIMEOUT = 60.0
STEP_SECONDS = 1.0  # how long each benchmark build's step takes
HEADERS = ("scenario", "requests", "errors", "p50 ms", "p99 ms", "max ms", "peak RSS MB",
           "svc CPU s", "bench CPU s")


class BenchError(Exception):
    """The service did not start or a setup request failed; str() is one line."""


@dataclass
class Row:
    """One scenario's measurements."""

    scenario: str
    latencies: list[float] = field(default_factory=list)  # seconds
    errors: int = 0
    peak_rss: int = 0
    cpu: float = 0.0  # seconds of CPU the service used during the scenario
    client_cpu: float = 0.0  # seconds of CPU this process (the clients) used meanwhile

    def figures(self) -> dict[str, Any]:
        """The row as numbers (ms, MB)."""
        ordered = sorted(self.latencies)
        return {"scenario": self.scenario, "requests": len(ordered) + self.errors,
                "errors": self.errors, "p50_ms": _ms(_percentile(ordered, 50)),
                "p99_ms": _ms(_percentile(ordered, 99)),
                "max_ms": _ms(ordered[-1] if ordered else None),
                "peak_rss_mb": round(self.peak_rss / 2**20, 1),
                "service_cpu_s": round(self.cpu, 2),
                "bench_cpu_s": round(self.client_cpu, 2)}


def _percentile(ordered: list[float], pct: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


# --- the service -----------------------------------------------------------------------------

@dataclass
class Service:
    """A running `doit serve`."""

    url: str
    data: Path
    process: subprocess.Popen[bytes]

    @property
    def token(self) -> str:
        """The API token it stored."""
        return (self.data / "token").read_text().strip()

    def rss(self) -> int:
        """Its resident memory now (0 once it is gone)."""
        import psutil

        try:
            return int(psutil.Process(self.process.pid).memory_info().rss)
        except psutil.Error:
            return 0

    def cpu(self) -> float:
        """The CPU seconds it has used so far (user + system)."""
        import psutil

        try:
            times = psutil.Process(self.process.pid).cpu_times()
        except psutil.Error:
            return 0.0
        return float(times.user + times.system)


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_service(workdir: Path, workers: int = 2) -> Iterator[Service]:
    """`doit serve` on a free port with a fresh data folder, stopped at the end."""
    import httpx

    data = workdir / "data"
    port = free_port()
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "doit", "serve", "--port", str(port), "--data", str(data),
         "--workers", str(workers), "--max-pending", "10000"],
        cwd=REPO, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    service = Service(f"http://{HOST}:{port}", data, process)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None or time.monotonic() > deadline:
                raise BenchError("doit serve did not start: "
                                 + (workdir / "serve.log").read_text()[-500:])
            with suppress(httpx.HTTPError):
                if httpx.get(f"{service.url}/api/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        yield service
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
        log.close()


def make_repo(dest: Path, name: str) -> Path:
    """A repository with one module whose build step takes STEP_SECONDS."""
    module = dest / "modules" / "work"
    module.mkdir(parents=True)
    (module / "input.txt").write_text(name + "\n")
    step = {"name": "build", "description": "wait a moment, then copy input.txt",
            "argv": ["{python}", "-c", "import shutil, sys, time; time.sleep(float(sys.argv[3]));"
                     " shutil.copy(sys.argv[1], sys.argv[2])", "{module_dir}/input.txt",
                     "{out}/output.txt", str(STEP_SECONDS)],
            "cache": False, "always_run": True}
    manifest = {"federation": {"name": name, "baseURL": f"https://{name}.example.org"},
                "modules": [{"name": "work", "source": {"repository": "local",
                                                        "path": "modules/work"},
                             "toolchain": "command", "steps": [step]}]}
    (dest / "modules.json").write_text(json.dumps(manifest, indent=2))
    return dest


# --- measuring -----------------------------------------------------------------------------

class RssSampler:
    """The service's peak RSS while a scenario runs (a thread samples it), and the CPU
    time it used meanwhile: on a shared machine, the figure other load does not inflate.
    The clients' own CPU time is kept too: they share the cores with the service."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.peak = 0
        self.cpu = 0.0
        self.client_cpu = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> RssSampler:
        self.cpu = -self.service.cpu()
        self.client_cpu = -time.process_time()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.cpu += self.service.cpu()
        self.client_cpu += time.process_time()

    def fill(self, row: Row) -> None:
        """Copy the figures into the row."""
        row.peak_rss, row.cpu, row.client_cpu = self.peak, self.cpu, self.client_cpu

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.service.rss())
            self._stop.wait(0.05)


async def timed(row: Row, call: Callable[[], Awaitable[Any]], ok: Callable[[Any], bool]) -> Any:
    """Await call(), adding its latency to the row (or an error); its result or None."""
    started = time.perf_counter()
    try:
        result = await call()
    except Exception:  # a refused or broken connection is the benchmark's finding
        row.errors += 1
        return None
    if not ok(result):
        row.errors += 1
        return None
    row.latencies.append(time.perf_counter() - started)
    return result


class Bench:
    """The scenarios against one running service."""

    def __init__(self, service: Service, workdir: Path) -> None:
        import httpx

        self.service = service
        self.workdir = workdir
        self.auth = {"Authorization": f"Bearer {service.token}"}
        self.http = httpx.Client(base_url=service.url, headers=self.auth, timeout=60)

    def register(self, name: str) -> str:
        """Register a generated repository; its project id."""
        repo = make_repo(self.workdir / "repos" / name, name)
        answer = self.http.post("/api/projects", json={"path": str(repo), "name": name})
        if answer.status_code != 201:
            raise BenchError(f"registering {name}: HTTP {answer.status_code}: {answer.text}")
        return str(answer.json()["id"])

    def submit(self, project: str) -> int:
        """Queue a build; its id."""
        answer = self.http.post(f"/api/projects/{project}/build", json={})
        if answer.status_code != 202:
            raise BenchError(f"submitting: HTTP {answer.status_code}: {answer.text}")
        return int(answer.json()["build_id"])

    @contextmanager
    def builds_running(self, projects: list[str]) -> Iterator[None]:
        """Keep a build running or pending on each project while the block runs."""
        stop = threading.Event()

        def keep() -> None:
            import httpx

            with httpx.Client(base_url=self.service.url, headers=self.auth,
                              timeout=60) as http:
                while not stop.is_set():
                    for project in projects:
                        busy = http.get(f"/api/projects/{project}/stats").json()
                        if busy["pending"] + busy["running"] < 2:
                            http.post(f"/api/projects/{project}/build", json={})
                    stop.wait(0.3)
        thread = threading.Thread(target=keep, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(30)

    def reads(self, clients: int, per_client: int, build_id: int) -> Row:
        """`clients` concurrent readers, each on its own connection doing per_client GETs."""
        row = Row(f"reads@{clients}")

        async def reader(http: Any, number: int) -> None:
            for i in range(per_client):
                path = "/api/builds?per_page=20" if (number + i) % 2 else \
                    f"/api/builds/{build_id}"
                await timed(row, lambda p=path: http.get(p),  # type: ignore[misc]
                            lambda r: r.status_code == 200)

        async def run() -> None:
            async with self.clients(clients) as https:
                await asyncio.gather(*(reader(http, n) for n, http in enumerate(https)))
        with RssSampler(self.service) as rss:
            asyncio.run(run())
        rss.fill(row)
        return row

    def submissions(self, count: int, project: str) -> Row:
        """`count` submissions at once, each from its own client, to a project validated
        before. Each client has connected first (a GET of /api/health, not timed): the
        row measures the service accepting a build, not TCP and the client's set-up."""
        row = Row(f"submit@{count}")

        async def run() -> None:
            async with self.clients(count) as https:
                await asyncio.gather(*(http.get("/api/health") for http in https))
                await asyncio.gather(*(timed(
                    row, lambda h=http: h.post(  # type: ignore[misc]
                        f"/api/projects/{project}/build", json={}),
                    lambda r: r.status_code == 202) for http in https))
        with RssSampler(self.service) as rss:
            asyncio.run(run())
        rss.fill(row)
        return row

    @asynccontextmanager
    async def clients(self, count: int) -> AsyncIterator[list[Any]]:
        """`count` HTTP clients of one connection each, made before anything is timed.

        One shared httpx pool is not a load generator: with a hundred requests queued on
        it, httpcore 1.0's pool re-scans every connection for every waiting request (and
        polls each idle socket), so the client, not the service, spent seconds per round
        while the service's event loop sat idle (a stack sampler in both processes showed
        it). Separate clients are also what the scenario means: N users, N connections."""
        import ssl

        import httpx

        context = ssl.create_default_context()  # one, not one per client (it costs ~10 ms)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        https = [httpx.AsyncClient(base_url=self.service.url, headers=self.auth, limits=limits,
                                   timeout=REQUEST_TIMEOUT, verify=context)
                 for _ in range(count)]
        try:
            yield https
        finally:
            await asyncio.gather(*(http.aclose() for http in https))

    def live(self, clients: int, project: str) -> Row:
        """`clients` WebSocket clients following a project through one build."""
        row = Row(f"live@{clients}")
        tickets = [self.http.post("/api/events/ticket").json()["ticket"]
                   for _ in range(clients)]
        with RssSampler(self.service) as rss:
            asyncio.run(self._live(row, tickets, project))
        rss.fill(row)
        return row

    async def _live(self, row: Row, tickets: list[str], project: str) -> None:
        from websockets.asyncio.client import connect

        base = self.service.url.replace("http://", "ws://") + "/api/events"
        connected = 0
        ready = asyncio.Event()
        started: dict[str, int] = {}

        async def follow(ticket: str) -> None:
            nonlocal connected
            try:
                async with connect(f"{base}?ticket={ticket}&project_id={project}",
                                   open_timeout=30, max_queue=None) as socket_:
                    connected += 1
                    if connected == len(tickets):
                        ready.set()
                    await ready.wait()
                    await asyncio.wait_for(self._until_completed(socket_, row, started),
                                           REQUEST_TIMEOUT)
            except Exception:  # refused, dropped, or the build's end never came
                row.errors += 1
                if connected + row.errors >= len(tickets):
                    ready.set()  # the others need not wait for this one

        async def trigger() -> None:
            await asyncio.wait_for(ready.wait(), REQUEST_TIMEOUT)
            started["id"] = await asyncio.to_thread(self.submit, project)
        await asyncio.gather(trigger(), *(follow(t) for t in tickets))

    @staticmethod
    async def _until_completed(socket_: Any, row: Row, started: dict[str, int]) -> None:
        from datetime import datetime

        while True:
            event = json.loads(await socket_.recv())
            sent = datetime.fromisoformat(event["timestamp"].replace("Z", "+00:00"))
            row.latencies.append(max(0.0, time.time() - sent.timestamp()))
            if event["type"] == "workflow.completed" and event["job_id"] == started.get("id"):
                return


def run_all(args: argparse.Namespace, workdir: Path) -> list[Row]:
    """Start the service, set the projects up, run every scenario."""
    rows: list[Row] = []
    with running_service(workdir) as service:
        bench = Bench(service, workdir)
        busy = [bench.register(f"busy{n}") for n in range(2)]
        submit, follow = bench.register("submit"), bench.register("live")
        first = bench.submit(busy[0])
        with bench.builds_running(busy):
            for clients in args.reads:
                rows.append(bench.reads(clients, args.per_client, first))
        rows.append(bench.submissions(args.submissions, submit))
        rows.append(bench.live(args.live, follow))
        rows.append(Row("idle after", peak_rss=service.rss()))
    return rows


def format_table(rows: list[Row]) -> str:
    """The rows as an aligned text table."""
    cells = [list(HEADERS)]
    for row in rows:
        f = row.figures()
        cells.append([f["scenario"], str(f["requests"]), str(f["errors"]),
                      *("-" if f[k] is None else f"{f[k]:g}" for k in ("p50_ms", "p99_ms",
                                                                         "max_ms")),
                      f"{f['peak_rss_mb']:g}", f"{f['service_cpu_s']:g}",
                      f"{f['bench_cpu_s']:g}"])
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w)
                               for i, (c, w) in enumerate(zip(line, widths, strict=True)))
                     for line in cells)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reads", default="100,500",
                        type=lambda s: [int(n) for n in s.split(",")],
                        help="concurrent readers, one row each [default: 100,500]")
    parser.add_argument("--per-client", type=int, default=10,
                        help="GETs per reader [default: 10]")
    parser.add_argument("--submissions", type=int, default=50, help="[default: 50]")
    parser.add_argument("--live", type=int, default=100, help="WebSocket clients [default: 100]")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its table; exit 1 with one line if setup failed."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fedbuild-bench-service-"))
    try:
        rows = run_all(args, workdir)
    except BenchError as err:
        print(f"service.py: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(format_table(rows))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([r.figures() for r in rows], indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

