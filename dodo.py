"""fedbuild: build the modules listed in modules.json with doit.

doit runs this file from its own folder (or the one given with `-d`): that
folder is the repository whose modules.json is built.
"""

import gc

# Off while modules load and the plan is built (nothing there is garbage to find):
# tasks.config.doit_config() freezes what was made, then turns it back on.
gc.disable()

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.state import State
from federation.policy import policy_of
from tasks import sites, steps
from tasks.config import default_tasks, doit_config, repository, run_mode
from tasks.federate import federate_task
from tasks.select import selected
from tasks.snapshot import loaded

ROOT = repository(Path(__file__).resolve().parent)  # the current folder (-d)
MODE = run_mode()  # doit mode=production
# The manifest loaded, its steps and federate planned, the site builds passing the options
# their script accepts: kept from the last run while none of the files they came from
# changed (tasks/snapshot.py).
LOADED = loaded(ROOT, MODE)
PROJECT = LOADED.project
STATE = State(ROOT, PROJECT.read_only_sources)
STEPS = LOADED.steps
FEDERATION = LOADED.federation

DOIT_CONFIG = doit_config(PROJECT, STATE, default_tasks(
    STEPS, MODE, [s.module for s in STEPS.steps if s.site], STATE, selected(PROJECT)), MODE)


def task_build() -> Iterator[steps.TaskDef]:
    """Build every module (build:<module> for one, with what it depends on)."""
    yield from sites.fetch_tasks(STEPS.steps)
    yield steps.build_group()
    yield from steps.step_tasks([s for s in STEPS.steps if s.step == "build"], groups=False,
                                resolved=LOADED.resolved)


def task_steps() -> Iterator[steps.TaskDef]:
    """The modules' other toolchain steps: install, configure, check, test, ..."""
    yield from steps.step_tasks([s for s in STEPS.steps if s.step != "build"])


def task_verify() -> Iterator[dict[str, Any]]:
    """Check each module's declared artifacts (part of `doit mode=production`)."""
    yield from steps.verify_tasks(STEPS.verifies)


def task_federate() -> Iterator[dict[str, Any]]:
    """Merge the built site modules into the published tree, swapped in whole."""
    if FEDERATION.mounts:
        yield federate_task(FEDERATION, policy_of(PROJECT, STEPS.steps))
