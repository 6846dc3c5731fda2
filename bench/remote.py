"""Remote execution on a Dask cluster (`doit executor=dask`), on loopback: what one remote
action costs over a local one, and how a graph of equal actions scales with workers.

    python bench/remote.py [--actions 20] [--tasks 40] [--seconds 0.5] [--repeat 1]

1. per action: --actions command modules of one tiny step each (write a file) are built
   with `-n 1` locally (no cache), then on a cluster of one single-threaded worker with a
   new, empty nginx cache (tests/servers.py) so every action runs remotely. The difference
   divided by the action count is what remote execution adds to one action: uploading its
   inputs (HEAD first), the Dask round trip, materialising on the worker, storing the
   outputs and the record, restoring them here.
2. scaling: --tasks modules of one step sleeping --seconds each (independent: doit may run
   them all at once) on 1, then 2 single-threaded workers (`-n` = --tasks, each remote task
   holds a local thread while it waits), a new empty cache each time. The ratio of the
   walls is the speed-up.

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


def per_action(work: Path, actions: int, repeat: int) -> dict[str, Any]:
    """Local against remote walls of `actions` tiny actions, serially (-n 1)."""
    local, remote = [], []
    for _ in range(repeat):
        wall, _ = timed_doit(fresh(work, "local", actions, 0.0), "-n", "1", FEDBUILD_CACHE="off")
        local.append(wall)
        remote.append(remote_wall(work, fresh(work, "remote", actions, 0.0), 1, 1))
    extra = (min(remote) - min(local)) / actions
    return {"actions": actions, "local": local, "remote": remote, "per_action": extra}


def scaling(work: Path, tasks: int, seconds: float, repeat: int) -> dict[str, Any]:
    """Walls of `tasks` sleeping actions on one worker, then on two."""
    one, two = [], []
    for _ in range(repeat):
        one.append(remote_wall(work, fresh(work, "one", tasks, seconds), 1, tasks))
        two.append(remote_wall(work, fresh(work, "two", tasks, seconds), 2, tasks))
    return {"tasks": tasks, "seconds": seconds, "one_worker": one, "two_workers": two,
            "speedup": min(one) / min(two)}


def format_table(per: dict[str, Any], scale: dict[str, Any]) -> str:
    """The results, with the issue's targets."""
    return "\n".join([
        f"per action: {per['actions']} actions, local {min(per['local']):.3f}s, "
        f"remote {min(per['remote']):.3f}s: {per['per_action'] * 1000:.1f} ms more each "
        "(target under 50 ms)",
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
