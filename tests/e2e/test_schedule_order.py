"""Under `doit -n 2`, fedbuild's reporter orders tasks by the durations its history recorded:
the task with the most work waiting on it starts first, unless `order=doit`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import copy_fixture, edit_manifest, module, run_doit

# build:broken is doit's first pick either way (it is selected first); the second worker then
# takes doit's next in line, build:quick (a process start, then build:slow's: 0.3 s more), or
# the task with the most recorded work, build:chatty (made to sleep 2 s here: with the
# fixture's 0.5 s, two process starts on a busy machine outweighed it).
SELECTED = ("build:broken", "build:quick", "build:slow", "build:chatty")
CHATTY_SLEEP = "2"


def slow_chatty(data: dict[str, Any]) -> None:
    """build:chatty sleeps CHATTY_SLEEP seconds instead of the fixture's 0.5."""
    argv = module(data, "chatty")["steps"][0]["argv"]
    argv[argv.index("--sleep") + 1] = CHATTY_SLEEP


def first_two_started(stdout: str) -> set[str]:
    started = [line.split()[1] for line in stdout.splitlines() if line.endswith(" started")]
    assert sorted(started) == sorted(SELECTED), stdout
    return set(started[:2])


def test_recorded_durations_decide_what_starts_first(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    edit_manifest(repo, slow_chatty)
    first = run_doit(repo, "-n", "2", *SELECTED)  # no history yet: nothing to go by
    assert first.returncode == 0, first.stdout

    assert run_doit(repo, "forget").returncode == 0
    ordered = run_doit(repo, "-n", "2", *SELECTED)
    assert ordered.returncode == 0, ordered.stdout
    assert first_two_started(ordered.stdout) == {"build:broken", "build:chatty"}

    assert run_doit(repo, "forget").returncode == 0
    plain = run_doit(repo, "-n", "2", "order=doit", *SELECTED)
    assert plain.returncode == 0, plain.stdout
    assert first_two_started(plain.stdout) == {"build:broken", "build:quick"}


def test_a_bad_order_is_a_one_line_error(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
    result = run_doit(repo, "order=random")
    assert result.returncode == 3
    assert result.stderr.strip() == ("ERROR: command line: order: 'random' is not an order; "
                                     "use order=longest-path or order=doit")
