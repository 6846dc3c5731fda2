"""Interrupted runs leave nothing behind; one run at a time per repository."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import doit_argv, eventually, run_doit

Repo = Callable[[str], Path]


def set_env(repo: Path, env: dict[str, str], modules: tuple[str, ...] = ("alpha", "beta",
                                                                          "gamma")) -> None:
    """Give the named modules this `env` in modules.json."""
    manifest = json.loads((repo / "modules.json").read_text())
    for module in manifest["modules"]:
        if module["name"] in modules:
            module["env"] = env
    (repo / "modules.json").write_text(json.dumps(manifest, indent=2))


def start_doit(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start doit in the background, output captured."""
    return subprocess.Popen(doit_argv(repo, *args), cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1", **(env or {})})


def waits_on(proc: subprocess.Popen[str], lock: Path) -> bool:
    """Whether `proc` has the lock file open: it is polling for the lock another run holds."""
    try:
        return any(f.path == str(lock) for f in psutil.Process(proc.pid).open_files())
    except psutil.Error:
        return False


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait until `condition()` holds, failing the test after `timeout` seconds."""
    if not eventually(condition, timeout):
        pytest.fail("condition not reached in time")


def lines(path: Path) -> list[str]:
    """The lines of a file that may not exist yet."""
    return path.read_text().split() if path.exists() else []


def alive(pids: list[int]) -> list[int]:
    """Which of these processes still run (zombies count as dead)."""
    return [p for p in pids if psutil.pid_exists(p)
            and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def staged_files(repo: Path) -> dict[str, str]:
    """Every staged output file and its content."""
    root = repo / ".fedbuild/staging"
    return {str(p.relative_to(root)): p.read_text() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(("par_type", "signum"), [("thread", signal.SIGINT),
                                                  ("process", signal.SIGINT),
                                                  ("thread", signal.SIGTERM)])
def test_interrupt_kills_every_build_and_keeps_last_good_outputs(
        monorepo: Repo, tmp_path: Path, par_type: str, signum: signal.Signals) -> None:
    """A signal to `doit -n 2` stops both builds' whole trees, removes temporary folders."""
    repo = monorepo("basic")
    assert run_doit(repo).returncode == 0
    before = staged_files(repo)
    pids = tmp_path / "pids"
    set_env(repo, {"BEHAVIOR": "spawn", "PIDS_FILE": str(pids)})
    proc = start_doit(repo, "-n", "2", "-P", par_type)
    wait_for(lambda: len(lines(pids)) == 6)  # two builds, three processes each
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert "Traceback" not in err, err
    assert "interrupted" in err
    spawned = [int(p) for p in lines(pids)]
    wait_for(lambda: alive(spawned) == [], timeout=5)
    assert list((repo / ".fedbuild/tmp").iterdir()) == []
    assert staged_files(repo) == before
    assert not (repo / ".fedbuild/lock").read_text().strip()  # released


def test_second_run_stops_at_once_naming_the_holder(monorepo: Repo, tmp_path: Path) -> None:
    """While a run holds the repository, another one exits at once with who and since when."""
    repo = monorepo("basic")
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    set_env(repo, {"BEHAVIOR": "gate", "GATE_FILE": str(gate)}, ("alpha",))
    first = start_doit(repo, env={"RUNS_LOG": str(runs)})
    try:
        wait_for(lambda: "alpha start" in runs.read_text() if runs.exists() else False)
        second = run_doit(repo)
        assert first.poll() is None  # alpha waits for the gate: the second did not wait
    finally:
        gate.touch()
    assert second.returncode != 0
    assert "another fedbuild run holds" in second.stdout
    assert f"pid {first.pid}" in second.stdout
    assert "lock_wait=SECONDS" in second.stdout
    out, _ = first.communicate(timeout=60)
    assert first.returncode == 0, out
    third = run_doit(repo)
    assert third.stdout.count("up to date") >= 3  # the first run's results were all saved


def test_lock_wait_waits_for_the_other_run(monorepo: Repo, tmp_path: Path) -> None:
    """With lock_wait=SECONDS the second run waits, then finds everything up to date."""
    repo = monorepo("basic")
    runs, gate = tmp_path / "runs", tmp_path / "gate"
    set_env(repo, {"BEHAVIOR": "gate", "GATE_FILE": str(gate)}, ("alpha",))
    first = start_doit(repo, env={"RUNS_LOG": str(runs)})
    try:
        wait_for(lambda: "alpha start" in runs.read_text() if runs.exists() else False)
        second = start_doit(repo, "lock_wait=60")
        wait_for(lambda: waits_on(second, repo / ".fedbuild/lock") or second.poll() is not None)
        assert second.poll() is None  # it waits while the first run is held at the gate
    finally:
        gate.touch()
    first.communicate(timeout=60)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, out + err
    assert "build:alpha up to date" in out


def test_lock_of_a_killed_run_is_taken_over(monorepo: Repo, tmp_path: Path) -> None:
    """A run killed with SIGKILL leaves its lock; the next run says so, cleans up and builds."""
    repo = monorepo("basic")
    pids = tmp_path / "pids"
    set_env(repo, {"BEHAVIOR": "spawn", "PIDS_FILE": str(pids)}, ("alpha",))
    first = start_doit(repo)
    wait_for(lambda: len(lines(pids)) == 3)
    first.kill()
    first.communicate(timeout=10)
    set_env(repo, {}, ("alpha",))
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout
    assert f"the previous run (pid {first.pid}" in result.stdout
    assert list((repo / ".fedbuild/tmp").iterdir()) == []
    wait_for(lambda: alive([int(p) for p in lines(pids)]) == [], timeout=5)


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids a test must not leave running, whatever it asserts: SIGKILLed at teardown."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


@pytest.mark.parametrize("par_type", ["thread", "process"])
def test_sigkill_of_a_parallel_run_leaves_no_process_and_no_lock(
        monorepo: Repo, tmp_path: Path, par_type: str, leftovers: list[int]) -> None:
    """SIGKILL of the main `doit -n 2`: its workers die with it, the next run takes the lock
    over and kills what the builds left running, and a no-op then does nothing."""
    repo = monorepo("basic")
    pids = tmp_path / "pids"
    set_env(repo, {"BEHAVIOR": "spawn", "PIDS_FILE": str(pids)}, ("alpha", "beta"))
    first = start_doit(repo, "-n", "2", "-P", par_type)
    wait_for(lambda: len(lines(pids)) == 6)  # two builds, three processes each
    spawned = [int(p) for p in lines(pids)]
    workers = [c.pid for c in psutil.Process(first.pid).children()
               if c.name().startswith("python")]
    leftovers += spawned + workers
    assert len(workers) == (2 if par_type == "process" else 0)
    first.kill()
    first.wait(timeout=10)  # not communicate(): a surviving worker would keep its pipes open
    wait_for(lambda: alive(workers) == [], timeout=10)  # died with their parent
    set_env(repo, {}, ("alpha", "beta"))
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"the previous run (pid {first.pid}" in result.stdout
    assert alive(spawned) == []
    assert list((repo / ".fedbuild/tmp").iterdir()) == []
    again = run_doit(repo)
    assert again.returncode == 0, again.stdout
    assert again.stdout.count("up to date") >= 4, again.stdout  # three builds and federate


def test_clean_takes_the_lock_of_a_run(monorepo: Repo, tmp_path: Path) -> None:
    """`doit clean` during a build is refused with the run's line and removes nothing;
    with lock_wait= it waits for the build, then cleans."""
    repo = monorepo("basic")
    assert run_doit(repo).returncode == 0
    published = sorted(str(p.relative_to(repo)) for p in (repo / "public").rglob("*"))
    staged = staged_files(repo)
    runs = tmp_path / "runs"
    gate = tmp_path / "gate"
    set_env(repo, {"BEHAVIOR": "gate", "GATE_FILE": str(gate)}, ("alpha",))
    build = start_doit(repo, env={"RUNS_LOG": str(runs)})
    try:
        wait_for(lambda: "alpha start" in runs.read_text() if runs.exists() else False)
        refused = run_doit(repo, "clean")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        [line] = refused.stderr.splitlines()
        assert line.startswith(f"ERROR: another fedbuild run holds {repo / '.fedbuild/lock'}: ")
        assert f"pid {build.pid}" in refused.stderr and "lock_wait=SECONDS" in refused.stderr
        assert sorted(str(p.relative_to(repo)) for p in (repo / "public").rglob("*")) == \
            published
        assert staged_files(repo) == staged
        waited = start_doit(repo, "clean", "lock_wait=60")
        wait_for(lambda: waits_on(waited, repo / ".fedbuild/lock") or waited.poll() is not None)
        assert waited.poll() is None  # it waits while the build is held at the gate
    finally:
        gate.touch()
    out, _ = build.communicate(timeout=60)
    assert build.returncode == 0, out
    waited_out, waited_err = waited.communicate(timeout=120)
    assert waited.returncode == 0, waited_out + waited_err
    assert not (repo / "public").exists()
    assert staged_files(repo) == {}
    assert not (repo / ".fedbuild/lock").read_text().strip()  # released
