"""federate after a one-module change against a full federate, on a tree of thousands of files.

    python bench/federate.py [--modules 10] [--pages 500] [--repeat 3]

It generates a monorepo of site modules whose build script copies pre-written
HTML pages (no Hugo), builds and federates it once, then runs rounds of: a full
federate (published tree and records deleted), a federate after one content
file of one module changed, a no-op run, and `cp -a` of the staged outputs as a
floor. Every run is checked (builds done, files processed and reused, tree
published) before its time counts. It prints a table and writes
bench/results/federate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import DODO, BenchError, Tool, counted_run, time_run
from bench.report import aligned, machine, ratio_text, seconds_text
from bench.synthetic_site import OUTPUT, Site, generate
from core.outcome import Outcome
from core.state import State
from tasks.federate import RESULT

RESULTS = Path(__file__).resolve().parent / "results" / "federate.json"
DESCRIPTION = "fedbuild's federate: one module changed against a full federate and a plain copy"
MEASURES = ("cold", "full", "one-module", "no-op", "floor")
RATIOS = (("one-module/full", "one-module", "full"), ("no-op/full", "no-op", "full"),
          ("full/cp-a floor", "full", "floor"))
TIMERS = {"federate": "federate task", "search": "  its search step", "doit": "doit run (wall)",
          "copy": "cp -a staged"}
HEADERS = ("measure", "timed", "median s", "runs", "processed", "reused")
RATIO_HEADERS = ("ratio", "federate task", "doit run")

@dataclass
class Results:
    """Every timed run: seconds per measure and timer, and what each run was checked to do."""

    site: Site
    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)

    def add(self, measure: str, timer: str, seconds: float) -> None:
        """Record one timing."""
        self.samples.setdefault(measure, {}).setdefault(timer, []).append(seconds)

    def median(self, measure: str, timer: str) -> float | None:
        """The median of a measure's timings by `timer`; None when there are none."""
        values = self.samples.get(measure, {}).get(timer)
        return statistics.median(values) if values else None

    def ratio(self, measure: str, base: str, timer: str) -> float | None:
        """A measure's median over a base measure's (the floor is timed by `copy`)."""
        top = self.median(measure, timer)
        bottom = self.median(base, "copy" if base == "floor" else timer)
        return top / bottom if top is not None and bottom else None


@dataclass(frozen=True)
class Run:
    """One checked doit run: wall seconds, builds done, and federate's outcome if it ran."""

    measure: str
    round: int
    wall: float
    builds: int
    federate: float | None  # the federate task's own duration; None when it was up to date
    result: dict[str, Any]  # .fedbuild/federate/result.json of this run ({} when up to date)
    module: str | None = None  # the module edited before a one-module run


def measure(site: Site, workdir: Path, repeat: int) -> Results:
    """The cold run, then `repeat` rounds of full, one-module, no-op and the cp -a floor."""
    argv = (sys.executable, "-m", "doit", "run", "-f", str(DODO), "-d", str(site.root))
    tool = Tool("fedbuild", argv, site.root, workdir / "builds.runs")
    results, state = Results(site), State(site.root)
    record(results, doit_run(site, tool, "cold", 0))
    for round_ in range(repeat):
        shutil.rmtree(site.root / OUTPUT)
        shutil.rmtree(state.dir / "federate")
        record(results, doit_run(site, tool, "full", round_))
        edited = site.edit(round_)
        record(results, doit_run(site, tool, "one-module", round_, edited))
        record(results, doit_run(site, tool, "no-op", round_))
        results.add("floor", "copy", copy_floor(site, workdir / "floor"))
    return results


def doit_run(site: Site, tool: Tool, measure: str, round_: int, module: str | None = None) -> Run:
    """Run doit once, time it, and check that it did what `measure` means."""
    state = State(site.root)
    before = _mtime_ns(state.outcome("federate"))
    os.sync()  # so the last run's dirty pages are not written back during this one
    try:
        wall, builds = counted_run(tool)
    except BenchError as err:
        raise BenchError(f"{measure} run {round_}: {err}{_federate_message(state, before)}"
                         ) from None
    outcome = Outcome.read(state.outcome("federate"))
    ran = outcome is not None and _mtime_ns(state.outcome("federate")) != before
    result = json.loads((state.dir / "federate" / RESULT).read_text()) if ran else {}
    run = Run(measure, round_, wall, builds, outcome.duration if ran and outcome else None,
              result, module)
    check(site, run)
    return run


def check(site: Site, run: Run) -> None:
    """Stop with BenchError unless the run built and processed what its measure says."""
    builds, processed = {"cold": (len(site.modules), site.files), "full": (0, site.files),
                         "one-module": (1, site.files_per_module),
                         "no-op": (0, None)}[run.measure]
    where = f"{run.measure} run {run.round}" + (f" (edited {run.module})" if run.module else "")
    if run.builds != builds:
        raise BenchError(f"{where}: {run.builds} modules built, expected {builds}")
    if processed is None:
        if run.federate is not None:
            raise BenchError(f"{where}: federate ran although nothing changed")
        return
    got = run.result
    if run.federate is None or got.get("state") != "published":
        raise BenchError(f"{where}: federate did not publish: "
                         f"{got.get('state', 'not run')} {got.get('reason', '')}".rstrip())
    if (got.get("files"), got.get("processed"), got.get("reused")) != (
            site.files, processed, site.files - processed):
        raise BenchError(f"{where}: federate processed {got.get('processed')} and reused "
                         f"{got.get('reused')} of {got.get('files')} files; expected "
                         f"{processed} and {site.files - processed} of {site.files}")
    indexed = got["search"]["indexed"] if got.get("search") else None
    expected = [run.module] if run.measure == "one-module" else list(site.modules)
    if indexed is not None and indexed != expected:
        raise BenchError(f"{where}: the search indexed {indexed}, expected {expected}")


