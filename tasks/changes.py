"""What git says changed in a repository between two trees, and a tree's files written out.

`doit affected` compares a base commit with a head: another commit, or the working tree
(its uncommitted and untracked files included). Every git command runs through
core/runner.py, with a timeout; a ref git does not know is a one-line UsageError.
"""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import COMMAND_LINE, UsageError
from core.runner import Command, run

GIT_TIMEOUT = 120.0
_ENV = {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
DEFAULT_BASES = ("origin/main", "main")


class Git:
    """git in one repository, each command's output in a scratch log of its own."""

    def __init__(self, root: Path, scratch: Path) -> None:
        self.root = root
        self.scratch = scratch  # a folder of this run's own
        self._count = 0

    def output(self, *args: str, env: dict[str, str] | None = None, what: str = "") -> str:
        """What `git args` printed; a UsageError naming `what` when it fails."""
        self._count += 1
        log = self.scratch / f"git-{self._count}.log"
        result = run(Command(argv=("git", *args), cwd=self.root, log=log,
                             env={**_ENV, **(env or {})}, timeout=GIT_TIMEOUT))
        text = log.read_text(errors="replace")
        text = text.split("\n", 1)[1] if text.startswith("$ ") else text  # the runner's header
        if not result.ok:
            lines = [ln for ln in text.splitlines() if ln.strip()]
            said = next((ln for ln in lines if ln.startswith(("fatal:", "error:"))),
                        lines[-1] if lines else result.describe().splitlines()[0])
            raise UsageError(COMMAND_LINE, what or f"git {args[0]}", said)
        return text

    def commit(self, ref: str, option: str) -> str:
        """The commit `ref` names (`option`: the command-line option that gave it)."""
        try:
            out = self.output("rev-parse", "--verify", "--quiet", "--end-of-options",
                              f"{ref}^{{commit}}", what=f"{option} {ref}")
        except UsageError:
            raise UsageError(COMMAND_LINE, f"{option} {ref}", f"{ref!r} names no commit of "
                             "this repository; give a branch, tag or commit") from None
        return out.strip()

    def default_base(self) -> str:
        """The merge-base of HEAD with origin/main, else with main."""
        for ref in DEFAULT_BASES:
            try:
                self.commit(ref, "--base")
            except UsageError:
                continue
            return self.output("merge-base", "HEAD", ref, what="--base").strip()
        raise UsageError(COMMAND_LINE, "--base", "this repository has neither origin/main nor "
                         "main to compare with; give --base REF (a branch, tag or commit)")

    def changed(self, base: str, head: str | None) -> set[str]:
        """The paths that differ between commit `base` and commit `head` (None: the working
        tree, untracked files included), relative to the repository."""
        listing = self.scratch / "changed.txt"
        self.output("diff", "--name-only", "--no-renames", "--relative", "-z",
                    f"--output={listing}",
                    base, *([head] if head else []), "--", what="--base")
        paths = {p for p in listing.read_text(errors="surrogateescape").split("\0") if p}
        if head is None:
            untracked = self.output("ls-files", "--others", "--exclude-standard", "-z")
            paths |= {p for p in untracked.split("\0") if p.strip()}
        return paths

    def write_tree(self, commit: str, dest: Path) -> Path:
        """The files of `commit` written into `dest` (a new folder), without touching the
        repository's index or working tree; `dest` is marked a git checkout (an empty .git)
        so its .gitignore files count, as they do in the repository. Returns where the
        repository's folder (a git checkout's subfolder, maybe) is in it."""
        index = self.scratch / f"index-{commit[:12]}"
        env = {"GIT_INDEX_FILE": str(index)}
        self.output("read-tree", commit, env=env)
        dest.mkdir(parents=True)
        self.output("checkout-index", "--all", f"--prefix={dest}{os.sep}", env=env)
        (dest / ".git").mkdir()
        return dest / self.output("rev-parse", "--show-prefix").strip()
