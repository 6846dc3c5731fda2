"""Run history: every run and every task of it, in one SQLite file under the state folder.

Written as the run goes (WAL, one short transaction per executed task), so a
crash loses at most the task in flight, and several runs (or a `doit history`
beside a build) share the file safely. Up-to-date tasks, which change nothing,
are written in batches with the next executed task or at the end.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sqlite3
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.outcome import BUILT, FLAKY, UP_TO_DATE, RunStatus

FILE = "history.sqlite3"
# What started a run, set by the process that starts doit (`doit watch` sets "watch"); a run
# started by hand has none and is recorded as "manual".
TRIGGER_VARIABLE = "FEDBUILD_TRIGGER"
MANUAL = "manual"
BUSY_TIMEOUT_MS = 10_000  # how long a writer waits for another run's transaction
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    started REAL NOT NULL,
    ended REAL,
    argv TEXT NOT NULL,
    mode TEXT NOT NULL,
    git_commit TEXT,
    git_branch TEXT,
    status TEXT NOT NULL,
    pid INTEGER NOT NULL,
    trigger TEXT
);
CREATE TABLE IF NOT EXISTS tasks (
    run_id INTEGER NOT NULL REFERENCES runs(id),
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    started REAL,
    ended REAL NOT NULL,
    duration REAL,
    attempts INTEGER,
    exit_code INTEGER,
    peak_rss INTEGER,
    cpu_time REAL,
    log TEXT,
    message TEXT,
    saved REAL,
    fix TEXT,
    worker TEXT,
    queued REAL,
    remote_run REAL
);
CREATE INDEX IF NOT EXISTS tasks_by_name ON tasks(name, ended);
CREATE INDEX IF NOT EXISTS tasks_by_run ON tasks(run_id);
"""


# executor=dask's columns (name, SQL type), added to a history file written without them.
_REMOTE_COLUMNS = (("worker", "TEXT"), ("queued", "REAL"), ("remote_run", "REAL"))


@dataclass(frozen=True)
class TaskRecord:
    """One task's end in one run."""

    name: str
    status: str
    ended: float
    started: float | None = None
    duration: float | None = None
    attempts: int | None = None
    exit_code: int | None = None
    peak_rss: int | None = None
    cpu_time: float | None = None
    log: str | None = None
    message: str | None = None
    saved: float | None = None  # cached: what the original build took
    fix: str | None = None  # what a fixer did under fix=auto (tasks/fix.py's line)
    worker: str | None = None  # executor=dask: the worker that ran it
    queued: float | None = None  # executor=dask: seconds it waited for a worker
    remote_run: float | None = None  # executor=dask: seconds the worker worked on it


@dataclass(frozen=True)
class RunRecord:
    """One run of doit."""

    id: int
    started: float
    ended: float | None
    argv: str
    mode: str
    git_commit: str | None
    git_branch: str | None
    status: str
    trigger: str = MANUAL


class History:
    """The history file of one repository."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._pending: list[tuple[int, TaskRecord]] = []
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000,
                                 check_same_thread=False, isolation_level=None)
            db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            wal_mode(db)
            db.execute("PRAGMA synchronous = NORMAL")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(tasks)")}
            if "saved" not in columns:  # a history written before the cache existed
                with contextlib.suppress(sqlite3.OperationalError):  # another run added it
                    db.execute("ALTER TABLE tasks ADD COLUMN saved REAL")
            if "fix" not in columns:  # a history written before fixers
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute("ALTER TABLE tasks ADD COLUMN fix TEXT")
            for column, kind in _REMOTE_COLUMNS:  # a history written before executor=dask
                if column not in columns:
                    with contextlib.suppress(sqlite3.OperationalError):
                        db.execute(f"ALTER TABLE tasks ADD COLUMN {column} {kind}")
            runs = {row[1] for row in db.execute("PRAGMA table_info(runs)")}
            if "trigger" not in runs:  # a history written before triggers were recorded
                with contextlib.suppress(sqlite3.OperationalError):
                    db.execute("ALTER TABLE runs ADD COLUMN trigger TEXT")
            self._db = db
        return self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            db = self._connect()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def begin_run(self, argv: str, mode: str, commit: str | None, branch: str | None,
                  pid: int, trigger: str = MANUAL) -> int:
        """Record a run that starts now; its id."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO runs (started, argv, mode, git_commit, git_branch, status, pid, "
                "trigger) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), argv, mode, commit, branch, RunStatus.RUNNING.value, pid,
                 trigger))
            return int(cursor.lastrowid or 0)

    def record_task(self, run_id: int, task: TaskRecord, batch: bool = False) -> None:
        """Record a task's end: at once, or (batch) with the next write."""
        with self._lock:
            self._pending.append((run_id, task))
        if not batch:
            self.flush()

    def flush(self) -> None:
        """Write the tasks waiting in the batch."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        with self._transaction() as db:
            db.executemany(
                "INSERT INTO tasks (run_id, name, status, started, ended, duration, attempts, "
                "exit_code, peak_rss, cpu_time, log, message, saved, fix, worker, queued, "
                "remote_run) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(run_id, t.name, t.status, t.started, t.ended, t.duration, t.attempts,
                  t.exit_code, t.peak_rss, t.cpu_time, t.log, t.message, t.saved, t.fix,
                  t.worker, t.queued, t.remote_run)
                 for run_id, t in pending])

    def end_run(self, run_id: int, status: str) -> None:
        """Record how the run ended (after writing what is still batched)."""
        self.flush()
        with self._transaction() as db:
            db.execute("UPDATE runs SET ended = ?, status = ? WHERE id = ?",
                       (time.time(), status, run_id))

    def close(self) -> None:
        """Close the file (the history stays readable by others meanwhile)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # reading ---------------------------------------------------------------------------

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """The most recent runs, newest first."""
        rows = self._read("SELECT id, started, ended, argv, mode, git_commit, git_branch, "
                          "status, trigger FROM runs ORDER BY id DESC LIMIT ?", (limit,))
        return [RunRecord(run_id, started, ended, argv, mode, commit, branch, status,
                          trigger or MANUAL)
                for run_id, started, ended, argv, mode, commit, branch, status, trigger in rows]

    def tasks(self, run_id: int) -> list[TaskRecord]:
        """The tasks of one run, in the order they ended."""
        rows = self._read("SELECT name, status, ended, started, duration, attempts, exit_code, "
                          "peak_rss, cpu_time, log, message, saved, fix, worker, queued, "
                          "remote_run FROM tasks "
                          "WHERE run_id = ? "
                          "ORDER BY ended, rowid", (run_id,))
        return [TaskRecord(*row) for row in rows]

    def durations(self, name: str | None = None, limit: int = 1000) -> list[tuple[Any, ...]]:
        """(task, status, duration) of the latest executions, newest first."""
        if name is None:
            return self._read("SELECT name, status, duration FROM tasks "
                              "WHERE status != ? ORDER BY ended DESC LIMIT ?",
                              (UP_TO_DATE, limit))
        return self._read("SELECT name, status, duration FROM tasks WHERE name = ? "
                          "AND status != ? ORDER BY ended DESC LIMIT ?",
                          (name, UP_TO_DATE, limit))

    def estimates(self, runs: int = 5) -> dict[str, float]:
        """Each task's expected duration: the median of its last `runs` successful
        executions (built or flaky), for ETAs and for scheduling."""
        rows = self._read(
            "SELECT name, duration FROM (SELECT name, duration, ROW_NUMBER() OVER "
            "(PARTITION BY name ORDER BY ended DESC) AS n FROM tasks WHERE status IN "
            "(?, ?) AND duration IS NOT NULL) WHERE n <= ?", (BUILT, FLAKY, runs))
        samples: dict[str, list[float]] = {}
        for name, duration in rows:
            samples.setdefault(name, []).append(float(duration))
        return {name: statistics.median(values) for name, values in samples.items()}

    def _read(self, sql: str, args: tuple[object, ...]) -> list[tuple[Any, ...]]:
        if not self.path.exists():
            return []
        with self._lock:
            return list(self._connect().execute(sql, args))


