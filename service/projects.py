"""Projects: register a repository (by path, or git URL and branch) and check it can build."""

from __future__ import annotations

import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

from service.config import FEDBUILD_ROOT, ServiceConfig
from service.db import Database
from service.git import Git, GitError
from tasks.runner import Command, run

CHECK_TIMEOUT = 120.0
# service.check, run in the repository but imported from this checkout, never from a
# same-named folder of the repository (as doit does: dodo.py's folder comes first).
_CHECK = (f"import sys; sys.path[0] = {str(FEDBUILD_ROOT)!r}; "
          "from service.check import main; sys.exit(main())")
ACTIVE, INACTIVE = "active", "inactive"


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

    def register(self, *, name: str | None = None, path: str | None = None,
                 git_url: str | None = None, branch: str | None = None,
                 status: str = ACTIVE, github: str | None = None) -> dict[str, Any]:
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
                                   status=status, github=github)

    def validate_for_build(self, project: dict[str, Any]) -> None:
        """Refuse (ProjectError) a build of an inactive, missing or broken project."""
        if project["status"] != ACTIVE:
            raise ProjectError(409, f"project {project['name']!r} is {project['status']}; "
                               "set its status to active to build it")
        folder = Path(project["path"])
        self._require_folder(folder)
        self._require_buildable(folder)

    def problem(self, folder: Path) -> str | None:
        """The one line `doit` would print for the repository at folder, or None if it loads."""
        scratch = self.config.data / "checks" / f"{uuid.uuid4().hex}.log"
        try:
            result = run(Command(argv=(sys.executable, "-c", _CHECK), cwd=folder, log=scratch,
                                 timeout=CHECK_TIMEOUT))
            text = scratch.read_text(encoding="utf-8", errors="replace")
        finally:
            scratch.unlink(missing_ok=True)
        if result.ok:
            return None
        lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("$ ")]
        return lines[-1] if lines else result.describe().splitlines()[0]

    def _require_folder(self, folder: Path) -> None:
        if not folder.exists():
            raise ProjectError(422, f"{folder} does not exist")
        if not folder.is_dir():
            raise ProjectError(422, f"{folder} is not a folder")

    def _require_buildable(self, folder: Path) -> None:
        line = self.problem(folder)
        if line is not None:
            raise ProjectError(422, line)

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
            shutil.rmtree(dest, ignore_errors=True)
            raise ProjectError(422, f"{url} cannot be cloned: {err}") from None
        except ProjectError:
            shutil.rmtree(dest, ignore_errors=True)
            raise
        finally:
            git.scratch.unlink(missing_ok=True)
        return dest


def _default_name(folder: Path, git_url: str | None) -> str:
    if git_url:
        tail = git_url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return tail.removesuffix(".git") or folder.name
    return folder.name
