"""DOIT_CONFIG for a fedbuild repository, derived from its manifest."""

from __future__ import annotations

from typing import Any

from federation.loader import Project
from federation.state import State
from tasks import after_failures
from tasks.reporter import FedbuildReporter


def doit_config(project: Project, state: State) -> dict[str, Any]:
    """doit's settings; the command line still wins (`-n`, `-P`, `--continue`, `--reporter`)."""
    settings = project.manifest.federation.build_settings
    state.dir.mkdir(parents=True, exist_ok=True)  # sqlite3 creates the file, not its folder
    after_failures.install()  # federate runs even when a module's build failed
    return {
        "default_tasks": ["build", "federate"],
        # sqlite3 writes only the tasks a run changed, in one transaction: two runs
        # (or a `doit info` beside a build) never clobber each other's state.
        "backend": "sqlite3",
        "dep_file": str(state.db),
        "reporter": FedbuildReporter,
        "num_process": settings.max_parallel_builds if settings.parallel else 0,
        # Threads: actions mostly wait on subprocesses, and nothing needs pickling.
        "par_type": "thread",
        "continue": not settings.fail_fast,
        "subtasks": True,  # `doit list` shows every build:<module>
    }
