"""The build queue: worker threads take the oldest pending build whose project has no
build running, so at most `workers` builds run at once and one per project."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from service.config import LOGGER, ServiceConfig
from service.db import CANCELLED, FAILED, PENDING, RUNNING, Database, now
from service.events import EventBus
from service.git import Git, GitError
from service.job import BuildJob
from service.refs import branch_name, full_commit
from service.tree import kill_build, remove_cgroups

IDLE_WAIT = 1.0  # a worker with nothing to do looks again at least this often
STOP_WAIT = 15.0

log = logging.getLogger(LOGGER)


class BuildQueue:
    """Pending builds in the database, run by a fixed number of worker threads."""

    def __init__(self, config: ServiceConfig, db: Database, bus: EventBus) -> None:
        self.config, self.db, self.bus = config, db, bus
        self._cond = threading.Condition()
        self._running: dict[int, str] = {}  # build id -> project id, while a worker has it
        self._cancels: dict[int, threading.Event] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Recover from an earlier stop, then start the workers."""
        self.recover()
        for number in range(max(1, self.config.workers)):
            thread = threading.Thread(target=self._work, name=f"build-worker-{number}",
                                      daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        """Stop taking builds; running ones are killed and recorded as interrupted."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(STOP_WAIT)
        remove_cgroups(self.config)

    def recover(self) -> list[int]:
        """Builds a killed service left running: failed, their processes and worktrees gone.
        Pending builds stay pending: the workers take them as usual."""
        interrupted = self.db.recover()
        for build_id in interrupted:
            kill_build(self.config, build_id)
            self._sweep(build_id)
            log.warning("build %s: interrupted: the service stopped while it ran", build_id)
        return interrupted

    def submit(self, project: dict[str, Any], *, commit: str | None = None,
               branch: str | None = None, tasks: list[str] | None = None,
               mode: str = "development", trigger: str = "manual",
               message: str | None = None, author: str | None = None,
               retry_of: int | None = None) -> dict[str, Any]:
        """Record a pending build and wake a worker. A build with a commit, or of a cloned
        project, runs in a worktree of its own. Every way into the queue comes here: a
        commit must be a full id and a branch a sane git branch name (RefError), and the
        queue must have room (service.db.QueueFull)."""
        commit = full_commit(commit) if commit is not None else None
        branch = branch_name(branch) if branch is not None else None
        build = self.db.add_build(
            project["id"], trigger, mode, list(tasks or []), self.config.max_pending,
            commit_sha=commit, branch=branch, commit_message=message, commit_author=author,
            retry_of=retry_of,
            worktree=int(commit is not None or self.config.is_clone(project["path"])))
        self._publish(build, PENDING)
        log.info("build %s of %s queued (%s%s)", build["id"], project["name"], trigger,
                 f", commit {commit}" if commit else "")
        with self._cond:
            # A project builds one at a time: while it has a build running, its worker
            # wakes the others when that build ends, and waking one now would only
            # have it search the queue in vain (on the event loop's time: 50 at once).
            if build["project_id"] not in self._running.values():
                self._cond.notify()
        return build

    def cancel(self, build_id: int) -> str | None:
        """Cancel a pending or running build; the status it had (None: no such build)."""
        with self._cond:
            previous = self.db.cancel(build_id)
            flag = self._cancels.get(build_id)
        build = self.db.build(build_id)
        if previous == PENDING and build is not None:
            self.bus.publish({"type": "workflow.completed", "job_id": build_id,
                              "project_id": build["project_id"], "status": CANCELLED,
                              "success": False, "duration": None, "error": build["error"],
                              "timestamp": now()})
            self._publish(build, CANCELLED)
        elif previous == RUNNING:
            if flag is not None:
                flag.set()
            # The whole tree, wherever its processes moved to (setsid, env -i); the worker
            # records the build as cancelled once its runner has reaped the process.
            kill_build(self.config, build_id)
        return previous

    def running(self) -> dict[int, str]:
        """The builds a worker has now: id -> project id."""
        with self._cond:
            return dict(self._running)

    def _work(self) -> None:
        while not self._stopping.is_set():
            with self._cond:
                build = self.db.claim(set(self._running.values()))
                if build is None:
                    self._cond.wait(IDLE_WAIT)
                    continue
                self._running[build["id"]] = build["project_id"]
                flag = self._cancels[build["id"]] = threading.Event()
            try:
                self._run(build, flag)
            except Exception:  # a bug: the worker must live on for the next build
                log.exception("build %s: the worker failed", build["id"])
            finally:
                with self._cond:
                    self._running.pop(build["id"], None)
                    self._cancels.pop(build["id"], None)
                    self._cond.notify_all()

    def _run(self, build: dict[str, Any], flag: threading.Event) -> None:
        project = self.db.project(build["project_id"])
        if project is None:  # cannot happen through the API: projects are never deleted
            self.db.finish(build["id"], FAILED, completed_at=now(), error="project is gone")
            return
        log.info("build %s of %s started", build["id"], project["name"])
        BuildJob(self.config, self.db, self.bus, build, project, flag, self._stopping).run()

    def _sweep(self, build_id: int) -> None:
        """Remove the worktree an interrupted build left, and git's record of it."""
        tree = self.config.worktree(build_id)
        build = self.db.build(build_id)
        project = self.db.project(build["project_id"]) if build else None
        if not tree.exists() or project is None:
            return
        self.config.remove(tree)
        try:
            Git(self.config.build_dir(build_id) / "git.log").output(
                Path(project["path"]), "worktree", "prune")
        except GitError as err:
            log.warning("build %s: worktree not pruned (%s)", build_id, err)

    def _publish(self, build: dict[str, Any], status: str) -> None:
        self.bus.publish({"type": "build.status", "job_id": build["id"],
                          "project_id": build["project_id"], "status": status,
                          "timestamp": now()})

