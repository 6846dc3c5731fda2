"""What fedbuild adds around each executed task, against plain doit running the same commands.

    python bench/pertask.py [--tasks 10,40] [--repeat 5] [--json PATH] [--keep]

For each size N of `--tasks`, one repository holds two graphs of N tasks each: a chain (task
i depends on task i-1) and as many independent tasks. fedbuild builds it from `modules.json`
(one module of the `command` toolchain per task, one step each: fedbuild's whole pipeline,
with its lock, plan, cache, logs, outcome, reporter and run history); plain doit builds it
from a dodo with the same tasks, the same argv, the same inputs (file_dep), the same
dependencies and one target each. Both run serially (`-n 0`; plain doit's default), from
scratch: before every run its own state (fedbuild's `.fedbuild` and outputs, plain doit's
database and outputs) is removed, untimed. Rounds alternate which tool goes first.

Every task's command is one `bash -c` that writes its start and end time (bash's
`$EPOCHREALTIME`: no extra process) to a stamps file given in its argv, and copies its input
to its output. From the stamps: every run must have run every task exactly once, and the
chain's **gap** (one task's command ended -> the next one's started) is measured the same way
for both tools. fedbuild's own gap, from its run's summary.json (a task's recorded end -> the
next one's recorded start), is shown next to it.

Per-task overhead = (fedbuild's seconds - plain doit's seconds) / tasks, for wall and for CPU
(user + system of the run and of what it waited for, `os.wait4`): it includes fedbuild's fixed
start-up (imports, lock, history) spread over the tasks. The slope between the smallest and
the largest size (the medians' difference over the tasks added) leaves that fixed part out:
it is what each further executed task costs, planning included.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stamped
from bench.measure import BenchError, compile_fedbuild, measured_run
from bench.report import aligned, machine, seconds_text

RESULTS = Path(__file__).resolve().parent / "results" / "pertask.json"
DESCRIPTION = "fedbuild's cost per executed task against plain doit running the same commands"
TOOLS = ("fedbuild", "plain-doit")
HEADERS = ("measure", "fedbuild", "plain doit", "fedbuild/plain", "per task ms")
TARGET_MS = 6.0  # issue 21: added per executed task, and the chain's gap
# $1 the stamps file, $2 the task's name, $3 its output folder; cwd is the module's folder.
STEP = ('printf "%s start %s\\n" "$2" "$EPOCHREALTIME" >> "$1"; cp in.txt "$3/out.txt"; '
        'printf "%s end %s\\n" "$2" "$EPOCHREALTIME" >> "$1"')


def names(tasks: int) -> tuple[list[str], list[str]]:
    """The chain's tasks, first to last, and the independent ones."""
    return [f"c{i:03d}" for i in range(tasks)], [f"i{i:03d}" for i in range(tasks)]


def generate(root: Path, tasks: int) -> None:
    """Write the repository: the chain, each link after the one before, then the free tasks."""
    chain, free = names(tasks)
    graph: list[stamped.Task] = [(name, chain[i - 1:i] if i else [], [])
                                 for i, name in enumerate(chain)]
    stamped.write_repository(root, "per-task benchmark", STEP,
                             [*graph, *[(name, [], []) for name in free]])


def clean(root: Path, tool: str, tasks: int) -> None:
    """Remove the tool's state and outputs, so its next run builds everything from scratch."""
    stamped.fresh_stamps(root, tool)
    if tool == "fedbuild":
        for folder in (".fedbuild", "dist"):
            shutil.rmtree(root / folder, ignore_errors=True)
        return
    stamped.clean_plain(root, [n for group in names(tasks) for n in group])


@dataclass
class Results:
    """Every run's wall and CPU seconds and chain gaps, per tool; fedbuild's recorded gaps."""

    tasks: int
    wall: dict[str, list[float]] = field(default_factory=dict)
    cpu: dict[str, list[float]] = field(default_factory=dict)
    gaps: dict[str, list[float]] = field(default_factory=dict)

    @property
    def executed(self) -> int:
        """Tasks executed per run: the chain and the independent ones."""
        return 2 * self.tasks

    def add(self, tool: str, wall: float, cpu: float, gaps: list[float]) -> None:
        """Record one run."""
        self.wall.setdefault(tool, []).append(wall)
        self.cpu.setdefault(tool, []).append(cpu)
        self.gaps.setdefault(tool, []).extend(gaps)

    def rows(self) -> list[tuple[str, str, float, float]]:
        """(measure, how, fedbuild, plain doit) for wall, CPU and the chain's gap."""
        found = []
        for label, samples in (("wall s", self.wall), ("CPU s", self.cpu),
                               ("chain gap ms", self.gaps)):
            for how, reduce in (("min", min), ("median", statistics.median)):
                found.append((label, how, reduce(samples["fedbuild"]),
                              reduce(samples["plain-doit"])))
        return found


def stamps(path: Path, tasks: int, tool: str) -> list[float]:
    """Check the run ran every task once; the chain's gaps (end -> next start), in ms."""
    times = stamped.read_stamps(path, [n for group in names(tasks) for n in group], tool)
    return [(times[b][0] - times[a][1]) * 1000 for a, b in itertools.pairwise(names(tasks)[0])]


def recorded_gaps(root: Path, tasks: int) -> list[float]:
    """fedbuild's own gaps, from the run's summary.json: a chain task's end -> the next's start."""
    summary = max((root / ".fedbuild" / "runs").glob("*/summary.json"))
    by_name = {t["name"]: t for t in json.loads(summary.read_text())["tasks"]}
    chain = [by_name[f"build:{n}"] for n in names(tasks)[0]]
    return [(b["started_epoch"] - a["ended_epoch"]) * 1000
            for a, b in itertools.pairwise(chain)]


