"""fedbuild's run command owns the run: the lock, the history and the run files are there
whatever reporter shows it (`--reporter=json`, `--reporter=console`), whether doit finds
fedbuild's `run` (tasks/commands/run.py) through a pyproject.toml or through the installed
package's entry points (started where no pyproject.toml registers it); doit's own `run`
(fedbuild not installed) is refused; `doit list`, `info`, `help` create nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DODO, REPO, run_command, run_doit
from tests.e2e.test_interrupt_and_lock import lines, set_env, wait_for

Repo = Callable[[str], Path]


REGISTERED = """[tool.doit.plugins.command]
run = "fedbuild_doit:RunCommand"
"""
# This checkout's fedbuild_doit (whatever copy is installed), which imports this checkout's code
CHECKOUTS_FEDBUILD_DOIT = str(REPO / "tasks" / "commands" / "install")


def plugin_folder(tmp_path: Path) -> Path:
    """A folder whose pyproject.toml registers fedbuild's run command as doit's `run`, as
    fedbuild's own pyproject.toml will (doit reads command plugins from the folder it starts
    in)."""
    folder = tmp_path / "registered"
    folder.mkdir(exist_ok=True)
    (folder / "pyproject.toml").write_text(REGISTERED)
    return folder


def start(repo: Path, *args: str, fedbuilds: bool, env: dict[str, str]
          ) -> subprocess.Popen[str]:
    """Start `doit run ARGS` on `repo`: fedbuild's run command, registered by a
    pyproject.toml, or (started in the repository) by the installed package's entry point."""
    argv = [sys.executable, "-m", "doit", "run", "-f", str(DODO), "-d", str(repo), *args]
    where = plugin_folder(repo.parent) if fedbuilds else repo
    path = os.pathsep.join(p for p in (CHECKOUTS_FEDBUILD_DOIT, os.environ.get("PYTHONPATH"))
                           if p)
    return subprocess.Popen(argv, cwd=where, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1", "PYTHONPATH": path, **env})


@pytest.mark.parametrize("fedbuilds", [True, False], ids=["pyproject", "entry-point"])
def test_a_registered_run_is_fedbuilds(tmp_path: Path, fedbuilds: bool) -> None:
    """What the cases below start is fedbuild's run command, and fedbuild's clean, wherever
    doit starts."""
    path = os.pathsep.join(p for p in (CHECKOUTS_FEDBUILD_DOIT, os.environ.get("PYTHONPATH"))
                           if p)
    where = plugin_folder(tmp_path) if fedbuilds else tmp_path
    shown = subprocess.run([sys.executable, "-m", "doit", "help"], cwd=where,
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "PYTHONPATH": path})
    assert "in a fedbuild run session" in shown.stdout, shown.stdout + shown.stderr
    if not fedbuilds:
        usage = subprocess.run([sys.executable, "-m", "doit", "help", "clean"], cwd=where,
                               capture_output=True, text=True, timeout=60,
                               env={**os.environ, "PYTHONPATH": path})
        assert " clean [TASK ...]" in usage.stdout, usage.stdout + usage.stderr


