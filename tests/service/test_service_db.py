"""The build records on their own: migrations, the queue's claim, cancel, recovery, stats."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from service.db import INTERRUPTED, MIGRATIONS, Database


def project(db: Database, name: str) -> str:
    return str(db.add_project(name=name, path=f"/repos/{name}", status="active")["id"])


def test_the_schema_is_migrated_once(tmp_path: Path) -> None:
    db = Database(tmp_path / "service.sqlite")
    db.close()
    again = Database(tmp_path / "service.sqlite")  # a second start migrates nothing
    again.close()
    with sqlite3.connect(tmp_path / "service.sqlite") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_claim_takes_the_oldest_build_of_a_project_not_busy(tmp_path: Path) -> None:
    db = Database(tmp_path / "service.sqlite")
    a, b = project(db, "a"), project(db, "b")
    first = db.add_build(a, "manual", "development", [])
    second = db.add_build(a, "manual", "development", [])
    third = db.add_build(b, "push", "test", ["build:x"])
    claimed = db.claim(set())
    assert claimed is not None and claimed["id"] == first["id"]
    assert claimed["status"] == "running" and claimed["started_at"]
    claimed = db.claim({a})
    assert claimed is not None and claimed["id"] == third["id"] and claimed["tasks"] == ["build:x"]
    assert db.claim({a, b}) is None
    assert db.build(second["id"])["status"] == "pending"  # type: ignore[index]


def test_a_cancelled_build_stays_cancelled_and_recovery_fails_running_ones(
        tmp_path: Path) -> None:
    db = Database(tmp_path / "service.sqlite")
    a, b = project(db, "a"), project(db, "b")
    db.add_build(a, "manual", "development", [])
    cancelled = db.claim(set())
    assert cancelled is not None
    assert db.cancel(cancelled["id"]) == "running"
    assert db.finish(cancelled["id"], "failed", error="exit 1") == "cancelled"
    assert db.build(cancelled["id"])["error"] == "cancelled while it ran"  # type: ignore[index]

    running = db.add_build(b, "manual", "development", [])
    db.claim({a})
    db.task_started(running["id"], "build:b")
    pending = db.add_build(b, "manual", "development", [])
    assert db.recover() == [cancelled["id"], running["id"]]
    after = db.build(running["id"]) or {}
    assert (after["status"], after["error"]) == ("failed", INTERRUPTED)
    assert after["completed_at"] and after["duration"] is not None
    assert db.tasks(running["id"])[0]["status"] == "interrupted"
    assert (db.build(cancelled["id"]) or {})["completed_at"]
    assert (db.build(pending["id"]) or {})["status"] == "pending"
    assert db.recover() == []


def test_statistics_count_every_status(tmp_path: Path) -> None:
    db = Database(tmp_path / "service.sqlite")
    a = project(db, "a")
    for status, duration in (("success", 2.0), ("success", 4.0), ("failed", 6.0)):
        build = db.add_build(a, "manual", "development", [])
        db.claim(set())
        db.finish(build["id"], status, duration=duration)
    db.add_build(a, "manual", "development", [])
    stats = db.stats(a)
    assert (stats["total_builds"], stats["successful"], stats["failed"], stats["pending"],
            stats["running"], stats["success_rate"], stats["average_duration"]) == (
        4, 2, 1, 1, 0, 50.0, 4.0)
    assert db.stats(project(db, "empty"))["success_rate"] == 0.0
