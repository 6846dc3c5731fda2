"""The run history through real doit runs: the rows each kind of run leaves in history.sqlite3.

Rows are read back with sqlite3, as `doit history` or any other reader would.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    copy_fixture,
    doit_argv,
    edit_manifest,
    eventually,
    run_doit,
    set_module,
)

Repo = Callable[[str], Path]
Row = dict[str, Any]
BUILDS = ["build:alpha", "build:beta", "build:gamma", "federate"]


def runs(repo: Path) -> list[Row]:
    """Every run row, oldest first."""
    return _select(repo, "SELECT * FROM runs ORDER BY id")


def tasks(repo: Path, run_id: int) -> dict[str, Row]:
    """The task rows of one run, by task name."""
    return {row["name"]: row for row in
            _select(repo, "SELECT * FROM tasks WHERE run_id = ? ORDER BY rowid", (run_id,))}


def _select(repo: Path, sql: str, args: tuple[object, ...] = ()) -> list[Row]:
    db = sqlite3.connect(repo / ".fedbuild/history.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        return [dict(row) for row in db.execute(sql, args)]
    finally:
        db.close()


def start_doit(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start doit in the background, output captured."""
    return subprocess.Popen(doit_argv(repo, *args), cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1", **(env or {})})


def stop(proc: subprocess.Popen[str]) -> None:
    """Kill a doit a failed assertion left running."""
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until `condition()` holds, failing the test after `timeout` seconds."""
    if not eventually(condition, timeout):
        pytest.fail("condition not reached in time")


def contains(path: Path, text: str) -> bool:
    """Whether a file that may not exist yet contains `text`."""
    return path.exists() and text in path.read_text()


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity; its output, stripped."""
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org",
         "-c", "init.defaultBranch=main", *args],
        cwd=repo, check=True, capture_output=True, text=True, timeout=30).stdout.strip()


def assert_built(repo: Path, row: Row) -> None:
    """An executed task's row: built, timed, one attempt, its log in the repository."""
    assert row["status"] == "built", row
    assert row["duration"] is not None and row["duration"] >= 0
    assert row["started"] is not None and row["started"] <= row["ended"]
    assert row["attempts"] == 1
    assert Path(row["log"]).is_file()
    assert Path(row["log"]).is_relative_to(repo / ".fedbuild/logs")


# successful runs ----------------------------------------------------------------------------

def test_successful_run_then_up_to_date_run(monorepo: Repo) -> None:
    """A build records a succeeded run and a 'built' row per task; the next run adds a run
    whose tasks are all 'up to date'. Both carry the repository's commit and branch."""
    repo = monorepo("basic")
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fixture")
    commit = git(repo, "rev-parse", "HEAD")

    first = run_doit(repo)
    assert first.returncode == 0, first.stdout + first.stderr
    [run] = runs(repo)
    assert run["status"] == "succeeded"
    assert run["argv"].startswith("doit run ")
    assert run["mode"] == "development"
    assert run["ended"] > run["started"]
    assert (run["git_commit"], run["git_branch"]) == (commit, "main")
    built = tasks(repo, run["id"])
    assert sorted(built) == BUILDS  # (listed in the order they ended)
    for row in built.values():
        assert_built(repo, row)
        assert run["started"] <= row["ended"] <= run["ended"]
    assert built["build:beta"]["log"] == str(repo / ".fedbuild/logs/build/beta.log")
    assert built["build:beta"]["exit_code"] == 0

    second = run_doit(repo)
    assert second.returncode == 0, second.stdout + second.stderr
    old, new = runs(repo)
    assert old == run  # the first run's row is left as it was
    assert new["status"] == "succeeded" and new["id"] > run["id"]
    assert new["started"] >= run["ended"]
    assert (new["git_commit"], new["git_branch"]) == (commit, "main")
    current = tasks(repo, new["id"])
    assert sorted(current) == BUILDS
    assert {row["status"] for row in current.values()} == {"up to date"}
    assert len(_select(repo, "SELECT * FROM tasks")) == 2 * len(BUILDS)


def test_production_mode_is_recorded(monorepo: Repo) -> None:
    """`mode=production` is the run's mode; the argv has it too; no git, no commit."""
    repo = monorepo("basic")
    result = run_doit(repo, "mode=production")
    assert result.returncode == 0, result.stdout + result.stderr
    [run] = runs(repo)
    assert (run["mode"], run["status"]) == ("production", "succeeded")
    assert run["argv"].startswith("doit run ") and run["argv"].endswith(" mode=production")
    assert (run["git_commit"], run["git_branch"]) == (None, None)
    assert {row["status"] for row in tasks(repo, run["id"]).values()} == {"built"}


# failed, timed out, interrupted ---------------------------------------------------------------

def test_failed_module_fails_the_run_with_its_exit_code_and_log(monorepo: Repo) -> None:
    """beta's build exits 7: the run is 'failed', beta's row has the exit code, the log and
    the message; the other modules were still built."""
    repo = monorepo("basic")
    set_module(repo, "beta", env={"BEHAVIOR": "fail"})
    result = run_doit(repo)
    assert result.returncode != 0
    [run] = runs(repo)
    assert run["status"] == "failed" and run["ended"] > run["started"]
    rows = tasks(repo, run["id"])
    beta = rows["build:beta"]
    assert (beta["status"], beta["exit_code"], beta["attempts"]) == ("failed", 7, 1)
    assert beta["log"] == str(repo / ".fedbuild/logs/build/beta.log")
    assert "broke" in Path(beta["log"]).read_text()
    assert "exit code 7" in beta["message"]
    assert beta["duration"] is not None
    assert_built(repo, rows["build:alpha"])
    assert_built(repo, rows["build:gamma"])


