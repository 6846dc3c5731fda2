"""fedbuild: build the modules listed in modules.json with doit.

doit runs this file from its own folder (or the one given with `-d`): that
folder is the repository whose modules.json is built.
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from federation.loader import load_project
from federation.plan import plan_federation, plan_sites
from federation.state import State
from tasks import sites
from tasks.config import doit_config
from tasks.federate import federate_task

ROOT = Path.cwd()
PROJECT = load_project(ROOT)
STATE = State(ROOT)
SITES = plan_sites(PROJECT, STATE)
FEDERATION = plan_federation(PROJECT, STATE, SITES)

DOIT_CONFIG = doit_config(PROJECT, STATE)


def task_build() -> Iterator[dict[str, Any]]:
    """Build every site module with the federation's build script (build:<module> for one)."""
    yield from sites.fetch_tasks(SITES)
    yield from sites.build_tasks(SITES)


def task_federate() -> dict[str, Any]:
    """Merge the built site modules into the published tree, swapped in whole."""
    return federate_task(FEDERATION)
