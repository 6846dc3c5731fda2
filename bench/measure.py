"""The tools under test and one timed run of one of them.

Each run is one process started between two `time.perf_counter()` calls, with its
environment prepared beforehand, stdout discarded and stderr kept for the error
message should the run fail; `os.wait4` reports its CPU time and peak memory. The
build script appends a line per build to the tool's runs file ($BENCH_RUNS), which
tells how many builds a run did.
"""

from __future__ import annotations

import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from bench.synthetic import NINJA_FILE, PLAIN_DODO, Monorepo

REPO = Path(__file__).resolve().parent.parent
DODO = REPO / "dodo.py"
TOOLS = ("fedbuild", "plain-doit", "make", "ninja")
TIMEOUT = 900.0  # seconds for one run: far above a cold build of 500 modules


class BenchError(Exception):
    """A benchmarked command failed, or did a different number of builds than it should."""


@dataclass(frozen=True)
class Tool:
    """A build tool under test: the command that builds the monorepo, or None if not installed."""

    name: str
    argv: tuple[str, ...] | None
    cwd: Path
    runs: Path

    @property
    def available(self) -> bool:
        """Whether this machine has the tool."""
        return self.argv is not None

    def builds(self) -> int:
        """How many builds the script has done for this tool so far."""
        try:
            with self.runs.open("rb") as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0


def tools_for(repo: Monorepo, runs_dir: Path) -> list[Tool]:
    """fedbuild (serial, `-n 0`), plain doit, `make -r` and `ninja -j 1` on the same graph."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    doit = (sys.executable, "-m", "doit", "run")
    make = shutil.which("make")
    ninja = shutil.which("ninja") if repo.has_ninja else None
    argvs: dict[str, tuple[str, ...] | None] = {
        # `build`: the same graph as the others; publishing (federate) has its own benchmark.
        "fedbuild": (*doit, "-f", str(DODO), "-d", str(repo.root), "-n", "0", "build"),
        "plain-doit": (*doit, "-f", str(repo.root / PLAIN_DODO), "-d", str(repo.root)),
        "make": (make, "-r") if make else None,
        "ninja": (ninja, "-j", "1", "-f", NINJA_FILE) if ninja else None,
    }
    return [Tool(name, argvs[name], repo.root, runs_dir / f"{name}.runs") for name in TOOLS]


@dataclass(frozen=True)
class Sample:
    """One run: wall-clock seconds, CPU seconds (user + system, the run and the processes it
    waited for) and peak resident memory in MB (the largest of those processes). A child
    started from this process counts this process's memory until it executes the tool, so
    a peak no higher than `floor_mb` (this process's own) is unknown: `rss_mb` is None."""

    seconds: float
    cpu: float
    rss_mb: float | None
    floor_mb: float


def measured_run(tool: Tool) -> Sample:
    """Run the tool once; return its wall time, CPU time and peak RSS. Raises BenchError if
    it fails. `os.wait4` gives the run's own resource use, not the benchmark's."""
    if tool.argv is None:
        raise BenchError(f"{tool.name} is not installed")
    env = {**os.environ, "NO_COLOR": "1", "BENCH_RUNS": str(tool.runs)}
    floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with tempfile.TemporaryFile() as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(tool.argv, cwd=tool.cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=stderr)
        timer = threading.Timer(TIMEOUT, proc.kill)  # wait4 itself has no timeout
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            stderr.seek(0)
            tail = stderr.read().decode(errors="replace").strip().splitlines()[-10:]
            raise BenchError(f"`{shlex.join(tool.argv)}` failed with exit code "
                             f"{proc.returncode}" + "".join(f"\n  {line}" for line in tail))
    peak = usage.ru_maxrss / 1024
    return Sample(elapsed, usage.ru_utime + usage.ru_stime, peak if peak > floor else None, floor)


def compile_fedbuild() -> None:
    """Byte-compile fedbuild's modules, as scripts/setup.sh does (and an installed copy is):
    with PYTHONDONTWRITEBYTECODE set, every run would otherwise compile them again."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "dodo.py", "core", "federation",
                    "tasks", "hardware", "service"], cwd=REPO, check=True, capture_output=True,
                   timeout=TIMEOUT)


def time_run(tool: Tool) -> float:
    """Run the tool once; return the wall-clock seconds. Raises BenchError if it fails."""
    return measured_run(tool).seconds


def counted_sample(tool: Tool) -> tuple[Sample, int]:
    """Run the tool once; return its sample and the number of builds that run did."""
    before = tool.builds()
    sample = measured_run(tool)
    return sample, tool.builds() - before


def counted_run(tool: Tool) -> tuple[float, int]:
    """Run the tool once; return the seconds and the number of builds that run did."""
    sample, builds = counted_sample(tool)
    return sample.seconds, builds
