"""The skewed graph under `-n 2` with real commands: fedbuild against plain doit and the bound.

    python bench/schedule.py [--chain 8] [--shorts 24] [--unit 0.25] [--workers 2] [--repeat 3]

One repository holds the graph: `--shorts` independent tasks of one unit each, listed
first, and a chain of `--chain` dependent tasks of two units each, listed last (doit starts
tasks in the order they are listed). fedbuild builds it from `modules.json` (one module of
the `command` toolchain per task; the chain by `depends_on`: the whole pipeline, with its
lock, plan, cache, logs, outcome, reporter, history and its longest-path-first order);
plain doit builds it from a dodo with the same tasks, argv, file_dep, task_dep and targets.
Both run `python -m doit run -n W`, timed as whole processes (wall and CPU, `os.wait4`).

Every task is one `bash -c` that writes its start and end (`$EPOCHREALTIME`) to a stamps
file, sleeps its duration and writes its target. fedbuild orders by recorded durations, so
one untimed recording build comes first (plain doit gets an untimed warm-up too); before
every run the tool's outputs and dependency state are removed (fedbuild keeps its run
history), untimed. Rounds alternate which tool goes first.

The lower bound is max(critical path, total work / W), from the requested durations and,
next to it, from the durations the stamps measured. From the stamps, every run is checked
to have run every task exactly once, and the chain head's rank among the starts shows the
order each tool dispatched in.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import stamped
from bench.measure import BenchError, Tool, compile_fedbuild, measured_run
from bench.report import aligned, machine, seconds_text

RESULTS = Path(__file__).resolve().parent / "results" / "schedule.json"
DESCRIPTION = "the skewed graph with real commands: fedbuild against plain doit and the bound"
TOOLS = ("fedbuild", "plain-doit")
HEADERS = ("tool", "wall best", "/ bound", "wall median", "/ bound", "span best", "/ bound",
           "CPU s", "chain head started", "runs")
TARGET = 1.05  # issue 21: the skewed graph's wall time against its lower bound
HISTORY = "history.sqlite3"  # fedbuild's run history (tasks/history.py FILE): kept between runs
# $1 the stamps file, $2 the task's name, $3 its output folder, $4 seconds to sleep.
STEP = ('printf "%s start %s\\n" "$2" "$EPOCHREALTIME" >> "$1"; sleep "$4"; '
        'cp in.txt "$3/out.txt"; printf "%s end %s\\n" "$2" "$EPOCHREALTIME" >> "$1"')


@dataclass(frozen=True)
class Graph:
    """The skewed graph: `shorts` tasks of `unit` seconds, then a chain of 2-unit tasks."""

    chain: int
    shorts: int
    unit: float
    workers: int

    @property
    def links(self) -> list[str]:
        """The chain's tasks, first to last."""
        return [f"c{i}" for i in range(1, self.chain + 1)]

    def tasks(self) -> list[tuple[str, float, list[str]]]:
        """(name, seconds, the task it depends on) of every task, shorts first."""
        width = len(str(self.shorts))
        shorts: list[tuple[str, float, list[str]]] = [
            (f"s{i:0{width}}", self.unit, []) for i in range(1, self.shorts + 1)]
        links = self.links
        chain = [(name, 2 * self.unit, links[i - 1:i]) for i, name in enumerate(links)]
        return [*shorts, *chain]

    def bound(self, durations: dict[str, float]) -> tuple[float, float, float]:
        """(lower bound, critical path, work) for these durations: no order finishes sooner."""
        critical = sum(durations[n] for n in self.links)
        work = sum(durations.values())
        return max(critical, work / self.workers), critical, work

    @property
    def requested(self) -> dict[str, float]:
        """Each task's requested duration."""
        return {name: seconds for name, seconds, _ in self.tasks()}


def generate(root: Path, graph: Graph) -> None:
    """Write the repository: every task sleeps its requested seconds."""
    stamped.write_repository(root, "schedule benchmark", STEP,
                             [(name, before, [f"{seconds:g}"])
                              for name, seconds, before in graph.tasks()])


