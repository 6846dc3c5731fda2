"""The reporter's output as a person and a CI log see it: plain lines without a terminal,
a live display in a terminal (a real pty), GitHub Actions groups, `-v 2` streaming."""

from __future__ import annotations

import math
import os
import pty
import re
import select
import subprocess
import time
from pathlib import Path

import pyte

from tests.conftest import copy_fixture, doit_argv, run_doit

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
COLOR = re.compile(r"\x1b\[(?:[0-9;]*;)?3[0-7]m")  # a foreground colour


def run_in_pty(repo: Path, *args: str, env: dict[str, str] | None = None,
               timeout: float = 120) -> tuple[int, str]:
    """Run doit with a pseudo-terminal as its stdout and stderr; (exit code, what it wrote)."""
    full_env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40",
                **(env or {})}
    for name in ("NO_COLOR", "GITHUB_ACTIONS"):
        if name not in (env or {}):
            full_env.pop(name, None)
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(doit_argv(repo, *args), cwd=repo, env=full_env, stdin=terminal,
                            stdout=terminal, stderr=terminal, close_fds=True)
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.1)
        if ready:
            try:
                data = os.read(controller, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(controller)
    code = proc.wait(timeout=10)
    return code, b"".join(chunks).decode(errors="replace")


def screen(out: str, columns: int = 120) -> list[str]:
    """What a terminal shows after all of `out`: the lines, without trailing blanks."""
    terminal = pyte.Screen(columns, 400)
    pyte.Stream(terminal).feed(out)
    lines = [line.rstrip() for line in terminal.display]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def test_plain_output_is_a_line_per_task_start_and_end_without_control_codes(
        tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    result = run_doit(repo, "build:slow", "test:quick")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b" not in result.stdout
    lines = result.stdout.splitlines()
    progress = [line for line in lines if line.startswith("[")]
    patterns = [r"\[0/3\] build:quick started", r"\[1/3\] build:quick ok \d+\.\ds",
                r"\[1/3\] (test:quick|build:slow) started",
                r"\[2/3\] (test:quick|build:slow) ok \d+\.\ds",
                r"\[2/3\] (test:quick|build:slow) started",
                r"\[3/3\] (test:quick|build:slow) ok \d+\.\ds"]
    assert len(progress) == len(patterns), progress
    for line, pattern in zip(progress, patterns, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    # Each task's start comes before its end, and both are there once.
    for name in ("build:quick", "test:quick", "build:slow"):
        started = lines.index(next(ln for ln in lines if ln.endswith(f"] {name} started")))
        ended = lines.index(next(ln for ln in lines if re.search(rf"] {name} ok ", ln)))
        assert started < ended
    table = lines[lines.index(next(ln for ln in lines if ln.startswith("task "))):]
    assert re.fullmatch(r"task\s+status\s+duration\s+log", table[0])
    assert re.fullmatch(r"build:quick\s+built\s+\d+\.\ds\s+\.fedbuild/logs/build/quick\.log",
                        table[1])
    assert "3 tasks: 3 built" in result.stdout


def test_plain_output_of_an_up_to_date_run(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    assert run_doit(repo, "build:quick").returncode == 0
    again = run_doit(repo, "build:quick")
    assert again.returncode == 0
    assert again.stdout.splitlines()[0] == "[1/1] build:quick up to date"
    assert "1 tasks: 1 up to date" in again.stdout


def test_terminal_shows_a_live_display_then_the_summary(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    code, out = run_in_pty(repo, "build:slow", env={"TALK_SLEEP": "1.5"})
    assert code == 0, out
    assert "\x1b[?25l" in out and "\x1b[?25h" in out  # the live region hides the cursor
    assert COLOR.search(out)  # statuses in colour
    text = ANSI.sub("", out).replace("\r", "")
    # The live region named the running task with its elapsed time, and the progress.
    assert re.search(r"build:slow  \d+s", text), text
    assert re.search(r"1/2 done, 1 running, \d+s elapsed", text), text
    # With no earlier run there is nothing to estimate from.
    assert "ETA unknown (no earlier runs)" in text
    # What stays on the terminal: a line per finished task (the live region is gone), then
    # the summary table.
    shown = screen(out)
    assert re.fullmatch(r"build:quick ok \d+\.\ds", shown[0]), shown
    assert re.fullmatch(r"build:slow ok \d+\.\ds", shown[1]), shown
    assert shown[2] == ""
    assert re.fullmatch(r"task\s+status\s+duration\s+log", shown[3]), shown
    assert re.fullmatch(r"build:quick\s+built\s+\d+\.\ds\s+\.fedbuild/logs/build/quick\.log",
                        shown[4]), shown
    assert re.fullmatch(r"build:slow\s+built\s+\d+\.\ds\s+\.fedbuild/logs/build/slow\.log",
                        shown[5]), shown
    assert "2 tasks: 2 built" in shown


def test_terminal_eta_comes_from_earlier_runs(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    first = run_doit(repo, "build:slow", env={"TALK_SLEEP": "1.5"})
    assert first.returncode == 0, first.stdout
    # What the first run took, as its summary shows (0.1 s steps): the ETA's whole budget.
    took = [float(s) for s in re.findall(r"^build:\w+\s+built\s+(\d+\.\d)s", first.stdout,
                                         re.M)]
    assert len(took) == 2, first.stdout  # build:slow and build:quick, which it needs
    assert run_doit(repo, "forget").returncode == 0
    code, out = run_in_pty(repo, "build:slow", env={"TALK_SLEEP": "1.5"})
    assert code == 0, out
    text = ANSI.sub("", out).replace("\r", "")
    left = [int(m) for m in re.findall(r"about (\d+)s left", text)]
    assert left, text
    # Never more than the recorded builds take (about 1.5 s here; more on a loaded machine).
    assert max(left) <= math.ceil(sum(took) + 0.1 * len(took)), (left, took)


def test_no_color_in_a_terminal_keeps_the_display_without_colour(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    code, out = run_in_pty(repo, "build:quick", env={"NO_COLOR": "1"})
    assert code == 0, out
    assert not COLOR.search(out), repr(out)
    assert "\x1b[?25l" in out  # still the live display
    assert re.fullmatch(r"build:quick ok \d+\.\ds", screen(out)[0])


def test_a_failed_tasks_log_tail_is_printed_whole(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    result = run_doit(repo, "build:broken", env={"BREAK": "1"})
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    head = next(i for i, ln in enumerate(lines) if "failed with exit code 1" in ln)
    # The last 20 lines of the log, in order and together, right after the headline.
    tail = lines[head + 1:head + 21]
    assert tail[-1] == "broken: failing as asked by BREAK=1"
    assert tail[:-1] == [f"broken line {n}" for n in range(12, 31)]


def test_github_actions_groups_the_failed_log_and_annotates_the_task(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    result = run_doit(repo, "build:broken", env={"BREAK": "1", "GITHUB_ACTIONS": "true"})
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    error = next(ln for ln in lines if ln.startswith("::error "))
    assert error.startswith("::error title=build%3Abroken failed::")
    assert "failed with exit code 1" in error
    start = lines.index("::group::build:broken log")
    end = lines.index("::endgroup::")
    body = lines[start + 1:end]
    # Workflow commands inside the log are switched off around it.
    assert body[0].startswith("::stop-commands::") and body[-1] == f"::{body[0][17:]}::"
    # The whole log, not only its tail: every line the step printed.
    for n in range(1, 31):
        assert f"broken line {n}" in body
    assert not any(ln.startswith("::group::") for ln in lines[start + 1:])


def test_verbosity_2_streams_task_output_as_it_is_written(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    result = run_doit(repo, "-v", "2", "build:slow")
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    streamed = [ln for ln in lines if ln.startswith("build:slow | slow line")]
    assert streamed == [f"build:slow | slow line {n}" for n in (1, 2, 3)]
    # Streamed while the task ran: between its start and end lines.
    assert lines.index("[1/2] build:slow started") < lines.index(streamed[0])
    assert lines.index(streamed[-1]) < next(
        i for i, ln in enumerate(lines) if ln.startswith("[2/2] build:slow ok"))


def test_parallel_streamed_output_never_interleaves_mid_line(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    result = run_doit(repo, "-v", "2", "-n", "2", "build:chatty", "build:broken", "build:slow",
                      env={"TALK_SLEEP": "0.5"})
    assert result.returncode == 0, result.stdout
    chatty = [ln for ln in result.stdout.splitlines() if "chatty line" in ln]
    assert len(chatty) == 300
    pad = "x" * 2000
    for n, line in enumerate(chatty, 1):
        assert line == f"build:chatty | chatty line {n} {pad}"
    known = re.compile(r"(\[\d+/\d+\] .*|build:(chatty|broken|slow|quick) \| .*|task .*|"
                       r"build:\w+\s+built.*|\d+ tasks: .*|build time: .*|critical path.*|"
                       r"parallelism.*|run files.*|)")
    for line in result.stdout.splitlines():
        assert known.fullmatch(line), line[:200]
