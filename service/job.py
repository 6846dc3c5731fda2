"""One build, start to end: check out its commit, run doit, follow its events, record it."""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from core.errors import ManifestError
from core.outcome import Status as TaskStatus
from core.runner import Command, Result, Status, run, tail_lines
from federation.manifest import parse_manifest
from service.channel import EventChannel
from service.config import FEDBUILD_ROOT, LOGGER, ServiceConfig
from service.db import (
    CANCELLED,
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCESS,
    Database,
    now,
    seconds_since,
)
from service.events import EventBus, translate
from service.fixes import keep_fixes
from service.git import Git, GitError
from service.tree import MARKER, build_cgroup, kill_build

OUTPUT_LINES = 200  # kept in the record as build_output
POLL = 0.1  # how often the event channel is read and a cancel looked for
BACKSTOP = 60.0  # the runner's own timeout comes this much later than the build's
_FAILED_TASK = (TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value, TaskStatus.NO_TESTS.value)

log = logging.getLogger(LOGGER)


class BuildJob:
    """Runs one claimed build in the calling (worker) thread; run() never raises."""

    def __init__(self, config: ServiceConfig, db: Database, bus: EventBus,
                 build: dict[str, Any], project: dict[str, Any], cancelled: threading.Event,
                 stopping: threading.Event) -> None:
        self.config, self.db, self.bus = config, db, bus
        self.build, self.project = build, project
        self.id: int = build["id"]
        self.cancelled, self.stopping = cancelled, stopping
        self.dir = config.build_dir(self.id)
        self.output = self.dir / "output.log"
        self.git = Git(self.dir / "git.log", transcript=self.output)
        self.worktree: Path | None = None
        self.run_files: Path | None = None
        self.timed_out = False

    def run(self) -> None:
        """Prepare, build, record; the record is written whatever happens."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._publish("build.status", status=RUNNING)
        status, error = FAILED, None
        folder: Path | None = None
        try:
            folder = self._prepare()
            if self._stopped():
                raise _Stop
            status, error = self._execute(folder)
        except _Stop:
            error = INTERRUPTED if self.stopping.is_set() else None
        except (GitError, OSError) as err:
            error = str(err)
        except Exception as err:  # a bug: keep the service and the record consistent
            log.exception("build %s: unexpected error", self.id)
            error = f"internal error: {err!r}"
        self._end(status, error, folder)

    # preparing --------------------------------------------------------------------

    def _prepare(self) -> Path:
        """The folder to build: the project's own, or a worktree of the commit asked for."""
        project_dir = Path(self.project["path"])
        if self.config.is_clone(project_dir):
            self.git.fetch(project_dir)
        if not self.build["worktree"]:
            self._record_head(project_dir)
            return project_dir
        branch = self.build["branch"] or self.project["branch"]
        ref = self.build["commit_sha"] or (f"origin/{branch}" if branch else "origin/HEAD")
        sha = self.git.commit(project_dir, ref)
        message, author = self.git.describe(project_dir, sha)
        prefix = self.git.prefix(project_dir) or ""
        tree = self.config.worktree(self.id)
        if tree.exists():  # left by a service killed while it set this build up
            self._remove_worktree(project_dir, tree)
        self.worktree = tree  # removed at the end even if adding it fails halfway
        self.git.add_worktree(project_dir, tree, sha)
        folder = tree / prefix
        self.db.update_build(self.id, commit_sha=sha, folder=str(folder),
                             commit_message=self.build["commit_message"] or message,
                             commit_author=self.build["commit_author"] or author)
        return folder

    def _record_head(self, folder: Path) -> None:
        """The commit the project's checkout is at, if it is a git repository."""
        fields: dict[str, Any] = {"folder": str(folder)}
        if self.git.prefix(folder) is not None:
            try:
                sha = self.git.commit(folder, "HEAD")
                message, author = self.git.describe(folder, sha)
                branch = self.git.output(folder, "rev-parse", "--abbrev-ref", "HEAD",
                                         quiet=True).strip()
                fields.update(commit_sha=sha, commit_message=message, commit_author=author,
                              branch=self.build["branch"] or (None if branch == "HEAD"
                                                              else branch))
            except GitError:  # a repository without commits yet
                pass
        self.db.update_build(self.id, **fields)

    # running ------------------------------------------------------------------------

    def _execute(self, folder: Path) -> tuple[str, str | None]:
        """Run doit in folder, following its events until it ends; (status, error)."""
        channel = EventChannel(self.id)
        try:
            return self._supervise(folder, channel)
        finally:
            channel.close()

    def _supervise(self, folder: Path, channel: EventChannel) -> tuple[str, str | None]:
        outcome: list[Result | BaseException] = []
        thread = threading.Thread(target=_run_into,
                                  args=(self._command(folder, channel.address), outcome),
                                  name=f"build-{self.id}", daemon=True)
        started = time.monotonic()
        thread.start()
        last_kill = 0.0
        while thread.is_alive():
            thread.join(POLL)
            self._follow(channel.lines(), folder)
            if not self.timed_out and time.monotonic() - started > self.config.timeout:
                self.timed_out = True
            if (self._stopped() or self.timed_out) and time.monotonic() - last_kill > 1.0:
                # One way to kill for cancel, stop and timeout; repeated: a cancel may come
                # before the process has started.
                kill_build(self.config, self.id)
                last_kill = time.monotonic()
        self._follow(channel.lines(), folder)
        result = outcome[0]
        if isinstance(result, BaseException):
            raise result
        if self._stopped():
            raise _Stop
        if result.ok and not self.timed_out:
            return SUCCESS, None
        return FAILED, self._failure(result)

    def _command(self, folder: Path, events: str) -> Command:
        """doit under service.supervise: it dies with the service, keeps what the build
        orphans in its tree (and cgroup) and connects to the event channel (the socket at
        `events`) for doit alone."""
        # -v 2: the reporter follows each task's log, so the build output holds what tasks print.
        doit = (sys.executable, "-m", "doit", "run", "-f", str(FEDBUILD_ROOT / "dodo.py"),
                "-d", str(folder), "-v", "2", *self.build["tasks"], f"mode={self.build['mode']}",
                "fix=auto")  # a failed step's fixers are tried; a proven fix is kept
        group = build_cgroup(self.config, self.id, make=True)
        argv = (sys.executable, "-m", "service.supervise", "--parent", str(os.getpid()),
                "--events", events,
                *(("--cgroup", str(group)) if group is not None else ()), "--", *doit)
        env = {"NO_COLOR": "1", "PYTHONUNBUFFERED": "1", MARKER: self.config.marker(self.id)}
        return Command(argv=argv, cwd=FEDBUILD_ROOT, log=self.output, env=env,
                       timeout=self.config.timeout + BACKSTOP, append=True)

    def _follow(self, lines: list[dict[str, Any]], folder: Path) -> None:
        """Record and publish each reporter event."""
        for raw in lines:
            kind, task = raw.get("event"), str(raw.get("task"))
            if kind == "run.started":
                self.db.update_build(self.id, run_id=raw.get("run_id"), progress_done=0,
                                     progress_total=int(raw.get("total", 0)))
            elif kind == "task.started":
                self.db.task_started(self.id, task)
            elif kind == "task.finished":
                self.db.task_finished(self.id, task, str(raw.get("status")),
                                      raw.get("duration"), raw.get("message"),
                                      int(raw.get("done", 0)), int(raw.get("total", 0)))
            elif kind == "run.finished" and raw.get("run_files"):
                self.run_files = self._inside(folder, str(raw["run_files"]))
            event = translate(raw, self.id, self.project["id"])
            if event is not None:
                self.bus.publish(event)

    def _inside(self, folder: Path, named: str) -> Path | None:
        """The run-files folder an event names, if it is inside the build's folder; None,
        and a warning, for anything else: the file is only a report."""
        path = confined(folder, named)
        if path is None:
            log.warning("build %s: run files %r are outside the build's folder; ignored",
                        self.id, named[:200])
        return path

    def _failure(self, result: Result) -> str:
        """Why the build failed, in one line."""
        if self.timed_out or result.status is Status.TIMED_OUT:
            return f"timed out after {self.config.timeout:g}s; the build was killed"
        failed = [t["task"] for t in self.db.tasks(self.id)
                  if t["status"] in _FAILED_TASK]
        if failed:
            return "failed: " + ", ".join(failed)
        errors = [ln for ln in tail_lines(self.output, OUTPUT_LINES).splitlines()
                  if ln.startswith("ERROR:")]
        if errors:
            return errors[-1].removeprefix("ERROR:").strip()
        return result.describe().splitlines()[0]

    def _stopped(self) -> bool:
        return self.cancelled.is_set() or self.stopping.is_set()

    # ending ---------------------------------------------------------------------------

    def _end(self, status: str, error: str | None, folder: Path | None) -> None:
        """Keep the artifacts, remove the worktree, write the record, tell the clients."""
        started = self.db.build(self.id) or {}
        fields: dict[str, Any] = {
            "completed_at": now(), "error": error,
            "duration": seconds_since(started["started_at"]) if started.get(
                "started_at") else None,
            "build_output": tail_lines(self.output, OUTPUT_LINES),
            "test_results": _test_results(self.run_files),
            "run_files": str(self.run_files) if self.run_files else None,
        }
        try:
            fields.update(self._artifacts(folder))
        except OSError as err:
            log.warning("build %s: artifacts not kept (%s)", self.id, err)
        try:
            if folder is not None:
                keep_fixes(self.output, folder, self.dir / "fixes")
        except OSError as err:
            log.warning("build %s: proposed fixes not kept (%s)", self.id, err)
        if self.worktree is not None:
            self._remove_worktree(Path(self.project["path"]), self.worktree)
        if fields["test_results"] is not None:
            fields["test_results"] = json.dumps(fields["test_results"])
        final = self.db.finish(self.id, CANCELLED if self.cancelled.is_set() else status,
                               **fields)
        record = self.db.build(self.id) or {}
        self._publish("workflow.completed", status=final, success=final == SUCCESS,
                      duration=record.get("duration"), error=record.get("error"))
        self._publish("build.status", status=final)
        log.info("build %s of %s: %s%s", self.id, self.project["name"], final,
                 f" ({record.get('error')})" if record.get("error") else "")

    def _artifacts(self, folder: Path | None) -> dict[str, Any]:
        """Where the build's outputs are; a worktree's are copied out before it goes."""
        mode = self.build["mode"]
        if folder is None:
            return {}
        if self.worktree is None:
            return {"artifacts_path": str(folder / "dist" / mode)}
        kept = self.config.artifacts(self.id)
        kept.mkdir(parents=True, exist_ok=True)
        for source, name in ((folder / "dist" / mode, f"dist/{mode}"),
                             (folder / _output_dir(folder), _output_dir(folder)),
                             (self.run_files, "run")):
            if source is not None and source.is_dir():
                shutil.copytree(source, kept / name, symlinks=True, dirs_exist_ok=True)
        fields: dict[str, Any] = {"artifacts_path": str(kept)}
        if self.run_files is not None and (kept / "run").is_dir():
            self.run_files = kept / "run"
            fields["run_files"] = str(kept / "run")
        return fields

    def _remove_worktree(self, project_dir: Path, tree: Path) -> None:
        try:
            self.git.remove_worktree(project_dir, tree)
        except GitError as err:
            log.warning("build %s: %s; removing %s by hand", self.id, err, tree)
        self.config.remove(tree)

    def _publish(self, kind: str, **fields: Any) -> None:
        self.bus.publish({"type": kind, "job_id": self.id, "project_id": self.project["id"],
                          "timestamp": now(), **fields})


