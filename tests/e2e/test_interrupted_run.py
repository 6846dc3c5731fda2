"""A run stopped by a signal, through real doit: the task stopped while it ran and the tasks
never started say `interrupted` (never `skipped`) in the progress lines, the summary table,
the history and summary.json; the federation line says federate did not run; the exit code
is 128 + the signal (130 for SIGINT, 143 for SIGTERM). And a publish stopped halfway says it
kept the old tree."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import doit_argv, eventually, run_doit, set_module
from tests.e2e.test_publish_interrupt import ASSEMBLING, Publish, assert_whole, write_version

Repo = Callable[[str], Path]


def history_rows(repo: Path) -> dict[str, str]:
    """The last run's task statuses, by task name."""
    db = sqlite3.connect(repo / ".fedbuild/history.sqlite3")
    try:
        rows = db.execute("SELECT name, status FROM tasks WHERE run_id = "
                          "(SELECT MAX(id) FROM runs)").fetchall()
    finally:
        db.close()
    return dict(rows)


def summary_statuses(repo: Path) -> dict[str, str]:
    """The latest run's summary.json task statuses, by task name."""
    latest = json.loads((repo / ".fedbuild/runs/latest.json").read_text())
    data = json.loads((repo / ".fedbuild/runs" / latest["summary"]).read_text())
    return {t["name"]: t["status"] for t in data["tasks"]}


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)],
                         ids=["SIGINT", "SIGTERM"])
def test_interrupted_tasks_say_interrupted_and_the_exit_code_names_the_signal(
        monorepo: Repo, signum: signal.Signals, code: int) -> None:
    repo = monorepo("basic")
    set_module(repo, "beta", env={"BEHAVIOR": "hang"})
    proc = subprocess.Popen(doit_argv(repo, "build:beta", "federate"), cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1"})
    try:
        log = repo / ".fedbuild/logs/build/beta.log"
        assert eventually(lambda: log.exists() and "hanging" in log.read_text(), timeout=60)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == code, out + err
    lines = out.splitlines()
    # progress lines and table rows: build:beta stopped while running, the rest not started
    assert any(line.startswith("[") and "build:beta interrupted" in line for line in lines), out
    for name in ("build:beta", "federate"):
        row = next(line for line in lines if line.startswith(f"{name} ") and "  " in line)
        assert row.split()[1] == "interrupted", out
    assert " skipped" not in out, out
    assert ("federation: not run (the run was interrupted); the published tree was left as "
            "it was") in out
    assert history_rows(repo)["build:beta"] == "interrupted"
    assert history_rows(repo)["federate"] == "interrupted"
    assert summary_statuses(repo)["build:beta"] == "interrupted"
    assert summary_statuses(repo)["federate"] == "interrupted"


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["serial", "two-threads"])
def test_a_publish_stopped_halfway_says_it_kept_the_old_tree(monorepo: Repo,
                                                             args: tuple[str, ...]) -> None:
    """SIGINT while federate assembles the new tree (the run frozen there when the signal is
    sent): the old tree stays published, federate says `interrupted` and the federation
    line `kept old tree` (with workers too, where federate runs in a thread and stops at its
    next file)."""
    repo = monorepo("pages")
    write_version(repo, 0)
    first = run_doit(repo)
    assert first.returncode == 0, first.stdout + first.stderr
    write_version(repo, 1)
    with Publish(repo, *args) as run:
        assert run.stop_at(ASSEMBLING, signal.SIGINT) == ASSEMBLING
        out = run.finish()
    assert assert_whole(repo / "public") == "0"
    assert run.proc.returncode == 130, out
    row = next(line for line in out.splitlines() if line.startswith("federate "))
    assert row.split()[1] == "interrupted", out
    assert "federation: kept old tree public/: interrupted" in out, out
    assert "federation: not run" not in out
    assert history_rows(repo)["federate"] == "interrupted"
    assert summary_statuses(repo)["federate"] == "interrupted"


def test_when_every_site_module_fails_nothing_is_published(monorepo: Repo) -> None:
    """No module built: federate does not publish an empty tree; with no tree yet it makes
    none, with one it keeps it byte for byte, and the federation line says which."""
    repo = monorepo("basic")
    for name in ("alpha", "beta", "gamma"):
        set_module(repo, name, env={"BEHAVIOR": "fail"})
    result = run_doit(repo)
    assert result.returncode == 1, result.stdout + result.stderr
    assert not (repo / "public").exists(), sorted(p.name for p in (repo / "public").rglob("*"))
    assert "federation: not published public/: no site module built" in result.stdout
    assert "published public/ (" not in result.stdout

    for name in ("alpha", "beta", "gamma"):
        set_module(repo, name, env={})
    assert run_doit(repo).returncode == 0
    before = {p.relative_to(repo): p.read_bytes() for p in (repo / "public").rglob("*")
              if p.is_file()}
    for name in ("alpha", "beta", "gamma"):
        set_module(repo, name, env={"BEHAVIOR": "fail"})
    result = run_doit(repo)
    assert result.returncode == 1
    after = {p.relative_to(repo): p.read_bytes() for p in (repo / "public").rglob("*")
             if p.is_file()}
    assert after == before
    assert "federation: kept old tree public/: no site module built" in result.stdout, \
        result.stdout
