"""What fedbuild accepts on doit's command line besides doit's own options: the variables
it reads (`doit mode=production`) and task names, each mistake one line with a suggestion.

doit keeps every `name=value` it is given and lets the dodo ask for the ones it wants; a
mistyped name (`doit mod=production`) would silently do nothing. And doit's message for an
unknown task name lists no task. Both become one `ERROR:` line naming the closest known
name, exit code 3.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import COMMAND_LINE, UsageError
from tasks import doit_compat

# Every variable fedbuild reads, with what it does (README lists them too).
VARIABLES: dict[str, str] = {
    "mode": "build mode: development (default), production or test",
    "order": "task order with workers: longest-path (default) or doit",
    "shard": "CI part K of N of the default builds: shard=K/N",
    "lock_wait": "seconds to wait for another run's lock in this repository (default 0)",
    "port": "serial port of an ESP32 board; on-device steps join group runs (doit test)",
    "ports": "several boards' ports, a,b; on-device steps join group runs",
    "baud": "serial speed for flashing and on-device tests",
    "chip": "the chip expected on the board (default: the module's target)",
    "select": "the modules to build: names, tag:<tag>, a folder; web... adds dependents, "
              "...web dependencies (select=web,tag:frontend)",
    "serve": "doit watch: serve the published tree with live reload (serve=true)",
    "continue": "continue=true: build what does not depend on a failure (over fail_fast)",
    "fail_fast": "fail_fast=true: start nothing after the first failure (over the manifest)",
    "fix": "fix=auto: when a step with fixers fails, try them in a scratch copy and propose "
           "a patch that makes it pass (fix=off: never, the default)",
    "executor": "where cacheable steps run: local (default), dask (needs scheduler= and a "
                "remote cache) or dask,local-fallback (here if the scheduler does not answer)",
    "scheduler": "executor=dask: the Dask scheduler's address, tcp://HOST:PORT (or "
                 "FEDBUILD_SCHEDULER)",
    "remote_jobs": "executor=dask: tasks in flight on the cluster at once, beside -n local "
                   "ones (default: the cluster's total threads)",
}
# The values of fix=: auto runs a failing step's fixers, off (the default) does not.
FIX_VALUES = ("auto", "off")
# How a switch is written: doit's own words for true and false (its --continue in a doit.cfg).
TRUE_FALSE = {"true": True, "yes": True, "on": True, "1": True,
              "false": False, "no": False, "off": False, "0": False}


def given_variables() -> dict[str, str]:
    """The `name=value` pairs of this command line (doit keeps them; none outside a run)."""
    return doit_compat.command_line_variables()


def check_variables(given: Mapping[str, str] | None = None) -> None:
    """Raise a one-line UsageError for the first variable fedbuild does not read."""
    for name in (given_variables() if given is None else given):
        if name not in VARIABLES:
            raise UsageError(COMMAND_LINE, f"{name}=", unknown_variable(name))


def fixes_wanted(given: Mapping[str, str] | None = None) -> bool:
    """Whether the command line says fix=auto (a value other than auto or off is a one-line
    UsageError)."""
    value = (given_variables() if given is None else given).get("fix", "off")
    if value not in FIX_VALUES:
        raise UsageError(COMMAND_LINE, "fix", f"{value!r} is not a fix mode; use fix=auto "
                         "(try a failing step's fixers) or fix=off")
    return value == "auto"


def keeps_going(fail_fast: bool, given: Mapping[str, str] | None = None) -> bool:
    """Whether the run goes on after a failure (doit's `continue`): as `continue=` or
    `fail_fast=` on the command line say, else as the manifest's fail_fast says. A value that
    is not true or false, or the two saying opposite things, is a one-line UsageError."""
    given = given_variables() if given is None else given
    wanted = {name: not switch(name, given[name]) if name == "fail_fast"
              else switch(name, given[name]) for name in ("continue", "fail_fast")
              if name in given}
    if len(set(wanted.values())) > 1:
        raise UsageError(COMMAND_LINE, "fail_fast", f"continue={given['continue']} and "
                         f"fail_fast={given['fail_fast']} say opposite things; give one of them")
    return next(iter(wanted.values()), not fail_fast)


def switch(name: str, value: str) -> bool:
    """A true-or-false variable's value (one-line UsageError if it is neither)."""
    if value.lower() not in TRUE_FALSE:
        raise UsageError(COMMAND_LINE, name, f"{value!r} is not true or false; use "
                         f"{name}=true or {name}=false")
    return TRUE_FALSE[value.lower()]


def unknown_variable(name: str) -> str:
    """What to say about a variable fedbuild does not read."""
    close = closest(name, VARIABLES)
    known = ", ".join(f"{v}=" for v in VARIABLES)
    return f"fedbuild reads no variable {name!r}; did you mean {close}=? (it reads {known})"


def closest(word: str, names: Iterable[str]) -> str:
    """The name most like `word` (difflib's ratio; the first of equals)."""
    best, score = "", -1.0
    for name in names:
        ratio = difflib.SequenceMatcher(None, word, name).ratio()
        if ratio > score:
            best, score = name, ratio
    return best


def unknown_task(name: str, tasks: Mapping[str, Any]) -> str:
    """What to say about a task name (or target) that names no task."""
    visible = [t for t in tasks if not t.startswith("_")]
    basename, colon, _ = name.partition(":")
    members = [t for t in visible if colon and t.startswith(basename + ":")]
    if not visible:
        return f"no task {name!r} (this repository has none)"
    return (f"no task {name!r}; did you mean {closest(name, members or visible)}? "
            "(`doit list` shows every task)")

