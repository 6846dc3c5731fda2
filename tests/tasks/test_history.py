"""The run history file: rows written and read back, shared by processes, git read from .git."""

from __future__ import annotations

import multiprocessing
import multiprocessing.synchronize
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tasks.history import FILE, History, RunRecorder, TaskRecord, git_head


def rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """Read the file with a connection of its own, as another process would."""
    db = sqlite3.connect(path)
    try:
        return list(db.execute(sql))
    finally:
        db.close()


def task(name: str, status: str = "built", ended: float = 1000.0,
         exit_code: int | None = None) -> TaskRecord:
    """A task record with just the fields a test looks at."""
    return TaskRecord(name=name, status=status, ended=ended, exit_code=exit_code)


# writing and reading back -----------------------------------------------------------------

def test_begin_record_end_round_trip(tmp_path: Path) -> None:
    """A run and its tasks come back from the reading methods with every field."""
    history = History(tmp_path / "state" / FILE)
    run_id = history.begin_run("doit run build:alpha", "production", "abc123", "main", 4242)
    built = TaskRecord(name="build:alpha", status="built", ended=1002.0, started=1000.0,
                       duration=2.0, attempts=1, exit_code=0, peak_rss=1 << 20, cpu_time=1.5,
                       log="/logs/alpha.log")
    failed = TaskRecord(name="build:beta", status="failed", ended=1003.0, started=1002.5,
                        duration=0.5, attempts=2, exit_code=7, log="/logs/beta.log",
                        message="exit code 7")
    history.record_task(run_id, built)
    history.record_task(run_id, failed)
    history.end_run(run_id, "failed")

    [run] = history.runs()
    assert (run.id, run.argv, run.mode, run.git_commit, run.git_branch, run.status) == \
        (run_id, "doit run build:alpha", "production", "abc123", "main", "failed")
    assert run.ended is not None and run.ended >= run.started
    assert history.tasks(run_id) == [built, failed]
    assert history.durations() == [("build:beta", "failed", 0.5), ("build:alpha", "built", 2.0)]
    assert history.durations("build:alpha") == [("build:alpha", "built", 2.0)]
    assert rows(history.path, "SELECT pid FROM runs") == [(4242,)]
    history.close()


def test_runs_are_listed_newest_first_and_limited(tmp_path: Path) -> None:
    """runs() gives the latest first; a run still going has no end and says 'running'."""
    history = History(tmp_path / FILE)
    first = history.begin_run("doit", "development", None, None, 1)
    history.end_run(first, "succeeded")
    second = history.begin_run("doit", "development", None, None, 2)
    assert [(r.id, r.status, r.ended) for r in history.runs(limit=1)] == \
        [(second, "running", None)]
    assert [r.id for r in history.runs()] == [second, first]
    history.close()


def test_reading_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    """Asking a repository that never ran gives empty answers without creating the file."""
    history = History(tmp_path / "state" / FILE)
    assert history.runs() == [] and history.tasks(1) == [] and history.durations() == []
    assert not (tmp_path / "state").exists()


def test_up_to_date_tasks_wait_for_the_next_write(tmp_path: Path) -> None:
    """Batched rows are not in the file until the next executed task, a flush or the end."""
    history = History(tmp_path / FILE)
    run_id = history.begin_run("doit", "development", None, None, 1)
    count = "SELECT count(*) FROM tasks"

    history.record_task(run_id, task("build:alpha", "up to date", ended=1.0), batch=True)
    history.record_task(run_id, task("build:beta", "up to date", ended=2.0), batch=True)
    assert rows(history.path, count) == [(0,)]
    history.flush()
    assert rows(history.path, count) == [(2,)]

    history.record_task(run_id, task("build:gamma", "up to date", ended=3.0), batch=True)
    assert rows(history.path, count) == [(2,)]
    history.record_task(run_id, task("federate", "built", ended=4.0))  # written at once
    assert rows(history.path, "SELECT name, status FROM tasks ORDER BY ended") == [
        ("build:alpha", "up to date"), ("build:beta", "up to date"),
        ("build:gamma", "up to date"), ("federate", "built")]

    history.record_task(run_id, task("verify", "up to date", ended=5.0), batch=True)
    history.end_run(run_id, "succeeded")
    assert rows(history.path, count) == [(5,)]
    history.close()


