"""The action cache: the example monorepo cold, then from fresh clones with a warm cache, and
what one cache hit costs over an up-to-date no-op.

    python bench/cache.py [--repeat 3] [--modules 40] [--tasks build:home,build:web]

1. This repository's example monorepo (modules.json, modules/, site/, scripts/) is copied to
   a temporary folder and built cold with `doit` (its default tasks, or --tasks; the
   manifest's parallelism), storing into an empty local cache folder and into a new, empty nginx
   WebDAV server on loopback (Bazel's /ac/ and /cas/ layout; tests/servers.py runs it).
2. warm remote: a fresh copy, with an empty local cache and that server.
3. warm local: a fresh copy, with the cold copy's (warm) local cache folder and no server.
   This is done --repeat times; each measure is the best of its rounds (every sample is in
   the JSON), and every warm build must have restored every cacheable task (the run's
   summary says how many).
4. per hit: --modules command modules of two `cp` steps each are built once; then the
   median of --repeat no-op runs (every task up to date) against the median of --repeat
   runs after `doit forget` (every task restored from the local cache). The difference
   divided by the task count is what one hit adds.

Targets (issue 6): a fresh clone with a warm cache at least 10x faster than cold; a hit
under 20 ms over an up-to-date no-op. Writes bench/results/cache.json.

fedbuild's own modules are byte-compiled first, as scripts/setup.sh does, so no run pays for
compiling them (where PYTHONDONTWRITEBYTECODE is set, every run would); before each timed run
the file system is synced, so no run pays for writing back the previous one's files.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import DODO, BenchError, compile_fedbuild
from bench.overhead import generate
from bench.report import aligned, machine, seconds_text
from tests.conftest import copy_example
from tests.servers import nginx_cache

RESULTS = Path(__file__).resolve().parent / "results" / "cache.json"
TIMEOUT = 900.0
_RESTORED = re.compile(r"^cache: (\d+) restored instead of built", re.M)


def timed_doit(repo: Path, *args: str, **env: str) -> tuple[float, str]:
    """Run fedbuild's doit on `repo`; (wall seconds, its output). Raises unless exit 0."""
    full_env = {**os.environ, "NO_COLOR": "1", **env}
    for name in ("FEDBUILD_CACHE_URL", "FEDBUILD_CACHE_DIR"):
        if name not in env:
            full_env.pop(name, None)
    argv = [sys.executable, "-m", "doit", "run", "-f", str(DODO), "-d", str(repo), *args]
    os.sync()  # the previous run's writes go to disk now, not during this one
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=repo, env=full_env, stdin=subprocess.DEVNULL, text=True,
                          capture_output=True, timeout=TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise BenchError(f"`doit {' '.join(args)}` in {repo} failed ({proc.returncode}):\n"
                         + "\n".join(proc.stdout.splitlines()[-15:]))
    return elapsed, proc.stdout


def restored(output: str) -> int:
    match = _RESTORED.search(output)
    return int(match[1]) if match else 0


def example(work: Path, repeat: int, tasks: tuple[str, ...] = ()) -> dict[str, Any]:
    """Cold, warm remote and warm local builds of the example monorepo (`tasks`, or its
    default tasks), `repeat` rounds of each; every cold build has its own empty server and
    cache folder."""
    colds, remote, local_times, counts, cacheable = [], [], [], set(), set()
    for i in range(repeat):
        with nginx_cache(work) as server:  # a new server each round, in its own folder
            local = work / f"cold{i}-cache"
            cold, output = timed_doit(copy_example(work / f"cold{i}"), *tasks,
                                      FEDBUILD_CACHE_URL=server.url, FEDBUILD_CACHE_DIR=str(local))
            if restored(output):
                raise BenchError("the cold build restored from the cache: it was not cold")
            colds.append(cold)
            cacheable.add(len(re.findall(r"^\S+:\S+\s+built\b", output, re.M)))
            seconds, output = timed_doit(copy_example(work / f"remote{i}"), *tasks,
                                         FEDBUILD_CACHE_URL=server.url,
                                         FEDBUILD_CACHE_DIR=str(work / f"remote{i}-cache"))
            remote.append(seconds)
            counts.add(restored(output))
        seconds, output = timed_doit(copy_example(work / f"local{i}"), *tasks,
                                     FEDBUILD_CACHE_DIR=str(local))
        local_times.append(seconds)
        counts.add(restored(output))
    if len(counts) != 1 or not counts.pop():
        raise BenchError(f"warm builds restored different numbers of tasks: {counts}")
    return {"cold": min(colds), "warm remote": min(remote), "warm local": min(local_times),
            "tasks built cold": max(cacheable), "samples": {
                "cold": colds, "warm remote": remote, "warm local": local_times}}


