"""The command runner against real processes: output, failures, trees, timeouts, interrupts."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil
import pytest

from core import runner
from core.runner import (
    RUN_VARIABLE,
    Command,
    Result,
    Status,
    kill_all,
    kill_marked,
    marked_pids,
    run,
    start,
    which,
)
from tests.conftest import eventually

# Prints its own pid, then a plain, a setsid'd and a nested grandchild, then waits on them.
TREE = """
echo $$ >> pids
sleep 100 & echo $! >> pids
setsid sleep 100 & echo $! >> pids
bash -c 'sleep 100 & echo $! >> pids; wait' &
wait
"""


def command(tmp_path: Path, *argv: str, **options: Any) -> Command:
    """A Command in tmp_path logging to tmp_path/logs/step.log."""
    return Command(argv=argv, cwd=tmp_path, log=tmp_path / "logs" / "step.log", **options)


def dead(pid: int) -> bool:
    """Whether pid is gone; a zombie counts, since only its parent can reap it."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def tree_pids(tmp_path: Path, count: int = 4) -> list[int]:
    """The pids TREE wrote, once all of them are there."""
    pids = tmp_path / "pids"
    assert eventually(lambda: pids.exists() and len(pids.read_text().split()) >= count)
    return [int(p) for p in pids.read_text().split()]


def test_success_captures_output_and_env(tmp_path: Path) -> None:
    cmd = Command(
        argv=("bash", "-c", 'echo "hello $GREETING"; echo oops >&2; pwd'),
        cwd=tmp_path,
        log=tmp_path / "logs" / "step.log",
        env={"GREETING": "world"},
    )
    result = run(cmd)
    assert result.ok and result.status is Status.OK
    assert (result.exit_code, result.attempts) == (0, 1)
    log = cmd.log.read_text().splitlines()
    assert log[0].startswith("$ bash -c ") and "(attempt 1/1, cwd " in log[0]
    assert log[1:] == ["hello world", "oops", str(tmp_path)]
    assert result.tail(2) == f"oops\n{tmp_path}"


