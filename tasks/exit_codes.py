"""The exit code of a run stopped by a signal: 128 + its number, as shells report it (130 for
SIGINT, 143 for SIGTERM), so a CI runner or a script tells "stopped" from "failed".

doit lets a KeyboardInterrupt (what fedbuild's signal handlers raise) leave `doit run`
after the reporter's summary, and Python then dies of SIGINT whatever the signal was. doit's
`run` command is wrapped (installed once, like tasks/after_failures.py) so that it returns
the code instead: the process ends normally, its exit handlers (the lock, the history) run.
"""

from __future__ import annotations

import functools
import signal
import sys
from typing import Any

from doit.cmd_run import Run

from tasks.session import INTERRUPTED, stopping_signal

_original = Run._execute


def interrupted_exit_code() -> int:
    """128 + the signal that stopped the run (SIGINT when none was recorded: a Ctrl-C
    before fedbuild's handlers were installed)."""
    return 128 + int(stopping_signal() or signal.SIGINT)


@functools.wraps(_original)  # doit passes options by the names of _execute's parameters
def _execute(self: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return _original(self, *args, **kwargs)
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED)
        return interrupted_exit_code()


def install() -> None:
    """Make `doit run` return 130 or 143 when a signal stopped it (idempotent)."""
    Run._execute = _execute
