"""On-device steps (a board's serial port in their commands: flashing, tests on the chip) in
group runs, through real doit. There is no board here: the fixture's `board` module stands in
for one with a step that only prints the port it was given (tests/fixtures/statuses).

Without `port=`/`ports=`, `doit test` (and plain `doit`) leave them out, pass, and say in one
line which were left out and how to run them; with a port they run; named, they always run.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import edit_manifest, run_doit

Repo = Callable[[str], Path]
BOARD_LOG = ".fedbuild/logs/test/board.log"


def passing_only(repo: Path) -> None:
    """Keep the modules whose tests pass here: app, and the stand-in board."""
    def keep(data: dict[str, Any]) -> None:
        data["modules"] = [m for m in data["modules"] if m["name"] in ("app", "board")]
    edit_manifest(repo, keep)


def test_a_group_run_without_a_port_leaves_on_device_steps_out(monorepo: Repo) -> None:
    repo = monorepo("statuses")
    passing_only(repo)
    result = run_doit(repo, "test")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert not (repo / BOARD_LOG).exists()  # it never ran
    said = [line for line in out.splitlines() if line.startswith("on-device:")]
    assert said == ["on-device: left out test:board (no board's port given); run it with a "
                    "board: doit test:board port=/dev/ttyUSB0, or doit test port=... "
                    "(ports=a,b for several boards)"], out
    assert "[2/2] test:app ok" in out or "test:app ok" in out
    # plain `doit` (the test steps are default steps here) leaves it out the same way
    plain = run_doit(repo)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert not (repo / BOARD_LOG).exists()
    assert "on-device: left out test:board" in plain.stdout


def test_a_port_brings_on_device_steps_into_group_runs(monorepo: Repo) -> None:
    repo = monorepo("statuses")
    passing_only(repo)
    for variable in ("port=loop://", "ports=loop://"):
        result = run_doit(repo, "test", variable)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "board on port 'loop://'" in (repo / BOARD_LOG).read_text()
        assert "on-device:" not in result.stdout


def test_named_on_device_step_runs_without_a_port(monorepo: Repo) -> None:
    repo = monorepo("statuses")
    passing_only(repo)
    result = run_doit(repo, "test:board")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "board on port ''" in (repo / BOARD_LOG).read_text()
    assert "on-device:" not in result.stdout
