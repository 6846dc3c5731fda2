"""Where a no-op `doit` spends its time: imports, load, plan, tasks, checks, report.

    python bench/profile.py                      # a synthetic monorepo of 300 site modules
    python bench/profile.py --modules 1000 --git # the same, inside a git checkout
    python bench/profile.py --repo PATH          # any built repository (run `doit` there first)

Four whole `python -m doit run` processes on the same up-to-date repository, each
a no-op: two plain (wall and CPU time: the reference), one with `-X importtime`
(what importing costs, by package) and one under cProfile (the phases, the
up-to-date checks by callable, the hottest functions and the file-system calls),
timed by the process's CPU clock unless `--clock wall`: on a shared machine a
wall-clock profile charges other processes' time slices to whatever function was
running. The profiled run is slower than the plain one (cProfile adds a cost per
call), so read its seconds as shares. Nothing is called in-process: a regression
shows up as a phase that grew, and its hottest functions say where.
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `bench` importable from the repo root
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.measure import DODO, TIMEOUT, BenchError, compile_fedbuild
from bench.report import aligned, seconds_text
from bench.synthetic import generate

# Phases: (label, file suffix, function). Seconds are the function's cumulative time in the
# profile (nested phases, marked with two spaces, are part of the one above them).
PHASES = (
    ("whole run (doit main)", "doit/doit_cmd.py", "run"),
    ("  load dodo.py (module body)", "doit/loader.py", "get_module"),
    ("    the kept plan: key checked, read (tasks/snapshot.py)", "core/stat_key.py", "load"),
    ("    doit settings", "tasks/config.py", "doit_config"),
    ("  make doit's tasks (task_* generators)", "doit/loader.py", "load_tasks"),
    ("  run: checks, actions, reporter", "doit/runner.py", "run_all"),
    ("    up-to-date checks", "doit/dependency.py", "get_status"),
    ("    reporter: end of run", "tasks/reporter.py", "complete_run"),
)
# Seen only when a run plans: no kept plan, one out of date, or a plan that is never kept
# (toolchain steps); a no-op of a site monorepo reads its kept plan instead.
PLANNING = (
    ("    load the manifest (no kept plan)", "federation/loader.py", "load_project"),
    ("    plan steps (no kept plan)", "federation/steps.py", "plan_steps"),
    ("    plan federation (no kept plan)", "federation/plan.py", "plan_federation"),
)
SYSCALLS = ("posix.stat", "posix.lstat", "posix.scandir", "posix.listdir", "io.open",
            "posix.readlink", "posix.access")


# The profiled run: doit's own entry point under cProfile, timed by the process's CPU clock
# (on a shared machine wall time charges other processes' time slices to whatever function
# was running) or by the wall clock.
PROFILED = """\
import cProfile, runpy, sys, time
clock = time.process_time if sys.argv[2] == "cpu" else time.perf_counter
profiler = cProfile.Profile(clock)
out, sys.argv = sys.argv[1], ["doit", *sys.argv[3:]]
try:
    profiler.runcall(runpy.run_module, "doit", run_name="__main__", alter_sys=True)
except SystemExit as stop:
    code = stop.code
else:
    code = 0
profiler.dump_stats(out)
sys.exit(code)
"""


def profiled_argv(repo: Path, out: Path, clock: str) -> list[str]:
    """The no-op under cProfile, writing its stats to `out`."""
    return [sys.executable, "-c", PROFILED, str(out), clock, "run", "-f", str(DODO),
            "-d", str(repo)]


def doit_argv(repo: Path, extra: tuple[str, ...] = ()) -> list[str]:
    """The no-op under test: fedbuild's dodo on the repository, the default tasks."""
    return [sys.executable, *extra, "-m", "doit", "run", "-f", str(DODO), "-d", str(repo)]


