"""Projects: register a repository (by path, or git URL and branch) and check it can build."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import sys
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

from core.runner import Command, run
from service.check import TASKS
from service.config import FEDBUILD_ROOT, LOGGER, ServiceConfig
from service.db import Database
from service.git import Git, GitError

CHECK_TIMEOUT = 120.0
log = logging.getLogger(LOGGER)
# service.check, run in the repository but imported from this checkout, never from a
# same-named folder of the repository (as doit does: dodo.py's folder comes first).
_CHECK = (f"import sys; sys.path[0] = {str(FEDBUILD_ROOT)!r}; "
          "from service.check import main; sys.exit(main())")
ACTIVE, INACTIVE = "active", "inactive"
# A manifest checked once is not checked again while its digest stays the same (for up to
# CHECK_TTL seconds, a bound on what a change outside modules.json may go unnoticed); at most
# CHECKERS check processes run at once, whatever the number of requests.
CHECK_TTL = 600.0
CHECKED = 256
CHECKERS = 2


class ProjectError(Exception):
    """A request about a project that cannot be done: an HTTP status and one line."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class Projects:
    """Registers projects and checks them before each build."""

    def __init__(self, config: ServiceConfig, db: Database) -> None:
        self.config = config
        self.db = db
        self._checked: OrderedDict[tuple[str, str], tuple[float, list[str]]] = OrderedDict()
        self._keys: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()
        self._checkers = threading.BoundedSemaphore(CHECKERS)

    def register(self, *, name: str | None = None, path: str | None = None,
                 git_url: str | None = None, branch: str | None = None,
                 status: str = ACTIVE, github: str | None = None,
                 build_tags: bool = False) -> dict[str, Any]:
        """Check and record a project; a git URL without a path is cloned first."""
        project_id = str(uuid.uuid4())
        if path is not None:
            folder = Path(path).expanduser().resolve()
            self._require_folder(folder)
            self._refuse_duplicate(folder)
            self._require_buildable(folder)
        elif git_url is not None:
            folder = self._clone(project_id, git_url, branch)
        else:
            raise ProjectError(422, "give the project's path, or its git_url (and branch)")
        return self.db.add_project(id=project_id, name=name or _default_name(folder, git_url),
                                   path=str(folder), git_url=git_url, branch=branch,
                                   status=status, github=github, build_tags=int(build_tags))

    def validate_for_build(self, project: dict[str, Any],
                           tasks: list[str] | None = None) -> None:
        """Refuse (ProjectError) a build of an inactive, missing or broken project, or of
        tasks the repository does not have (422)."""
        folder = self._require_active(project)
        self._require_tasks(project, tasks, self._require_buildable(folder))

    def validated_before(self, project: dict[str, Any],
                         tasks: list[str] | None = None) -> bool:
        """validate_for_build answered from what is known already (True: it passed),
        without starting a check: False when its manifest needs one. Cheap enough for the
        event loop, so a submission of a checked manifest does not wait for a thread."""
        folder = self._require_active(project)
        known = self._cached((str(folder), _digest(folder)))
        if known is None:
            return False
        self._require_tasks(project, tasks, known)
        return True

    def _require_active(self, project: dict[str, Any]) -> Path:
        if project["status"] != ACTIVE:
            raise ProjectError(409, f"project {project['name']!r} is {project['status']}; "
                               "set its status to active to build it")
        folder = Path(project["path"])
        self._require_folder(folder)
        return folder

    @staticmethod
    def _require_tasks(project: dict[str, Any], tasks: list[str] | None,
                       known: list[str]) -> None:
        unknown = [t for t in tasks or () if not _known_task(t, known)]
        if unknown:
            raise ProjectError(422, f"tasks: {', '.join(repr(t[:80]) for t in unknown[:5])} "
                               f"{'is' if len(unknown) == 1 else 'are'} not a task of "
                               f"{project['name']!r}; `doit list` there shows its tasks")

    def checked_out_branch(self, project: dict[str, Any]) -> str | None:
        """The branch the project's checkout is on (None: detached, or not git)."""
        git = Git(self.config.data / "checks" / f"branch-{uuid.uuid4().hex}.log")
        try:
            name = git.output(Path(project["path"]), "rev-parse", "--abbrev-ref", "HEAD",
                              quiet=True).strip()
        except GitError:
            return None
        finally:
            self.config.remove(git.scratch)
        return None if name in ("", "HEAD") else name

    def problem(self, folder: Path) -> str | None:
        """The one line `doit` would print for the repository at folder, or None if it loads."""
        problem, _ = self._check(folder)
        return problem

    def tasks(self, folder: Path) -> list[str]:
        """The repository's task names (ProjectError 422 if it cannot be built)."""
        return self._require_buildable(folder)

    def _check(self, folder: Path) -> tuple[str | None, list[str]]:
        """(the problem, None if it loads; its task names), from the cache when the
        manifest's digest was checked before; one check at a time per manifest."""
        key = (str(folder), _digest(folder))
        with self._guard:
            lock = self._keys.setdefault(key, threading.Lock())
        with lock:
            cached = self._cached(key)
            if cached is not None:
                return None, cached
            with self._checkers:
                problem, names = self._run_check(folder)
            log.info("checked %s (manifest %s): %s", folder, key[1][:12] or "unreadable",
                     problem or "buildable")
            if problem is None and key[1]:
                with self._guard:
                    self._checked[key] = (time.monotonic(), names)
                    while len(self._checked) > CHECKED:
                        self._checked.popitem(last=False)
        with self._guard:
            self._keys.pop(key, None)
        return problem, names

    def _cached(self, key: tuple[str, str]) -> list[str] | None:
        with self._guard:
            found = self._checked.get(key)
            if found is None or time.monotonic() - found[0] > CHECK_TTL:
                return None
            self._checked.move_to_end(key)
            return found[1]

    def _run_check(self, folder: Path) -> tuple[str | None, list[str]]:
        scratch = self.config.data / "checks" / f"{uuid.uuid4().hex}.log"
        try:
            result = run(Command(argv=(sys.executable, "-c", _CHECK), cwd=folder, log=scratch,
                                 timeout=CHECK_TIMEOUT))
            text = scratch.read_text(encoding="utf-8", errors="replace")
        finally:
            self.config.remove(scratch)
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("$ ")]
        if result.ok:
            listed = [ln for ln in lines if ln.startswith(TASKS)]
            return None, json.loads(listed[-1][len(TASKS):]) if listed else []
        return (lines[-1] if lines else result.describe().splitlines()[0]), []

    def _require_folder(self, folder: Path) -> None:
        if not folder.exists():
            raise ProjectError(422, f"{folder} does not exist")
        if not folder.is_dir():
            raise ProjectError(422, f"{folder} is not a folder")

    def _require_buildable(self, folder: Path) -> list[str]:
        line, names = self._check(folder)
        if line is not None:
            raise ProjectError(422, line)
        return names

    def _refuse_duplicate(self, folder: Path) -> None:
        for known in self.db.projects():
            if Path(known["path"]) == folder:
                raise ProjectError(409, f"{folder} is already registered as project "
                                   f"{known['id']} ({known['name']!r})")

    def _clone(self, project_id: str, url: str, branch: str | None) -> Path:
        """Clone url into the data folder and check it; nothing is left if either fails."""
        dest = self.config.clone(project_id)
        git = Git(self.config.data / "checks" / f"clone-{project_id}.log")
        try:
            git.clone(url, branch, dest)
            self._require_buildable(dest)
        except GitError as err:
            self.config.remove(dest)
            raise ProjectError(422, f"{url} cannot be cloned: {err}") from None
        except ProjectError:
            self.config.remove(dest)
            raise
        finally:
            self.config.remove(git.scratch)
        return dest


def _digest(folder: Path) -> str:
    """The manifest's sha256 ("" when it cannot be read: such a check is never cached)."""
    try:
        return hashlib.sha256((folder / "modules.json").read_bytes()).hexdigest()
    except OSError:
        return ""


def _known_task(name: str, known: list[str]) -> bool:
    """Whether doit would find the task: a name it lists, or a pattern matching one."""
    if name in known:
        return True
    return any(ch in name for ch in "*?[") and bool(fnmatch.filter(known, name))


def _default_name(folder: Path, git_url: str | None) -> str:
    if git_url:
        tail = git_url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return tail.removesuffix(".git") or folder.name
    return folder.name
