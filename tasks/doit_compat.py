"""Everything fedbuild does inside doit's internals, in one place, for doit 0.37 only.

fedbuild changes doit's run and clean through subclasses, handed to doit as command plugins
(pyproject.toml's entry points, so doit finds them wherever it starts): no doit class is
patched. Each doit internal relied on is named in TOUCHED with its signature, and each
method copied in COPIED with the digest of doit's source it follows
(tests/tasks/test_doit_compat.py checks both, so a doit upgrade fails in CI rather than at
a user's):

- `FedbuildNode` (an `ExecNode`; `parent_status`): a task with `meta={AFTER_FAILURES: True}`
  (federate) runs even when a task it depends on failed; doit would report UnmetDependency.
  The run still ends failed; with `fail_fast` doit starts nothing after the failure.
- `FedbuildDispatcher` (a `TaskDispatcher`; `_gen_node`, `_get_next_node`): makes the nodes
  above (doit's `_gen_node` builds an ExecNode inline: its first half is copied, COPIED),
  and asks fedbuild for the task order (tasks/schedule.py), which also reads the
  dispatcher's `ready` queue, `nodes`, `tasks` and calls `_gen_node` through the functions
  below.
- `FedbuildControl` (a `TaskControl`; `_filter_tasks`, `task_dispatcher`): an unknown task
  name gets the closest one as a suggestion; hands out the dispatcher above.
- `FedbuildRun` (doit's `Run`; `_execute`): doit's run with the control above. doit builds
  its TaskControl inside `Run._execute`, with no seam to give it another, so `_execute` is
  doit's own, copied (COPIED), with `FedbuildControl` in its place. fedbuild's run command
  (tasks/commands/run.py) subclasses it and runs it in a session.
- `FedbuildRunner`, `FedbuildMRunner`, `FedbuildMThreadRunner` (doit's runners;
  `execute_task`, in the thread or process running the task): a task holds one of
  fedbuild's local slots while it runs (tasks/slots.py: with executor=dask a remote task
  gives its slot back while it waits on the cluster); `process_task_result`, in the main
  process: fedbuild is told a task ran (wherever it ran) before doit handles its result.
  FedbuildRun picks them as doit picks its own.
- `FedbuildClean` (doit's `Clean`; `clean_tasks`): doit's clean_tasks, copied (COPIED: doit
  calls `Task.clean` inside it, with no seam), cleaning each task through a method
  (`clean_task`) fedbuild's clean command (tasks/commands/clean.py) overrides.
- `DoitCmdBase.parse_execute` (through `CmdParse.parse_only`): fedbuild's commands take
  options after a task name (tasks/commands/base.py overrides it with `parse_anywhere`).
- `doit_cmd._CMDLINE_VARS`: the `name=value` pairs of the command line (doit lets a dodo
  ask for one by name, not list them), so a mistyped one is an error.
- `Dependency._in` (the sqlite3 backend's `in_`): whether doit has recorded a task's
  state (`doit explain`).
- The command loading the dodo (`loading_command()`, found on the stack: doit gives a dodo
  no handle on it), so `doit list` and `doit info` create nothing on disk, and doit's own
  `run` or `clean` (fedbuild's not registered: fedbuild not installed) or `strace` is
  refused, not run without the lock.

No doit class or module is patched: where doit has no seam, its method is copied into a
subclass instead (COPIED), and the subclass reaches doit through fedbuild's commands.

`check(command)` (the dodo's DOIT_CONFIG, tasks/config.py) checks doit's version and that
command; fedbuild's run and clean commands check the version before they load the dodo.
This module imports nothing of fedbuild's: the subclasses call it through the `Hooks` they
are given.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import doit
from doit.action import PythonAction
from doit.cmd_base import DoitCmdBase
from doit.cmd_clean import Clean
from doit.cmd_run import Run
from doit.cmdparse import CmdParse
from doit.control import ExecNode, TaskControl, TaskDispatcher
from doit.dependency import SqliteDB
from doit.exceptions import InvalidCommand, InvalidDodoFile
from doit.runner import MRunner, MThreadRunner, Runner
from doit.task import Stream, Task

SUPPORTED = (0, 37)  # doit's major.minor fedbuild is written against
AFTER_FAILURES = "fedbuild.after_failures"  # a task's meta key: run after a dependency failed

_RUN_OPTIONS = ("(self, outfile, verbosity=None, always=False, continue_=False, "
                "reporter='console', num_process=0, par_type='process', single=False, "
                "auto_delayed_regex=False, force_verbosity=False, failure_verbosity=0, "
                "pdb=False)")
_RUNNER = "(self, dep_manager, reporter, continue_=False, always_execute=False, stream=None"
# Each doit internal fedbuild overrides, calls or builds, with the signature it relies on.
TOUCHED: dict[str, tuple[Any, str]] = {
    "ExecNode.__init__": (ExecNode.__init__, "(self, task, parent)"),
    "ExecNode.parent_status": (ExecNode.parent_status, "(self, parent_node)"),
    "TaskDispatcher.__init__": (TaskDispatcher.__init__,
                                "(self, tasks, targets, selected_tasks)"),
    "TaskDispatcher._gen_node": (TaskDispatcher._gen_node, "(self, parent, task_name)"),
    "TaskDispatcher._add_task": (TaskDispatcher._add_task, "(*args, **kwargs)"),  # no_none's
    "TaskDispatcher._get_next_node": (TaskDispatcher._get_next_node,
                                      "(self, ready, tasks_to_run)"),
    "TaskControl.__init__": (TaskControl.__init__, "(self, task_list, auto_delayed_regex=False)"),
    "TaskControl._filter_tasks": (TaskControl._filter_tasks, "(self, task_selection)"),
    "TaskControl.process": (TaskControl.process, "(self, task_selection)"),
    "TaskControl.task_dispatcher": (TaskControl.task_dispatcher, "(self)"),
    "Run._execute": (Run._execute, _RUN_OPTIONS),
    "Runner.__init__": (Runner.__init__, _RUNNER + ")"),
    "MRunner.__init__": (MRunner.__init__, _RUNNER + ", num_process=1)"),
    "MRunner.available": (MRunner.available, "()"),
    "Runner.run_all": (Runner.run_all, "(self, task_dispatcher)"),
    "Runner.execute_task": (Runner.execute_task, "(self, task)"),
    "Runner.process_task_result": (Runner.process_task_result, "(self, node, base_fail)"),
    "Stream.__init__": (Stream.__init__, "(self, verbosity, force_global=False)"),
    "Clean.clean_tasks": (Clean.clean_tasks, "(self, tasks, dryrun, cleanforget)"),
    "Clean._execute": (Clean._execute, "(self, dryrun, cleandep, cleanall, cleanforget, "
                       "pos_args=None)"),
    "Task.clean": (Task.clean, "(self, outstream, dryrun)"),
    "DoitCmdBase.execute": (DoitCmdBase.execute, "(self, params, args)"),
    "DoitCmdBase.parse_execute": (DoitCmdBase.parse_execute, "(self, in_args)"),
    "CmdParse.parse_only": (CmdParse.parse_only, "(self, in_args, params=None)"),
    # Dependency binds `_in` to its backend's `in_` (fedbuild's backend: sqlite3)
    "SqliteDB.in_": (SqliteDB.in_, "(self, task_id)"),
}
# doit's methods copied here (with one change each, said where), and the sha256 of the
# source they follow: another source is a doit whose copy must be read again.
COPIED: dict[str, str] = {
    "Run._execute": "bdc8794780d16746913a9be708fd1fb2e37f1c80414abf47517d9b863bb7b753",
    "Clean.clean_tasks": "780a3fc351789a4853b82cb295fcae0326ba80c2bf4af7afe581035af0e3483d",
    "TaskDispatcher._gen_node":
        "ee163f8b07123bc52a20b27ec15d085bdf019eccb8fbaf06204f09dd5b6a832d",
}


def source_digest(function: Any) -> str:
    """The sha256 of a function's source (what COPIED records)."""
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()


