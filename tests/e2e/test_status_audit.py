"""The status audit: every way a task can end shows its own word, the same in each place a
person or a tool reads it, through real doit runs of tests/fixtures/statuses.

Interrupted, failed, timed out, skipped by platform, left out without a board, restored
from the cache and run with zero tests: each word must appear in the progress line, the
summary table, the run history, summary.json and the JUnit file. (There is no board here:
the fixture's `board` module stands in with a step that only shows the port it gets.)
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

from tests.conftest import doit_argv, eventually, run_doit

Repo = Callable[[str], Path]

# what `doit test` does to each module's test step here, and the word that says so
FIRST_RUN = {"test:broken": "failed", "test:slow": "timed out", "test:elsewhere": "skipped",
             "test:board": "no board", "test:empty": "no tests", "test:app": "built",
             "test:stored": "built", "test:hang": "built"}


def progress_word(out: str, task: str) -> str:
    """The status word of the task's last `[k/N] task <word> ...` progress line."""
    for line in reversed(out.splitlines()):
        match = re.match(rf"\[\d+/\d+\] {re.escape(task)} (.+)", line)
        if match and match.group(1) != "started":
            text = match.group(1)
            text = re.sub(r" \d+\.\d+s.*| \(.*", "", text)  # duration, note
            return "built" if text == "ok" else text
    raise AssertionError(f"no progress line for {task}:\n{out}")


def table_word(out: str, task: str) -> str:
    """The status column of the task's row in the summary table."""
    row = next(line for line in out.splitlines() if line.startswith(f"{task}  "))
    return row[len(task):].strip().split("  ")[0]


def history_word(repo: Path, task: str) -> str:
    """The task's status in the last run of the history."""
    db = sqlite3.connect(repo / ".fedbuild/history.sqlite3")
    try:
        [(status,)] = db.execute("SELECT status FROM tasks WHERE name = ? AND run_id = "
                                 "(SELECT MAX(id) FROM runs)", (task,)).fetchall()
    finally:
        db.close()
    return str(status)


def latest(repo: Path, kind: str) -> Path:
    """The latest run's summary.json or junit.xml."""
    runs = repo / ".fedbuild/runs"
    return runs / json.loads((runs / "latest.json").read_text())[kind]


def summary_word(repo: Path, task: str) -> str:
    """The task's status in the latest summary.json."""
    data = json.loads(latest(repo, "summary").read_text())
    return str(next(t["status"] for t in data["tasks"] if t["name"] == task))


def junit_words(repo: Path, task: str) -> list[str]:
    """What the task's test case says of its status: its failure, error or skipped element's
    type and message, and its output's first line."""
    module = task.partition(":")[2]
    root = ET.parse(latest(repo, "junit")).getroot()
    case = next(c for c in root.iter("testcase") if c.get("classname") == module)
    said = [value for child in case if child.tag in ("failure", "error", "skipped")
            for value in (child.get("type"), child.get("message")) if value]
    said.append((case.findtext("system-out") or "").partition("\n")[0])
    return said


def assert_everywhere(repo: Path, out: str, task: str, word: str) -> None:
    """`word` is the task's status in each of the five places."""
    assert progress_word(out, task) == word, (task, out)
    assert table_word(out, task) == word, (task, out)
    assert history_word(repo, task) == word, task
    assert summary_word(repo, task) == word, task
    if word != "built":  # a passed test case has no element to carry a word
        said = junit_words(repo, task)
        assert any(s == word or s.startswith(f"{word}:") for s in said), (task, said)


def test_each_ending_has_its_own_word_everywhere(monorepo: Repo) -> None:
    repo = monorepo("statuses")

    first = run_doit(repo, "test")
    out = first.stdout + first.stderr
    assert first.returncode == 1, out
    for task, word in FIRST_RUN.items():
        assert_everywhere(repo, out, task, word)
    assert len(set(FIRST_RUN.values())) == 6  # failed, timed out, skipped, no board, ...

    # restored from the cache: doit forgets that it ran, so the step runs, and its cache
    # entry is found
    assert run_doit(repo, "forget", "test:stored").returncode == 0
    cached = run_doit(repo, "test:stored")
    assert cached.returncode == 0, cached.stdout + cached.stderr
    assert_everywhere(repo, cached.stdout, "test:stored", "cached")

    # interrupted while it runs (doit forgets that it ran; the step is not cacheable)
    (repo / "hang.flag").write_text("hang\n")
    assert run_doit(repo, "forget", "test:hang").returncode == 0
    proc = subprocess.Popen(doit_argv(repo, "test:hang"), cwd=repo, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "NO_COLOR": "1"})
    try:
        log = repo / ".fedbuild/logs/test/hang.log"
        assert eventually(lambda: log.exists() and "hanging" in log.read_text(), timeout=60)
        proc.send_signal(signal.SIGINT)
        stopped, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, stopped
    assert_everywhere(repo, stopped, "test:hang", "interrupted")
