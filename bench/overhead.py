"""What fedbuild's reporter and run history add to a no-op `doit` on a 1000-task graph.

    python bench/overhead.py [--modules 500] [--repeat 5]

It writes a monorepo of M modules of the `command` toolchain, each with two
steps (`generate`, then `build`, both `cp`), and makes module i depend on module
(i-1)//2, so each step also waits for the same step of another module: 2M
tasks with actions. It builds everything once (`doit -n 2`), then times no-op
runs of the same command, `python -m doit run -f dodo.py -d REPO`, two ways,
alternating within each round: with fedbuild's reporter (DOIT_CONFIG's, which
also takes the repository lock and writes the run history) and with
`--reporter console`, doit's own default reporter (the command line wins over
DOIT_CONFIG). Both load the same dodo and do the same up-to-date checks, so the
difference is the reporter and the history. The claim: under 10%.

Only the process is timed (exit 0 required, output discarded): the bench does not
depend on what either reporter prints. Every output's mtime is compared before
and after the no-op rounds; a rebuild stops the benchmark with an error.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import DODO, BenchError
from bench.report import aligned, machine, seconds_text

RESULTS = Path(__file__).resolve().parent / "results" / "overhead.json"
DESCRIPTION = "fedbuild's reporter and history against doit's default reporter, no-op run"
REPORTERS = {"doit default": ("--reporter", "console"), "fedbuild": ()}
HEADERS = ("tasks", "timed", "doit default s", "fedbuild s", "overhead", "fedbuild/default")
CLAIM = 10.0  # percent
TIMEOUT = 900.0


@dataclass
class Results:
    """The no-op timings of each reporter on one monorepo."""

    modules: int
    tasks: int
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, reporter: str, seconds: float) -> None:
        """Record one run."""
        self.samples.setdefault(reporter, []).append(seconds)

    def seconds(self, reporter: str, how: str) -> float | None:
        """The best or the median of a reporter's runs; None when it has none."""
        runs = self.samples.get(reporter)
        if not runs:
            return None
        return min(runs) if how == "best" else statistics.median(runs)

    def overhead(self, how: str) -> float | None:
        """fedbuild's extra time over doit's default reporter, in percent."""
        ratio = self.ratio(how)
        return None if ratio is None else (ratio - 1.0) * 100.0

    def ratio(self, how: str) -> float | None:
        """fedbuild's seconds divided by doit default's."""
        ours, theirs = self.seconds("fedbuild", how), self.seconds("doit default", how)
        return ours / theirs if ours is not None and theirs else None


def generate(root: Path, modules: int) -> int:
    """Write the monorepo: `modules` command modules of two steps each; return the task count."""
    entries = []
    for i in range(modules):
        name = f"m{i:04d}"
        src = root / "modules" / name / "src"
        src.mkdir(parents=True)
        (src / "in.txt").write_text(f"module {name}\n", encoding="utf-8")
        entries.append(_module(name, [f"m{(i - 1) // 2:04d}"] if i else []))
    manifest = {"federation": {"name": "overhead benchmark", "baseURL": "https://bench.example.org"},
                "modules": entries}
    (root / "modules.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    return 2 * modules


def _module(name: str, depends_on: list[str]) -> dict[str, Any]:
    """One module: `generate` copies src/in.txt into its work folder, `build` that to {out}."""
    return {
        "name": name, "source": {"repository": "local", "path": f"modules/{name}"},
        "toolchain": "command", "depends_on": depends_on,
        "steps": [
            {"name": "generate", "commands": [["mkdir", "-p", "{work}"],
                                              ["cp", "src/in.txt", "{work}/gen.txt"]],
             "inputs": ["src/*.txt"], "outputs": ["{work}/gen.txt"]},
            {"name": "build", "depends_on": ["generate"],
             "argv": ["cp", "{work}/gen.txt", "{out}/out.txt"], "inputs": ["src/*.txt"]},
        ],
    }


def doit_argv(repo: Path, *extra: str) -> list[str]:
    """`python -m doit run` on fedbuild's dodo.py for the monorepo."""
    return [sys.executable, "-m", "doit", "run", "-f", str(DODO), "-d", str(repo), *extra]


def run(argv: list[str], repo: Path) -> float:
    """Run once, output discarded; the wall-clock seconds. Raises BenchError unless exit 0."""
    env = {**os.environ, "NO_COLOR": "1"}
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=repo, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=TIMEOUT, check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-10:]
        raise BenchError(f"`{' '.join(argv)}` failed with exit code {proc.returncode}"
                         + "".join(f"\n  {line}" for line in tail))
    return elapsed