def clean(root: Path, tool: str, graph: Graph) -> None:
    """Remove the tool's outputs and dependency state, so its next run builds everything;
    fedbuild keeps its run history, where its order finds the recorded durations."""
    stamped.fresh_stamps(root, tool)
    if tool == "fedbuild":
        shutil.rmtree(root / "dist", ignore_errors=True)
        state = root / ".fedbuild"
        for path in state.iterdir() if state.exists() else ():
            if path.name.startswith(HISTORY):  # with its -wal and -shm files
                continue
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        return
    stamped.clean_plain(root, list(graph.requested))


@dataclass(frozen=True)
class Run:
    """One checked run of one tool."""

    tool: str
    round: int
    wall: float  # the whole `python -m doit run` process, seconds
    cpu: float  # user + system of it and what it waited for, seconds
    span: float  # first command's start to last command's end, seconds (stamps)
    durations: dict[str, float]  # each command's own time (stamps)
    starts: list[str]  # the tasks in the order their commands started
    head_rank: int  # 1 = the chain's head was the first command to start


def read_stamps(path: Path, graph: Graph, tool: str, round_: int, wall: float,
                cpu: float) -> Run:
    """Check the run ran every task exactly once; its span, durations and start order."""
    every = list(graph.requested)
    times = stamped.read_stamps(path, every, tool)
    start = {n: times[n][0] for n in every}
    end = {n: times[n][1] for n in every}
    order = sorted(every, key=lambda n: start[n])
    return Run(tool, round_, wall, cpu, max(end.values()) - min(start.values()),
               {n: end[n] - start[n] for n in every}, order, order.index(graph.links[0]) + 1)


def one_run(root: Path, graph: Graph, tool: Tool, round_: int) -> Run:
    """Clean, run the tool once as a whole process, read its stamps."""
    clean(root, tool.name, graph)
    sample = measured_run(tool)
    return read_stamps(root / "stamps" / tool.name, graph, tool.name, round_, sample.seconds,
                       sample.cpu)


@dataclass
class Results:
    """The recording runs and every timed run."""

    graph: Graph
    recorded: list[Run]
    runs: list[Run]

    def of(self, tool: str) -> list[Run]:
        """The tool's timed runs."""
        return [r for r in self.runs if r.tool == tool]

    @property
    def bound(self) -> float:
        """The lower bound from the requested durations."""
        return self.graph.bound(self.graph.requested)[0]

    @property
    def measured_bound(self) -> float:
        """The lower bound from the commands' measured durations (each task's median)."""
        every = [*self.recorded, *self.runs]
        return self.graph.bound({n: statistics.median(r.durations[n] for r in every)
                                 for n in self.graph.requested})[0]

    def figures(self, tool: str) -> dict[str, float]:
        """The tool's best and median wall, best span, median CPU, and their ratios."""
        runs = self.of(tool)
        best = min(r.wall for r in runs)
        median = statistics.median(r.wall for r in runs)
        span = min(r.span for r in runs)
        return {"wall_best": best, "wall_median": median, "span_best": span,
                "cpu_median": statistics.median(r.cpu for r in runs),
                "wall_best_ratio": best / self.bound, "wall_median_ratio": median / self.bound,
                "span_best_ratio": span / self.bound,
                "span_best_measured_ratio": span / self.measured_bound}


def measure(root: Path, graph: Graph, repeat: int) -> Results:
    """One untimed recording run per tool, then `repeat` rounds, alternating the first tool."""
    runners = stamped.tools(root, ("-n", str(graph.workers)))
    recorded = [one_run(root, graph, runners[t], 0) for t in TOOLS]
    runs = [one_run(root, graph, runners[tool], round_)
            for round_ in range(1, repeat + 1)
            for tool in (TOOLS if round_ % 2 else reversed(TOOLS))]
    return Results(graph, recorded, runs)


