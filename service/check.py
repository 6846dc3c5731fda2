"""Check the repository in the current folder before a build (run by service.projects).

It runs in its own process, in the repository, so that its one-line error names files
exactly as `doit` run there prints them (paths are shown relative to the working folder).
Exit 0 when the manifest loads and every ESP-IDF module is a buildable project, printing
the repository's task names as one `tasks: [json]` line; otherwise print the error's one
line and exit 3, like `doit` does.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from core.errors import HardwareError, ManifestError
from federation.loader import load_project
from hardware.idf import check_project

FAILED = 3
TASKS = "tasks: "


def check(root: Path) -> None:
    """Raise ManifestError or HardwareError if the repository at root cannot be built."""
    project = load_project(root)
    for module in project.manifest.modules:
        # load_project checked the chip and CMakeLists.txt; this looks inside the project.
        if module.toolchain == "esp-idf" and module.source.is_local and module.target:
            check_project(project.local_dir(module), module.target)


def task_names(root: Path) -> list[str]:
    """Every task `doit list --all` shows for the repository at root, without loading
    dodo.py (its DOIT_CONFIG makes the state folder: a check writes nothing). The creators
    here are dodo.py's, one for one; tests/service/test_abuse.py compares with `doit list`."""
    from doit.loader import load_tasks

    from core.state import State
    from federation.plan import plan_federation
    from federation.platforms import host
    from federation.policy import policy_of
    from federation.steps import plan_steps
    from tasks import sites, steps
    from tasks.federate import federate_task

    project = load_project(root)
    state = State(root, project.read_only_sources)
    plan = plan_steps(project, state, project.toolchains, "development", host())
    merged = plan_federation(project, state, plan.steps)

    def task_build() -> Iterator[dict[str, Any]]:
        yield from sites.fetch_tasks(plan.steps)
        yield steps.build_group()
        yield from steps.step_tasks([s for s in plan.steps if s.step == "build"], groups=False)

    def task_steps() -> Iterator[dict[str, Any]]:
        yield from steps.step_tasks([s for s in plan.steps if s.step != "build"])

    def task_verify() -> Iterator[dict[str, Any]]:
        yield from steps.verify_tasks(plan.verifies)

    def task_federate() -> Iterator[dict[str, Any]]:
        if merged.mounts:
            yield federate_task(merged, policy_of(project, plan.steps))

    creators: dict[str, Callable[[], Iterator[dict[str, Any]]]] = {
        "task_build": task_build, "task_steps": task_steps, "task_verify": task_verify,
        "task_federate": task_federate}
    return sorted(task.name for task in load_tasks(creators))


def main() -> int:
    """Check the current folder; print the problem's one line, or its task names."""
    try:
        check(Path.cwd())
        names = task_names(Path.cwd())
    except (ManifestError, HardwareError) as err:
        print(str(err), flush=True)
        return FAILED
    print(TASKS + json.dumps(names), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