def run(argv: list[str], repo: Path) -> tuple[float, float, str]:
    """Run once; wall seconds, CPU seconds (with its children) and stderr. BenchError unless
    it exits 0."""
    env = {**os.environ, "NO_COLOR": "1"}
    before = os.times()
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=repo, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          timeout=TIMEOUT, check=False)
    wall = time.perf_counter() - started
    after = os.times()
    cpu = (after.children_user - before.children_user
           + after.children_system - before.children_system)
    stderr = proc.stderr.decode(errors="replace")
    if proc.returncode != 0:
        tail = stderr.strip().splitlines()[-10:]
        raise BenchError(f"`{' '.join(argv)}` failed with exit code {proc.returncode}"
                         + "".join(f"\n  {line}" for line in tail))
    return wall, cpu, stderr


# -X importtime ---------------------------------------------------------------------------

_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_costs(stderr: str) -> tuple[float, list[tuple[str, float]]]:
    """From `-X importtime` output: all imports' seconds, and each top-level package's
    (its modules' own times summed: pydantic, doit, federation, ...)."""
    total, packages = 0.0, dict[str, float]()
    for match in _IMPORT_LINE.finditer(stderr):
        own, cumulative, indent, name = match.groups()
        if len(indent) == 1:  # a top-level import: its cumulative time holds the nested ones
            total += int(cumulative) / 1e6
        package = name.split(".")[0]
        packages[package] = packages.get(package, 0.0) + int(own) / 1e6
    ranked = sorted(packages.items(), key=lambda item: -item[1])
    return total, ranked


# cProfile ----------------------------------------------------------------------------------

Key = tuple[str, int, str]


def find(stats: dict[Key, tuple], suffix: str, name: str) -> Key | None:
    """The profile's entry for the function `name` in a file ending with `suffix`."""
    hits = [key for key in stats if key[2] == name and key[0].endswith(suffix)]
    return max(hits, key=lambda key: stats[key][3]) if hits else None


def phases(stats: dict[Key, tuple]) -> list[list[str]]:
    """A row per phase: its label and cumulative seconds (not seen: the code has moved)."""
    rows = []
    for label, suffix, name in (*PHASES[:3], *PLANNING, *PHASES[3:]):
        key = find(stats, suffix, name)
        rows.append([label, "not seen" if key is None else seconds_text(stats[key][3])])
    return rows


def callees(stats: dict[Key, tuple], caller: Key, top: int) -> list[list[str]]:
    """What `caller` spent its time in: its callees by cumulative seconds from that caller."""
    spent = [(entry[4][caller][3], key) for key, entry in stats.items() if caller in entry[4]]
    return [[_name(key), seconds_text(seconds), f"{stats[key][1]}"]
            for seconds, key in sorted(spent, reverse=True)[:top]]


def generators(stats: dict[Key, tuple]) -> list[list[str]]:
    """The dodo's task_* functions (each one's tasks: a generator's time is its own and its
    callees', summed over the times doit resumes it)."""
    found = [(entry[3], key) for key, entry in stats.items()
             if key[0].endswith("dodo.py") and key[2].startswith("task_")]
    return [[_name(key), seconds_text(seconds), str(stats[key][1])]
            for seconds, key in sorted(found, reverse=True)]


def hottest(stats: dict[Key, tuple], top: int) -> list[list[str]]:
    """The functions with the most time of their own."""
    ranked = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    return [[_name(key), seconds_text(entry[2]), seconds_text(entry[3]), str(entry[1])]
            for key, entry in ranked]


def syscalls(stats: dict[Key, tuple]) -> list[list[str]]:
    """Calls into the file system (stat, lstat, scandir, open, ...) and their seconds."""
    rows = []
    for key, entry in stats.items():
        if key[0] == "~" and any(key[2] == f"<built-in method {c}>" for c in SYSCALLS):
            rows.append([key[2].removeprefix("<built-in method ").rstrip(">"),
                         str(entry[1]), seconds_text(entry[2])])
    return sorted(rows, key=lambda row: -int(row[1]))