def test_the_run_mark_wins_over_a_declared_env(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A command's env cannot move its process out of the run (FEDBUILD_RUN finds leftovers)."""
    monkeypatch.setenv(RUN_VARIABLE, "run-1")
    cmd = command(tmp_path, "bash", "-c", f'echo "${RUN_VARIABLE}"',
                  env={RUN_VARIABLE: "elsewhere"})
    assert run(cmd).ok
    assert cmd.log.read_text().splitlines()[1:] == ["run-1"]


def test_relative_program_resolves_against_cwd(tmp_path: Path) -> None:
    script = tmp_path / "scripts" / "build.sh"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\necho built with $1\n")
    script.chmod(0o755)
    result = run(command(tmp_path, "scripts/build.sh", "x"))
    assert result.ok, result.describe()
    assert result.tail(1) == "built with x"


def test_log_is_truncated_per_run(tmp_path: Path) -> None:
    run(command(tmp_path, "echo", "first"))
    result = run(command(tmp_path, "echo", "second"))
    assert "first" not in result.command.log.read_text()


def test_failure_reports_exit_code_and_last_20_lines(tmp_path: Path) -> None:
    script = "for i in $(seq 1 50); do echo line $i; done; exit 2"
    result = run(command(tmp_path, "bash", "-c", script))
    assert result.status is Status.FAILED and not result.ok
    assert result.exit_code == 2
    assert result.tail().splitlines() == [f"line {i}" for i in range(31, 51)]
    head, *tail = result.describe().splitlines()
    assert head.startswith("`bash -c 'for i in")
    assert "failed with exit code 2 after " in head
    assert tail == [f"line {i}" for i in range(31, 51)]


def test_megabytes_of_output_never_block(tmp_path: Path) -> None:
    code = "import sys; [sys.stdout.write(f'{i:099d}\\n') for i in range(50_000)]"
    result = run(command(tmp_path, sys.executable, "-c", code, timeout=20))
    assert result.ok, result.describe()
    lines = result.command.log.read_bytes().splitlines()
    assert len(lines) == 50_001  # header + output
    assert result.command.log.stat().st_size > 5_000_000
    assert result.tail(2).splitlines() == [f"{i:099d}" for i in (49_998, 49_999)]


def test_timeout_kills_the_whole_tree(tmp_path: Path) -> None:
    result = run(command(tmp_path, "bash", "-c", TREE, timeout=1, kill_grace=1))
    assert result.status is Status.TIMED_OUT
    assert result.exit_code == -signal.SIGTERM  # killed, not waited out (its sleeps are 100s)
    pids = tree_pids(tmp_path)
    assert [pid for pid in pids if not dead(pid)] == []
    assert "timed out after 1s and was killed" in result.describe()


def test_sigterm_ignoring_tree_is_sigkilled_after_grace(tmp_path: Path) -> None:
    script = "trap '' TERM; echo $$ >> pids; sleep 100 & echo $! >> pids; wait; wait"
    result = run(command(tmp_path, "bash", "-c", script, timeout=0.5, kill_grace=0.5))
    assert result.status is Status.TIMED_OUT
    assert result.exit_code == -signal.SIGKILL
    assert [pid for pid in tree_pids(tmp_path, 2) if not dead(pid)] == []


def test_background_child_of_a_successful_command_is_killed(tmp_path: Path) -> None:
    result = run(command(tmp_path, "bash", "-c", "sleep 100 & echo $! > pids; exit 0"))
    assert result.ok
    (pid,) = tree_pids(tmp_path, 1)
    assert eventually(lambda: dead(pid))


def test_missing_tool(tmp_path: Path) -> None:
    result = run(command(tmp_path, "fedbuild-no-such-tool", "--version"))
    assert result.status is Status.MISSING_TOOL
    assert (result.exit_code, result.attempts) == (None, 1)
    message = "'fedbuild-no-such-tool' not found on PATH"
    assert message in result.describe()
    assert result.describe().startswith("`fedbuild-no-such-tool --version` could not run: ")
    assert message in result.command.log.read_text()


def test_missing_tool_uses_the_commands_path(tmp_path: Path) -> None:
    tool = tmp_path / "bin" / "mytool"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho mine\n")
    tool.chmod(0o755)
    path = f"{tool.parent}{os.pathsep}{os.environ['PATH']}"
    found = run(Command(("mytool",), tmp_path, tmp_path / "log", env={"PATH": path}))
    assert found.ok and found.tail(1) == "mine"
    assert run(command(tmp_path, "mytool")).status is Status.MISSING_TOOL


def test_failure_then_success_is_retried(tmp_path: Path) -> None:
    script = "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; [ $n -ge 1 ]"
    result = run(command(tmp_path, "bash", "-c", script, retries=2, backoff=0.05))
    assert result.ok and result.attempts == 2
    log = result.command.log.read_text()
    assert "(attempt 1/3, " in log and "(attempt 2/3, " in log and "(attempt 3/3" not in log


def test_retries_exhausted(tmp_path: Path) -> None:
    result = run(command(tmp_path, "bash", "-c", "echo nope; exit 3", retries=1, backoff=0.01))
    assert (result.status, result.exit_code, result.attempts) == (Status.FAILED, 3, 2)
    assert "failed with exit code 3 after" in result.describe()
    assert "(attempt 2/2)" in result.describe()


def test_timeouts_are_retried(tmp_path: Path) -> None:
    script = "n=$(cat count 2>/dev/null || echo 0); echo $((n+1)) > count; [ $n -ge 1 ] || sleep 9"
    result = run(command(tmp_path, "bash", "-c", script, timeout=0.5, retries=1, backoff=0.01))
    assert result.ok and result.attempts == 2
    assert result.duration >= 0.5


def test_peak_rss_covers_the_child(tmp_path: Path) -> None:
    code = "b = bytearray(80_000_000); import time; time.sleep(0.5)"
    result = run(command(tmp_path, sys.executable, "-c", code))
    assert result.ok
    assert result.peak_rss > 50_000_000


# Holds 40 MB, says so in a file named by argv[1], then stays until the file `release` exists.
HOLD_40MB = """
import pathlib, sys, time
b = bytearray(40_000_000)
pathlib.Path(sys.argv[1]).touch()
deadline = time.monotonic() + 60
while not pathlib.Path("release").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
"""


def test_peak_rss_sums_the_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two 40 MB processes alive together: only sampling the tree sees 80 MB. They are
    released only once the runner has sampled the tree while both held their memory."""
    both_held = threading.Event()
    sampled = threading.Event()
    real_sample = runner._Usage.sample

    def watched_sample(usage: runner._Usage, pid: int) -> None:
        began_after = both_held.is_set()  # both had allocated before this sample began
        real_sample(usage, pid)
        if began_after:
            sampled.set()

    monkeypatch.setattr(runner._Usage, "sample", watched_sample)
    py = f"{sys.executable} -c '{HOLD_40MB}'"
    results: list[Result] = []
    worker = threading.Thread(target=lambda: results.append(
        run(command(tmp_path, "bash", "-c", f"{py} one & {py} two & wait", timeout=90))))
    worker.start()
    try:
        assert eventually(lambda: all((tmp_path / n).exists() for n in ("one", "two")), 60)
        both_held.set()
        assert sampled.wait(timeout=60)
    finally:
        (tmp_path / "release").touch()
        worker.join(timeout=90)
    (result,) = results
    assert result.ok, result.describe()
    assert result.peak_rss > 70_000_000


def test_cpu_time_of_a_busy_loop(tmp_path: Path) -> None:
    code = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass"
    result = run(command(tmp_path, sys.executable, "-c", code))
    assert result.ok
    assert result.cpu_time > 0.2


def test_kill_all_while_a_process_is_being_started_still_kills_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill_all() landing after the process exists but before run() has listed it as live (the
    window test_kill_all_from_another_thread hit on a loaded machine: its tree then ran to
    its timeout): the new tree is killed all the same. The window is made certain by calling
    kill_all() from inside Popen, right after the real one returns."""
    real = subprocess.Popen

    def popen_then_kill_all(*args: Any, **kwargs: Any) -> subprocess.Popen[bytes]:
        proc = real(*args, **kwargs)
        kill_all()
        return proc

    monkeypatch.setattr(subprocess, "Popen", popen_then_kill_all)
    started = time.monotonic()
    result = run(command(tmp_path, "bash", "-c", TREE, timeout=20))
    assert result.status is Status.INTERRUPTED, result.describe()
    assert time.monotonic() - started < 15  # killed, not timed out
    written = tmp_path / "pids"  # as far as the tree got before the kill
    pids = [int(p) for p in written.read_text().split()] if written.exists() else []
    assert [pid for pid in pids if not dead(pid)] == []


def test_kill_all_from_another_thread(tmp_path: Path) -> None:
    results: list[Result] = []
    worker = threading.Thread(
        target=lambda: results.append(run(command(tmp_path, "bash", "-c", TREE, timeout=30)))
    )
    worker.start()
    pids = tree_pids(tmp_path)
    kill_all()
    worker.join(timeout=60)  # the tree's sleeps are 100s: only the kill ends it sooner
    assert not worker.is_alive()
    (result,) = results
    assert result.status is Status.INTERRUPTED and result.attempts == 1
    assert [pid for pid in pids if not dead(pid)] == []


@contextmanager
def interrupt_once_started(tmp_path: Path, count: int, *later: float) -> Iterator[None]:
    """Within, this process gets SIGINT once the tree wrote `count` pids, and again `later`
    seconds after that, unless the block has ended by then."""
    pids = tmp_path / "pids"
    done = threading.Event()

    def interrupt() -> None:
        if not eventually(lambda: pids.exists() and len(pids.read_text().split()) >= count,
                          timeout=60):
            return  # the test fails on the missing pids
        os.kill(os.getpid(), signal.SIGINT)
        for delay in later:
            # Into the kill's grace period, if the machine keeps up; never after the block.
            if done.wait(delay):
                return
            os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=interrupt, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join(timeout=60)


def test_keyboard_interrupt_kills_the_tree_and_propagates(tmp_path: Path) -> None:
    with interrupt_once_started(tmp_path, 4), pytest.raises(KeyboardInterrupt):
        # Not interrupted, it would run 3 attempts of 30s each.
        run(command(tmp_path, "bash", "-c", TREE, timeout=30, retries=2))
    assert [pid for pid in tree_pids(tmp_path) if not dead(pid)] == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_interrupt_cannot_cut_the_kill_short(tmp_path: Path) -> None:
    # The leader ignores SIGTERM, so the kill waits out the grace period; a second Ctrl-C
    # in that window must be held until the SIGKILL has been sent.
    script = "trap '' TERM; echo $$ >> pids; sleep 100 & echo $! >> pids; wait; wait"
    with interrupt_once_started(tmp_path, 2, 0.3), pytest.raises(KeyboardInterrupt):
        run(command(tmp_path, "bash", "-c", script, timeout=30, kill_grace=1))
    assert [pid for pid in tree_pids(tmp_path, 2) if not dead(pid)] == []


@pytest.mark.parametrize("argv", [(), "make all"])
def test_argv_must_be_a_tuple(tmp_path: Path, argv: Any) -> None:
    with pytest.raises(ValueError, match="non-empty tuple"):
        Command(argv=argv, cwd=tmp_path, log=tmp_path / "log")


def test_kill_all_in_a_forked_worker_spares_the_parents_trees(tmp_path: Path) -> None:
    results: list[Result] = []
    script = "echo $$ > pids; sleep 1"
    worker = threading.Thread(
        target=lambda: results.append(run(command(tmp_path, "bash", "-c", script)))
    )
    worker.start()
    tree_pids(tmp_path, 1)
    forked = multiprocessing.get_context("fork").Process(target=kill_all)
    forked.start()
    forked.join(timeout=5)
    worker.join(timeout=5)
    assert forked.exitcode == 0
    (result,) = results
    assert result.ok, result.describe()


def test_which_remembers_what_it_found_and_looks_again_for_the_rest(tmp_path: Path) -> None:
    """A command found once is not searched for on PATH again while it is there; one not
    found (or gone since) is searched for again."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    path = f"{first}{os.pathsep}{second}"
    assert which("fedbuild-probe-tool", path) is None
    tool = second / "fedbuild-probe-tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    assert which("fedbuild-probe-tool", path) == str(tool)  # not found before: looked again
    shadow = first / "fedbuild-probe-tool"
    shadow.write_text("#!/bin/sh\n")
    shadow.chmod(0o755)
    assert which("fedbuild-probe-tool", path) == str(tool)  # remembered for the run
    tool.unlink()
    assert which("fedbuild-probe-tool", path) == str(shadow)  # gone: looked again


def test_kill_marked_kills_the_detached_processes_carrying_the_mark_and_no_others(
        tmp_path: Path) -> None:
    """A run's end: a daemon a build detached (setsid, reparented) still carries the run's
    mark in its environment, and is found by it; a process with another mark is left."""
    def detached(mark: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["sleep", "100"], env={**os.environ, "FEDBUILD_TEST_MARK": mark},
                                start_new_session=True)
    ours, theirs = detached("run-1"), detached("run-2")
    try:
        assert eventually(lambda: ours.pid in marked_pids("FEDBUILD_TEST_MARK", "run-1"))
        assert theirs.pid not in marked_pids("FEDBUILD_TEST_MARK", "run-1")
        assert marked_pids("FEDBUILD_TEST_MARK", "run-") == []  # the whole value, not a prefix
        assert kill_marked("FEDBUILD_TEST_MARK", "run-1") == 1
        assert ours.wait(timeout=10) == -signal.SIGKILL
        assert theirs.poll() is None
        assert kill_marked("FEDBUILD_TEST_MARK", "run-1") == 0
    finally:
        for proc in (ours, theirs):
            proc.kill()
            proc.wait()


# Says "ready", then stays until the file `release` exists (a minute at most), then exits 0.
SERVE = """
import pathlib, time
print("ready", flush=True)
deadline = time.monotonic() + 60
while not pathlib.Path("release").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
print("released", flush=True)
"""


def test_a_started_process_is_read_while_it_runs(tmp_path: Path) -> None:
    with start(command(tmp_path, sys.executable, "-c", SERVE)) as process:
        log = process.command.log
        assert eventually(lambda: "ready" in log.read_text(), 30)
        assert process.poll() is None  # it waits for `release`: read while it runs
        assert process.wait(0.05) is None  # a wait that times out leaves it running
        (tmp_path / "release").touch()
        assert process.wait(60) == 0
    assert log.read_text().splitlines() == ["ready", "released"]
    result = process.result()
    assert result.ok and result.exit_code == 0 and result.peak_rss > 0


def test_a_started_process_reports_its_exit_code(tmp_path: Path) -> None:
    with start(command(tmp_path, "bash", "-c", "echo nope; exit 3")) as process:
        assert process.wait(60) == 3
    assert process.result().status is Status.FAILED
    assert "failed with exit code 3" in process.result().describe()


def test_killing_a_started_process_kills_its_tree(tmp_path: Path) -> None:
    process = start(command(tmp_path, "bash", "-c", TREE, kill_grace=1))
    pids = tree_pids(tmp_path)
    assert process.kill() == -signal.SIGTERM
    assert [pid for pid in pids if not dead(pid)] == []
    assert process.result().status is Status.INTERRUPTED


def test_leaving_the_block_kills_a_started_tree(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), start(command(tmp_path, "bash", "-c", TREE)):
        pids = tree_pids(tmp_path)
        raise RuntimeError("the reader failed")
    assert [pid for pid in pids if not dead(pid)] == []


def test_kill_all_covers_started_processes(tmp_path: Path) -> None:
    process = start(command(tmp_path, "bash", "-c", TREE, kill_grace=1))
    pids = tree_pids(tmp_path)
    kill_all()
    assert [pid for pid in pids if not dead(pid)] == []
    assert process.wait(10) == -signal.SIGTERM
    assert process.result().status is Status.INTERRUPTED


def test_a_started_process_writes_to_a_given_descriptor_and_gets_passed_ones(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The supervisor's case: output to its own stdout, the event channel passed down, and
    the run's mark kept whatever the command's env says."""
    monkeypatch.setenv(RUN_VARIABLE, "run-7")
    out = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT, 0o600)
    channel = os.open(tmp_path / "channel", os.O_WRONLY | os.O_CREAT, 0o600)
    script = f"echo out; echo event >&{channel}; echo $FEDBUILD_RUN"
    try:
        process = start(command(tmp_path, "bash", "-c", script, env={RUN_VARIABLE: "mine"}),
                        output=out, pass_fds=(channel,))
    finally:
        os.close(out)
        os.close(channel)
    assert process.wait(60) == 0
    assert (tmp_path / "out").read_text() == "out\nrun-7\n"
    assert (tmp_path / "channel").read_text() == "event\n"
    assert not (tmp_path / "logs" / "step.log").exists()


def test_starting_a_missing_tool_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="'fedbuild-no-such-tool' not found on PATH"):
        start(command(tmp_path, "fedbuild-no-such-tool"))
