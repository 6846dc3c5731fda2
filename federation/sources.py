"""Module sources: this repository's folders, or shallow clones of git branches."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from federation.staging import new_workdir, remove_tree, replace_dir
from tasks.runner import Command, Result, run

_HEAD_LINE = re.compile(r"^([0-9a-f]{40})\trefs/heads/(\S+)$", re.MULTILINE)
GIT_TIMEOUT = 300.0


@dataclass(frozen=True)
class GitSource:
    """A branch of a git repository, cloned shallowly under the state folder."""

    url: str
    branch: str
    clone: Path
    head_file: Path
    log: Path
    tmp: Path

    def recorded_head(self) -> str | None:
        """The commit the clone was last synced to, if it was."""
        try:
            text = self.head_file.read_text().strip()
        except FileNotFoundError:
            return None
        return text if (self.clone / ".git").exists() and text else None

    def remote_head(self) -> str | None:
        """The branch's current commit on the remote, or None if it cannot be asked."""
        result = self._git("ls-remote", self.url, f"refs/heads/{self.branch}", cwd=None,
                           timeout=60.0)
        if not result.ok:
            return None
        match = _HEAD_LINE.search(result.command.log.read_text(errors="replace"))
        return match.group(1) if match else None

    def sync(self) -> str:
        """Bring the clone to the branch head; return that commit. Raises SourceError."""
        if (self.clone / ".git").is_dir():
            self._check(self._git("fetch", "--depth", "1", "origin",
                                  f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}"))
            self._check(self._git("checkout", "--force", "--detach",
                                  f"refs/remotes/origin/{self.branch}"))
            self._check(self._git("clean", "-ffdx"))
        else:
            self._fresh_clone()
        self._check(self._git("rev-parse", "HEAD"))
        commit = _last_hex_line(self.log)
        tmp = self.head_file.with_suffix(".tmp")
        tmp.write_text(commit + "\n")
        tmp.replace(self.head_file)
        return commit

    def _fresh_clone(self) -> None:
        work = new_workdir(self.tmp, f"clone-{self.clone.name}")
        try:
            target = work / "clone"
            self._check(self._git("clone", "--depth", "1", "--single-branch", "--branch",
                                  self.branch, "--", self.url, str(target), cwd=None))
            replace_dir(target, self.clone)
        finally:
            remove_tree(work)

    def _git(self, *args: str, cwd: Path | None | str = "clone",
             timeout: float = GIT_TIMEOUT) -> Result:
        folder = self.clone if cwd == "clone" else self.clone.parent
        folder.mkdir(parents=True, exist_ok=True)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        command = Command(argv=("git", *args), cwd=Path(folder), log=self.log, timeout=timeout,
                          env={"GIT_TERMINAL_PROMPT": "0"})
        return run(command)

    @staticmethod
    def _check(result: Result) -> None:
        if not result.ok:
            raise SourceError(result.describe())


class SourceError(Exception):
    """A git source could not be cloned or refreshed."""


def _last_hex_line(log: Path) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines()]
    return next(ln for ln in reversed(lines) if re.fullmatch(r"[0-9a-f]{40}", ln))
