"""Everything fedbuild does inside doit's internals, in one place, for doit 0.37 only.

doit has no hook for what these need, so its classes are wrapped here, each named in
TOUCHED with the signature fedbuild relies on (tests/tasks/test_doit_compat.py checks
them, so a doit upgrade fails in CI rather than at a user's):

- `ExecNode.parent_status`: a task with `meta={AFTER_FAILURES: True}` (federate) runs even
  when a task it depends on failed; doit would report UnmetDependency. The run still ends
  failed; with `fail_fast` doit starts nothing after the failure.
- `TaskDispatcher._get_next_node`: the task order (tasks/schedule.py), which also reads
  the dispatcher's `ready` queue, `nodes`, `tasks` and calls `_gen_node` through the
  functions below.
- `TaskControl._filter_tasks`: an unknown task name gets the closest one as a suggestion.
- `Run._execute`: fedbuild's run command (tasks/commands/run.py) subclasses doit's Run and
  runs it in a session (lock, signals, history, run files, whatever the reporter). When doit
  runs its own `run` instead (started where pyproject.toml's registration of fedbuild's is
  not read, `doit -f path/dodo.py`), the same session is put around it here.
- `Clean.clean_tasks`: `doit clean` holds the repository lock, as a run does.
- `Clean._execute` and `Task.clean`: `doit clean` without task names cleans every task, and
  fedbuild's tasks say what they removed (tasks/clean.py).
- `DoitCmdBase.parse_execute` (through `CmdParse.parse_only`): fedbuild's commands take
  options after a task name.
- `doit_cmd._CMDLINE_VARS`: the `name=value` pairs of the command line (doit lets a dodo
  ask for one by name, not list them), so a mistyped one is an error.
- `Dependency._in` (the sqlite3 backend's `in_`): whether doit has recorded a task's
  state (`doit explain`).
- `Runner.execute_task` (every runner's, in the thread or process running the task): a task
  holds one of fedbuild's local slots while it runs (tasks/slots.py: with executor=dask a
  remote task gives its slot back while it waits on the cluster).

- The command loading the dodo (`loading_command()`, found on the stack: doit gives a dodo
  no handle on it), so `doit list` and `doit info` create nothing on disk.

`install(hooks)` puts every wrapper in place (idempotent) after checking doit's version; the
wrappers call fedbuild through the `Hooks` it is given, so this module imports nothing of
fedbuild's. fedbuild's run command (tasks/commands/run.py `install_doit_hooks`) installs it
before it loads the dodo, and the dodo again (doit's own commands).
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import doit
from doit.cmd_base import DoitCmdBase
from doit.cmd_clean import Clean
from doit.cmd_run import Run
from doit.cmdparse import CmdParse
from doit.control import ExecNode, TaskControl, TaskDispatcher
from doit.dependency import SqliteDB
from doit.exceptions import InvalidCommand, InvalidDodoFile
from doit.runner import Runner
from doit.task import Task

SUPPORTED = (0, 37)  # doit's major.minor fedbuild is written against
AFTER_FAILURES = "fedbuild.after_failures"  # a task's meta key: run after a dependency failed
IN_SESSION = "_fedbuild_in_session"  # set on a run command whose _execute runs in a session

# Each doit internal fedbuild touches, with the signature it relies on.
TOUCHED: dict[str, tuple[Any, str]] = {
    "ExecNode.parent_status": (ExecNode.parent_status, "(self, parent_node)"),
    "TaskDispatcher.__init__": (TaskDispatcher.__init__,
                                "(self, tasks, targets, selected_tasks)"),
    "TaskDispatcher._get_next_node": (TaskDispatcher._get_next_node,
                                      "(self, ready, tasks_to_run)"),
    "TaskDispatcher._gen_node": (TaskDispatcher._gen_node, "(self, parent, task_name)"),
    "TaskControl._filter_tasks": (TaskControl._filter_tasks, "(self, task_selection)"),
    "Run._execute": (Run._execute, "(self, outfile, verbosity=None, always=False, "
                     "continue_=False, reporter='console', num_process=0, "
                     "par_type='process', single=False, auto_delayed_regex=False, "
                     "force_verbosity=False, failure_verbosity=0, pdb=False)"),
    "Clean.clean_tasks": (Clean.clean_tasks, "(self, tasks, dryrun, cleanforget)"),
    "Clean._execute": (Clean._execute, "(self, dryrun, cleandep, cleanall, cleanforget, "
                       "pos_args=None)"),
    "Task.clean": (Task.clean, "(self, outstream, dryrun)"),
    "DoitCmdBase.parse_execute": (DoitCmdBase.parse_execute, "(self, in_args)"),
    "CmdParse.parse_only": (CmdParse.parse_only, "(self, in_args, params=None)"),
    # Dependency binds `_in` to its backend's `in_` (fedbuild's backend: sqlite3)
    "SqliteDB.in_": (SqliteDB.in_, "(self, task_id)"),
    "Runner.execute_task": (Runner.execute_task, "(self, task)"),
}


class UnsupportedDoit(InvalidDodoFile):
    """doit is not the version fedbuild supports: one `ERROR:` line, exit code 3."""


def check_version(version: tuple[int, ...] | None = None) -> None:
    """Raise UnsupportedDoit unless doit is 0.37.x."""
    found = tuple(doit.__version__ if version is None else version)
    if found[:2] != SUPPORTED:
        wanted = ".".join(map(str, SUPPORTED))
        raise UnsupportedDoit(
            f"fedbuild supports doit {wanted}.x, but doit {'.'.join(map(str, found))} is "
            f"installed: pip install 'doit>={wanted},<0.{SUPPORTED[1] + 1}'")


_originals: dict[str, Any] = {name: fn for name, (fn, _) in TOUCHED.items()}


@dataclass(frozen=True)
class Hooks:
    """What the wrappers call in fedbuild (each named after the wrapper that calls it)."""

    # TaskDispatcher._get_next_node: (dispatcher, ready, tasks_to_run, doit's own) -> node
    next_node: Callable[[Any, Any, list[str], Any], ExecNode | None]
    # TaskControl._filter_tasks: (unknown name, the tasks) -> the error's line
    unknown_task: Callable[[str, Any], str]
    # Run._execute: (command, doit's _execute bound to it, its arguments) -> exit code
    run_in_session: Callable[[Any, Callable[..., Any], dict[str, Any]], Any]
    # Clean.clean_tasks: (doit's clean_tasks bound, tasks, dryrun, cleanforget, outstream)
    clean_tasks: Callable[[Callable[..., Any], list[Any], bool, bool, Any], None]
    # Clean._execute: (cleanall, pos_args) -> cleanall as doit should see it
    clean_all_unless_named: Callable[[bool, list[str] | None], bool]
    # Task.clean: (task, outstream, dryrun, doit's own)
    clean_task: Callable[[Any, Any, bool, Any], None]
    # Runner.execute_task: (doit's execute_task bound to the runner and the task) -> failure
    run_task: Callable[[Callable[[], Any]], Any]


_hooks: Hooks | None = None


def install(hooks: Hooks) -> None:
    """Check doit's version, then put every wrapper in place (idempotent)."""
    global _hooks
    check_version()
    _hooks = hooks
    ExecNode.parent_status = _parent_status
    TaskDispatcher._get_next_node = _get_next_node
    TaskControl._filter_tasks = _filter_tasks
    Run._execute = _execute
    Clean.clean_tasks = _clean_tasks
    Clean._execute = _clean_execute
    Task.clean = _task_clean
    Runner.execute_task = _execute_task


