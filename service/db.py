"""The build records: projects, builds and their tasks, in SQLite (WAL, one lock).

Every write is one transaction; rows come back as plain dicts. The schema grows by
migrations numbered with `PRAGMA user_version`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from service.status import (
    BUILD_STATUSES,
    CANCELLED,
    FAILED,
    FINISHED,
    PENDING,
    RUNNING,
    SUCCESS,
    TASK_INTERRUPTED,
    TASK_STARTED,
    sql_list,
)

__all__ = ["CANCELLED", "FAILED", "FINISHED", "PENDING", "RUNNING", "SUCCESS", "Database"]
TRIGGERS = ("manual", "push", "webhook")
INTERRUPTED = "interrupted: the service stopped while it ran"

MIGRATIONS = (
    """
    CREATE TABLE projects (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        path TEXT NOT NULL,
        git_url TEXT,
        branch TEXT,
        github TEXT,
        status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive')),
        created_at TEXT NOT NULL
    );
    CREATE TABLE builds (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        project_id TEXT NOT NULL REFERENCES projects(id),
        commit_sha TEXT,
        commit_message TEXT,
        commit_author TEXT,
        branch TEXT,
        triggered_by TEXT NOT NULL CHECK (triggered_by IN ('manual', 'push', 'webhook')),
        status TEXT NOT NULL
            CHECK (status IN (""" + sql_list(BUILD_STATUSES) + """)),
        started_at TEXT,
        completed_at TEXT,
        duration REAL,
        build_output TEXT,
        test_results TEXT,
        artifacts_path TEXT,
        created_at TEXT NOT NULL,
        mode TEXT NOT NULL DEFAULT 'development',
        tasks TEXT NOT NULL DEFAULT '[]',
        error TEXT,
        run_id INTEGER,
        progress_done INTEGER NOT NULL DEFAULT 0,
        progress_total INTEGER NOT NULL DEFAULT 0,
        worktree INTEGER NOT NULL DEFAULT 0,
        folder TEXT,
        run_files TEXT,
        retry_of INTEGER REFERENCES builds(id)
    );
    CREATE INDEX builds_by_project ON builds (project_id, id);
    CREATE INDEX builds_by_status ON builds (status, id);
    CREATE TABLE build_tasks (
        build_id INTEGER NOT NULL REFERENCES builds(id),
        task TEXT NOT NULL,
        status TEXT NOT NULL,
        duration REAL,
        message TEXT,
        started_at TEXT,
        ended_at TEXT,
        PRIMARY KEY (build_id, task)
    );
    """,
    # Hardening: tags build only where asked; webhook deliveries and idempotency keys are
    # remembered for a while, so a replay or a client's retry queues nothing twice.
    """
    ALTER TABLE projects ADD COLUMN build_tags INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE deliveries (id TEXT PRIMARY KEY, received REAL NOT NULL);
    CREATE INDEX deliveries_by_age ON deliveries (received);
    CREATE TABLE idempotency (key TEXT PRIMARY KEY, build_id INTEGER NOT NULL,
                              created REAL NOT NULL);
    CREATE INDEX idempotency_by_age ON idempotency (created);
    """,
)
# How long, and how many, deliveries and idempotency keys are remembered (GitHub lets a
# delivery be redelivered for 3 days; the table's size is bounded whatever the traffic).
RETENTION = 7 * 24 * 3600.0
REMEMBERED = 10_000

_PROJECT_FIELDS = {"name", "path", "git_url", "branch", "github", "status", "build_tags"}
_BUILD_FIELDS = {
    "commit_sha", "commit_message", "commit_author", "branch", "status", "started_at",
    "completed_at", "duration", "build_output", "test_results", "artifacts_path", "error",
    "run_id", "progress_done", "progress_total", "worktree", "folder", "run_files",
}


class QueueFull(Exception):
    """The queue holds as many pending builds as it may; str() is the one-line reason."""


def now() -> str:
    """The current time as ISO 8601 UTC (`2024-01-15T10:30:00.123Z`)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def seconds_since(stamp: str) -> float:
    """Seconds from an ISO stamp written by now() until now."""
    then = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (datetime.now(timezone.utc) - then).total_seconds()


