"""fedbuild's task order against doit's on a skewed graph: one long chain beside short tasks.

    python bench/schedule.py [--chain 6] [--shorts 24] [--unit 0.15] [--workers 2] [--repeat 3]

The graph: `--shorts` independent tasks of one unit each, selected first, and a chain
of `--chain` dependent tasks of two units each, selected last (doit takes selected tasks
in order). Actions sleep, so the runs measure scheduling, not the machine. One run with
doit's order records every task's duration (the run history's job in fedbuild); then
rounds of `doit -n W -P thread` in doit's order (`order=doit`) and in fedbuild's
(longest remaining path first, priorities from the recorded durations), alternating. The
lower bound is max(critical path, total work / W); the table gives each order's best
wall time and its ratio to that bound. Every run is checked to have run every task once.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import REPO, BenchError
from bench.report import aligned, machine, seconds_text
from tasks.critical_path import critical_path
from tasks.timeline import RunInfo, TaskRun

RESULTS = Path(__file__).resolve().parent / "results" / "schedule.json"
DESCRIPTION = "fedbuild's longest-path-first task order against doit's on a skewed graph"
ORDERS = {"doit": "doit", "fedbuild": "longest-path"}  # row name -> the `order=` variable
HEADERS = ("order", "wall s", "/ lower bound", "doit command s", "parallelism",
           "chain head started", "chain done s")
TIMEOUT = 300.0

DODO = '''"""The benchmark's graph; its reporter gives fedbuild's order the recorded durations."""
import json
import threading
import time
from pathlib import Path

from doit.reporter import ConsoleReporter

from tasks import schedule

HERE = Path(__file__).resolve().parent
SPEC = json.loads((HERE / "spec.json").read_text())
ESTIMATES = HERE / "estimates.json"
EVENTS = HERE / "events.log"
_lock = threading.Lock()


def log(event, name):
    with _lock, EVENTS.open("a") as out:
        out.write(f"{time.time():.6f} {event} {name}\\n")


def work(name, seconds):
    log("start", name)
    time.sleep(seconds)
    log("end", name)


class Reporter(ConsoleReporter):
    def initialize(self, tasks, selected_tasks):
        if schedule.order() == "doit":
            schedule.deactivate()
            return
        estimates = json.loads(ESTIMATES.read_text()) if ESTIMATES.exists() else {}
        schedule.activate(lambda: schedule.priorities(tasks, estimates))

    def get_status(self, task):  # doit's main thread, just before it dispatches the task
        log("select", task.name)


DOIT_CONFIG = {"reporter": Reporter, "backend": "json", "dep_file": str(HERE / "db.json"),
               "verbosity": 0, "default_tasks": SPEC["select"]}


def task_w():
    for name, seconds, deps in SPEC["tasks"]:
        yield {"name": name, "actions": [(work, [name, seconds])],
               "task_dep": [f"w:{d}" for d in deps]}
'''


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
        """(name, seconds, dependencies) of every task, shorts first."""
        width = len(str(self.shorts))
        shorts: list[tuple[str, float, list[str]]] = [
            (f"s{i:0{width}}", self.unit, []) for i in range(1, self.shorts + 1)]
        links = self.links
        chain = [(name, 2 * self.unit, links[i - 1:i]) for i, name in enumerate(links)]
        return [*shorts, *chain]

    def write(self, folder: Path) -> None:
        """The dodo and its spec (the chain's end is selected last)."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "dodo.py").write_text(DODO, encoding="utf-8")
        tasks = self.tasks()
        select = [f"w:{n}" for n, _, _ in tasks if not n.startswith("c")] + \
            [f"w:{self.links[-1]}"]
        spec = {"tasks": tasks, "select": select}
        (folder / "spec.json").write_text(json.dumps(spec), encoding="utf-8")


@dataclass(frozen=True)
class Run:
    """One checked doit run."""

    order: str
    round: int
    process: float  # the whole `python -m doit` command, seconds
    wall: float  # first task start to last task end, seconds
    durations: dict[str, float]
    parallelism: float
    head_rank: int  # how many tasks doit dispatched before the chain's first
    chain_done: float  # seconds from the first task's start to the chain's end


def doit_run(folder: Path, graph: Graph, order: str, round_: int) -> Run:
    """Run the graph once in the given order; check every task ran once; read its timeline."""
    events = folder / "events.log"
    events.unlink(missing_ok=True)
    (folder / "db.json").unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "doit", "-n", str(graph.workers), "-P", "thread",
            f"order={ORDERS[order]}"]
    begin = time.perf_counter()
    proc = subprocess.run(argv, cwd=folder, env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=TIMEOUT, check=False)
    process = time.perf_counter() - begin
    if proc.returncode != 0:
        raise BenchError(f"doit order={ORDERS[order]} exited {proc.returncode}: "
                         f"{proc.stderr.strip()[-500:]}")
    return _read_run(events, graph, order, round_, process)


def _read_run(events: Path, graph: Graph, order: str, round_: int, process: float) -> Run:
    starts: dict[str, list[float]] = {}
    ends: dict[str, list[float]] = {}
    selected: list[str] = []
    for line in events.read_text().splitlines():
        moment, event, name = line.split()
        name = name.removeprefix("w:")
        if event == "select":
            selected.append(name)
        else:
            (starts if event == "start" else ends).setdefault(name, []).append(float(moment))
    names = [name for name, _, _ in graph.tasks()]
    wrong = [n for n in names if len(starts.get(n, [])) != 1 or len(ends.get(n, [])) != 1]
    if wrong or len(starts) != len(names):
        raise BenchError(f"order={ORDERS[order]}: tasks not run exactly once: {wrong[:5]}")
    info = _timeline(graph, {n: starts[n][0] for n in names}, {n: ends[n][0] for n in names})
    path = critical_path(info)
    assert path is not None  # every task ran
    return Run(order, round_, process, info.ended - info.started,
               {t.name: t.duration or 0.0 for t in info.tasks}, path.parallelism,
               [n for n in selected if n in starts].index(graph.links[0]),
               ends[graph.links[-1]][0] - info.started)


