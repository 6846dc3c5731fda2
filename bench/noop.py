"""fedbuild against plain doit, make and ninja on one synthetic graph: cold, no-op, one change.

    python bench/noop.py [--modules 100,1000,5000] [--files-per-module 20] [--repeat 5]

For each monorepo size it generates the monorepo (bench/synthetic.py), builds it
once from scratch with every tool, then runs rounds of no-op rebuilds and rounds
of "one input file edited" rebuilds, all tools in turn within a round (the order
reversed every other round, so drift and cache warmth favour no tool). Each run
is a whole `doit` (or make, ninja) process: wall time, CPU time and peak RSS.
It checks that every run did exactly the builds it should (N, 0, 1), prints the
tables and writes bench/results/noop.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import BenchError, Tool, compile_fedbuild, counted_sample, tools_for
from bench.report import SizeResult, document, format_table
from bench.synthetic import Monorepo, generate

RESULTS = Path(__file__).resolve().parent / "results" / "noop.json"
DESCRIPTION = "fedbuild against plain doit, make -r and ninja on one synthetic build graph"


def bench_size(workdir: Path, modules: int, files_per_module: int, repeat: int) -> SizeResult:
    """Generate a monorepo of `modules` modules under workdir and time every measure on it."""
    repo = generate(workdir / f"n{modules}" / "repo", modules, files_per_module)
    tools = [t for t in tools_for(repo, workdir / f"n{modules}" / "runs") if t.available]
    return measure_repo(repo, tools, repeat)


def measure_repo(repo: Monorepo, tools: list[Tool], repeat: int) -> SizeResult:
    """One cold build, `repeat` no-op rounds, `repeat` one-edit rounds; checked build counts."""
    result = SizeResult(len(repo.nodes), repo.files_per_module)
    run_rounds(result, "cold", tools, 1)
    run_rounds(result, "no-op", tools, repeat)
    run_rounds(result, "one-changed", tools, repeat, before=repo.edit)
    check_builds(result, repo)
    return result


def run_rounds(result: SizeResult, measure: str, tools: list[Tool], rounds: int,
               before: Callable[[int], object] | None = None) -> None:
    """Run every tool once per round, in turn, so slow drift affects them alike; every other
    round in the reverse order (A B C D, D C B A), so no tool always runs first or last."""
    for round_ in range(rounds):
        if before is not None:
            before(round_)
        for tool in tools if round_ % 2 == 0 else reversed(tools):
            sample, builds = counted_sample(tool)
            result.add(measure, tool.name, sample.seconds, builds, sample.cpu, sample.rss_mb,
                       sample.floor_mb)


def check_builds(result: SizeResult, repo: Monorepo) -> None:
    """Every run built what it should (all modules, none, the edited one), or timings lie."""
    expected = {"cold": len(repo.nodes), "no-op": 0, "one-changed": 1}
    for measure, per_tool in result.builds.items():
        for tool, counts in per_tool.items():
            wrong = [c for c in counts if c != expected[measure]]
            if wrong:
                raise BenchError(f"{tool} built {wrong[0]} modules in a {measure} run of "
                                 f"{result.modules} modules; expected {expected[measure]}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: sizes, files per module, repeats, where the JSON goes."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--modules", type=_sizes, default=[100, 1000, 5000],
                        help="comma-separated module counts (default 100,1000,5000)")
    parser.add_argument("--files-per-module", type=int, default=20,
                        help="content files per module (default 20)")
    parser.add_argument("--repeat", type=int, default=5,
                        help="no-op and one-changed runs per tool; the median is kept (default 5)")
    parser.add_argument("--json", type=Path, default=RESULTS,
                        help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated monorepos and print where they are")
    return parser.parse_args(argv)


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list like 100,1000,5000") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give at least one module count >= 1")
    return sizes


def run_all(args: argparse.Namespace, workdir: Path) -> list[SizeResult]:
    """Every size in turn, reporting progress on stderr."""
    results = []
    for modules in args.modules:
        print(f"benchmarking {modules} modules x {args.files_per_module} files ...",
              file=sys.stderr, flush=True)
        results.append(bench_size(workdir, modules, args.files_per_module, args.repeat))
    return results


def write_json(path: Path, results: list[SizeResult], args: argparse.Namespace) -> None:
    """Write the results document, creating its folder."""
    settings = {"modules": args.modules, "files_per_module": args.files_per_module,
                "repeat": args.repeat}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document(results, settings), indent=2) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; exit 1 with one line if a run failed or misbuilt."""
    args = parse_args(argv)
    if args.repeat < 1 or args.files_per_module < 1:
        print("noop.py: --repeat and --files-per-module must be at least 1", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fedbuild-bench-"))
    try:
        compile_fedbuild()  # no run pays for compiling fedbuild's sources
        results = run_all(args, workdir)
        # Before the clean-up: removing 5000 modules' outputs four times takes minutes.
        print(format_table(results, args.repeat), flush=True)
        write_json(args.json, results, args)
        print(f"\nwrote {args.json}", flush=True)
    except BenchError as err:
        print(f"noop.py: {err}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"monorepos kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
