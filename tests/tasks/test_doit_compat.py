"""tasks/doit_compat.py fits the doit it reaches into: every internal it touches has the
signature it relies on, its wrappers take the same parameters, and another doit version is
refused with one line."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest
from doit.cmd_clean import Clean
from doit.cmd_run import Run
from doit.control import ExecNode, TaskControl, TaskDispatcher
from doit.dependency import Dependency, SqliteDB
from doit.exceptions import InvalidCommand
from doit.runner import Runner
from doit.task import Task

from tasks import doit_compat
from tasks.commands.run import install_doit_hooks

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(doit_compat.TOUCHED))
def test_every_touched_internal_has_the_signature_fedbuild_relies_on(name: str) -> None:
    function, expected = doit_compat.TOUCHED[name]
    assert str(inspect.signature(doit_compat.original(name))) == expected
    assert function is doit_compat.original(name)


def test_install_puts_every_wrapper_in_place_and_each_takes_doits_parameters() -> None:
    install_doit_hooks()
    install_doit_hooks()  # idempotent: still wraps doit's own, not itself
    wrapped = {"ExecNode.parent_status": ExecNode.parent_status,
               "TaskDispatcher._get_next_node": TaskDispatcher._get_next_node,
               "TaskControl._filter_tasks": TaskControl._filter_tasks,
               "Run._execute": Run._execute,
               "Clean.clean_tasks": Clean.clean_tasks,
               "Clean._execute": Clean._execute,
               "Task.clean": Task.clean,
               "Runner.execute_task": Runner.execute_task}
    for name, function in wrapped.items():
        assert function is not doit_compat.original(name)
        assert list(inspect.signature(function).parameters) == list(
            inspect.signature(doit_compat.original(name)).parameters), name


def test_the_internals_read_as_attributes_are_there() -> None:
    """Attributes (not functions) fedbuild reads: the dispatcher's queue and nodes, the node's
    generator and status, the sqlite3 backend behind Dependency._in, InvalidCommand's
    not_found, the clean command's one way into clean_tasks."""
    task = Task("t", [])
    control = TaskControl([task])
    control.process(["t"])
    dispatcher = control.task_dispatcher()
    assert hasattr(dispatcher, "ready") and hasattr(dispatcher, "nodes")
    assert dispatcher.tasks == {"t": task}
    node = doit_compat.gen_node(dispatcher, "t")
    assert node is not None and node.run_status is None and node.task is task
    assert inspect.getgeneratorstate(node.generator) == inspect.GEN_CREATED
    assert doit_compat.explored(dispatcher) == set()
    assert "self._in = self.backend.in_" in inspect.getsource(Dependency.__init__)
    assert SqliteDB.in_ is doit_compat.original("SqliteDB.in_")
    assert InvalidCommand(not_found="x").not_found == "x"
    assert "self.clean_tasks(" in inspect.getsource(doit_compat.original("Clean._execute"))


def test_an_unknown_task_gets_a_suggestion_through_the_wrapped_filter() -> None:
    install_doit_hooks()
    control = TaskControl([Task("build:web", [])])
    with pytest.raises(InvalidCommand, match="did you mean build:web"):
        control.process(["build:wbe"])


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
                    "from tasks.commands.run import install_doit_hooks\ninstall_doit_hooks()\n"
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


def test_fedbuilds_run_command_takes_the_options_of_doits_run() -> None:
    """doit passes `_execute` its options by the names of its parameters."""
    from tasks.commands.run import RunCommand

    assert list(inspect.signature(RunCommand._execute).parameters) == list(
        inspect.signature(doit_compat.original("Run._execute")).parameters)
    assert [p.default for p in inspect.signature(RunCommand._execute).parameters.values()] \
        == [p.default for p in inspect.signature(
            doit_compat.original("Run._execute")).parameters.values()]


def test_the_command_loading_a_dodo_is_found_and_list_info_dumpdb_only_read() -> None:
    from doit.cmd_info import Info
    from doit.cmd_list import List

    from tasks.commands.run import RunCommand

    def load(self: object) -> object:  # a frame whose `self` is the command, as doit's
        return doit_compat.loading_command()

    # built without doit's arguments: only their classes matter here
    for command, reads in ((List.__new__(List), True), (Info.__new__(Info), True),
                           (RunCommand.__new__(RunCommand), False)):
        assert load(command) is command
        assert doit_compat.reads_only(command) is reads
    assert doit_compat.loading_command() is None
    assert doit_compat.reads_only(None) is False