ONLY_DOITS_COMMANDS = """
import sys
from doit.doit_cmd import DoitMain
from doit.plugin import PluginDict


class WithoutPlugins(DoitMain):
    def get_cmds(self):
        commands = PluginDict()
        for command in self.DOIT_CMDS:
            commands[command.get_name()] = command
        return commands


sys.exit(WithoutPlugins().run(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", ["run", "clean"])
def test_doits_own_run_or_clean_is_refused_in_one_line(monorepo: Repo, tmp_path: Path,
                                                       command: str) -> None:
    """Where fedbuild's commands are not registered (fedbuild not installed), doit's own
    `run` or `clean` would work without the lock and the history: one line, exit 3, nothing
    built or removed."""
    repo = monorepo("basic")
    script = tmp_path / "doit_alone.py"
    script.write_text(ONLY_DOITS_COMMANDS)
    result = subprocess.run([sys.executable, str(script), command, "-f", str(DODO), "-d",
                             str(repo)], cwd=repo, capture_output=True, text=True, timeout=60,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"ERROR: doit runs its own `{command}`, not fedbuild's (fedbuild_doit is not "
        "installed): pip install fedbuild, or start doit in a fedbuild checkout"]
    assert not (repo / "dist").exists()


def history_rows(repo: Path) -> list[str]:
    """The rows of `doit history` (run from this checkout, where the command is registered)."""
    result = run_command(repo, "history")
    assert result.returncode == 0, result.stdout + result.stderr
    return [line for line in result.stdout.splitlines()[1:] if line.strip()]


@pytest.mark.parametrize("fedbuilds", [True, False], ids=["pyproject", "entry-point"])
@pytest.mark.parametrize("reporter", ["json", "console"])
def test_any_reporter_holds_the_lock_and_records_the_run(monorepo: Repo, tmp_path: Path,
                                                         reporter: str,
                                                         fedbuilds: bool) -> None:
    repo = monorepo("basic")
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    set_env(repo, {"BEHAVIOR": "gate", "GATE_FILE": str(gate)}, ("alpha",))
    first = start(repo, f"--reporter={reporter}", fedbuilds=fedbuilds,
                  env={"RUNS_LOG": str(runs)})
    wait_for(lambda: "start" in lines(runs))

    second = run_doit(repo)  # the usual run, refused with the usual line
    gate.touch()  # alpha (and the first run) goes on only now, however slow the second was

    assert second.returncode == 2, second.stdout + second.stderr
    assert "another fedbuild run holds" in second.stdout
    assert f"pid {first.pid}" in second.stdout
    assert "lock_wait=SECONDS" in second.stdout
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    if reporter == "json":  # the display is doit's: nothing but its JSON on stdout
        assert {t["name"]: t["result"] for t in json.loads(out)["tasks"]}["build:alpha"] \
            == "success"
    else:
        assert "build:alpha" in out and "run files:" not in out
    rows = history_rows(repo)
    assert len(rows) == 1 and f"--reporter={reporter}" in rows[0] and "succeeded" in rows[0]
    runs_folder = repo / ".fedbuild/runs"
    summary = json.loads((runs_folder / json.loads(
        (runs_folder / "latest.json").read_text())["summary"]).read_text())
    assert f"--reporter={reporter}" in summary["argv"] and summary["status"] == "succeeded"
    assert "build:alpha" in {t["name"] for t in summary["tasks"]}
    assert not (repo / ".fedbuild/lock").read_text().strip()  # released


def test_a_json_run_refused_by_a_held_lock_says_so_and_records_nothing(monorepo: Repo,
                                                                      tmp_path: Path) -> None:
    repo = monorepo("basic")
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    set_env(repo, {"BEHAVIOR": "gate", "GATE_FILE": str(gate)}, ("alpha",))
    first = start(repo, fedbuilds=False, env={"RUNS_LOG": str(runs)})
    wait_for(lambda: "start" in lines(runs))

    second = start(repo, "--reporter=json", fedbuilds=True, env={})
    out, _ = second.communicate(timeout=60)
    gate.touch()  # the first run's alpha goes on only now

    assert second.returncode == 2
    assert "another fedbuild run holds" in out
    first.communicate(timeout=60)
    assert len(history_rows(repo)) == 1


def files_under(folder: Path) -> set[str]:
    """Every file and folder under `folder`, relative to it."""
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


@pytest.mark.parametrize("command", [("list",), ("list", "--all"), ("info", "build:alpha"),
                                     ("help",), ("help", "run")])
def test_list_info_and_help_create_nothing(monorepo: Repo, command: tuple[str, ...]) -> None:
    repo = monorepo("basic")
    before = files_under(repo)

    if command[0] == "help":  # doit's help loads no dodo: run it in the repository
        result = subprocess.run([sys.executable, "-m", "doit", *command], cwd=repo,
                                capture_output=True, text=True, timeout=60, check=False)
    else:
        result = run_doit(repo, *command)

    # doit's `info` exits 1 for a task that is not up to date (none is, here)
    assert result.returncode == (1 if command[0] == "info" else 0), result.stdout + result.stderr
    assert "ERROR" not in result.stdout + result.stderr
    assert files_under(repo) == before
    assert not (repo / ".fedbuild").exists()


def test_list_and_info_read_the_state_a_run_left(monorepo: Repo) -> None:
    repo = monorepo("basic")
    assert run_doit(repo, "build:alpha").returncode == 0
    before = files_under(repo)

    info = run_doit(repo, "info", "build:alpha")
    listed = run_doit(repo, "list", "--status")

    assert "up-to-date" in info.stdout.lower() or "up to date" in info.stdout.lower(), \
        info.stdout
    assert "U build:alpha" in listed.stdout, listed.stdout
    assert "R build:beta" in listed.stdout, listed.stdout
    assert files_under(repo) == before