def test_timed_out_step_is_recorded_as_timed_out(monorepo: Repo) -> None:
    """A build past its timeout: 'timed out'. A module build's build_timeout is at least 30 s,
    so this uses the steps fixture's hang:trouble (timeout 1 s), as test_steps.py does."""
    repo = monorepo("steps")
    started = time.monotonic()
    result = run_doit(repo, "hang:trouble")
    assert result.returncode != 0
    assert time.monotonic() - started < 30
    [run] = runs(repo)
    assert run["status"] == "failed"
    assert run["argv"].endswith(" hang:trouble")
    [(name, row)] = tasks(repo, run["id"]).items()
    assert (name, row["status"]) == ("hang:trouble", "timed out")
    assert row["duration"] >= 1
    assert "timed out after 1s" in row["message"]
    assert row["log"] == str(repo / ".fedbuild/logs/hang/trouble.log")
    assert Path(row["log"]).is_file()


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_is_recorded_as_interrupted(monorepo: Repo,
                                                    signum: signal.Signals) -> None:
    """A signal while beta's build hangs: the run's row is ended and says 'interrupted';
    alpha, built before it, keeps its row; beta, stopped, and gamma, never started, say
    'interrupted'."""
    repo = monorepo("basic")
    set_module(repo, "beta", env={"BEHAVIOR": "hang"})
    edit_manifest(repo, lambda m: m["federation"].update(build_settings={"parallel": False}))
    proc = start_doit(repo)  # one at a time: gamma waits behind beta
    try:
        wait_for(lambda: contains(repo / ".fedbuild/logs/build/beta.log", "hanging"))
        proc.send_signal(signum)
        _out, err = proc.communicate(timeout=30)
    finally:
        stop(proc)
    assert proc.returncode != 0
    assert "interrupted" in err
    [run] = runs(repo)
    assert run["ended"] is not None and run["ended"] > run["started"]
    rows = tasks(repo, run["id"])
    assert_built(repo, rows["build:alpha"])
    assert rows["build:beta"]["status"] == "interrupted"
    assert rows["build:beta"]["started"] is not None
    assert rows["build:gamma"]["status"] == "interrupted"
    assert rows["build:gamma"]["started"] is None
    assert rows["build:gamma"]["message"] == "not started"
    assert run["status"] == "interrupted"


# concurrent and consecutive runs --------------------------------------------------------------

def test_concurrent_runs_in_two_repositories_are_independent(tmp_path: Path) -> None:
    """Two repositories built at the same time: each history has its own run, its own
    process and its own tasks' logs. Each one's alpha waits until the other run has started
    a build (the fixture's gate on the other's runs log), so the runs cannot help but
    overlap, however loaded the machine."""
    repos = [copy_fixture("basic", tmp_path / name) for name in ("one", "two")]
    logs = [tmp_path / f"{name}.log" for name in ("one", "two")]
    for repo, other in zip(repos, reversed(logs), strict=True):
        set_module(repo, "alpha", env={"BEHAVIOR": "gate", "GATE_FILE": str(other)})
    procs = [start_doit(repo, env={"RUNS_LOG": str(log)})
             for repo, log in zip(repos, logs, strict=True)]
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, out + err
    found = []
    for repo, proc in zip(repos, procs, strict=True):
        [run] = runs(repo)
        assert run["status"] == "succeeded" and run["pid"] == proc.pid
        assert f"-d {repo}" in run["argv"]
        rows = tasks(repo, run["id"])
        assert sorted(rows) == BUILDS  # (listed in the order they ended)
        for row in rows.values():
            assert_built(repo, row)
        found.append(run)
    one, two = found
    assert one["started"] < two["ended"] and two["started"] < one["ended"]  # side by side


def test_second_run_waiting_for_the_lock_is_recorded_after_the_first(monorepo: Repo,
                                                                     tmp_path: Path) -> None:
    """A second run started with lock_wait while the first builds: two runs, in order, the
    second begun after the first ended, its tasks up to date."""
    repo = monorepo("basic")
    log = tmp_path / "runs.log"
    set_module(repo, "alpha", env={"BEHAVIOR": "slow", "SLOW_SECONDS": "1"})
    first = start_doit(repo, env={"RUNS_LOG": str(log)})
    try:
        wait_for(lambda: contains(log, "alpha start"))
        second = run_doit(repo, "lock_wait=60")
        out, err = first.communicate(timeout=60)
    finally:
        stop(first)
    assert first.returncode == 0, out + err
    assert second.returncode == 0, second.stdout + second.stderr
    old, new = runs(repo)
    assert (old["pid"], old["status"]) == (first.pid, "succeeded")
    assert new["status"] == "succeeded" and new["argv"].endswith(" lock_wait=60")
    assert old["id"] < new["id"] and old["ended"] <= new["started"] < new["ended"]
    assert {row["status"] for row in tasks(repo, old["id"]).values()} == {"built"}
    assert {row["status"] for row in tasks(repo, new["id"]).values()} == {"up to date"}