def _name(key: Key) -> str:
    file, line, name = key
    if file == "~":
        return name
    parts = Path(file).parts
    short = "/".join(parts[-2:]) if "site-packages" not in parts else "/".join(
        parts[parts.index("site-packages") + 1:])
    return f"{short}:{line}({name})"


# The report -----------------------------------------------------------------------------------


def report(repo: Path, top: int, clock: str = "cpu") -> str:
    """Profile four no-op runs of the repository; the tables, as text."""
    wall, cpu, _ = run(doit_argv(repo), repo)
    wall2, cpu2, _ = run(doit_argv(repo), repo)
    _, _, imports = run(doit_argv(repo, ("-X", "importtime")), repo)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "noop.prof"
        profiled, _, _ = run(profiled_argv(repo, out, clock), repo)
        stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    total, packages = import_costs(imports)
    lines = [f"no-op of {repo}: wall {min(wall, wall2):.3f} s (best of 2), "
             f"CPU {min(cpu, cpu2):.3f} s; under cProfile {profiled:.3f} s wall, "
             f"profile seconds are {clock} time", ""]
    lines += [f"imports: {total:.3f} s in all (-X importtime); by package, own time:"]
    lines += aligned([["package", "seconds"], *[[name, seconds_text(s)]
                                                for name, s in packages[:top]]], left=1)
    lines += ["", "phases (cProfile, cumulative seconds; indented = part of the line above):"]
    lines += aligned([["phase", "seconds"], *phases(stats)], left=1)
    key = find(stats, "doit/dependency.py", "get_status")
    if key is not None:
        lines += ["", "up-to-date checks by callable (get_status's callees):"]
        lines += aligned([["function", "seconds", "calls"], *callees(stats, key, top)], left=1)
    lines += ["", "doit's tasks by generator (dodo.py's task_* functions):"]
    lines += aligned([["function", "seconds", "calls"], *generators(stats)], left=1)
    lines += ["", "hottest functions (own time):"]
    lines += aligned([["function", "own s", "cumulative s", "calls"], *hottest(stats, top)],
                     left=1)
    lines += ["", "file-system calls:"]
    lines += aligned([["call", "calls", "seconds"], *syscalls(stats)], left=1)
    return "\n".join(lines)


def prepare(args: argparse.Namespace, workdir: Path) -> Path:
    """The repository to profile, built once so the profiled runs are no-ops."""
    if args.repo is not None:
        return args.repo.resolve()
    repo = generate(workdir / "repo", args.modules, args.files_per_module, ninja=False).root
    if args.git:
        subprocess.run(["git", "init", "-q", str(repo)], check=True, timeout=60)
        (repo / ".gitignore").write_text("out/\n*.tmp\n", encoding="utf-8")
    print(f"building {args.modules} modules once ...", file=sys.stderr, flush=True)
    run(doit_argv(repo), repo)
    return repo


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line: a repository, or the size of a synthetic one."""
    parser = argparse.ArgumentParser(description="where a no-op doit spends its time")
    parser.add_argument("--repo", type=Path, help="profile this built repository instead")
    parser.add_argument("--modules", type=int, default=300,
                        help="site modules of the synthetic monorepo (default 300)")
    parser.add_argument("--files-per-module", type=int, default=20,
                        help="content files per module (default 20)")
    parser.add_argument("--git", action="store_true",
                        help="make the synthetic monorepo a git checkout with a .gitignore")
    parser.add_argument("--top", type=int, default=15, help="rows per list (default 15)")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="the profile's clock (default cpu: on a busy machine wall time "
                        "is mostly other processes'; wall shows waits, such as for a probe)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Profile; print the tables; exit 1 with one line if a run failed."""
    args = parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fedbuild-profile-"))
    try:
        compile_fedbuild()  # as installed: no run compiles fedbuild's sources
        print(report(prepare(args, workdir), args.top, args.clock))
    except BenchError as err:
        print(f"profile.py: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