class UnsupportedDoit(InvalidDodoFile):
    """doit is not the version fedbuild supports: one `ERROR:` line, exit code 3."""


class UnregisteredCommand(InvalidDodoFile):
    """doit's own run, clean or strace loads fedbuild's dodo: one `ERROR:` line, exit 3."""


def check_version(version: tuple[int, ...] | None = None) -> None:
    """Raise UnsupportedDoit unless doit is 0.37.x."""
    found = tuple(doit.__version__ if version is None else version)
    if found[:2] != SUPPORTED:
        wanted = ".".join(map(str, SUPPORTED))
        raise UnsupportedDoit(
            f"fedbuild supports doit {wanted}.x, but doit {'.'.join(map(str, found))} is "
            f"installed: pip install 'doit>={wanted},<0.{SUPPORTED[1] + 1}'")


def check(command: Any) -> None:
    """Check doit's version, and refuse a run or clean that is not fedbuild's (`command`,
    the one loading the dodo): doit's own `run`, `clean` (fedbuild's are not registered) or
    `strace` would run without the repository lock, the history and fedbuild's task order."""
    check_version()
    ours = (FedbuildRun, FedbuildClean)
    if not isinstance(command, (Run, Clean)) or isinstance(command, ours):
        return
    name = command.get_name()
    if type(command) in (Run, Clean):
        raise UnregisteredCommand(
            f"doit runs its own `{name}`, not fedbuild's (fedbuild_doit is not installed): "
            "pip install fedbuild, or start doit in a fedbuild checkout")
    raise UnregisteredCommand(f"`doit {name}` would run fedbuild's tasks without the "
                              "repository lock and the history; use `doit run`")


