"""The fixes a build proved (`doit fix=auto`, tasks/fix.py): kept with the build's record,
shown by the dashboard, and committed on a branch of their own on request.

A build's doit prints one line per proven fix (`fix:m: ... made lint:m pass (...); apply
with: git apply [--directory=D] .fedbuild/fixes/<run>/<task>.patch`). Before the build's
worktree goes, each patch it names is copied to `DATA/builds/<id>/fixes/<task>.patch` with
the line beside it. "Apply as a branch" commits one on a new branch (`fedbuild/fix-<id>-...`,
never an existing branch, so never the one the project builds from) at the build's commit,
in a temporary worktree: the project's checkout is not touched.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from service.config import ServiceConfig
from service.git import Git, GitError
from service.refs import RefError, branch_name

_LINE = re.compile(r"^fix:\S+: .+ made (?P<task>\S+) pass \(.*\); apply with: git apply "
                   r"(?:--directory=\S+ )?(?P<patch>\.fedbuild/fixes/[^/\s]+/[^/\s]+\.patch)$")
MAX_PATCH = 1_000_000  # bytes of a patch kept (and shown) at most
# Who commits, and no hook of the repository runs (its checkout or commit hooks).
_QUIET = ("-c", "core.hooksPath=/dev/null")
_AUTHOR = (*_QUIET, "-c", "user.name=fedbuild", "-c", "user.email=fedbuild@localhost")


class FixError(Exception):
    """A fix cannot be committed: str() is one line, `status` the HTTP status."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


def keep_fixes(output: Path, folder: Path, dest: Path) -> int:
    """Copy the proven fixes the build's output names from its folder to `dest`; how many."""
    kept = 0
    text = output.read_text(errors="replace") if output.is_file() else ""
    for line in text.splitlines():
        found = _LINE.match(line)
        patch = folder / found["patch"] if found else None
        if found is None or patch is None or not patch.is_file() \
                or patch.stat().st_size > MAX_PATCH or not _inside(patch, folder):
            continue
        dest.mkdir(parents=True, exist_ok=True)
        name = _file_name(found["task"])
        (dest / f"{name}.patch").write_bytes(patch.read_bytes())
        (dest / f"{name}.json").write_text(json.dumps({"task": found["task"], "line": line}))
        kept += 1
    return kept


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _file_name(task: str) -> str:
    """A task name as a file name (doit's names hold ':', never '/')."""
    return re.sub(r"[^A-Za-z0-9_.:-]", "_", task)


def proposed(folder: Path) -> list[dict[str, Any]]:
    """The fixes kept for a build: task, the line doit printed, the diff (text)."""
    fixes = []
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        said = json.loads(record.read_text())
        diff = record.with_suffix(".patch").read_text(errors="replace")
        fixes.append({"task": said["task"], "line": said["line"], "diff": diff})
    return fixes


def commit_on_branch(config: ServiceConfig, project: dict[str, Any], build: dict[str, Any],
                     task: str) -> tuple[str, str]:
    """Commit the build's fix for `task` on a new branch at the build's commit; (branch,
    commit). FixError (404, 409, 422) when there is no such fix, the branch exists, or the
    project is not a git repository."""
    patch = config.build_dir(build["id"]) / "fixes" / f"{_file_name(task)}.patch"
    if not patch.is_file():
        raise FixError(404, f"build {build['id']} has no proven fix for {task}")
    if not build.get("commit_sha"):
        raise FixError(422, f"build {build['id']} has no commit: the project is not a git "
                            "repository, so a fix cannot go on a branch")
    branch = fix_branch(build["id"], task)
    if branch == project.get("branch"):
        raise FixError(409, f"{branch} is the project's own branch")
    git = Git(config.build_dir(build["id"]) / "fix-git.log")
    repo = Path(project["path"])
    prefix = git.prefix(repo)
    if prefix is None:
        raise FixError(422, f"{repo} is not a git repository")
    tree = config.build_dir(build["id"]) / "fix-tree"
    try:
        _commit(git, repo, tree, branch, build, (patch, prefix, task))
        return branch, git.commit(repo, branch)
    except GitError as err:
        raise FixError(409 if "already exists" in str(err) else 422, str(err)) from None
    finally:
        if tree.exists():
            try:
                git.remove_worktree(repo, tree)
            except GitError:
                config.remove(tree)


def _commit(git: Git, repo: Path, tree: Path, branch: str, build: dict[str, Any],
            fix: tuple[Path, str, str]) -> None:
    """In a new worktree at `tree`: the branch made at the build's commit, the patch
    applied (under the project's folder in the repository) and committed."""
    patch, prefix, task = fix
    if git.output(repo, "branch", "--list", branch, quiet=True).strip():
        raise GitError(f"branch {branch} already exists")
    git.output(repo, *_QUIET, "worktree", "add", "-b", branch, str(tree), build["commit_sha"])
    where = (f"--directory={prefix.rstrip('/')}",) if prefix else ()
    git.output(tree, "apply", "--index", *where, str(patch))
    git.output(tree, *_AUTHOR, "commit", "--no-verify", "-q", "-m",
               f"fedbuild: the fix build {build['id']} proved for {task}")


def fix_branch(build_id: int, task: str) -> str:
    """The branch a build's fix for `task` goes on (a name git and the queue accept)."""
    name = f"fedbuild/fix-{build_id}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', task).strip('-.')}"
    try:
        return branch_name(name)
    except RefError:
        return f"fedbuild/fix-{build_id}"
