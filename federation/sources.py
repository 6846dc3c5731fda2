"""Module sources: this repository's folders, or shallow clones of git branches."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.confine import remove_tree
from core.runner import Command, Result, run
from core.staging import new_workdir, replace_dir
from federation.manifest import display_path

_HEAD_LINE = re.compile(r"^([0-9a-f]{40})\trefs/heads/(\S+)$", re.MULTILINE)
_COMMIT = re.compile(r"^[0-9a-f]{40}$", re.MULTILINE)
GIT_TIMEOUT = 300.0
ASK_TIMEOUT = 60.0
# Never wait for a password or passphrase nobody will type: fail instead.
_GIT_ENV = {"GIT_TERMINAL_PROMPT": "0"}


@dataclass(frozen=True)
class GitSource:
    """A branch of a git repository, cloned shallowly under the state folder."""

    url: str
    branch: str
    clone: Path
    head_file: Path
    log: Path
    tmp: Path

    @property
    def ref(self) -> str:
        """The branch as a full ref name."""
        return f"refs/heads/{self.branch}"

    def recorded_head(self) -> str | None:
        """The commit the clone was last synced to, if it was."""
        try:
            text = self.head_file.read_text().strip()
        except FileNotFoundError:
            return None
        return text if (self.clone / ".git").exists() and text else None

    def remote_head(self) -> str | None:
        """The branch's current commit on the remote, or None if it cannot be asked."""
        result = self._git("ls-remote", "--", self.url, self.ref, in_clone=False,
                           timeout=ASK_TIMEOUT, keep=False)
        if not result.ok:
            return None
        match = _HEAD_LINE.search(_output(result))
        return match.group(1) if match else None

    def sync(self) -> str:
        """Bring the clone to the branch head, stamp and return that commit (or SourceError)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_text("")
        if (self.clone / ".git").is_dir():
            self._refresh()
        else:
            self._fresh_clone()
        commit = self._head()
        self.record(commit)
        return commit

    def record(self, commit: str | None) -> None:
        """Write the head stamp (None removes it, so the next run syncs again)."""
        if commit is None:
            remove_tree(self.head_file, self.tmp.parent)
            return
        tmp = self.head_file.with_suffix(".tmp")
        tmp.write_text(commit + "\n")
        tmp.replace(self.head_file)

    def _refresh(self) -> None:
        # From the URL, not `origin`: the manifest may have moved the module to another repository.
        self._check(self._git("fetch", "--depth", "1", "--", self.url,
                              f"+{self.ref}:refs/remotes/origin/{self.branch}"))
        self._check(self._git("checkout", "--force", "--detach",
                              f"refs/remotes/origin/{self.branch}"))
        self._check(self._git("clean", "-ffdx"))

    def _fresh_clone(self) -> None:
        work = new_workdir(self.tmp, f"clone-{self.clone.name}")
        try:
            target = work / "clone"
            self._check(self._git("clone", "--depth", "1", "--single-branch", "--branch",
                                  self.branch, "--", self.url, str(target), in_clone=False))
            replace_dir(target, self.clone, self.tmp.parent)
        finally:
            remove_tree(work, self.tmp.parent)

    def _head(self) -> str:
        result = self._git("rev-parse", "--verify", "HEAD^{commit}")
        self._check(result)
        match = _COMMIT.search(_output(result))
        if match is None:
            raise SourceError(f"{display_path(self.clone)}: `git rev-parse HEAD` printed no "
                              f"commit; see {display_path(self.log)}")
        return match.group(0)

    def _git(self, *args: str, in_clone: bool = True, timeout: float = GIT_TIMEOUT,
             keep: bool = True) -> Result:
        """Run one git command; its output is also appended to the fetch log if `keep`."""
        folder = self.clone if in_clone else self.clone.parent
        folder.mkdir(parents=True, exist_ok=True)
        # The runner truncates its log per command: each one gets a scratch log of its own.
        step_log = self.log.with_name(f"{self.log.stem}.git.log")
        result = run(Command(argv=("git", *args), cwd=folder, log=step_log, timeout=timeout,
                             env=_GIT_ENV))
        if keep:
            with self.log.open("a", encoding="utf-8") as transcript:
                transcript.write(_output(result))
        return result

    def _check(self, result: Result) -> None:
        if not result.ok:
            raise SourceError(self._explain(result))

    def _explain(self, failed: Result) -> str:
        """Why a clone or fetch failed, in terms of the manifest when git's answer allows."""
        detail = failed.describe()  # before the scratch log is reused below
        asked = self._git("ls-remote", "--", self.url, self.ref, in_clone=False,
                          timeout=ASK_TIMEOUT)
        where = f"see {display_path(self.log)}"
        if not asked.ok:
            reason = _git_error(_output(asked)) or asked.describe().splitlines()[0]
            return (f"{self.url} cannot be read ({reason}); check source.repository in "
                    f"modules.json and access to it ({where})")
        if not _HEAD_LINE.search(_output(asked)):
            return (f"{self.url} has no branch {self.branch!r}; check source.branch in "
                    f"modules.json ({where})")
        return f"{detail}\n({where})"


class SourceError(Exception):
    """A git source could not be cloned or refreshed."""


def _output(result: Result) -> str:
    try:
        return result.command.log.read_text(errors="replace")
    except OSError:
        return ""


def _git_error(text: str) -> str:
    """git's own reason: its first `fatal:`/`error:` line, else its last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("$ ")]
    errors = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return (errors or lines[-1:] or [""])[0]
