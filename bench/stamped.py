"""One graph of stamped `bash -c` tasks, written for fedbuild and for plain doit alike.

`pertask.py` and `schedule.py` compare fedbuild with plain doit running exactly the same
commands: each task is one `bash -c STEP` that appends its start and end time
($EPOCHREALTIME) to the tool's stamps file, so the stamps tell, the same way for both
tools, that every task ran once, when it started and how long its command took.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

from bench.measure import DODO, BenchError, Tool

PLAIN_DODO_TEXT = '''\
"""Plain doit: the same tasks as modules.json (written by bench/stamped.py)."""

import json
from pathlib import Path

from doit.action import CmdAction

DOIT_CONFIG = {"backend": "sqlite3", "dep_file": ".plain-doit.sqlite3", "verbosity": 0}
HERE = Path(__file__).parent
TASKS = json.loads((HERE / "plain_graph.json").read_text())


def task_build():
    """One task per module: its command in its folder, its input, its output."""
    for task in TASKS:
        yield {"name": task["name"], "file_dep": task["file_dep"], "targets": task["targets"],
               "task_dep": task["task_dep"],
               "actions": [CmdAction(task["argv"], shell=False, cwd=task["cwd"])]}
'''

# A task: its name, the tasks it depends on, the arguments after STEP's first three.
Task = tuple[str, list[str], list[str]]


def write_repository(root: Path, title: str, step: str, tasks: list[Task]) -> None:
    """Write modules.json (one `command` module a task), the plain dodo and its graph, one
    folder and input per module. STEP gets $1 the stamps file, $2 the task's name, $3 its
    output folder, then the task's own arguments; its working folder is the module's."""
    modules, plain = [], []
    for name, before, extra in tasks:
        folder = root / "modules" / name
        folder.mkdir(parents=True)
        (folder / "in.txt").write_text(f"{name}\n", encoding="utf-8")
        argv = ["bash", "-c", step, "step", str(root / "stamps" / "fedbuild"), name, "{out}",
                *extra]
        modules.append({"name": name, "source": {"repository": "local", "path": f"modules/{name}"},
                        "toolchain": "command", "depends_on": before,
                        "steps": [{"name": "build", "argv": argv, "inputs": ["in.txt"]}]})
        out = root / "plain-out" / name
        plain.append({"name": name, "cwd": str(folder), "file_dep": [str(folder / "in.txt")],
                      "targets": [str(out / "out.txt")],
                      "task_dep": [f"build:{b}" for b in before],
                      "argv": [*argv[:4], str(root / "stamps" / "plain-doit"), name, str(out),
                               *extra]})
    manifest = {"federation": {"name": title, "baseURL": "https://bench.example.org"},
                "modules": modules}
    (root / "modules.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    (root / "plain_graph.json").write_text(json.dumps(plain, indent=1) + "\n", encoding="utf-8")
    (root / "plain_dodo.py").write_text(PLAIN_DODO_TEXT, encoding="utf-8")


def tools(root: Path, options: tuple[str, ...] = (),
          fedbuild_options: tuple[str, ...] = ()) -> dict[str, Tool]:
    """fedbuild and plain doit on the repository, both with `options` after `doit run`."""
    doit = (sys.executable, "-m", "doit", "run", *options)
    unused = root / "stamps" / "unused"
    return {"fedbuild": Tool("fedbuild", (*doit, "-f", str(DODO), "-d", str(root),
                                          *fedbuild_options), root, unused),
            "plain-doit": Tool("plain-doit", (*doit, "-f", str(root / "plain_dodo.py"), "-d",
                                              str(root)), root, unused)}


def fresh_stamps(root: Path, tool: str) -> None:
    """An empty stamps file for the tool's next run."""
    (root / "stamps").mkdir(exist_ok=True)
    (root / "stamps" / tool).unlink(missing_ok=True)


def clean_plain(root: Path, names: list[str]) -> None:
    """Remove plain doit's state and outputs, so its next run builds every task."""
    (root / ".plain-doit.sqlite3").unlink(missing_ok=True)
    shutil.rmtree(root / "plain-out", ignore_errors=True)
    for name in names:
        (root / "plain-out" / name).mkdir(parents=True)


def read_stamps(path: Path, names: list[str], tool: str) -> dict[str, tuple[float, float]]:
    """Each task's (start, end) from a run's stamps, after checking it ran every task once."""
    times: dict[tuple[str, str], list[float]] = {}
    for line in path.read_text().splitlines():
        name, event, moment = line.split()
        times.setdefault((name, event), []).append(float(moment))
    wrong = [n for n in names if any(len(times.get((n, e), [])) != 1 for e in ("start", "end"))]
    if wrong or len(times) != 2 * len(names):
        raise BenchError(f"{tool}: tasks not run exactly once: {wrong[:5]}")
    return {n: (times[(n, "start")][0], times[(n, "end")][0]) for n in names}