def outputs(repo: Path) -> dict[str, int]:
    """Every file the steps wrote, with its mtime: a no-op run must change none."""
    found = {}
    for folder in (repo / "dist", repo / ".fedbuild" / "work"):
        for path in folder.rglob("*"):
            if path.is_file():
                found[str(path.relative_to(repo))] = path.stat().st_mtime_ns
    return found


def measure(repo: Path, modules: int, tasks: int, repeat: int) -> Results:
    """Build once, then `repeat` rounds of a no-op run with each reporter, in turn."""
    run(doit_argv(repo, "-n", "2"), repo)
    built = outputs(repo)
    if len(built) != tasks:
        raise BenchError(f"the first build wrote {len(built)} files; expected {tasks}")
    results = Results(modules, tasks)
    for round_ in range(repeat):
        order = list(REPORTERS) if round_ % 2 == 0 else list(reversed(REPORTERS))
        for reporter in order:
            results.add(reporter, run(doit_argv(repo, *REPORTERS[reporter]), repo))
    if outputs(repo) != built:
        raise BenchError("a no-op run rebuilt something: outputs changed")
    return results


def format_table(results: Results, repeat: int) -> str:
    """Best and median seconds of each reporter, fedbuild's overhead and ratio."""
    rows = [list(HEADERS)]
    for how in ("best", "median"):
        overhead, ratio = results.overhead(how), results.ratio(how)
        rows.append([str(results.tasks), how,
                     seconds_text(results.seconds("doit default", how)),
                     seconds_text(results.seconds("fedbuild", how)),
                     "n/a" if overhead is None else f"{overhead:+.1f}%",
                     "n/a" if ratio is None else f"{ratio:.3f}x"])
    best = results.overhead("best")
    verdict = "n/a" if best is None else "yes" if best < CLAIM else "NO"
    notes = [f"no-op `doit run` of {results.modules} modules x 2 steps; best and median of "
             f"{repeat} runs per reporter, alternating.",
             f"overhead = fedbuild's seconds / doit default's - 1. Under {CLAIM:.0f}% (best): "
             f"{verdict}"]
    return "\n".join([*aligned(rows, left=2), "", *notes])


def document(results: Results, repeat: int) -> dict[str, Any]:
    """The JSON document: when, where, the settings, every sample and the summary."""
    return {
        "benchmark": "overhead",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "settings": {"modules": results.modules, "tasks": results.tasks, "repeat": repeat},
        "seconds": {how: {r: results.seconds(r, how) for r in REPORTERS}
                    for how in ("best", "median")},
        "overhead_percent": {how: results.overhead(how) for how in ("best", "median")},
        "samples": results.samples,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: modules, repeats, where the JSON goes."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--modules", type=int, default=500,
                        help="modules of 2 steps each (default 500: 1000 tasks)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="no-op runs per reporter (default 5)")
    parser.add_argument("--json", type=Path, default=RESULTS,
                        help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated monorepo and print where it is")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; exit 1 with the reason if a run failed."""
    args = parse_args(argv)
    if args.modules < 1 or args.repeat < 1:
        print("overhead.py: --modules and --repeat must be at least 1", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fedbuild-bench-overhead-"))
    try:
        tasks = generate(workdir / "repo", args.modules)
        print(f"building {tasks} tasks, then {args.repeat} no-op rounds ...", file=sys.stderr,
              flush=True)
        results = measure(workdir / "repo", args.modules, tasks, args.repeat)
    except BenchError as err:
        print(f"overhead.py: {err}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"monorepo kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(format_table(results, args.repeat))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document(results, args.repeat), indent=2) + "\n",
                         encoding="utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
