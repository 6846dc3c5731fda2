"""The service's status words are defined once (service/status.py) and read everywhere."""

from __future__ import annotations

import ast
import sqlite3
from pathlib import Path
from typing import get_args

import pytest

from core.outcome import Status
from service import models
from service.db import Database
from service.status import BUILD_STATUSES, TASK_INTERRUPTED, TASK_STARTED

SERVICE = Path(__file__).resolve().parents[2] / "service"


def test_the_api_filter_and_the_database_take_exactly_the_build_statuses(
        tmp_path: Path) -> None:
    assert get_args(models.Status) == BUILD_STATUSES
    db = Database(tmp_path / "service.sqlite")
    project = str(db.add_project(name="p", path="/repos/p", status="active")["id"])
    build = db.add_build(project, "manual", "development", [])
    db.close()
    with sqlite3.connect(tmp_path / "service.sqlite") as conn:
        for word in BUILD_STATUSES:
            conn.execute("UPDATE builds SET status = ? WHERE id = ?", (word, build["id"]))
        with pytest.raises(sqlite3.IntegrityError):
            conn.execute("UPDATE builds SET status = 'succeeded' WHERE id = ?", (build["id"],))


def test_a_task_left_started_is_interrupted_in_fedbuild_s_word() -> None:
    assert ("started", Status.INTERRUPTED.value) == (TASK_STARTED, TASK_INTERRUPTED)


def _spelled(path: Path) -> set[str]:
    """The build status words a module writes as string values (not as a dict's keys)."""
    tree = ast.parse(path.read_text())
    keys = {id(k) for node in ast.walk(tree) if isinstance(node, ast.Dict) for k in node.keys}
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in BUILD_STATUSES
            and id(node) not in keys}


def test_no_other_service_module_spells_a_build_status() -> None:
    """A second spelling is a second definition that can drift (before: models.py's Literal,
    db.py's constants and its CHECK, api.py's and job.py's bare words)."""
    found = {p.name: _spelled(p) for p in SERVICE.glob("*.py") if p.name != "status.py"}
    assert {name: words for name, words in found.items() if words} == {}
