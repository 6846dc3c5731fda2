"""The git commands a build needs: clone, fetch, resolve a commit, read it, worktrees.

Each runs through the one command runner; its output goes to a scratch log and is
then added to the build's own log, so the build's output says what was checked out.
"""

from __future__ import annotations

from pathlib import Path

from core.runner import Command, Result, run

GIT_TIMEOUT = 600.0
# Never ask for a password on a terminal nobody watches; C locale: messages we can quote.
_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


class GitError(Exception):
    """A git command failed; str() is one line."""


class Git:
    """Runs git commands whose output is kept in `transcript` (if given)."""

    def __init__(self, scratch: Path, transcript: Path | None = None) -> None:
        self.scratch = scratch
        self.transcript = transcript

    def output(self, cwd: Path, *args: str, timeout: float = GIT_TIMEOUT,
               quiet: bool = False) -> str:
        """What `git ARGS` printed in cwd; GitError with git's own reason if it failed.
        `quiet`: a question, kept out of the transcript."""
        result = run(Command(argv=("git", *args), cwd=cwd, log=self.scratch, env=_ENV,
                             timeout=timeout))
        text = _printed(result)
        if self.transcript is not None and not quiet:
            with self.transcript.open("a", encoding="utf-8") as log:
                log.write(f"$ git {' '.join(args)}\n{text}")
        if not result.ok:
            raise GitError(f"`git {' '.join(args[:2])}` failed: {_reason(text, result)}")
        return text

    def prefix(self, folder: Path) -> str | None:
        """Where `folder` is inside its git repository ("" at the top); None: not in one."""
        try:
            return self.output(folder, "rev-parse", "--show-prefix", quiet=True).strip()
        except GitError:
            return None

    def commit(self, folder: Path, ref: str) -> str:
        """The full sha of `ref` in the repository at folder."""
        if ref.startswith("-"):
            raise GitError(f"{ref!r} is not a commit")
        try:
            return self.output(folder, "rev-parse", "--verify", "--quiet",
                               f"{ref}^{{commit}}", quiet=True).strip()
        except GitError:
            raise GitError(f"commit {ref!r} is not in the repository at {folder}") from None

    def describe(self, folder: Path, sha: str) -> tuple[str, str]:
        """(message, author) of a commit."""
        text = self.output(folder, "log", "-1", "--format=%an%x00%B", sha, "--", quiet=True)
        author, _, message = text.partition("\0")
        return message.strip(), author.strip()

    def add_worktree(self, folder: Path, dest: Path, sha: str) -> None:
        """Check `sha` out, detached, at dest (a new folder), leaving folder's checkout alone."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        self.output(folder, "worktree", "add", "--detach", str(dest), sha)

    def remove_worktree(self, folder: Path, dest: Path) -> None:
        """Remove a worktree made by add_worktree (and git's record of it)."""
        try:
            self.output(folder, "worktree", "remove", "--force", str(dest))
        finally:
            self.output(folder, "worktree", "prune")

    def clone(self, url: str, branch: str | None, dest: Path) -> None:
        """Clone url (its branch, if given) into dest."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        chosen = ("--branch", branch) if branch else ()
        self.output(dest.parent, "clone", *chosen, "--", url, str(dest))

    def fetch(self, folder: Path) -> None:
        """Bring every branch of origin up to date in the clone at folder."""
        self.output(folder, "fetch", "--prune", "origin",
                    "+refs/heads/*:refs/remotes/origin/*")


def _printed(result: Result) -> str:
    """The command's output, without the runner's `$ argv` header lines."""
    try:
        text = result.command.log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith("$ "))


def _reason(text: str, result: Result) -> str:
    """git's own `fatal:`/`error:` line, else the runner's description."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    if errors:
        return errors[0]
    return lines[-1] if lines else result.describe().splitlines()[0]
