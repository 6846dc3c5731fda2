"""`doit watch serve=true`: from a saved page to the preview's reload event, and idle cost.

    python bench/watch.py [--modules 4] [--pages 20,2500] [--rounds 5] [--idle 60]

For each page count it generates a federation of site modules (bench/synthetic_site.py:
pre-written HTML pages, a build script that copies them, no Hugo), starts a real
`doit watch serve=true` on it and connects a server-sent-events client to the preview.
Each round edits one page of one module and times the path to the reload event naming
that module; the run's summary.json then says what the build task of that module and
federate took. `overhead` is the latency minus the site build's own time (its build:<m>
task): the watch's burst wait, doit's start, its up-to-date checks, federate and the
event; `beyond publish` also leaves federate out (the watch's own cost and doit's
start, planning and checks). `its CPU` is the doit process's CPU time: on a loaded
machine its wall time is mostly waiting for a core. Then the watch is left alone for
--idle seconds and its CPU time (the process and any child) is measured. The largest
size is the "10,000 watched files" check (4 modules of 2500 pages: every page is an
input). Prints a table; writes bench/results/watch.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil

from bench.synthetic_site import generate

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "watch.json"
SERVING = re.compile(r"at http://127\.0\.0\.1:(\d+)/")
BUILT = re.compile(r"^fedbuild watch: build (\d+) (ok|failed) in ([\d.]+)s \(([\d.]+)s CPU",
                   re.M)
TIMEOUT = 300.0


@dataclass
class Round:
    """One edit's path to the reload."""

    latency: float  # saved -> reload event received
    build: float  # the module's build task, as its run recorded it
    federate: float
    run: float  # the doit run, from its session's start to its end (summary.json)
    process: float  # the doit process, start to exit, as the watch timed it
    process_cpu: float  # its CPU time (with its children's): its wall time on an idle machine
    overhead: float  # latency - build
    beyond_publish: float  # latency - build - federate


@dataclass
class SizeResult:
    """One federation size."""

    modules: int
    pages: int
    watched_files: int
    first_build: float
    rounds: list[Round] = field(default_factory=list)
    idle_seconds: float = 0.0
    idle_cpu_percent: float = 0.0


class Reloads(threading.Thread):
    """An SSE client: (time received, modules) of each reload event."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        self.conn.request("GET", "/__fedbuild/events")
        self.response = self.conn.getresponse()
        self.events: list[tuple[float, list[str]]] = []
        self.start()

    def run(self) -> None:
        try:
            for raw in self.response:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    modules = json.loads(line[5:])["modules"]
                    self.events.append((time.monotonic(), modules))
        except (OSError, ValueError):
            pass


def wait_for(condition: Any, timeout: float = TIMEOUT) -> None:
    """Poll until `condition()` holds; RuntimeError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.01)


def last_summary(root: Path) -> dict[str, Any]:
    """The newest run's summary.json."""
    runs = root / ".fedbuild" / "runs"
    latest = json.loads((runs / "latest.json").read_text())
    return dict(json.loads((runs / latest["summary"]).read_text()))


def task_seconds(summary: dict[str, Any], name: str) -> float:
    """A task's duration in the run (0 when it did not run)."""
    return next((float(t["duration"] or 0) for t in summary["tasks"] if t["name"] == name), 0.0)


def measure(modules: int, pages: int, rounds: int, idle: float, folder: Path) -> SizeResult:
    """Start a watch on a new federation, time `rounds` edits, then the idle cost."""
    site = generate(folder / f"p{pages}", modules, pages)
    log = folder / f"watch-{pages}.log"
    argv = [sys.executable, "-m", "doit", "watch", "-f", str(REPO / "dodo.py"), "-d",
            str(site.root), "serve=true", "--port", "18413"]
    started = time.monotonic()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, cwd=site.root, stdout=out, stderr=subprocess.STDOUT,
                                env={**os.environ, "NO_COLOR": "1"}, start_new_session=True)
    try:
        wait_for(lambda: BUILT.search(log.read_text()) is not None)
        first = time.monotonic() - started
        port = int(SERVING.search(log.read_text()).group(1))  # type: ignore[union-attr]
        reloads = Reloads(port)
        time.sleep(0.5)  # the client is connected and the watch settled
        result = SizeResult(modules, pages, site.files_per_module * modules, first)
        for number in range(rounds):
            result.rounds.append(edit_round(site, number, reloads, log))
            time.sleep(0.5)
        result.idle_seconds, result.idle_cpu_percent = idle_cpu(proc.pid, idle)
        return result
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)


def edit_round(site: Any, number: int, reloads: Reloads, log: Path) -> Round:
    """Edit a page; time it to the reload event naming its module; what the run took."""
    seen, builds = len(reloads.events), len(BUILT.findall(log.read_text()))
    saved = time.monotonic()
    name = site.edit(number)

    def reloaded() -> bool:
        return any(name in modules for _, modules in reloads.events[seen:])
    wait_for(reloaded)
    at = next(t for t, modules in reloads.events[seen:] if name in modules)
    wait_for(lambda: len(BUILT.findall(log.read_text())) > builds)
    found = BUILT.findall(log.read_text())[builds]
    process, process_cpu = float(found[2]), float(found[3])
    summary = last_summary(site.root)
    build = task_seconds(summary, f"build:{name}")
    federate = task_seconds(summary, "federate")
    return Round(at - saved, build, federate, float(summary["duration"]), process,
                 process_cpu, at - saved - build, at - saved - build - federate)


def idle_cpu(pid: int, seconds: float) -> tuple[float, float]:
    """The watch's CPU use (it and its children) over `seconds` of no change, in percent."""
    proc = psutil.Process(pid)

    def cpu() -> float:
        times = proc.cpu_times()
        return times.user + times.system + times.children_user + times.children_system
    before, start = cpu(), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - start
    return elapsed, 100.0 * (cpu() - before) / elapsed


def table(results: list[SizeResult]) -> str:
    """The results as an aligned text table (medians over the rounds)."""
    head = ["modules", "pages", "files", "first build", "latency", "build:<m>", "federate",
            "doit run", "doit process", "its CPU", "overhead", "overhead max", "beyond publish",
            "idle CPU"]
    rows = [head]
    for r in results:
        def med(attr: str, result: SizeResult = r) -> str:
            return f"{statistics.median(getattr(x, attr) for x in result.rounds):.2f}s"
        rows.append([str(r.modules), str(r.pages), str(r.watched_files), f"{r.first_build:.1f}s",
                     med("latency"), med("build"), med("federate"), med("run"), med("process"),
                     med("process_cpu"), med("overhead"),
                     f"{max(x.overhead for x in r.rounds):.2f}s", med("beyond_publish"),
                     f"{r.idle_cpu_percent:.2f}% of {r.idle_seconds:.0f}s"])
    widths = [max(len(row[i]) for row in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.rjust(w) for cell, w in zip(row, widths, strict=True))
                     for row in rows)


def main() -> None:
    """Parse the options, measure each size, print and save the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--modules", type=int, default=4)
    parser.add_argument("--pages", default="20,2500", help="pages per module, comma-separated")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=60.0, help="seconds of idle measured")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory(prefix="fedbuild-bench-watch-") as folder:
        for pages in (int(p) for p in args.pages.split(",")):
            results.append(measure(args.modules, pages, args.rounds, args.idle, Path(folder)))
            print(table(results[-1:]).splitlines()[-1], flush=True)
    print(table(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")


if __name__ == "__main__":
    main()
