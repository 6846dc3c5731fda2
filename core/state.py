"""The tool's own state folder: one place, so `rm -rf .fedbuild` is a clean slate."""

from __future__ import annotations

import functools
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from core.confine import Roots

STATE_DIR = ".fedbuild"
# fedbuild's own build script, site assets and module.json for site modules (read only),
# shipped with the federation package beside this one.
SHIPPED = Path(__file__).resolve().parents[1] / "federation" / "defaults"


@dataclass(frozen=True)
class State:
    """Paths of everything fedbuild writes for itself under a repository."""

    root: Path
    # Folders outside the repository that may be read, never written: the sources a manifest
    # names by an absolute local_path (federation/loader.py's Project.read_only_sources).
    read_only: tuple[Path, ...] = ()

    @property
    def dir(self) -> Path:
        """The state folder."""
        return self.root / STATE_DIR

    @property
    def roots(self) -> Roots:
        """Where fedbuild may write and delete: the repository and its state folder (which
        may be a link to another disk); it may also read its own shipped defaults and the
        sources given by an absolute path. Resolved once per process while the repository
        and the state folder stay the same folders (a build asks several times per task);
        one swapped for a link or another folder is resolved again."""
        return _roots(self.root, self.read_only, _identity(self.root), _identity(self.dir))

    def db(self, mode: str = "development") -> Path:
        """doit's dependency database; one per mode, since each mode has its own outputs,
        so switching back and forth rebuilds nothing that is still current."""
        return self.dir / ("doit.sqlite3" if mode == "development" else f"doit-{mode}.sqlite3")

    @property
    def lock(self) -> Path:
        """The one-build-at-a-time lock file."""
        return self.dir / "lock"

    @property
    def tmp(self) -> Path:
        """Temporary build folders (removed after each build, swept at each run)."""
        return self.dir / "tmp"

    def log(self, task: str) -> Path:
        """The captured output of a task (`build:docs` -> logs/build/docs.log)."""
        step, _, module = task.partition(":")
        return self.dir / "logs" / step / f"{module or step}.log"

    def outcome(self, task: str) -> Path:
        """The recorded outcome of a task's last execution, beside its log."""
        return self.log(task).with_suffix(".json")

    def staged(self, module: str) -> Path:
        """A site module's last good output."""
        return self.dir / "staging" / module

    def site_config(self, module: str) -> Path:
        """The copy of a site module's config its build reads when the build script has no
        option for some of its overrides (federation/sites.py config_copy)."""
        return self.dir / "configs" / module / "module.json"

    def clone(self, module: str) -> Path:
        """The shallow clone of a git-sourced module."""
        return self.dir / "sources" / module

    def head(self, module: str) -> Path:
        """The commit the clone of a git-sourced module is at."""
        return self.dir / "sources" / f"{module}.head"


def _identity(path: Path) -> tuple[int, int, bool] | None:
    """What `path` is, without following it: (device, inode, is a link); None if missing."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, stat.S_ISLNK(st.st_mode)


@functools.lru_cache(maxsize=64)
def _roots(root: Path, read_only: tuple[Path, ...], *identities: object) -> Roots:
    """State(root).roots resolved; `identities` only key the cache."""
    return Roots.of([root, root / STATE_DIR], [SHIPPED, *read_only])