def test_recorder_batches_up_to_date_tasks_and_writes_executed_ones(tmp_path: Path) -> None:
    """The reporter's side: 'up to date' is batched, 'built' and 'failed' go in at once."""
    recorder = RunRecorder(tmp_path, warn=pytest.fail)
    recorder.begin(tmp_path, ["run", "mode=production"], "production")
    path = tmp_path / FILE
    recorder.task(task("build:alpha", "up to date"))
    assert rows(path, "SELECT count(*) FROM tasks") == [(0,)]
    recorder.task(task("build:beta", "failed", exit_code=7))
    assert rows(path, "SELECT name, status, exit_code FROM tasks ORDER BY rowid") == [
        ("build:alpha", "up to date", None), ("build:beta", "failed", 7)]
    recorder.task(task("build:gamma", "up to date"))
    recorder.end("failed")
    recorder.end("interrupted")  # the atexit hook after a completed run changes nothing
    assert rows(path, "SELECT argv, mode, status, pid FROM runs") == [
        ("doit run mode=production", "production", "failed", os.getpid())]
    assert rows(path, "SELECT count(*) FROM tasks") == [(3,)]


def test_file_is_in_wal_mode(tmp_path: Path) -> None:
    """Readers never block the writing run: the journal is a write-ahead log."""
    history = History(tmp_path / FILE)
    history.begin_run("doit", "development", None, None, 1)
    assert rows(history.path, "PRAGMA journal_mode") == [("wal",)]
    history.close()


# two processes on one file ----------------------------------------------------------------

ROWS_PER_PROCESS = 200


def _write_run(path: Path, go: multiprocessing.synchronize.Event,
               mine: multiprocessing.synchronize.Event,
               theirs: multiprocessing.synchronize.Event, label: str) -> None:
    """In a child process: one run with ROWS_PER_PROCESS executed tasks, each its own write.
    Its first row written, it says so (`mine`); its last waits until the other's first is
    written (`theirs`): the two runs overlap by construction, however the machine schedules
    them."""
    go.wait(10)
    history = History(path)
    run_id = history.begin_run(f"doit {label}", "development", None, None, os.getpid())
    for i in range(ROWS_PER_PROCESS):
        if i == ROWS_PER_PROCESS - 1:
            theirs.wait(30)
        history.record_task(run_id, TaskRecord(name=f"{label}:{i}", status="built",
                                               ended=time.time(), duration=0.001))
        if i == 0:
            mine.set()
        time.sleep(0.001)  # a task's work: the other process gets the file in between
    history.end_run(run_id, "succeeded")
    history.close()


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    """Two runs writing 200 rows each at the same time: 400 rows, an intact file.

    The file exists already (an earlier run made it); two processes creating a new file
    at once are the next test's case."""
    path = tmp_path / "state" / FILE
    History(path).close()  # creates it, in WAL mode, with the tables
    ctx = multiprocessing.get_context("fork")
    go, first = ctx.Event(), {label: ctx.Event() for label in ("a", "b")}
    workers = [ctx.Process(target=_write_run, args=(path, go, first[label], first[other], label))
               for label, other in (("a", "b"), ("b", "a"))]
    for worker in workers:
        worker.start()
    go.set()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0]

    assert rows(path, "PRAGMA integrity_check") == [("ok",)]
    assert rows(path, "SELECT count(*) FROM tasks") == [(2 * ROWS_PER_PROCESS,)]
    history = History(path)
    runs = {r.argv.split()[1]: r for r in history.runs()}
    assert {label: r.status for label, r in runs.items()} == {"a": "succeeded", "b": "succeeded"}
    ended = {}
    for label, run in runs.items():
        tasks = history.tasks(run.id)
        assert [t.name for t in tasks] == [f"{label}:{i}" for i in range(ROWS_PER_PROCESS)]
        ended[label] = (tasks[0].ended, tasks[-1].ended)
    history.close()
    # They did write at the same time: each began before the other's last task.
    assert ended["a"][0] < ended["b"][1] and ended["b"][0] < ended["a"][1]