def _timeline(graph: Graph, starts: dict[str, float], ends: dict[str, float]) -> RunInfo:
    """The run as fedbuild's reporter records it, from the actions' own clocks."""
    tasks = tuple(TaskRun(name, "built", ended=ends[name], started=starts[name],
                          duration=ends[name] - starts[name], deps=tuple(deps))
                  for name, _, deps in graph.tasks())
    return RunInfo(min(starts.values()), max(ends.values()), (), "development", "succeeded",
                   graph.workers, tasks=tasks)


@dataclass
class Results:
    """The recording run and every timed run."""

    graph: Graph
    recorded: Run
    runs: list[Run]

    @property
    def critical(self) -> float:
        """The chain's recorded length, seconds."""
        return sum(self.recorded.durations[n] for n in self.graph.links)

    @property
    def work(self) -> float:
        """Every task's recorded duration, summed."""
        return sum(self.recorded.durations.values())

    @property
    def bound(self) -> float:
        """No order can finish sooner: max(critical path, work / workers)."""
        return max(self.critical, self.work / self.graph.workers)

    def best(self, order: str) -> Run:
        """The order's run with the shortest wall time."""
        return min((r for r in self.runs if r.order == order), key=lambda r: r.wall)


def measure(folder: Path, graph: Graph, repeat: int) -> Results:
    """Record durations with one run, then `repeat` rounds of both orders, alternating."""
    graph.write(folder)
    recorded = doit_run(folder, graph, "doit", 0)
    (folder / "estimates.json").write_text(json.dumps(
        {f"w:{name}": seconds for name, seconds in recorded.durations.items()}))
    runs = [doit_run(folder, graph, order, round_)
            for round_ in range(1, repeat + 1) for order in ORDERS]
    return Results(graph, recorded, runs)


def format_table(results: Results, repeat: int) -> str:
    """The lower bound, then each order's best run: wall time, its ratio to the bound, ..."""
    graph, bound = results.graph, results.bound
    rows = [list(HEADERS), ["lower bound", seconds_text(bound), _ratio_2(1.0), "", "", "", ""]]
    for order in ORDERS:
        run = results.best(order)
        rows.append([order, seconds_text(run.wall), _ratio_2(run.wall / bound),
                     seconds_text(run.process), f"{run.parallelism:.2f}",
                     f"#{run.head_rank + 1} of {len(run.durations)}",
                     seconds_text(run.chain_done)])
    ours, theirs = results.best("fedbuild").wall, results.best("doit").wall
    head = [f"a chain of {graph.chain} tasks x {2 * graph.unit:.2f} s selected after "
            f"{graph.shorts} independent tasks x {graph.unit:.2f} s; "
            f"doit -n {graph.workers} -P thread; best of {repeat} runs per order",
            f"lower bound = max(critical path {seconds_text(results.critical)} s, work "
            f"{seconds_text(results.work)} s / {graph.workers} workers), from a recording run"]
    notes = [f"fedbuild/doit: {_ratio_2(ours / theirs)} (wall)",
             "wall = first task start to last task end (the actions' own clocks); doit "
             "command = the whole process;",
             "parallelism = work / wall; chain head started = its place in doit's dispatch "
             "order; chain done = its end, from the first start."]
    table = [line.rstrip() for line in aligned(rows, left=1)]
    return "\n".join([*head, "", *table, "", *notes])


def _ratio_2(value: float) -> str:
    """Ratios near 1 need two decimals (report.ratio_text keeps one)."""
    return f"{value:.2f}x"


def document(results: Results, settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON document: when, where, with what settings; the bound, the best runs, all runs."""
    return {
        "benchmark": "schedule",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "settings": settings,
        "lower_bound": {"seconds": results.bound, "critical_path": results.critical,
                        "work": results.work},
        "best": {order: {"wall": results.best(order).wall,
                         "ratio_to_bound": results.best(order).wall / results.bound}
                 for order in ORDERS},
        "recorded": asdict(results.recorded),
        "runs": [asdict(r) for r in results.runs],
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: the graph's shape, workers, repeats, where the JSON goes."""
    parser = argparse.ArgumentParser(description=DESCRIPTION)
    parser.add_argument("--chain", type=int, default=6,
                        help="tasks in the chain, two units each (default 6)")
    parser.add_argument("--shorts", type=int, default=24,
                        help="independent tasks, one unit each (default 24)")
    parser.add_argument("--unit", type=float, default=0.15,
                        help="seconds of a short task (default 0.15)")
    parser.add_argument("--workers", type=int, default=2, help="doit -n (default 2)")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per order; the best is kept (default 3)")
    parser.add_argument("--json", type=Path, default=RESULTS,
                        help=f"where to write the results (default {RESULTS})")
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
        print(f"measuring ({args.repeat} rounds) ...", file=sys.stderr, flush=True)
        results = measure(workdir, graph, args.repeat)
    except BenchError as err:
        print(f"schedule.py: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(format_table(results, args.repeat))
    settings = {k: v for k, v in vars(args).items() if k != "json"}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(document(results, settings), indent=2) + "\n",
                         encoding="utf-8")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
