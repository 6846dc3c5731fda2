"""Mistakes on doit's command line, through real doit: a variable fedbuild does not read
(`doit mod=production`) and a task name that names no task (`doit biuld`) are each one
line naming the closest known name, exit code 3, and nothing is built."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_doit

Repo = Callable[[str], Path]


def error_line(result: object) -> str:
    """The one line doit printed, asserting there was exactly one and no traceback."""
    stderr = getattr(result, "stderr", "")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(("argv", "suggested"), [
    (("mod=production",), "did you mean mode=?"),
    (("lockwait=5",), "did you mean lock_wait=?"),
    (("build", "prot=/dev/ttyUSB0"), "did you mean port=?"),
])
def test_unknown_variable_is_one_line_naming_the_closest(monorepo: Repo, argv: tuple[str, ...],
                                                         suggested: str) -> None:
    repo = monorepo("basic")
    result = run_doit(repo, *argv)
    assert result.returncode == 3, result.stdout + result.stderr
    line = error_line(result)
    name = argv[-1].split("=", 1)[0]
    assert f"'{name}'" in line and suggested in line, line
    assert not (repo / "public").exists()  # nothing was built


@pytest.mark.parametrize(("argv", "line"), [
    (("lock_wait=soon",), "ERROR: command line: lock_wait: 'soon' is not a number of seconds "
                          "to wait for another run's lock; use e.g. lock_wait=60 (0: do not "
                          "wait)"),
    (("shard=0/2",), "ERROR: command line: shard: '0/2' is not a shard: use shard=K/N with "
                     "1 <= K <= N, e.g. shard=1/4"),
])
def test_a_bad_value_is_one_line_before_anything_runs(monorepo: Repo, argv: tuple[str, ...],
                                                      line: str) -> None:
    """Before: lock_wait=soon was read as 0 and the run went ahead."""
    repo = monorepo("basic")
    result = run_doit(repo, *argv)
    assert result.returncode == 3, result.stdout + result.stderr
    assert error_line(result) == line
    assert not (repo / "public").exists()


def test_known_variables_are_accepted(monorepo: Repo) -> None:
    repo = monorepo("basic")
    result = run_doit(repo, "mode=development", "order=doit", "lock_wait=1")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("name", "suggested"), [
    ("biuld", "did you mean build?"),
    ("build:alhpa", "did you mean build:alpha?"),
    ("federat", "did you mean federate?"),
])
def test_unknown_task_suggests_the_closest(monorepo: Repo, name: str, suggested: str) -> None:
    repo = monorepo("basic")
    result = run_doit(repo, name)
    assert result.returncode == 3, result.stdout + result.stderr
    line = error_line(result)
    assert f"'{name}'" in line and suggested in line, line
    assert not (repo / "public").exists()


def test_unknown_subtask_suggests_one_of_its_group(monorepo: Repo) -> None:
    repo = monorepo("basic")
    result = run_doit(repo, "build:nosuch")
    assert result.returncode == 3
    line = error_line(result)
    assert "'build:nosuch'" in line
    suggestion = line.split("did you mean ", 1)[1].split("?", 1)[0]
    assert suggestion in ("build:alpha", "build:beta", "build:gamma"), line