class Database:
    """One connection shared by the service's threads, guarded by a lock."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.RLock()
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                     timeout=30)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        # A commit waits for no fsync (WAL's own recommendation): with FULL each one took
        # 7.5 ms here, holding the lock every read of the event loop needs, so 50
        # submissions at once queued behind 50 fsyncs. The file stays consistent after a
        # power cut; only the last commits can be lost (builds: recovered at restart).
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._migrate()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Everything in the block commits together or not at all."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """The rows a query returns, as dicts."""
        with self._lock:
            return [dict(row) for row in self._conn.execute(sql, args).fetchall()]

    def _migrate(self) -> None:
        with self._lock:
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                # One script per transaction: a crash leaves the previous version whole.
                self._conn.executescript(
                    f"BEGIN IMMEDIATE;\n{script}\nPRAGMA user_version = {number};\nCOMMIT;")

    # projects -------------------------------------------------------------------

    def add_project(self, **fields: Any) -> dict[str, Any]:
        """Insert a project (its id made here unless given) and return it."""
        row = {**{k: v for k, v in fields.items() if k in _PROJECT_FIELDS},
               "id": fields.get("id") or str(uuid.uuid4()), "created_at": now()}
        names = ", ".join(row)
        with self.transaction() as conn:
            conn.execute(f"INSERT INTO projects ({names}) VALUES ({', '.join('?' * len(row))})",
                         tuple(row.values()))
        return self.project(row["id"]) or {}

    def project(self, project_id: str) -> dict[str, Any] | None:
        """One project, or None."""
        found = self.rows("SELECT * FROM projects WHERE id = ?", (project_id,))
        return _project(found[0]) if found else None

    def projects(self) -> list[dict[str, Any]]:
        """Every project, oldest first."""
        return [_project(p) for p in self.rows("SELECT * FROM projects ORDER BY created_at, id")]

    def update_project(self, project_id: str, **fields: Any) -> dict[str, Any] | None:
        """Change some of a project's fields and return it (None if there is no such one)."""
        self._update("projects", "id", project_id, fields, _PROJECT_FIELDS)
        return self.project(project_id)

    # builds ---------------------------------------------------------------------

    def add_build(self, project_id: str, triggered_by: str, mode: str, tasks: list[str],
                  most_pending: int | None = None, **fields: Any) -> dict[str, Any]:
        """Insert a pending build and return it; QueueFull (nothing inserted) when
        `most_pending` builds are pending already."""
        row = {"project_id": project_id, "triggered_by": triggered_by, "mode": mode,
               "tasks": json.dumps(tasks), "status": PENDING, "created_at": now(),
               **{k: v for k, v in fields.items() if k in _BUILD_FIELDS | {"retry_of"}}}
        with self.transaction() as conn:
            if most_pending is not None and conn.execute(
                    "SELECT COUNT(*) FROM builds WHERE status = ?",
                    (PENDING,)).fetchone()[0] >= most_pending:
                raise QueueFull(f"{most_pending} builds are waiting already; try again later")
            cursor = conn.execute(
                f"INSERT INTO builds ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                tuple(row.values()))
            build_id = int(cursor.lastrowid or 0)
        return self.build(build_id) or {}

    def build(self, build_id: int) -> dict[str, Any] | None:
        """One build, or None."""
        found = self.rows("SELECT * FROM builds WHERE id = ?", (build_id,))
        return _decoded(found[0]) if found else None

    def builds(self, project_id: str | None = None, limit: int = 20, offset: int = 0,
               status: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """A page of builds, newest first, and how many there are in all."""
        where, args = _filter(project_id, status)
        total = self.rows(f"SELECT COUNT(*) AS n FROM builds {where}", args)[0]["n"]
        page = self.rows(f"SELECT * FROM builds {where} ORDER BY id DESC LIMIT ? OFFSET ?",
                         (*args, limit, offset))
        return [_decoded(row) for row in page], int(total)

    def update_build(self, build_id: int, **fields: Any) -> None:
        """Change some of a build's fields."""
        self._update("builds", "id", build_id, fields, _BUILD_FIELDS)

    def claim(self, busy_projects: set[str]) -> dict[str, Any] | None:
        """Mark the oldest pending build of a project not in `busy_projects` as running and
        return it; None when there is none."""
        with self.transaction() as conn:
            for row in conn.execute("SELECT id, project_id FROM builds WHERE status = ? "
                                    "ORDER BY id", (PENDING,)).fetchall():
                if row["project_id"] in busy_projects:
                    continue
                conn.execute("UPDATE builds SET status = ?, started_at = ? WHERE id = ?",
                             (RUNNING, now(), row["id"]))
                break
            else:
                return None
        return self.build(row["id"])

    def cancel(self, build_id: int) -> str | None:
        """Mark a pending or running build cancelled; return the status it had (None: none)."""
        with self.transaction() as conn:
            found = conn.execute("SELECT status FROM builds WHERE id = ?",
                                 (build_id,)).fetchone()
            if found is None:
                return None
            if found["status"] == PENDING:
                conn.execute("UPDATE builds SET status = ?, completed_at = ?, error = ? "
                             "WHERE id = ?", (CANCELLED, now(), "cancelled before it started",
                                              build_id))
            elif found["status"] == RUNNING:
                # completed_at is set by the worker once the process tree is gone.
                conn.execute("UPDATE builds SET status = ?, error = ? WHERE id = ?",
                             (CANCELLED, "cancelled while it ran", build_id))
            return str(found["status"])

    def finish(self, build_id: int, status: str, **fields: Any) -> str:
        """Record how a build ended; a build cancelled meanwhile stays cancelled. Returns the
        status recorded."""
        with self.transaction() as conn:
            current = conn.execute("SELECT status FROM builds WHERE id = ?",
                                   (build_id,)).fetchone()["status"]
            final = CANCELLED if current == CANCELLED else status
            names = [k for k in fields if k in _BUILD_FIELDS and k != "status"]
            if final == CANCELLED:
                names = [k for k in names if k != "error"]  # keep why it was cancelled
            sets = ", ".join(["status = ?", *(f"{k} = ?" for k in names)])
            conn.execute(f"UPDATE builds SET {sets} WHERE id = ?",
                         (final, *(fields[k] for k in names), build_id))
        return final

    def recover(self) -> list[int]:
        """After a restart: builds left running failed (interrupted), cancels completed.
        Returns the ids of the interrupted builds; pending builds simply stay pending."""
        with self.transaction() as conn:
            stamp = now()
            left = conn.execute("SELECT id, started_at FROM builds WHERE status = ? OR "
                                "(status = ? AND completed_at IS NULL) ORDER BY id",
                                (RUNNING, CANCELLED)).fetchall()
            for row in left:
                spent = seconds_since(row["started_at"]) if row["started_at"] else None
                conn.execute("UPDATE builds SET status = CASE status WHEN ? THEN ? ELSE status "
                             "END, error = CASE status WHEN ? THEN ? ELSE error END, "
                             "completed_at = ?, duration = ? WHERE id = ?",
                             (RUNNING, FAILED, RUNNING, INTERRUPTED, stamp, spent, row["id"]))
            conn.execute("UPDATE build_tasks SET status = ?, ended_at = ? WHERE "
                         "status = ? AND build_id IN (SELECT id FROM builds WHERE "
                         "completed_at = ?)", (TASK_INTERRUPTED, stamp, TASK_STARTED, stamp))
        return [int(row["id"]) for row in left]

    # tasks of a build ------------------------------------------------------------

    def task_started(self, build_id: int, task: str) -> None:
        """A task of the build started."""
        with self.transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO build_tasks (build_id, task, status, "
                         "started_at) VALUES (?, ?, ?, ?)", (build_id, task, TASK_STARTED, now()))

    def task_finished(self, build_id: int, task: str, status: str, duration: float | None,
                      message: str | None, done: int, total: int) -> None:
        """A task ended: its result, and the build's progress, in one transaction."""
        with self.transaction() as conn:
            conn.execute("INSERT INTO build_tasks (build_id, task, status, duration, message, "
                         "ended_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (build_id, task) DO "
                         "UPDATE SET status = excluded.status, duration = excluded.duration, "
                         "message = excluded.message, ended_at = excluded.ended_at",
                         (build_id, task, status, duration, message, now()))
            conn.execute("UPDATE builds SET progress_done = ?, progress_total = ? WHERE id = ?",
                         (done, total, build_id))

    def tasks(self, build_id: int) -> list[dict[str, Any]]:
        """A build's tasks in the order they started (or ended, for those never started)."""
        return self.rows("SELECT task, status, duration, message, started_at, ended_at FROM "
                         "build_tasks WHERE build_id = ? ORDER BY COALESCE(started_at, "
                         "ended_at), rowid", (build_id,))

    # replays and retries --------------------------------------------------------

    def remember_delivery(self, delivery: str) -> bool:
        """Record a webhook delivery id; False if it was already recorded (a replay)."""
        return self._remember("deliveries", "id", "received", delivery, ())

    def forget_delivery(self, delivery: str) -> None:
        """Drop a delivery whose build could not be queued, so a redelivery may queue it."""
        with self.transaction() as conn:
            conn.execute("DELETE FROM deliveries WHERE id = ?", (delivery,))

    def idempotent_build(self, key: str) -> int | None:
        """The build an Idempotency-Key made (within the retention period), or None."""
        found = self.rows("SELECT build_id FROM idempotency WHERE key = ? AND created > ?",
                          (key, time.time() - RETENTION))
        return int(found[0]["build_id"]) if found else None

    def remember_key(self, key: str, build_id: int) -> bool:
        """Tie an Idempotency-Key to its build; False if another request took it first."""
        return self._remember("idempotency", "key", "created", key, (build_id,))

    def _remember(self, table: str, key: str, stamp: str, value: str,
                  extra: tuple[Any, ...]) -> bool:
        """Insert a row unless its key is there; prune rows past the retention period and
        the oldest beyond REMEMBERED."""
        moment = time.time()
        holes = ", ".join("?" * (2 + len(extra)))
        with self.transaction() as conn:
            conn.execute(f"DELETE FROM {table} WHERE {stamp} <= ?", (moment - RETENTION,))
            added = conn.execute(f"INSERT OR IGNORE INTO {table} VALUES ({holes})",
                                 (value, *extra, moment))
            conn.execute(f"DELETE FROM {table} WHERE rowid IN (SELECT rowid FROM {table} "
                         f"ORDER BY {stamp} DESC LIMIT -1 OFFSET ?)", (REMEMBERED,))
        return added.rowcount == 1

    # statistics -----------------------------------------------------------------

    def stats(self, project_id: str) -> dict[str, Any]:
        """Counts per status, success rate (of all builds, in percent), average duration."""
        counts = {row["status"]: row["n"] for row in self.rows(
            "SELECT status, COUNT(*) AS n FROM builds WHERE project_id = ? GROUP BY status",
            (project_id,))}
        average = self.rows("SELECT AVG(duration) AS d FROM builds WHERE project_id = ? AND "
                            "status IN (?, ?) AND duration IS NOT NULL",
                            (project_id, SUCCESS, FAILED))[0]["d"]
        total = sum(counts.values())
        successful = counts.get(SUCCESS, 0)
        return {"project_id": project_id, "total": total, "total_builds": total,
                "successful": successful, "failed": counts.get(FAILED, 0),
                "cancelled": counts.get(CANCELLED, 0), "pending": counts.get(PENDING, 0),
                "running": counts.get(RUNNING, 0),
                "success_rate": round(100.0 * successful / total, 1) if total else 0.0,
                "average_duration": round(average, 3) if average is not None else None}

    def _update(self, table: str, key: str, value: Any, fields: dict[str, Any],
                allowed: set[str]) -> None:
        names = [k for k in fields if k in allowed]
        if not names:
            return
        sets = ", ".join(f"{k} = ?" for k in names)
        with self.transaction() as conn:
            conn.execute(f"UPDATE {table} SET {sets} WHERE {key} = ?",
                         (*(fields[k] for k in names), value))


def _filter(project_id: str | None, status: str | None) -> tuple[str, tuple[Any, ...]]:
    clauses, args = [], []
    if project_id is not None:
        clauses.append("project_id = ?")
        args.append(project_id)
    if status is not None:
        clauses.append("status = ?")
        args.append(status)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), tuple(args)


def _project(row: dict[str, Any]) -> dict[str, Any]:
    row["build_tags"] = bool(row.get("build_tags"))
    return row


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    """A build row with its JSON columns parsed."""
    row["tasks"] = json.loads(row["tasks"] or "[]")
    row["test_results"] = json.loads(row["test_results"]) if row["test_results"] else None
    row["worktree"] = bool(row["worktree"])
    return row
