"""Remote execution on a Dask cluster (`doit executor=dask`), on loopback: what one remote
action costs over a local one, and how a graph of equal actions scales with workers.

    python bench/remote.py [--actions 20] [--tasks 40] [--seconds 0.5] [--repeat 1]

1. per action: repositories of --actions and of 3x --actions command modules of one tiny
   step each (write a file) are built with `-n 1` three ways: locally without a cache,
   locally with a new, empty nginx cache (tests/servers.py: the cache work any cached
   build does, keys, stores), and on a cluster of one single-threaded worker with a new
   empty cache, so every action runs remotely. The walls of the two sizes separate what a
   run pays once (importing distributed, connecting) from what each action adds (the
   slope): uploading its inputs (HEAD first), the Dask round trip, materialising on the
   worker, storing the outputs and the record, restoring them here. Reported: the slope
   of remote over local with the cache (remote execution's own cost per action), over
   local without a cache, the fixed cost, and the older figure, the difference of the
   small size's walls over its action count (fixed cost spread in).
2. scaling: --tasks modules of one step sleeping --seconds each (independent: doit may run
   them all at once) on 1, then 2 single-threaded workers, with `-n 1` (a remote task
   holds no local slot: remote_jobs defaults to the cluster's threads), a new empty cache
   each time. The ratio of the walls is the speed-up.

Targets (issue 25): under 50 ms per action on loopback; at least 1.8x from 1 to 2 workers
(40 actions of 0.5 s). Each measure is the best of --repeat rounds. Writes
bench/results/remote.json. The scheduler and workers run in their own folders outside the
generated repositories (tests/dask_cluster.py), stopped by PID.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python bench/remote.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cache import timed_doit
from bench.measure import BenchError, compile_fedbuild
from bench.report import machine
from tests.dask_cluster import dask_cluster
from tests.servers import nginx_cache

RESULTS = Path(__file__).resolve().parent / "results" / "remote.json"
_STEP = """import sys, time
from pathlib import Path
time.sleep(float(sys.argv[2]))
Path(sys.argv[1]).write_text("done\\n")
"""


def generate(folder: Path, count: int, seconds: float) -> Path:
    """A monorepo of `count` independent command modules, each one step that sleeps."""
    modules = []
    for i in range(count):
        name = f"m{i:03d}"
        (folder / "modules" / name).mkdir(parents=True)
        (folder / "modules" / name / "step.py").write_text(_STEP + f"# {name}\n")
        modules.append({"name": name, "source": {"repository": "local",
                                                 "path": f"modules/{name}"},
                        "toolchain": "command",
                        "steps": [{"name": "build", "description": "sleep, then write",
                                   "argv": ["{python}", "step.py", "{out}/done.txt",
                                            str(seconds)], "inputs": ["step.py"]}]})
    manifest = {"federation": {"name": "remote bench", "baseURL": "https://bench.example.org"},
                "modules": modules}
    (folder / "modules.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return folder


def remote_wall(work: Path, repo: Path, workers: int, jobs: int) -> float:
    """One cold build of `repo` on a cluster of `workers` single-threaded workers."""
    cluster_dir = Path(tempfile.mkdtemp(prefix="cluster-", dir=work))
    names = [(f"w{i + 1}", ()) for i in range(workers)]
    with nginx_cache(cluster_dir) as cache, dask_cluster(cluster_dir, names) as cluster:
        wall, _ = timed_doit(repo, "-n", str(jobs), "executor=dask",
                             f"scheduler={cluster.address}", FEDBUILD_CACHE_URL=cache.url,
                             FEDBUILD_CACHE_DIR=str(cluster_dir / "local-cache"))
    return wall


def fresh(work: Path, name: str, count: int, seconds: float) -> Path:
    """A new generated repository (nothing built, nothing in doit's state)."""
    folder = work / name
    shutil.rmtree(folder, ignore_errors=True)
    return generate(folder, count, seconds)


def local_wall(work: Path, repo: Path, cached: bool) -> float:
    """One build of `repo` here, -n 1: without a cache, or with a new empty nginx cache."""
    if not cached:
        return timed_doit(repo, "-n", "1", FEDBUILD_CACHE="off")[0]
    folder = Path(tempfile.mkdtemp(prefix="cache-", dir=work))
    with nginx_cache(folder) as cache:
        return timed_doit(repo, "-n", "1", FEDBUILD_CACHE_URL=cache.url,
                          FEDBUILD_CACHE_DIR=str(folder / "local-cache"))[0]


def per_action(work: Path, actions: int, repeat: int) -> dict[str, Any]:
    """Walls of `actions` and 3x `actions` tiny actions, serially (-n 1): here without and
    with a cache, and remotely; the fixed and per-action costs of remote execution."""
    sizes = (actions, 3 * actions)
    walls: dict[str, dict[int, list[float]]] = {
        way: {n: [] for n in sizes} for way in ("local", "local_cached", "remote")}
    for _ in range(repeat):
        for n in sizes:
            walls["local"][n].append(local_wall(work, fresh(work, "local", n, 0.0), False))
            walls["local_cached"][n].append(
                local_wall(work, fresh(work, "cached", n, 0.0), True))
            walls["remote"][n].append(remote_wall(work, fresh(work, "remote", n, 0.0), 1, 1))
    best = {way: {n: min(w) for n, w in by_size.items()} for way, by_size in walls.items()}
    slope = {way: (b[sizes[1]] - b[sizes[0]]) / (sizes[1] - sizes[0])
             for way, b in best.items()}
    fixed = {way: best[way][sizes[0]] - slope[way] * sizes[0] for way in best}
    return {"actions": actions, "sizes": list(sizes),
            "walls": {way: {str(n): w for n, w in by_size.items()}
                      for way, by_size in walls.items()},
            "slope": slope, "fixed": fixed,
            "per_action": slope["remote"] - slope["local_cached"],
            "per_action_uncached": slope["remote"] - slope["local"],
            "fixed_extra": fixed["remote"] - fixed["local_cached"],
            "spread": (best["remote"][actions] - best["local"][actions]) / actions,
            # the older figures: the small size, remote against local without a cache
            "local": walls["local"][actions], "remote": walls["remote"][actions]}


def scaling(work: Path, tasks: int, seconds: float, repeat: int) -> dict[str, Any]:
    """Walls of `tasks` sleeping actions on one worker, then on two."""
    one, two = [], []
    for _ in range(repeat):
        one.append(remote_wall(work, fresh(work, "one", tasks, seconds), 1, 1))
        two.append(remote_wall(work, fresh(work, "two", tasks, seconds), 2, 1))
    return {"tasks": tasks, "seconds": seconds, "one_worker": one, "two_workers": two,
            "speedup": min(one) / min(two)}


def format_table(per: dict[str, Any], scale: dict[str, Any]) -> str:
    """The results, with the issue's targets."""
    small, large = per["sizes"]
    return "\n".join([
        f"per action ({small} and {large} tiny actions, -n 1): remote execution adds "
        f"{per['per_action'] * 1000:.1f} ms to each action over a local build with the same "
        f"cache ({per['per_action_uncached'] * 1000:.1f} ms over one without a cache; "
        "target under 50 ms), and "
        f"{per['fixed_extra']:.2f}s once per run (importing distributed, connecting); "
        f"{per['spread'] * 1000:.1f} ms each with that spread over {small} actions",
        f"scaling: {scale['tasks']} actions of {scale['seconds']:g}s, 1 worker "
        f"{min(scale['one_worker']):.3f}s, 2 workers {min(scale['two_workers']):.3f}s: "
        f"{scale['speedup']:.2f}x (target at least 1.8x)"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=20)
    parser.add_argument("--tasks", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=0.5)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    compile_fedbuild()
    work = Path(tempfile.mkdtemp(prefix="fedbuild-bench-remote-"))
    try:
        per = per_action(work, args.actions, args.repeat)
        scale = scaling(work, args.tasks, args.seconds, args.repeat)
    except BenchError as err:
        print(f"bench/remote.py: {err}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(format_table(per, scale))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"benchmark": "remote", "machine": machine(),
                                     "settings": vars(args) | {"json": str(args.json)},
                                     "per_action": per, "scaling": scale}, indent=2) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
