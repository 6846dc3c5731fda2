"""Files for other tools, written after every run: a JSON summary, a Chrome trace, JUnit XML.

Each run gets a folder under the state folder's `runs/`, named after its start
(UTC) and its history id, so names sort by start: `20250314T101502.123456Z-42`.
The three files are written into a hidden temporary folder which is then renamed:
a reader sees a run's folder whole or not at all. `latest.json` (and a `latest`
symlink, where the file system has them) names the newest; only the last KEEP
run folders are kept.

- summary.json: the run and every task (status, timings, digests, outputs, deps).
- trace.json: Chrome's trace-event format (Perfetto, chrome://tracing): one lane per
  worker (doit's here, then each Dask worker's, named by its address), a complete event
  per executed task (a remote one spans its work on the worker); skipped tasks are instant
  events on a last lane, "not run"; up-to-date tasks are left out (summary.json has them).
- junit.xml: the test steps (`test:<module>`) as test cases, with their captured output.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import socket
import time
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from core.confine import remove_tree
from core.junit import LOG_BYTES, xml_text
from core.outcome import Status
from tasks.timeline import RunInfo, TaskRun

SCHEMA = 1  # of summary.json: raised when a field changes meaning or goes away
KEEP = 50  # run folders kept
SUMMARY, TRACE, JUNIT, LATEST = "summary.json", "trace.json", "junit.xml", "latest"
FAILURE_LINES = 40  # of a failed test's log in <failure>
_FOLDER = re.compile(r"\d{8}T\d{6}\.\d{6}Z(-\d+)?")
_TMP_PREFIX = ".tmp-"
# What XML 1.0 cannot carry at all, even escaped: control characters and lone surrogates.
# (Written as what is excluded, not as the complement of what is allowed: the same set, but
# a small class that compiles in a fraction of a millisecond instead of five.)


@dataclass(frozen=True)
class RunFiles:
    """Where one run's files were written."""

    folder: Path
    summary: Path
    trace: Path
    junit: Path


def write_run_files(runs_dir: Path, run: RunInfo, keep: int = KEEP) -> RunFiles:
    """Write the run's summary, trace and JUnit files into their folder under runs_dir,
    point `latest` at it and remove all but the `keep` newest run folders."""
    name = folder_name(run)
    runs_dir.mkdir(parents=True, exist_ok=True)
    tmp = runs_dir / f"{_TMP_PREFIX}{name}-{os.getpid()}"
    remove_tree(tmp, runs_dir, ignore_errors=True)
    tmp.mkdir()
    lanes = assign_lanes(run)
    _write_json(tmp / SUMMARY, summary(run, lanes, name), rows="tasks")
    _write_json(tmp / TRACE, trace(run, lanes), rows="traceEvents")
    junit_tree(run).write(tmp / JUNIT, encoding="utf-8", xml_declaration=True)
    folder = runs_dir / name
    if folder.exists():  # the same run written again: the new files win
        remove_tree(folder, runs_dir)
    tmp.rename(folder)
    _point_latest(runs_dir, name)
    prune(runs_dir, keep, current=name)
    return RunFiles(folder, folder / SUMMARY, folder / TRACE, folder / JUNIT)