def wal_mode(db: sqlite3.Connection) -> None:
    """Switch to WAL. The pragma ignores busy_timeout while another connection is making a
    new file: retry it until that timeout has passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _git_dirs(root: Path) -> tuple[Path, Path] | None:
    """(the worktree's git folder, the common one with refs), following `gitdir:` files."""
    git = root / ".git"
    if git.is_file():
        text = git.read_text().strip()
        if not text.startswith("gitdir: "):
            return None
        git = (root / text[8:]).resolve()
    if not git.is_dir():
        return None
    common = git
    if (git / "commondir").is_file():
        common = (git / (git / "commondir").read_text().strip()).resolve()
    return git, common


def git_head(root: Path) -> tuple[str | None, str | None]:
    """(commit, branch) of the repository at `root`, read from .git without running git."""
    try:
        dirs = _git_dirs(root)
        if dirs is None:
            return None, None
        own, git = dirs
        head = (own / "HEAD").read_text().strip()
    except OSError:
        return None, None
    if not head.startswith("ref: "):
        return head or None, None
    ref = head[5:]
    branch = ref.removeprefix("refs/heads/")
    try:
        return (git / ref).read_text().strip(), branch
    except OSError:
        pass
    try:
        for line in (git / "packed-refs").read_text().splitlines():
            if line.endswith(" " + ref):
                return line.split()[0], branch
    except OSError:
        pass
    return None, branch


class RunRecorder:
    """The reporter's side of the history: one run's rows. A history that cannot be written
    costs one warning line, never the build."""

    def __init__(self, state_dir: Path, warn: Callable[[str], None]) -> None:
        self.history = History(state_dir / FILE)
        self.warn = warn
        self.run_id: int | None = None
        self._ended = False

    def begin(self, root: Path, argv: list[str], mode: str) -> None:
        """Record the run's start."""
        commit, branch = git_head(root)
        trigger = os.environ.get(TRIGGER_VARIABLE) or MANUAL
        self._safely(lambda: setattr(self, "run_id", self.history.begin_run(
            shlex.join(["doit", *argv]), mode, commit, branch, os.getpid(), trigger)))

    def task(self, record: TaskRecord) -> None:
        """Record a task's end (up-to-date ones batched)."""
        run_id = self.run_id
        if run_id is not None:
            self._safely(lambda: self.history.record_task(
                run_id, record, batch=record.status == UP_TO_DATE))

    def estimates(self) -> dict[str, float]:
        """Each task's expected duration from earlier runs ({} if the history is unreadable)."""
        try:
            return self.history.estimates()
        except (sqlite3.Error, OSError):
            return {}

    def end(self, status: str) -> None:
        """Record how the run ended (once)."""
        run_id = self.run_id
        if run_id is None or self._ended:
            return
        self._ended = True
        self._safely(lambda: self.history.end_run(run_id, status))
        self.history.close()

    def _safely(self, write: Callable[[], object]) -> None:
        try:
            write()
        except (sqlite3.Error, OSError) as err:
            self.warn(f"fedbuild: run history not recorded ({self.history.path}: {err})")
            self.run_id = None