# Run in a subprocess: create the history file (sys.argv[1]) and hold a write lock on it
# before it is in WAL mode, as a History in another process does while it switches a new
# file to WAL; print "held", release once a line comes on stdin.
HOLD_NEW_FILE = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()
db.execute("COMMIT")
"""


def test_a_new_file_another_process_is_creating_is_waited_for(tmp_path: Path) -> None:
    """Opening the file while another process holds it mid-creation waits (busy timeout)
    like every other write, instead of failing at once with 'database is locked'; it goes
    on once the holder lets go."""
    path = tmp_path / FILE
    holder = subprocess.Popen([sys.executable, "-c", HOLD_NEW_FILE, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    history = History(path)
    began: list[int | BaseException] = []

    def begin() -> None:
        try:
            began.append(history.begin_run("doit", "development", None, None, os.getpid()))
        except BaseException as err:  # the test reports it
            began.append(err)

    worker = threading.Thread(target=begin)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        worker.start()
        worker.join(0.2)
        assert worker.is_alive() and not began  # waiting for the lock, not failed at once
    finally:
        assert holder.stdin is not None
        holder.stdin.write("release\n")
        holder.stdin.close()
        holder.wait(10)
        worker.join(60)
    (run_id,) = began
    assert isinstance(run_id, int), run_id
    assert [r.id for r in history.runs()] == [run_id]
    history.close()
    assert rows(path, "PRAGMA journal_mode") == [("wal",)]


# a history that cannot be written ---------------------------------------------------------

@pytest.mark.parametrize("blocker", ["history file is a directory", "state folder is a file"])
def test_unwritable_history_warns_once_and_never_raises(tmp_path: Path, blocker: str) -> None:
    """The build goes on: one warning naming the file, then nothing more is attempted."""
    state = tmp_path / ".fedbuild"
    if blocker == "history file is a directory":
        (state / FILE).mkdir(parents=True)
    else:
        state.write_text("not a folder\n")
    warnings: list[str] = []
    recorder = RunRecorder(state, warn=warnings.append)

    recorder.begin(tmp_path, ["run"], "development")
    recorder.task(task("build:alpha"))
    recorder.task(task("build:beta", "up to date"))
    recorder.end("succeeded")
    recorder.end("interrupted")

    assert len(warnings) == 1, warnings
    assert warnings[0].startswith(f"fedbuild: run history not recorded ({state / FILE}: ")
    assert recorder.run_id is None


# git_head ---------------------------------------------------------------------------------

def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity; its output, stripped."""
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org",
         "-c", "init.defaultBranch=main", *args],
        cwd=repo, check=True, capture_output=True, text=True, timeout=30).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with one commit on branch main."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    (root / "README").write_text("hello\n")
    git(root, "add", "README")
    git(root, "commit", "-q", "-m", "first")
    return root


def test_git_head_on_a_branch(repo: Path) -> None:
    """The commit the branch points at, and the branch's short name."""
    assert git_head(repo) == (git(repo, "rev-parse", "HEAD"), "main")
    git(repo, "checkout", "-q", "-b", "feature/x")
    (repo / "README").write_text("changed\n")
    git(repo, "commit", "-q", "-am", "second")
    assert git_head(repo) == (git(repo, "rev-parse", "HEAD"), "feature/x")


def test_git_head_detached(repo: Path) -> None:
    """A detached HEAD has a commit and no branch."""
    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "checkout", "-q", "--detach")
    assert git_head(repo) == (commit, None)


def test_git_head_with_packed_refs(repo: Path) -> None:
    """After `git pack-refs --all` the branch has no loose file: read from packed-refs."""
    commit = git(repo, "rev-parse", "HEAD")
    git(repo, "tag", "-a", "v1", "-m", "annotated, so packed-refs has a peeled ^ line")
    git(repo, "pack-refs", "--all")
    assert not (repo / ".git/refs/heads/main").exists()
    assert git_head(repo) == (commit, "main")


def test_git_head_before_the_first_commit(tmp_path: Path) -> None:
    """A fresh repository is on a branch that points nowhere yet."""
    git(tmp_path, "init", "-q")
    assert git_head(tmp_path) == (None, "main")


def test_git_head_outside_git(tmp_path: Path) -> None:
    """No .git folder: nothing to record."""
    assert git_head(tmp_path) == (None, None)


def test_git_head_in_a_linked_worktree(repo: Path, tmp_path: Path) -> None:
    """`git worktree add`: .git is a file pointing at the real git folder; the commit and
    branch are still those of the checkout."""
    worktree = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "-b", "side", str(worktree))
    assert git_head(worktree) == (git(worktree, "rev-parse", "HEAD"), "side")


def test_a_history_from_before_fixers_gains_the_fix_column(tmp_path: Path) -> None:
    """A tasks table without `fix` (nor `saved`) is extended on open; its rows read as None."""
    path = tmp_path / FILE
    db = sqlite3.connect(path)
    db.executescript(
        "CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, started REAL NOT NULL, "
        "ended REAL, argv TEXT NOT NULL, mode TEXT NOT NULL, git_commit TEXT, git_branch TEXT,"
        " status TEXT NOT NULL, pid INTEGER NOT NULL);"
        "CREATE TABLE tasks (run_id INTEGER NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,"
        " started REAL, ended REAL NOT NULL, duration REAL, attempts INTEGER, exit_code INTEGER,"
        " peak_rss INTEGER, cpu_time REAL, log TEXT, message TEXT);"
        "INSERT INTO runs (started, argv, mode, status, pid) VALUES (1, 'doit', 'development',"
        " 'failed', 1);"
        "INSERT INTO tasks (run_id, name, status, ended) VALUES (1, 'lint:a', 'failed', 2);")
    db.commit()
    db.close()
    history = History(path)
    history.record_task(1, TaskRecord(name="lint:b", status="failed", ended=3.0,
                                      fix="fix:b: ruff check --fix made lint:b pass"))
    tasks = history.tasks(1)
    history.close()
    assert [(t.name, t.fix) for t in tasks] == [
        ("lint:a", None), ("lint:b", "fix:b: ruff check --fix made lint:b pass")]