def folder_name(run: RunInfo) -> str:
    """`<start, UTC, to the microsecond>[-<history id>]`: unique, and sorts by start."""
    started = datetime.fromtimestamp(run.started, timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return started if run.id is None else f"{started}-{run.id}"


def latest_run(runs_dir: Path) -> Path | None:
    """The newest run's folder, as latest.json names it; None when there is none."""
    try:
        name = json.loads((runs_dir / f"{LATEST}.json").read_text(encoding="utf-8"))["run"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    folder = runs_dir / str(name)
    return folder if _FOLDER.fullmatch(str(name)) and folder.is_dir() else None


def run_folders(runs_dir: Path) -> list[Path]:
    """Every run folder under runs_dir, oldest first."""
    try:
        names = [e.name for e in os.scandir(runs_dir) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []
    return [runs_dir / n for n in sorted(n for n in names if _FOLDER.fullmatch(n))]


def prune(runs_dir: Path, keep: int, current: str | None = None) -> None:
    """Remove all but the `keep` newest run folders (never `current`), and the temporary
    folders of writers that died."""
    folders = run_folders(runs_dir)
    for folder in folders[:max(0, len(folders) - keep)]:
        if folder.name != current:
            remove_tree(folder, runs_dir, ignore_errors=True)
    for entry in os.scandir(runs_dir):
        pid = entry.name.rpartition("-")[2]
        if entry.name.startswith(_TMP_PREFIX) and pid.isdigit() and not _alive(int(pid)):
            remove_tree(entry.path, runs_dir, ignore_errors=True)


# summary.json ------------------------------------------------------------------


def summary(run: RunInfo, lanes: dict[str, int], folder: str) -> dict[str, Any]:
    """The run summary document."""
    return {
        "schema": SCHEMA,
        "id": run.id,
        "folder": folder,
        "started": iso(run.started),
        "started_epoch": run.started,
        "ended": iso(run.ended),
        "ended_epoch": run.ended,
        "duration": round(run.ended - run.started, 6),
        "argv": list(run.argv),
        "mode": run.mode,
        "status": run.status,
        "workers": run.workers,
        "git": {"commit": run.git_commit, "branch": run.git_branch},
        "counts": status_counts(run.tasks),
        "tasks": [_task_entry(t, lanes.get(t.name)) for t in run.tasks],
    }


def _task_entry(task: TaskRun, lane: int | None) -> dict[str, Any]:
    return {
        "name": task.name,
        "status": task.status,
        "executed": task.executed,
        "started": iso(task.started) if task.started is not None else None,
        "started_epoch": task.started,
        "ended": iso(task.ended),
        "ended_epoch": task.ended,
        "duration": task.duration,
        "attempts": task.attempts,
        "exit_code": task.exit_code,
        "peak_rss": task.peak_rss,
        "cpu_time": task.cpu_time,
        "log": task.log,
        "message": task.message,
        "inputs_digest": task.inputs_digest,
        "output_digest": task.output_digest,
        "outputs": list(task.outputs),
        "deps": list(task.deps),
        "test": task.test,
        "saved": task.saved,
        "worker": task.worker,
        "queued": task.queued,
        "remote_run": task.remote_run,
        "remote_started": task.remote_started,
        "lane": lane,
    }


def status_counts(tasks: tuple[TaskRun, ...]) -> dict[str, int]:
    """How many tasks ended with each status: the known statuses first, in Status order."""
    counts = Counter(t.status for t in tasks)
    order = [s.value for s in Status] + sorted(set(counts) - {s.value for s in Status})
    return {status: counts[status] for status in order if counts[status]}


def iso(epoch: float) -> str:
    """ISO-8601 in UTC, to the millisecond: `2025-03-14T10:15:02.123Z`."""
    whole, millis = divmod(round(epoch * 1000), 1000)
    return f"{_second(whole)}.{millis:03d}Z"


@functools.lru_cache(maxsize=64)
def _second(whole: int) -> str:
    # time.gmtime + strftime: a tenth of datetime's cost; and the tasks of a run mostly end
    # within the same few seconds, each formatted once.
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))


# trace.json --------------------------------------------------------------------


def assign_lanes(run: RunInfo) -> dict[str, int]:
    """Lanes (1, 2, ...) for the executed tasks: first the lanes of doit's workers here, then
    (executor=dask) each Dask worker's. Within each, greedy interval partitioning, so a lane
    never holds two overlapping tasks and consistent data needs at most `workers` here and a
    worker's threads there."""
    lanes: dict[str, int] = {}
    for worker in _workers(run):
        spans = {t.name: _span(t, run.started) for t in run.tasks
                 if t.executed and (t.worker or "") == worker}
        first = max(lanes.values(), default=0)
        lanes.update({name: first + lane for name, lane in _partition(spans).items()})
    return lanes


def _workers(run: RunInfo) -> list[str]:
    """"" (here), then the Dask workers that ran tasks, by address."""
    return ["", *sorted({t.worker for t in run.tasks if t.executed and t.worker})]


def _partition(spans: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Lanes 1, 2, ... for the spans: each into the first lane free at its start."""
    ends: list[int] = []  # per lane, when its last task ended (µs after the run's start)
    lanes = {}
    for name in sorted(spans, key=lambda n: (*spans[n], n)):
        start, end = spans[name]
        lane = next((i for i, last in enumerate(ends) if last <= start), len(ends))
        if lane == len(ends):
            ends.append(end)
        ends[lane] = end
        lanes[name] = lane + 1
    return lanes


def _span(task: TaskRun, origin: float) -> tuple[int, int]:
    """A task's start and end in whole microseconds after `origin`: on its Dask worker (from
    the worker's start) when it ran on one, else here."""
    assert task.started is not None
    begun, ended = task.started, task.ended
    if task.worker and task.remote_started:
        begun, ended = task.remote_started, task.remote_started + (task.remote_run or 0.0)
    start = round((begun - origin) * 1e6)
    return start, max(start, round((ended - origin) * 1e6))


def _lane_names(run: RunInfo, lanes: dict[str, int]) -> dict[int, str]:
    """Each lane's name: `worker N` here, the Dask worker's address there (`#2`, ... for a
    worker's second thread)."""
    where = {t.name: t.worker or "" for t in run.tasks}
    names: dict[int, str] = {}
    counted: dict[str, int] = {}
    for name, lane in sorted(lanes.items(), key=lambda item: item[1]):
        if lane in names:
            continue
        worker = where.get(name, "")
        counted[worker] = counted.get(worker, 0) + 1
        names[lane] = (f"worker {lane}" if not worker else
                       worker if counted[worker] == 1 else f"{worker} #{counted[worker]}")
    return names


def trace(run: RunInfo, lanes: dict[str, int]) -> dict[str, Any]:
    """The Chrome trace-event document: metadata, then a complete event per executed task."""
    idle = max(lanes.values(), default=0) + 1  # the "not run" lane
    label = f"fedbuild run {run.id if run.id is not None else folder_name(run)}"
    events: list[dict[str, Any]] = [_meta("process_name", 0, {"name": label})]
    for lane, name in sorted(_lane_names(run, lanes).items()):
        events.append(_meta("thread_name", lane, {"name": name}))
        events.append(_meta("thread_sort_index", lane, {"sort_index": lane}))
    not_run = [t for t in run.tasks if not t.executed and t.status != Status.UP_TO_DATE.value]
    if not_run:
        events.append(_meta("thread_name", idle, {"name": "not run"}))
        events.append(_meta("thread_sort_index", idle, {"sort_index": idle}))
    for task in run.tasks:
        if task.executed:
            start, end = _span(task, run.started)
            events.append({"name": task.name, "cat": task.status, "ph": "X", "ts": start,
                           "dur": end - start, "pid": 1, "tid": lanes[task.name],
                           "args": _event_args(task)})
    for task in not_run:
        events.append({"name": task.name, "cat": task.status, "ph": "i", "s": "t",
                       "ts": round((task.ended - run.started) * 1e6), "pid": 1, "tid": idle,
                       "args": _event_args(task)})
    return {"traceEvents": events, "displayTimeUnit": "ms",
            "otherData": {"run": run.id, "status": run.status, "mode": run.mode,
                          "workers": run.workers, "argv": list(run.argv),
                          "started": iso(run.started), "counts": status_counts(run.tasks)}}


def _meta(kind: str, tid: int, args: dict[str, Any]) -> dict[str, Any]:
    return {"name": kind, "ph": "M", "pid": 1, "tid": tid, "args": args}


def _event_args(task: TaskRun) -> dict[str, Any]:
    args = {"status": task.status, "attempts": task.attempts, "exit_code": task.exit_code,
            "log": task.log, "duration": task.duration, "peak_rss": task.peak_rss,
            "cpu_time": task.cpu_time, "message": task.message, "worker": task.worker,
            "queued": task.queued, "remote_run": task.remote_run}
    return {key: value for key, value in args.items() if value is not None}


# junit.xml ---------------------------------------------------------------------

# Each status a test case can end with, as JUnit's element for it (passed: none); the status
# word itself is the element's type or message, so every reader sees fedbuild's word.
_FAILED = (Status.FAILED.value, Status.TIMED_OUT.value, Status.NO_TESTS.value)
_PASSED = (Status.BUILT.value, Status.FLAKY.value, Status.UP_TO_DATE.value,
           Status.CACHED.value, Status.NOT_NEEDED.value)
_SKIPPED = (Status.SKIPPED.value, Status.NO_BOARD.value)


def junit_tree(run: RunInfo) -> ET.ElementTree:
    """`<testsuites>` of one `<testsuite name="fedbuild">`: a `<testcase>` per test task."""
    tests = [t for t in run.tasks if t.test]
    cases = [_testcase(t) for t in tests]
    counts = {"tests": len(cases),
              "failures": sum(t.status in _FAILED for t in tests),
              "errors": sum(t.status not in (*_FAILED, *_PASSED, *_SKIPPED) for t in tests),
              "skipped": sum(t.status in _SKIPPED for t in tests)}
    seconds = _seconds(sum(t.duration or 0.0 for t in tests if t.executed))
    root = ET.Element("testsuites", {"name": "fedbuild", **_text(counts), "time": seconds})
    suite = ET.SubElement(root, "testsuite", {
        "name": "fedbuild", **_text(counts), "time": seconds,
        "timestamp": datetime.fromtimestamp(run.started, timezone.utc)
                             .strftime("%Y-%m-%dT%H:%M:%S"),  # UTC: the schema has no zone
        "hostname": socket.gethostname()})
    suite.extend(cases)
    ET.indent(root)
    return ET.ElementTree(root)


def _testcase(task: TaskRun) -> ET.Element:
    step, _, module = task.name.partition(":")
    case = ET.Element("testcase", {"classname": module or "fedbuild", "name": step,
                                   "time": _seconds(task.duration if task.executed else 0.0)})
    output = _log_text(task.log) if task.executed else ""
    if task.status in _FAILED:
        failure = ET.SubElement(case, "failure", {"message": xml_text(_failure_message(task)),
                                                  "type": task.status})
        failure.text = "\n".join(output.splitlines()[-FAILURE_LINES:])
    elif task.status in _SKIPPED:
        ET.SubElement(case, "skipped", {"message": xml_text(_worded(task))})
    elif task.status not in _PASSED:
        ET.SubElement(case, "error", {"message": xml_text(_worded(task)), "type": task.status})
    ET.SubElement(case, "system-out").text = _note(task) + output
    return case


def _note(task: TaskRun) -> str:
    """A first line for <system-out> when the output alone would mislead."""
    if task.status == Status.UP_TO_DATE.value:
        where = f"; the output of its last run is in {task.log}" if task.log else ""
        return f"up to date: not re-run in this run{where}\n"
    if task.status == Status.CACHED.value:
        return "cached: restored from the cache, not re-run in this run\n"
    if task.status == Status.FLAKY.value:
        return f"flaky: passed on attempt {task.attempts}\n"
    return ""


def _worded(task: TaskRun) -> str:
    """`<status>: <message>` (the status alone without a message)."""
    message = (task.message or "").strip()
    return f"{task.status}: {message}" if message else task.status


def _failure_message(task: TaskRun) -> str:
    if task.message and task.message.strip():
        return task.message.strip().splitlines()[0]
    if task.status == Status.TIMED_OUT.value:
        return Status.TIMED_OUT.value
    return f"exit code {task.exit_code}" if task.exit_code is not None else task.status


def _log_text(path: str | None, limit: int = LOG_BYTES) -> str:
    """The end of a log file (at most `limit` bytes) as text XML can carry."""
    if not path:
        return ""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - limit))
            data = f.read(limit)
    except OSError as err:
        return f"(log not readable: {err.strerror}: {path})\n"
    text = data.decode("utf-8", errors="replace")
    if size > limit:  # start at a whole line
        text = f"[... the first {size - len(data)} bytes are left out ...]\n" + \
            text.partition("\n")[2]
    return xml_text(text)


