"""Under `doit -n 2`, fedbuild's reporter orders tasks by the durations its history recorded:
the task with the most work waiting on it starts first, unless `order=doit`."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import copy_fixture, run_doit

# build:broken is doit's first pick either way (it is selected first); the second worker then
# takes doit's next in line, build:quick (about 0 s, then build:slow's 0.3 s), or the task
# with the most recorded work, build:chatty (about 0.5 s).
SELECTED = ("build:broken", "build:quick", "build:slow", "build:chatty")


def first_two_started(stdout: str) -> set[str]:
    started = [line.split()[1] for line in stdout.splitlines() if line.endswith(" started")]
    assert sorted(started) == sorted(SELECTED), stdout
    return set(started[:2])


def test_recorded_durations_decide_what_starts_first(tmp_path: Path) -> None:
    repo = copy_fixture("reporting", tmp_path / "repo")
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