class _Stop(Exception):
    """The build was cancelled, or the service is stopping."""


def _run_into(command: Command, outcome: list[Result | BaseException]) -> None:
    try:
        outcome.append(run(command))
    except BaseException as err:  # handed to the worker thread, which re-raises it
        outcome.append(err)


def confined(folder: Path, named: str) -> Path | None:
    """folder/named with symlinks followed, if that is inside folder; None otherwise."""
    try:
        path = (folder / named).resolve()
        return path if path.is_relative_to(folder.resolve()) else None
    except (OSError, ValueError):
        return None


def _output_dir(folder: Path) -> str:
    """The manifest's federation.output_dir (public/ when it cannot be read)."""
    try:
        text = (folder / "modules.json").read_text(encoding="utf-8")
        return str(parse_manifest(text, "modules.json").federation.output_dir)
    except (OSError, ManifestError):
        return "public"


def _test_results(run_files: Path | None) -> dict[str, Any] | None:
    """Counts and cases of the run's junit.xml (None when there is none)."""
    if run_files is None:
        return None
    try:
        root = ET.parse(run_files / "junit.xml").getroot()
    except (OSError, ET.ParseError):
        return None
    counts = {key: int(root.get(key, "0")) for key in ("tests", "failures", "errors",
                                                        "skipped")}
    cases = []
    for case in root.iter("testcase"):
        outcome = next((child.tag for child in case
                        if child.tag in ("failure", "error", "skipped")), "passed")
        cases.append({"name": f"{case.get('name')}:{case.get('classname')}",
                      "status": outcome, "time": float(case.get("time", "0") or 0)})
    passed = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {**counts, "passed": passed, "time": float(root.get("time", "0") or 0),
            "cases": cases}