def per_hit(work: Path, modules: int, repeat: int) -> dict[str, Any]:
    """What a hit adds over an up-to-date no-op, per task."""
    repo = work / "synthetic"
    repo.mkdir()
    tasks = generate(repo, modules)
    env = {"FEDBUILD_CACHE_DIR": str(work / "synthetic-cache")}
    timed_doit(repo, **env)
    noop, hits = [], []
    for _ in range(repeat):
        noop.append(timed_doit(repo, **env)[0])
        _forget(repo)
        seconds, output = timed_doit(repo, **env)
        if restored(output) != tasks:
            raise BenchError(f"expected {tasks} hits, the run says {restored(output)}")
        hits.append(seconds)
    noop_s, hit_s = statistics.median(noop), statistics.median(hits)
    return {"tasks": tasks, "no-op": noop_s, "all hits": hit_s,
            "per hit": (hit_s - noop_s) / tasks}


def _forget(repo: Path) -> None:
    argv = [sys.executable, "-m", "doit", "forget", "-f", str(DODO), "-d", str(repo)]
    subprocess.run(argv, cwd=repo, capture_output=True, check=True, timeout=TIMEOUT)


def format_table(ex: dict[str, Any], hit: dict[str, Any], repeat: int) -> str:
    rows = [["measure", "seconds", "cold / this"]]
    for name in ("cold", "warm remote", "warm local"):
        rows.append([name, seconds_text(ex[name]), f"{ex['cold'] / ex[name]:.1f}x"])
    lines = aligned(rows, left=1)
    lines += ["", f"example monorepo ({ex['tasks built cold']} tasks built cold); each the best "
              f"of {repeat} rounds of fresh copies; every warm build restored every cacheable "
              "task."]
    rows = [["synthetic", "tasks", "no-op s", "all hits s", "per hit ms"],
            ["", str(hit["tasks"]), seconds_text(hit["no-op"]), seconds_text(hit["all hits"]),
             f"{hit['per hit'] * 1000:.1f}"]]
    lines += ["", *aligned(rows, left=1)]
    fast = min(ex["cold"] / ex["warm remote"], ex["cold"] / ex["warm local"])
    lines += ["", f"warm cache at least 10x faster than cold: {'yes' if fast >= 10 else 'NO'}"
              f" ({fast:.1f}x); a hit under 20 ms over a no-op: "
              f"{'yes' if hit['per hit'] < 0.020 else 'NO'}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modules", type=int, default=40, help="synthetic modules (x2 tasks)")
    parser.add_argument("--tasks", default="", metavar="TASK,TASK",
                        help="the example's tasks to build (default: its default tasks)")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    compile_fedbuild()
    work = Path(tempfile.mkdtemp(prefix="fedbuild-bench-cache-"))
    try:
        ex = example(work, args.repeat, tuple(t for t in args.tasks.split(",") if t))
        hit = per_hit(work, args.modules, args.repeat)
    except BenchError as err:
        print(f"bench/cache.py: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(format_table(ex, hit, args.repeat))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"benchmark": "cache", "machine": machine(),
                                     "settings": vars(args) | {"json": str(args.json)},
                                     "example": ex, "per_hit": hit}, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