def slopes(results: list[Results]) -> dict[str, float] | None:
    """ms that each task added costs fedbuild more than plain doit, by the medians' slope
    between the smallest and the largest size; None with one size."""
    small, large = results[0], results[-1]
    added = large.executed - small.executed
    if added <= 0:
        return None
    extra = {}
    for label, samples in (("wall", "wall"), ("cpu", "cpu")):
        def gap(r: Results, key: str = samples) -> float:
            got = getattr(r, key)
            return statistics.median(got["fedbuild"]) - statistics.median(got["plain-doit"])
        extra[label] = (gap(large) - gap(small)) / added * 1000
    return extra


def measure(root: Path, tasks: int, repeat: int) -> tuple[Results, list[float]]:
    """One untimed warm-up run each, then `repeat` rounds, alternating which tool goes first."""
    runners = stamped.tools(root, fedbuild_options=("-n", "0"))  # both serial
    results, recorded = Results(tasks), []
    for round_ in range(repeat + 1):
        for tool in TOOLS if round_ % 2 else reversed(TOOLS):
            clean(root, tool, tasks)
            sample = measured_run(runners[tool])
            gaps = stamps(root / "stamps" / tool, tasks, tool)
            if round_ == 0:
                continue  # warm-up: the file cache, compiled modules
            results.add(tool, sample.seconds, sample.cpu, gaps)
            if tool == "fedbuild":
                recorded.extend(recorded_gaps(root, tasks))
    return results, recorded


def format_table(sizes: list[tuple[Results, list[float]]], repeat: int) -> str:
    """Per size: wall, CPU and the chain's gap, each tool's min and median, the ratio, the
    difference per task; then fedbuild's own recorded gaps and the slope per task."""
    rows = [["tasks", *HEADERS]]
    for results, _ in sizes:
        for label, how, ours, theirs in results.rows():
            gap = label.startswith("chain")
            per_task = "" if gap else f"{(ours - theirs) / results.executed * 1000:+.1f}"
            text = (lambda v: f"{v:.1f}") if gap else seconds_text
            rows.append([str(results.executed), f"{label} {how}", text(ours), text(theirs),
                         f"{ours / theirs:.2f}x", per_task])
    head = [f"N chained + N independent `bash -c` tasks (N = "
            f"{', '.join(str(r.tasks) for r, _ in sizes)}), built from scratch, serial (-n 0); "
            f"{repeat} rounds per tool, alternating"]
    notes = ["per task ms = (fedbuild - plain doit) / tasks executed (fixed start-up included)",
             "chain gap = a chain task's command ended -> the next one's started (both tools "
             "timed by the commands)"]
    for results, recorded in sizes:
        notes.append(f"fedbuild's own recorded gap at {results.executed} tasks (summary.json: "
                     f"end -> next start): median {statistics.median(recorded):.1f} ms, "
                     f"min {min(recorded):.1f} ms")
    slope = slopes([r for r, _ in sizes])
    if slope is not None:
        notes.append(f"added per executed task, slope of the medians from "
                     f"{sizes[0][0].executed} to {sizes[-1][0].executed} tasks (fixed costs "
                     f"left out): CPU {slope['cpu']:+.1f} ms, wall {slope['wall']:+.1f} ms")
    notes.append(f"target (issue 21): <= {TARGET_MS:.0f} ms per task and gap")
    return "\n".join([*head, "", *[r.rstrip() for r in aligned(rows, left=2)], "", *notes])


def document(sizes: list[tuple[Results, list[float]]], repeat: int) -> dict[str, Any]:
    """The JSON document: when, where, the settings, every sample of every size, the slope."""
    return {"benchmark": "pertask", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine(),
            "settings": {"tasks": [r.tasks for r, _ in sizes], "repeat": repeat},
            "sizes": [{"tasks": r.tasks, "executed": r.executed,
                       "rows": [{"measure": m, "how": h, "fedbuild": o, "plain_doit": t}
                                for m, h, o, t in r.rows()],
                       "wall": r.wall, "cpu": r.cpu, "gaps_ms": r.gaps,
                       "fedbuild_recorded_gaps_ms": recorded} for r, recorded in sizes],
            "slope_ms_per_task": slopes([r for r, _ in sizes])}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: tasks per graph, rounds, where the JSON goes."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--tasks", type=_sizes, default=[10, 40],
                        help="tasks in the chain, and as many independent ones: one or more "
                        "sizes, comma-separated (default 10,40)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per tool (default 5)")
    parser.add_argument("--json", type=Path, default=RESULTS,
                        help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated repository and print where it is")
    return parser.parse_args(argv)


def _sizes(text: str) -> list[int]:
    """`10,40` -> [10, 40], ascending."""
    try:
        return sorted(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of numbers: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; exit 1 with the reason if a run failed."""
    args = parse_args(argv)
    if min(args.tasks) < 2 or args.repeat < 1:
        print("pertask.py: --tasks must be at least 2, --repeat at least 1", file=sys.stderr)
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="fedbuild-bench-pertask-"))
    try:
        compile_fedbuild()
        sizes = []
        for tasks in args.tasks:
            generate(workdir / f"repo-{tasks}", tasks)
            print(f"{args.repeat} rounds of {2 * tasks} tasks ...", file=sys.stderr, flush=True)
            sizes.append(measure(workdir / f"repo-{tasks}", tasks, args.repeat))
    except BenchError as err:
        print(f"pertask.py: {err}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"repositories kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(format_table(sizes, args.repeat))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document(sizes, args.repeat), indent=2) + "\n",
                         encoding="utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
