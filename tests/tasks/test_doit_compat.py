"""tasks/doit_compat.py fits the doit it reaches into: every internal it touches or
overrides has the signature it relies on, each method it copies follows doit's source, no
doit class is patched, and another doit version is refused with one line."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from doit.action import PythonAction
from doit.cmd_base import DoitCmdBase
from doit.cmd_clean import Clean
from doit.cmd_run import Run
from doit.control import ExecNode, TaskControl, TaskDispatcher
from doit.dependency import Dependency, SqliteDB
from doit.exceptions import InvalidCommand
from doit.runner import Runner
from doit.task import Task

from tasks import doit_compat
from tasks.commands.clean import CleanCommand
from tasks.commands.run import HOOKS, RunCommand
from tasks.doit_compat import AFTER_FAILURES, FedbuildControl, FedbuildDispatcher, FedbuildNode

REPO = Path(__file__).resolve().parents[2]
SUBCLASSES = ((doit_compat.FedbuildNode, ExecNode), (doit_compat.FedbuildDispatcher,
              TaskDispatcher), (doit_compat.FedbuildControl, TaskControl),
              (doit_compat.FedbuildRun, Run), (RunCommand, Run),
              (doit_compat.FedbuildClean, Clean), (CleanCommand, Clean),
              (doit_compat._RunsThroughHooks, Runner))


@pytest.mark.parametrize("name", sorted(doit_compat.TOUCHED))
def test_every_touched_internal_has_the_signature_fedbuild_relies_on(name: str) -> None:
    function, expected = doit_compat.TOUCHED[name]
    assert str(inspect.signature(function)) == expected


@pytest.mark.parametrize("name", sorted(doit_compat.COPIED))
def test_every_copied_method_follows_doits_source(name: str) -> None:
    function, _ = doit_compat.TOUCHED[name]
    assert doit_compat.source_digest(function) == doit_compat.COPIED[name], (
        f"doit's {name} changed: read it again and update fedbuild's copy")


@pytest.mark.parametrize("ours,doits", SUBCLASSES, ids=lambda c: c.__name__)
def test_every_override_takes_doits_parameters_and_is_in_touched(ours: type, doits: type
                                                                 ) -> None:
    """A method fedbuild overrides is one TOUCHED names, with doit's parameters and defaults
    (doit passes a command's options by the names of its `_execute`'s parameters)."""
    for name, method in vars(ours).items():
        if not callable(method) or not hasattr(doits, name) or name == "__init__":
            continue
        owner = next(c for c in doits.__mro__ if name in vars(c))
        key = f"{owner.__name__}.{name}"
        assert key in doit_compat.TOUCHED, key
        ours_sig = inspect.signature(method).parameters.values()
        doits_sig = inspect.signature(getattr(doits, name)).parameters.values()
        assert [(p.name, p.default) for p in ours_sig] == \
            [(p.name, p.default) for p in doits_sig], key


def test_no_doit_class_is_patched() -> None:
    """After fedbuild's commands and what a dodo imports are loaded, each internal TOUCHED
    names is still doit's own function."""
    import tasks.config  # noqa: F401 (what fedbuild's dodo imports)

    for name, (function, _) in doit_compat.TOUCHED.items():
        owner, attribute = name.split(".")
        now = getattr(getattr(inspect.getmodule(function), owner), attribute)
        assert now.__module__.startswith("doit."), name


def test_the_internals_read_as_attributes_are_there() -> None:
    """Attributes (not functions) fedbuild reads: the dispatcher's queue and nodes, the node's
    generator and status, the sqlite3 backend behind Dependency._in, InvalidCommand's
    not_found, the pdb switch doit's run sets, the clean command's one way into clean_tasks,
    the command's attributes doit's run reads."""
    task = Task("t", [])
    control = FedbuildControl([task], HOOKS)
    control.process(["t"])
    dispatcher = control.task_dispatcher()
    assert isinstance(dispatcher, FedbuildDispatcher)
    assert hasattr(dispatcher, "ready") and hasattr(dispatcher, "nodes")
    assert dispatcher.tasks == {"t": task}
    node = doit_compat.gen_node(dispatcher, "t")
    assert isinstance(node, FedbuildNode) and node.run_status is None and node.task is task
    assert inspect.getgeneratorstate(node.generator) == inspect.GEN_CREATED
    assert doit_compat.gen_node(dispatcher, "t") is None  # doit's: one node a task
    assert doit_compat.explored(dispatcher) == set()
    assert "self._in = self.backend.in_" in inspect.getsource(Dependency.__init__)
    assert doit_compat.TOUCHED["SqliteDB.in_"][0] is SqliteDB.in_
    assert InvalidCommand(not_found="x").not_found == "x"
    assert isinstance(inspect.getattr_static(PythonAction, "pm_pdb"), bool)
    assert "self.clean_tasks(" in inspect.getsource(Clean._execute)
    # what FedbuildRun._execute reads of the command, as doit's Run._execute does
    assert "self.reporters = self.get_reporters()" in inspect.getsource(Run.__init__)
    loads = inspect.getsource(DoitCmdBase.execute)
    assert all(f"self.{name} =" in loads for name in ("task_list", "sel_tasks", "dep_manager"))