def original(name: str) -> Any:
    """doit's own function behind a wrapper (by its TOUCHED name)."""
    return _originals[name]


def hooks() -> Hooks:
    """The hooks `install` was given."""
    assert _hooks is not None, "doit_compat.install() was not called"
    return _hooks


# ExecNode.parent_status ---------------------------------------------------------


def _parent_status(self: Any, parent_node: Any) -> None:
    if parent_node.run_status == "failure" and (self.task.meta or {}).get(AFTER_FAILURES):
        return
    _originals["ExecNode.parent_status"](self, parent_node)


# TaskDispatcher: the task order ---------------------------------------------------


def _get_next_node(self: Any, ready: Any, tasks_to_run: list[str]) -> ExecNode | None:
    return hooks().next_node(self, ready, tasks_to_run,
                             _originals["TaskDispatcher._get_next_node"])


def dispatcher_tasks(dispatcher: Any) -> dict[str, Any]:
    """The dispatcher's tasks by name."""
    return dispatcher.tasks


def explored(dispatcher: Any) -> set[str]:
    """Names of the nodes doit has started exploring (their dependencies are known to it)."""
    return {name for name, node in dispatcher.nodes.items()
            if inspect.getgeneratorstate(node.generator) != inspect.GEN_CREATED}


def ready_queue(dispatcher: Any) -> Any:
    """The dispatcher's queue of ready nodes (a deque doit appends to, pops from the left)."""
    return dispatcher.ready


