"""Failing and noisy builds: clear messages, last good output kept, nothing left over.

A build past its timeout (its whole process tree killed) is tests/e2e/test_steps.py's
hang:trouble, 1 s: a site build is the same step, but its build_timeout is at least 30 s, and
a test waiting that out kept a worker idle for half a minute; test_plan.py checks that
build_timeout becomes the site build's timeout, and test_interrupt_and_lock.py kills site
builds' trees, a process in a session of its own included."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_command, run_doit, set_module

Repo = Callable[[str], Path]


def set_settings(repo: Path, **settings: object) -> None:
    """Update federation.build_settings in modules.json."""
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["federation"].setdefault("build_settings", {}).update(settings)
    (repo / "modules.json").write_text(json.dumps(manifest, indent=2))


def tmp_leftovers(repo: Path) -> list[Path]:
    """Whatever is left in the temporary build folder."""
    tmp = repo / ".fedbuild" / "tmp"
    return list(tmp.iterdir()) if tmp.exists() else []


def test_failure_reports_command_exit_code_and_log_tail(monorepo: Repo) -> None:
    """A failing build fails the run with the command, its exit code and its last lines."""
    repo = monorepo("basic")
    set_module(repo, "beta", env={"BEHAVIOR": "fail"})
    result = run_doit(repo)
    assert result.returncode != 0
    out = result.stdout
    assert "build:beta failed" in out
    assert "scripts/build.sh --config modules/beta/module.json" in out
    assert "exit code 7" in out
    assert "error: the build of beta broke" in out
    assert "build:alpha ok" in out and "build:gamma ok" in out  # the others still finish
    assert tmp_leftovers(repo) == []
    assert "broke" in (repo / ".fedbuild/logs/build/beta.log").read_text()


@pytest.mark.parametrize("workers", [[], ["-n", "2", "-P", "process"]],
                         ids=["serial", "process-workers"])
def test_a_retried_site_build_is_flaky_like_a_step(monorepo: Repo, tmp_path: Path,
                                                   workers: list[str]) -> None:
    """A site build that passes on its second attempt says so as a toolchain step does:
    `flaky (passed on attempt 2)` on its line, in the summary and in the history; a failed
    one names its log. Its outcome comes back in what its action returns, also from `-P
    process` workers."""
    repo = monorepo("basic")
    set_module(repo, "beta", retries=1,
               env={"BEHAVIOR": "flaky", "FLAKY_MARK": str(tmp_path / "tried")})
    set_module(repo, "gamma", env={"BEHAVIOR": "fail"})
    result = run_doit(repo, *workers, "build:beta", "build:gamma")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "build:beta flaky" in result.stdout
    assert "(passed on attempt 2)" in result.stdout
    assert "2 tasks: 1 flaky, 1 failed" in result.stdout
    gamma = next(line for line in result.stdout.splitlines() if line.startswith("build:gamma "))
    assert gamma.split()[1:2] == ["failed"] and gamma.endswith(".fedbuild/logs/build/gamma.log")
    history = run_command(repo, "history", "--run", "1")
    assert "1 flaky, 1 failed" in history.stdout, history.stdout


def test_failed_build_keeps_the_last_good_output(monorepo: Repo) -> None:
    """A build that fails after writing half its output never replaces the staged one."""
    repo = monorepo("basic")
    assert run_doit(repo).returncode == 0
    good = (repo / ".fedbuild/staging/alpha/index.html").read_text()
    (repo / "modules/alpha/content/one.md").write_text("changed\n")
    set_module(repo, "alpha", env={"BEHAVIOR": "partial"})
    assert run_doit(repo).returncode != 0
    assert (repo / ".fedbuild/staging/alpha/index.html").read_text() == good
    assert tmp_leftovers(repo) == []
    set_module(repo, "alpha", env={})
    result = run_doit(repo)
    assert "build:alpha ok" in result.stdout


def test_exit_zero_without_output_is_a_failure(monorepo: Repo) -> None:
    """A build script that succeeds but writes nothing has not built the module."""
    repo = monorepo("basic")
    set_module(repo, "gamma", env={"BEHAVIOR": "empty"})
    result = run_doit(repo, "build:gamma")
    assert result.returncode != 0
    assert "exited 0 but wrote nothing to --output" in result.stdout


def test_skip_on_error_does_not_fail_the_run_and_retries_next_time(monorepo: Repo) -> None:
    """skip_on_error: exit 0, marked failed (tolerated), and not treated as up to date."""
    repo = monorepo("basic")
    set_module(repo, "beta", env={"BEHAVIOR": "fail"}, build_options={"skip_on_error": True})
    first = run_doit(repo)
    assert first.returncode == 0, first.stdout
    assert "failed (tolerated)" in first.stdout
    second = run_doit(repo)
    assert "build:beta up to date" not in second.stdout
    assert "build:alpha up to date" in second.stdout


def test_fail_fast_starts_no_module_after_a_failure(monorepo: Repo) -> None:
    """With fail_fast, the first failure stops the run; later modules are reported skipped."""
    repo = monorepo("basic")
    set_settings(repo, fail_fast=True, parallel=False)  # one at a time: nothing beside alpha
    set_module(repo, "alpha", env={"BEHAVIOR": "fail"}, build_options={"priority": 90})
    result = run_doit(repo, env={"RUNS_LOG": str(repo / "runs.log")})
    assert result.returncode != 0
    assert started_builds(repo) == ["alpha"]
    summary = result.stdout.split("task ", 1)[1]
    assert "build:beta" in summary and "skipped" in summary


def started_builds(repo: Path) -> list[str]:
    """The modules whose build.sh started, in order (the fixture's runs log), then forgotten."""
    log = repo / "runs.log"
    started = [ln.split()[0] for ln in log.read_text().splitlines() if " start " in ln]
    log.unlink()
    return started


def test_continue_and_fail_fast_on_the_command_line_win_over_the_manifest(
        monorepo: Repo) -> None:
    """`doit continue=true` builds every module despite the manifest's fail_fast;
    `doit fail_fast=true` stops at the first failure of a manifest that continues; a value
    that is not true or false is one line, exit 3, and nothing runs."""
    repo = monorepo("basic")
    set_settings(repo, fail_fast=True, parallel=False)
    set_module(repo, "alpha", env={"BEHAVIOR": "fail"}, build_options={"priority": 90})
    env = {"RUNS_LOG": str(repo / "runs.log")}
    kept_on = run_doit(repo, "continue=true", env=env)
    assert kept_on.returncode != 0
    started = started_builds(repo)
    assert started[0] == "alpha" and sorted(started) == ["alpha", "beta", "gamma"]
    set_settings(repo, fail_fast=False)
    stopped = run_doit(repo, "fail_fast=true", env=env)
    assert stopped.returncode != 0
    assert started_builds(repo) == ["alpha"]
    wrong = run_doit(repo, "fail_fast=ture", env=env)
    assert wrong.returncode == 3
    assert wrong.stderr == ("ERROR: command line: fail_fast: 'ture' is not true or false; "
                            "use fail_fast=true or fail_fast=false\n")
    assert not (repo / "runs.log").exists()


def test_megabytes_of_output_go_to_the_log_whole(monorepo: Repo) -> None:
    """A build printing ~5 MB neither blocks nor floods the terminal; the log has every line."""
    repo = monorepo("basic")
    set_module(repo, "beta", env={"BEHAVIOR": "spam"})
    result = run_doit(repo, "build:beta")
    assert result.returncode == 0
    assert len(result.stdout) < 5000
    log = (repo / ".fedbuild/logs/build/beta.log").read_text()
    assert "line 000000" in log and "line 059999" in log
    assert log.count("\nline ") == 60000


def test_retries_report_attempts(monorepo: Repo, tmp_path: Path) -> None:
    """A module with retries that fails every time reports how many attempts it made."""
    repo = monorepo("basic")
    set_module(repo, "beta", env={"BEHAVIOR": "fail"}, retries=1)
    result = run_doit(repo, "build:beta", env={"RUNS_LOG": str(tmp_path / "runs")})
    assert result.returncode != 0
    assert "attempt 2/2" in result.stdout
    assert (tmp_path / "runs").read_text().count("beta start") == 2
