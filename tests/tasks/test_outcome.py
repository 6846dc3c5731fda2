"""One status vocabulary: a command's end becomes a task's in one place, and the modules
that show, record or count statuses spell none of the words themselves."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from core.outcome import SUCCEEDED, Outcome, RunStatus, Status
from core.runner import Command, Result
from core.runner import Status as Ended

TASKS = Path(__file__).resolve().parents[2] / "tasks"
# The modules that carry a task's or a run's status from the outcome to the user.
CARRIERS = ("history.py", "timeline.py", "run_files.py", "reporter.py", "critical_path.py",
            "display.py", "live_display.py", "sites.py", "steps.py", "events.py",
            "commands/stats.py", "commands/stats_model.py", "commands/report.py",
            "commands/graph_view.py", "commands/layout.py", "commands/explain.py",
            "commands/history.py")


def result(status: Ended, attempts: int = 1) -> Result:
    command = Command(argv=("true",), cwd=Path("."), log=Path("x.log"), retries=2)
    return Result(command, status, 0 if status is Ended.OK else 1, 1.0, 0, 0.0, attempts)


@pytest.mark.parametrize(("ended", "attempts", "status"), [
    (Ended.OK, 1, Status.BUILT), (Ended.OK, 2, Status.FLAKY),
    (Ended.FAILED, 3, Status.FAILED), (Ended.MISSING_TOOL, 1, Status.FAILED),
    (Ended.TIMED_OUT, 1, Status.TIMED_OUT), (Ended.INTERRUPTED, 1, Status.INTERRUPTED)])
def test_a_commands_end_is_one_task_status(ended: Ended, attempts: int, status: Status) -> None:
    """Before: steps and site builds each mapped it (an interrupted command said `failed`, a
    site build passing on attempt 2 `built`)."""
    assert Status.of_result(result(ended, attempts)) is status


def test_the_words_users_see_are_unchanged() -> None:
    assert [s.value for s in Status] == [
        "built", "flaky", "cached", "up to date", "failed", "timed out", "skipped",
        "not needed", "no tests", "interrupted", "no board"]
    assert [s.value for s in RunStatus] == ["running", "succeeded", "failed", "interrupted"]
    assert {"built", "flaky", "cached"} == SUCCEEDED


def test_an_outcome_round_trips_its_status(tmp_path: Path) -> None:
    outcome = Outcome("test:x", Status.NO_TESTS, 1.0, "x.log", message="ran no tests")
    outcome.write(tmp_path / "o.json")
    assert Outcome.read(tmp_path / "o.json") == outcome


def _spelled(path: Path, words: set[str]) -> list[str]:
    """Status words written as string values: not a dict's keys nor an XML element's tag."""
    tree = ast.parse(path.read_text())
    exempt = {id(k) for node in ast.walk(tree) if isinstance(node, ast.Dict) for k in node.keys}
    exempt |= {id(node.args[1]) for node in ast.walk(tree) if isinstance(node, ast.Call)
               and getattr(node.func, "attr", "") == "SubElement" and len(node.args) > 1}
    return [f"{node.lineno}: {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in words and id(node) not in exempt]


def test_no_carrier_spells_a_status_word() -> None:
    words = {s.value for s in Status} | {s.value for s in RunStatus}
    found = {name: _spelled(TASKS / name, words) for name in CARRIERS}
    assert {name: lines for name, lines in found.items() if lines} == {}