def _seconds(value: float | None) -> str:
    return f"{value or 0.0:.3f}"


def _text(counts: dict[str, int]) -> dict[str, str]:
    return {key: str(value) for key, value in counts.items()}


# files -------------------------------------------------------------------------


def _write_json(path: Path, document: dict[str, Any], rows: str) -> None:
    """A key a line, and each item of the list `rows` (written last) a line: readable, and
    several times faster to write than indented JSON (the C encoder does not indent)."""
    head = [f"{json.dumps(key)}: {json.dumps(value)}" for key, value in document.items()
            if key != rows]
    items = ",\n".join(json.dumps(item) for item in document[rows])
    path.write_text("{" + ",\n".join([*head, f"{json.dumps(rows)}: [\n{items}\n]"]) + "}\n",
                    encoding="utf-8")


def _point_latest(runs_dir: Path, name: str) -> None:
    """latest.json (and the `latest` symlink, where there are symlinks) name the new folder;
    each is replaced by a rename, so a reader finds the old one or the new one."""
    tmp = runs_dir / f"{_TMP_PREFIX}{LATEST}.json-{os.getpid()}"
    tmp.write_text(json.dumps({"run": name, "summary": f"{name}/{SUMMARY}",
                               "trace": f"{name}/{TRACE}", "junit": f"{name}/{JUNIT}"}) + "\n",
                   encoding="utf-8")
    tmp.replace(runs_dir / f"{LATEST}.json")
    link = runs_dir / f"{_TMP_PREFIX}{LATEST}-{os.getpid()}"
    with contextlib.suppress(OSError):  # no symlinks here: latest.json alone says it
        remove_tree(link, runs_dir)
        link.symlink_to(name, target_is_directory=True)
        link.replace(runs_dir / LATEST)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process
    return True