@dataclass(frozen=True)
class Hooks:
    """What the subclasses call in fedbuild."""

    # FedbuildDispatcher._get_next_node: (dispatcher, ready, tasks_to_run, doit's) -> node
    next_node: Callable[[Any, Any, list[str], Any], ExecNode | None]
    # FedbuildControl._filter_tasks: (unknown name, the tasks) -> the error's line
    unknown_task: Callable[[str, Mapping[str, Task]], str]
    # the runners' execute_task: (doit's execute_task bound to the runner and task) -> failure
    run_task: Callable[[Callable[[], Any]], Any]
    # the runners' process_task_result, in the main process, before doit's: (the task) ->
    # None; a task ran (here, in a thread or in another process)
    task_ran: Callable[[Task], None] = lambda task: None


class FedbuildNode(ExecNode):
    """doit's node of a task; a task marked AFTER_FAILURES waits for a failed dependency
    like for a successful one."""

    def parent_status(self, parent_node: ExecNode) -> None:
        """Record a dependency's end (doit's call), a failure only if this task cares."""
        if parent_node.run_status == "failure" and (self.task.meta or {}).get(AFTER_FAILURES):
            return
        super().parent_status(parent_node)


class FedbuildDispatcher(TaskDispatcher):
    """doit's dispatcher, with FedbuildNode nodes and fedbuild's task order."""

    def __init__(self, tasks: Any, targets: Any, selected_tasks: list[str],
                 hooks: Hooks) -> None:
        self.hooks = hooks
        super().__init__(tasks, targets, selected_tasks)

    def _gen_node(self, parent: ExecNode | None, task_name: str) -> FedbuildNode | None:
        """doit's (COPIED): a new FedbuildNode for a task without one, else doit's own
        (None, or an error for a cycle)."""
        if task_name in self.nodes:
            return super()._gen_node(parent, task_name)
        node = FedbuildNode(self.tasks[task_name], parent)
        node.generator = self._add_task(node)
        self.nodes[task_name] = node
        return node

    def _get_next_node(self, ready: Any, tasks_to_run: list[str]) -> ExecNode | None:
        """The next node to explore or run: fedbuild's order (doit's own as a fallback)."""
        return self.hooks.next_node(self, ready, tasks_to_run, TaskDispatcher._get_next_node)


class FedbuildControl(TaskControl):
    """doit's TaskControl: suggests a task for an unknown name, dispatches in fedbuild's
    order."""

    def __init__(self, task_list: list[Task], hooks: Hooks,
                 auto_delayed_regex: bool = False) -> None:
        self.hooks = hooks
        super().__init__(task_list, auto_delayed_regex=auto_delayed_regex)

    def _filter_tasks(self, task_selection: list[str]) -> list[str]:
        """doit's selection; an unknown name is one line with the closest task."""
        try:
            return super()._filter_tasks(task_selection)
        except InvalidCommand as err:
            if err.not_found is None:
                raise
            raise InvalidCommand(self.hooks.unknown_task(str(err.not_found), self.tasks)
                                 ) from None

    def task_dispatcher(self) -> FedbuildDispatcher:
        """The dispatcher doit's runner takes tasks from."""
        assert self.selected_tasks is not None, "must call 'process' before this"
        return FedbuildDispatcher(self.tasks, self.targets, self.selected_tasks, self.hooks)