def format_table(results: Results, repeat: int) -> str:
    """The bound, then each tool: wall best and median, span, their ratios, CPU, the order."""
    graph, bound = results.graph, results.bound
    _, critical, work = graph.bound(graph.requested)
    rows = [list(HEADERS), ["lower bound", seconds_text(bound), "1.00x", "", "", "", "", "",
                            "", ""]]
    for tool in TOOLS:
        f, runs = results.figures(tool), results.of(tool)
        ranks = sorted({r.head_rank for r in runs})
        rows.append([tool, seconds_text(f["wall_best"]), _ratio_2(f["wall_best_ratio"]),
                     seconds_text(f["wall_median"]), _ratio_2(f["wall_median_ratio"]),
                     seconds_text(f["span_best"]), _ratio_2(f["span_best_ratio"]),
                     seconds_text(f["cpu_median"]),
                     f"#{'/'.join(map(str, ranks))} of {len(graph.requested)}",
                     f"{len(runs)} x each task once"])
    ours, theirs = results.figures("fedbuild"), results.figures("plain-doit")
    head = [f"a chain of {graph.chain} tasks x {2 * graph.unit:g} s listed after "
            f"{graph.shorts} independent tasks x {graph.unit:g} s, real `bash -c` commands; "
            f"python -m doit run -n {graph.workers}; {repeat} rounds per tool, alternating",
            f"lower bound = max(critical path {seconds_text(critical)} s, work "
            f"{seconds_text(work)} s / {graph.workers} workers) from the requested durations; "
            f"from the measured ones: {seconds_text(results.measured_bound)} s"]
    notes = [f"fedbuild/plain doit: {_ratio_2(ours['wall_best'] / theirs['wall_best'])} "
             f"(wall best), {_ratio_2(ours['wall_median'] / theirs['wall_median'])} "
             f"(wall median); span best / the measured bound: fedbuild "
             f"{_ratio_2(ours['span_best_measured_ratio'])}, plain doit "
             f"{_ratio_2(theirs['span_best_measured_ratio'])}",
             "wall = the whole process (start-up included); span = first command's start to "
             "last command's end (stamps); CPU = median, process and children;",
             "chain head started = its rank among the commands' starts (each run's rank); "
             f"target (issue 21): <= {TARGET:.2f}x of the bound"]
    table = [line.rstrip() for line in aligned(rows, left=1)]
    return "\n".join([*head, "", *table, "", *notes])


def _ratio_2(value: float) -> str:
    """Ratios near 1 need two decimals (report.ratio_text keeps one)."""
    return f"{value:.2f}x"


def document(results: Results, settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON document: when, where, the settings, the bounds, each tool's figures, all runs."""
    _, critical, work = results.graph.bound(results.graph.requested)
    return {"benchmark": "schedule", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": machine(), "settings": settings,
            "lower_bound": {"seconds": results.bound, "critical_path": critical, "work": work,
                            "measured_seconds": results.measured_bound},
            "tools": {tool: results.figures(tool) for tool in TOOLS},
            "recorded": [asdict(r) for r in results.recorded],
            "runs": [asdict(r) for r in results.runs]}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: the graph's shape, workers, rounds, where the JSON goes."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--chain", type=int, default=8,
                        help="tasks in the chain, two units each (default 8)")
    parser.add_argument("--shorts", type=int, default=24,
                        help="independent tasks, one unit each (default 24)")
    parser.add_argument("--unit", type=float, default=0.25,
                        help="seconds of a short task (default 0.25)")
    parser.add_argument("--workers", type=int, default=2, help="doit -n (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per tool (default 3)")
    parser.add_argument("--json", type=Path, default=RESULTS,
                        help=f"where to write the results (default {RESULTS})")
    parser.add_argument("--keep", action="store_true",
                        help="keep the generated repository and print where it is")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; print the table; exit 1 with the reason if a run failed."""
    args = parse_args(argv)
    if min(args.chain, args.shorts, args.repeat) < 1 or args.workers < 2 or args.unit <= 0:
        print("schedule.py: --chain, --shorts and --repeat must be at least 1, --workers at "
              "least 2, --unit positive", file=sys.stderr)
        return 2
    graph = Graph(args.chain, args.shorts, args.unit, args.workers)
    workdir = Path(tempfile.mkdtemp(prefix="fedbuild-bench-schedule-"))
    try:
        compile_fedbuild()
        generate(workdir, graph)
        print(f"measuring ({args.repeat} rounds) ...", file=sys.stderr, flush=True)
        results = measure(workdir, graph, args.repeat)
    except BenchError as err:
        print(f"schedule.py: {err}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"repository kept in {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(format_table(results, args.repeat))
    settings = {k: v for k, v in vars(args).items() if k not in ("json", "keep")}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document(results, settings), indent=2) + "\n",
                         encoding="utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
