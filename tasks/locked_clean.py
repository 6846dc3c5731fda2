"""`doit clean` holds the repository lock, as a run does.

A clean during a build removed public/ and the staged outputs under the build's feet.
doit's clean command has no hook, so Clean.clean_tasks (which runs every task's clean
actions) is wrapped, installed once when the dodo loads (like tasks/after_failures.py):
the lock is taken before the first action and released after the last, refused with the
run's own line, and a killed run's lock is taken over (its leftovers killed) the same way.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from doit.cmd_clean import Clean

from federation.state import State
from tasks.lock import LockHeld
from tasks.session import Session, lock_wait

# Exit code of a run refused because another run holds the repository (doit's, for a run
# whose reporter could not start).
LOCKED_OUT = 2

_original = Clean.clean_tasks


def _clean_tasks(self: Any, tasks: list[Any], dryrun: bool, cleanforget: bool) -> None:
    if dryrun:  # `doit clean -n` only prints what it would run
        _original(self, tasks, dryrun, cleanforget)
        return
    session = Session(State(Path.cwd()))
    try:
        session.begin(wait=lock_wait())
    except LockHeld as err:
        sys.stderr.write(f"ERROR: {err}\n")
        raise SystemExit(LOCKED_OUT) from None
    try:
        if session.stale is not None:
            self.outstream.write(f"fedbuild: the previous run ({session.stale.describe()}) "
                                 "ended without releasing the lock; its leftovers were removed\n")
        _original(self, tasks, dryrun, cleanforget)
    finally:
        session.end()


def install() -> None:
    """Make `doit clean` take the repository lock (idempotent)."""
    Clean.clean_tasks = _clean_tasks