class FedbuildRun(Run):
    """doit's `run`, with FedbuildControl in place of doit's TaskControl."""

    hooks: ClassVar[Hooks]

    def execute(self, params: Any, args: list[str]) -> Any:
        """Check doit's version, then load the dodo and run."""
        check_version()
        return super().execute(params, args)

    def _execute(self, outfile: Any, verbosity: int | None = None, always: bool = False,
                 continue_: bool = False, reporter: Any = "console", num_process: int = 0,
                 par_type: str = "process", single: bool = False,
                 auto_delayed_regex: bool = False, force_verbosity: bool = False,
                 failure_verbosity: int = 0, pdb: bool = False) -> Any:
        """doit's Run._execute (COPIED), building FedbuildControl."""
        PythonAction.pm_pdb = pdb
        self.control = FedbuildControl(self.task_list, self.hooks,
                                       auto_delayed_regex=auto_delayed_regex)
        self.control.process(self.sel_tasks)
        if single:
            _drop_task_deps(self.control)
        reporter_cls = self.reporters[reporter] if isinstance(reporter, str) else reporter
        with _output(outfile) as outstream:
            self.outstream = outstream
            reporter_obj = reporter_cls(outstream, {"failure_verbosity": failure_verbosity}) \
                if isinstance(reporter_cls, type) else reporter_cls
            run_args = [self.dep_manager, reporter_obj, continue_, always,
                        Stream(verbosity, force_verbosity)]
            if num_process:
                run_args.append(num_process)
            runner = _runner_class(num_process, par_type)(*run_args, hooks=self.hooks)
            return runner.run_all(self.control.task_dispatcher())


@contextlib.contextmanager
def _output(outfile: Any) -> Iterator[Any]:
    """doit's run output: the file named (`-o FILE`, closed after the run), or the stream
    given."""
    if not isinstance(outfile, str):
        yield outfile
        return
    with open(outfile, "w", encoding="utf-8") as stream:
        yield stream


def _drop_task_deps(control: TaskControl) -> None:
    """`doit run --single`: the selected tasks (a group's subtasks) run without their
    dependencies."""
    for task_name in control.selected_tasks:
        task = control.tasks[task_name]
        if task.has_subtask:
            for name in task.task_dep:
                control.tasks[name].task_dep = []
        else:
            task.task_dep = []


class _RunsThroughHooks(Runner):
    """A doit runner whose tasks each run through Hooks.run_task (in the thread or process
    running the task): a task holds one of fedbuild's local slots while it runs
    (tasks/slots.py: with executor=dask a remote task gives its slot back while it waits on
    the cluster)."""

    def __init__(self, *args: Any, hooks: Hooks, **kwargs: Any) -> None:
        self.hooks = hooks
        super().__init__(*args, **kwargs)

    def execute_task(self, task: Task) -> Any:
        """doit's execution of one task, through the hook."""
        return self.hooks.run_task(functools.partial(super().execute_task, task))

    def process_task_result(self, node: ExecNode, base_fail: Any) -> None:
        """doit's handling of a task's result (in the main process), told to the hook first."""
        self.hooks.task_ran(node.task)
        super().process_task_result(node, base_fail)


class FedbuildRunner(_RunsThroughHooks, Runner):
    """doit's serial runner (no `-n`)."""


class FedbuildMRunner(_RunsThroughHooks, MRunner):
    """doit's runner of `-n N -P process`."""


class FedbuildMThreadRunner(_RunsThroughHooks, MThreadRunner):
    """doit's runner of `-n N -P thread`."""


def _runner_class(num_process: int, par_type: str) -> type[_RunsThroughHooks]:
    """doit's runner for `-n`/`-P`: serial, processes (threads where multiprocessing is
    missing) or threads."""
    if num_process == 0:
        return FedbuildRunner
    if par_type == "process":
        if MRunner.available():
            return FedbuildMRunner
        sys.stderr.write("WARNING: multiprocessing module not available, "
                         "running in parallel using threads.")
        return FedbuildMThreadRunner
    if par_type == "thread":
        return FedbuildMThreadRunner
    raise InvalidCommand(f"Invalid parallel type {par_type}")


class FedbuildClean(Clean):
    """doit's `clean`, cleaning each task through `clean_task`."""

    def execute(self, params: Any, args: list[str]) -> Any:
        """Check doit's version, then load the dodo and clean."""
        check_version()
        return super().execute(params, args)

    def clean_tasks(self, tasks: list[Task], dryrun: bool, cleanforget: bool) -> None:
        """doit's clean_tasks (COPIED; each task once, forgotten with --forget), with
        `clean_task` where doit calls Task.clean."""
        cleaned = set()
        forget_tasks = cleanforget and not dryrun
        for task in tasks:
            if task.name not in cleaned:
                cleaned.add(task.name)
                self.clean_task(task, dryrun)
                if forget_tasks:
                    self.dep_manager.remove(task.name)
        self.dep_manager.close()

    def clean_task(self, task: Task, dryrun: bool) -> None:
        """One task's clean: doit's."""
        task.clean(self.outstream, dryrun)


# What tasks/schedule.py reads of doit's dispatcher ---------------------------------------


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


# The command loading the dodo -------------------------------------------------------------


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