def record(results: Results, run: Run) -> None:
    """Add a checked run's timings and facts to the results."""
    if run.federate is not None:
        results.add(run.measure, "federate", run.federate)
    if run.result.get("search"):
        results.add(run.measure, "search", run.result["search"]["seconds"])
    results.add(run.measure, "doit", run.wall)
    facts = {k: v for k, v in asdict(run).items() if k != "result"}
    results.runs.append({**facts, **{k: run.result.get(k)
                                     for k in ("processed", "reused", "search")}})


def copy_floor(site: Site, dest: Path) -> float:
    """Seconds `cp -a` takes to copy every staged output into a fresh folder (no rewriting)."""
    staging = State(site.root).dir / "staging"
    dest.mkdir(parents=True)
    os.sync()
    argv = ("cp", "-a", *(str(staging / name) for name in site.modules), str(dest))
    try:
        return time_run(Tool("cp -a", argv, site.root, dest.parent / "cp.runs"))
    finally:
        shutil.rmtree(dest)


def _mtime_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def _federate_message(state: State, before: int | None) -> str:
    """federate's failure message if it ran (doit reports it on stdout, which is not kept)."""
    if _mtime_ns(state.outcome("federate")) == before:
        return ""
    outcome = Outcome.read(state.outcome("federate"))
    return "".join(f"\n  {line}" for line in outcome.message.splitlines()[:5]) if outcome else ""


def format_table(results: Results) -> str:
    """Median seconds per measure and timer, then the ratios between measures of this run."""
    site = results.site
    rows = [list(HEADERS)] + [_row(results, m, t) for m in MEASURES
                              for t in results.samples.get(m, {})]
    ratios = [list(RATIO_HEADERS)] + [
        [name, _ratio_2(results.ratio(top, base, "federate")),
         _ratio_2(results.ratio(top, base, "doit"))] for name, top, base in RATIOS]
    rounds = len(results.samples.get("full", {}).get("doit", []))
    head = (f"{len(site.modules)} modules x {site.files_per_module} files = {site.files} files, "
            f"{site.bytes / 1e6:.1f} MB; cold = one run, the others = median of {rounds} rounds")
    notes = ["federate task = its Outcome duration; doit run = the whole `doit` command, wall;",
             "no-op: federate was up to date (checked), so it has no federate task time;",
             "floor = `cp -a` of every staged output into a fresh folder: no rewriting, hashing,",
             "validation or records.",
             "its search step (--search) = the Pagefind indexes of that federate (part of it)."]
    return "\n".join([head, "", *aligned(rows, left=2), "", *aligned(ratios, left=1), "",
                      *notes])


def _row(results: Results, measure: str, timer: str) -> list[str]:
    """One table row; federate task rows also say how many files were processed and reused."""
    runs = [r for r in results.runs if r["measure"] == measure]
    counts = ["", ""]
    if timer == "federate" and runs:
        counts = [str(runs[0]["processed"]), str(runs[0]["reused"])]
    return [measure, TIMERS[timer], seconds_text(results.median(measure, timer)),
            str(len(results.samples[measure][timer])), *counts]


def _ratio_2(value: float | None) -> str:
    """Ratios well below 1 need two decimals (report.ratio_text keeps one)."""
    return ratio_text(value) if value is None or value >= 10 else f"{value:.2f}x"


def document(results: Results, settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON document: when, where, with what settings; medians, ratios, every run."""
    site = results.site
    return {
        "benchmark": "federate",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "settings": settings,
        "tree": {"modules": len(site.modules), "pages_per_module": site.pages,
                 "files": site.files, "bytes": site.bytes},
        "seconds": {m: {t: results.median(m, t) for t in timers}
                    for m, timers in results.samples.items()},
        "ratios": {name: {t: results.ratio(top, base, t) for t in ("federate", "search", "doit")}
                   for name, top, base in RATIOS},
        "samples": results.samples,
        "runs": results.runs,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: tree size, repeats, where the JSON goes."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--modules", type=int, default=10,
                        help="site modules, the first at / (default 10; at least 2)")
    parser.add_argument("--pages", type=int, default=500,
                        help="HTML pages per module (default 500; at least 2)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of every measure; the median is kept (default 3)")
    parser.add_argument("--json", type=Path, default=RESULTS,
                        help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--search", action="store_true",
                        help="federation.search on: every publish also builds the Pagefind "
                        "index (needs pagefind[extended])")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated monorepo and print where it is")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; exit 1 with the reason if a run failed or misbehaved."""
    args = parse_args(argv)
    if args.modules < 2 or args.pages < 2 or args.repeat < 1:
        print("federate.py: --modules and --pages must be at least 2, --repeat at least 1",
              file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fedbuild-bench-federate-"))
    try:
        print(f"generating {args.modules} modules x {args.pages} pages ...", file=sys.stderr,
              flush=True)
        site = generate(workdir / "repo", args.modules, args.pages, args.search)
        print(f"measuring ({args.repeat} rounds) ...", file=sys.stderr, flush=True)
        results = measure(site, workdir, args.repeat)
    except BenchError as err:
        print(f"federate.py: {err}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"monorepo kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(format_table(results))
    settings = {"modules": args.modules, "pages": args.pages, "repeat": args.repeat,
                "search": args.search}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document(results, settings), indent=2) + "\n",
                         encoding="utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