def test_an_unknown_task_gets_a_suggestion_from_fedbuilds_control() -> None:
    control = FedbuildControl([Task("build:web", [])], HOOKS)
    with pytest.raises(InvalidCommand, match="did you mean build:web"):
        control.process(["build:wbe"])


def test_a_task_after_failures_is_not_held_by_a_failed_dependency() -> None:
    """The node of a task marked AFTER_FAILURES ignores a failed dependency; others keep it."""
    failed = FedbuildNode(Task("build", []), None)
    failed.run_status = "failure"
    after = FedbuildNode(Task("federate", [], meta={AFTER_FAILURES: True}), None)
    plain = FedbuildNode(Task("test", []), None)
    after.parent_status(failed)
    plain.parent_status(failed)
    assert after.bad_deps == [] and plain.bad_deps == [failed]


@pytest.mark.parametrize("version", [(0, 36, 0), (0, 38, 1), (1, 0, 0)])
def test_another_doit_version_is_one_line_naming_the_supported_one(
        version: tuple[int, ...]) -> None:
    with pytest.raises(doit_compat.UnsupportedDoit) as caught:
        doit_compat.check_version(version)
    line = str(caught.value)
    assert "\n" not in line
    assert "fedbuild supports doit 0.37.x" in line
    assert ".".join(map(str, version)) in line


def test_this_doit_is_supported() -> None:
    doit_compat.check_version()
    doit_compat.check_version((0, 37, 9))


def test_a_dodo_under_another_doit_prints_one_error_line_and_exits_3(tmp_path: Path) -> None:
    """What a user sees: doit prints the InvalidDodoFile's one line, exit code 3."""
    dodo = tmp_path / "dodo.py"
    dodo.write_text("import doit\ndoit.__version__ = (0, 38, 0)\n"
                    "from tasks import doit_compat\n"
                    "doit_compat.check(doit_compat.loading_command())\n"
                    "def task_x():\n    return {'actions': ['true']}\n")
    env_path = f"{REPO}"
    result = subprocess.run([sys.executable, "-m", "doit", "list", "-f", str(dodo)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=60,
                            env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"})
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors == ["ERROR: fedbuild supports doit 0.37.x, but doit 0.38.0 is installed: "
                      "pip install 'doit>=0.37,<0.38'"], result.stderr


def test_the_command_loading_a_dodo_is_found_and_list_info_dumpdb_only_read() -> None:
    from doit.cmd_info import Info
    from doit.cmd_list import List

    def load(self: object) -> object:  # a frame whose `self` is the command, as doit's
        return doit_compat.loading_command()

    # built without doit's arguments: only their classes matter here
    for command, reads in ((List.__new__(List), True), (Info.__new__(Info), True),
                           (RunCommand.__new__(RunCommand), False)):
        assert load(command) is command
        assert doit_compat.reads_only(command) is reads
    assert doit_compat.loading_command() is None
    assert doit_compat.reads_only(None) is False


def test_doits_own_run_and_clean_are_refused_fedbuilds_pass() -> None:
    """doit's own run or clean (fedbuild's not registered) would run without the lock."""
    for doits in (Run, Clean):
        with pytest.raises(doit_compat.UnregisteredCommand, match="pip install fedbuild"):
            doit_compat.check(doits.__new__(doits))
    from doit.cmd_list import List
    from doit.cmd_strace import Strace

    with pytest.raises(doit_compat.UnregisteredCommand, match="use `doit run`"):
        doit_compat.check(Strace.__new__(Strace))
    for fine in (RunCommand, CleanCommand, List):
        doit_compat.check(fine.__new__(fine))
    doit_compat.check(None)


@pytest.mark.parametrize("options", [(), ("-n", "2", "-P", "thread"),
                                     ("-n", "2", "-P", "process")],
                         ids=["serial", "threads", "processes"])
def test_every_runner_runs_each_task_through_the_run_task_hook(tmp_path: Path,
                                                               options: tuple[str, ...]) -> None:
    """doit's run through FedbuildRun, for real: each task runs inside Hooks.run_task, in
    the thread or process running it (a file, so a worker process's calls count too)."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain
    from doit.plugin import PluginDict

    hooked = tmp_path / "hooked"

    def run_task(execute: Callable[[], Any]) -> Any:
        with hooked.open("a") as out:
            out.write("in\n")
        return execute()

    class Hooked(doit_compat.FedbuildRun):
        name = "run"
        hooks = doit_compat.Hooks(HOOKS.next_node, HOOKS.unknown_task, run_task)

    class Main(DoitMain):
        def get_cmds(self) -> PluginDict:
            commands = super().get_cmds()
            commands["run"] = Hooked
            return commands

    dodo = {"DOIT_CONFIG": {"dep_file": str(tmp_path / "db"), "backend": "json",
                            "verbosity": 0, "reporter": "zero"},
            "task_a": lambda: {"actions": [(_touch, [tmp_path / "a"])]},
            "task_b": lambda: {"actions": [(_touch, [tmp_path / "b"])]}}
    assert Main(ModuleTaskLoader(dodo)).run(["run", *options]) == 0
    assert (tmp_path / "a").is_file() and (tmp_path / "b").is_file()
    assert hooked.read_text() == "in\nin\n"


def _touch(path: Path) -> None:
    """A task's action: create `path`."""
    path.touch()