def replace_ready(dispatcher: Any, queue: Any) -> None:
    """Give the dispatcher another ready queue (with `append`, `popleft`, `len`, iteration)."""
    dispatcher.ready = queue


def gen_node(dispatcher: Any, name: str) -> ExecNode | None:
    """doit's node for a selected task (None if it has one already)."""
    return dispatcher._gen_node(None, name)


# TaskControl._filter_tasks --------------------------------------------------------


def _filter_tasks(self: Any, task_selection: Any) -> Any:
    try:
        return _originals["TaskControl._filter_tasks"](self, task_selection)
    except InvalidCommand as err:
        if err.not_found is None:
            raise
        raise InvalidCommand(hooks().unknown_task(str(err.not_found), self.tasks)) from None


# Run._execute -----------------------------------------------------------------------


@functools.wraps(Run._execute)  # doit passes options by the names of _execute's parameters
def _execute(self: Any, *args: Any, **kwargs: Any) -> Any:
    original = _originals["Run._execute"]
    if getattr(self, IN_SESSION, False):  # fedbuild's run command: in its session already
        return original(self, *args, **kwargs)
    params = inspect.signature(original).bind(self, *args, **kwargs)
    params.apply_defaults()
    arguments = dict(params.arguments)
    del arguments["self"]
    setattr(self, IN_SESSION, True)
    return hooks().run_in_session(self, functools.partial(original, self), arguments)


def loading_command() -> Any | None:
    """The doit command (a DoitCmdBase) whose dodo is loading, if any."""
    frame = sys._getframe(1)
    while frame is not None:
        candidate = frame.f_locals.get("self")
        if isinstance(candidate, DoitCmdBase):
            return candidate
        frame = frame.f_back  # type: ignore[assignment]
    return None


def reads_only(command: Any) -> bool:
    """Whether the command only shows tasks and their state (`doit list`, `doit info`,
    `doit dumpdb`): it must create nothing on disk."""
    from doit.cmd_dumpdb import DumpDB
    from doit.cmd_info import Info
    from doit.cmd_list import List

    return isinstance(command, (List, Info, DumpDB))


# Clean.clean_tasks -------------------------------------------------------------------


def _clean_tasks(self: Any, tasks: list[Any], dryrun: bool, cleanforget: bool) -> None:
    clean = functools.partial(_originals["Clean.clean_tasks"], self)
    hooks().clean_tasks(clean, tasks, dryrun, cleanforget, self.outstream)


# Clean._execute, Task.clean --------------------------------------------------------------


def _clean_execute(self: Any, dryrun: bool, cleandep: bool, cleanall: bool, cleanforget: bool,
                   pos_args: list[str] | None = None) -> Any:
    return _originals["Clean._execute"](self, dryrun, cleandep,
                                        hooks().clean_all_unless_named(cleanall, pos_args),
                                        cleanforget, pos_args)


def _task_clean(self: Any, outstream: Any, dryrun: bool) -> None:
    hooks().clean_task(self, outstream, dryrun, _originals["Task.clean"])


# Runner.execute_task -------------------------------------------------------------------


def _execute_task(self: Any, task: Any) -> Any:
    return hooks().run_task(functools.partial(_originals["Runner.execute_task"], self, task))


# DoitCmdBase.parse_execute -------------------------------------------------------------


def parse_anywhere(command: Any, in_args: list[str]) -> Any:
    """doit's parse_execute for `command`, taking options after a task name too
    (`doit graph build:web --format mermaid`); doit's parser stops at the first one."""
    params, args = command.cmdparser.parse(in_args)
    while any(arg.startswith("-") for arg in args):
        at = next(i for i, arg in enumerate(args) if arg.startswith("-"))
        params, rest = command.cmdparser.parse_only(args[at:], params)
        args = args[:at] + rest
    command.pdb = params.get("pdb", False)
    params.update(command.opt_vals)
    return command.execute(params, args)


# doit_cmd._CMDLINE_VARS ---------------------------------------------------------------


def command_line_variables() -> dict[str, str]:
    """The `name=value` pairs doit kept from its command line (none outside a run)."""
    import doit.doit_cmd

    return dict(getattr(doit.doit_cmd, "_CMDLINE_VARS", None) or {})


# Dependency._in -------------------------------------------------------------------------


def recorded(dep_manager: Any, name: str) -> bool:
    """Whether doit's state holds an entry for task `name` (asked before any other read,
    which would cache one)."""
    return bool(dep_manager._in(name))
