"""`doit affected [--base REF] [--head REF] [--list] [--json] [select=...] [-n N]`: build
what a change touches.

The modules whose inputs differ between the base (default: the merge-base of HEAD with
origin/main, else main) and the head (default: the working tree, uncommitted and untracked
files included), and every module depending on them (federation/affected.py compares the
input sets the build itself uses). Without --list it runs their default tasks, `federate`
when a site module is among them, exactly as `doit build:a build:b ...` would, with run's
options (`-n 4`); with --list (or --json) it says which modules and why, and the modules
the base had that the head has not (deleted, or renamed).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from doit.exceptions import InvalidCommand

from core.errors import ManifestError
from core.staging import remove_tree
from core.state import State
from federation.affected import Affected, Tree, affected, read_tree
from tasks.changes import Git
from tasks.commands.run import RunCommand
from tasks.config import run_mode

opt_base = {"name": "base", "long": "base", "type": str, "default": "",
            "help": "the commit to compare with [default: merge-base with origin/main or main]"}
opt_head = {"name": "head", "long": "head", "type": str, "default": "",
            "help": "the commit compared [default: the working tree, untracked files too]"}
opt_list = {"name": "list_only", "long": "list", "type": bool, "default": False,
            "help": "print the affected modules and why, instead of building them"}
opt_json = {"name": "as_json", "long": "json", "type": bool, "default": False,
            "help": "print the affected modules and their tasks as JSON (builds nothing)"}


class AffectedCommand(RunCommand):
    """`doit affected`."""

    name = "affected"
    doc_purpose = "build the modules a change touches (since --base), and what depends on them"
    doc_usage = "[--base REF] [--head REF] [--list] [--json] [select=...] [run options]"
    doc_description = ("Compares each module's inputs (files, step signatures, manifest "
                       "entry) between two trees; runs the default tasks of the modules that "
                       "differ and of everything depending on them.")
    cmd_options = (*RunCommand.cmd_options, opt_base, opt_head, opt_list, opt_json)

    def _execute(self, outfile: Any, verbosity: int | None = None, always: bool = False,
                 continue_: bool = False, reporter: Any = "console", num_process: int = 0,
                 par_type: str = "process", single: bool = False,
                 auto_delayed_regex: bool = False, force_verbosity: bool = False,
                 failure_verbosity: int = 0, pdb: bool = False, pos_args: Any = None,
                 base: str = "", head: str = "", list_only: bool = False,
                 as_json: bool = False) -> Any:
        """Work out the affected modules; print them, or run their tasks."""
        if pos_args:
            raise InvalidCommand("`doit affected` takes no task names: it finds them (use "
                                 "select= to narrow it, or `doit plan` for named tasks)")
        root = Path.cwd()
        mode = run_mode()
        found, commits = compare(root, mode, base, head)
        tasks = {task.name: task for task in self.task_list}
        defaults: list[str] = list(getattr(self, "sel_tasks", None) or [])  # DOIT_CONFIG, select=
        names = tasks_of(found, defaults, tasks)
        if as_json:
            outfile.write(json.dumps(as_report(found, commits, names), indent=2) + "\n")
            return 0
        if list_only:
            tail = [f"tasks: {' '.join(names)}"] if names else []
            outfile.write("\n".join([*describe(found, commits), *tail]) + "\n")
            return 0
        for line in describe(found, commits):
            outfile.write(line + "\n")
        if not names:
            return 0
        self.sel_tasks = names
        return super()._execute(
            outfile, verbosity=verbosity, always=always, continue_=continue_,
            reporter=reporter, num_process=num_process, par_type=par_type, single=single,
            auto_delayed_regex=auto_delayed_regex, force_verbosity=force_verbosity,
            failure_verbosity=failure_verbosity, pdb=pdb)


def compare(root: Path, mode: str, base: str, head: str) -> tuple[Affected, dict[str, str]]:
    """The modules affected between `base` and `head` (empty: the defaults), and the
    commits compared."""
    state = State(root)
    state.tmp.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="affected-", dir=state.tmp))
    try:
        git = Git(root, scratch)
        base_commit = git.commit(base, "--base") if base else git.default_base()
        head_commit = git.commit(head, "--head") if head else None
        before = _tree_of(git, base_commit, scratch / "base", mode)
        after = _tree_of(git, head_commit, scratch / "head", mode) if head_commit \
            else read_tree(root, mode)
        found = affected(before, after, git.changed(base_commit, head_commit))
    finally:
        remove_tree(scratch, state.roots)
    return found, {"base": base_commit, "head": head_commit or "working tree"}


def _tree_of(git: Git, commit: str, folder: Path, mode: str) -> Tree:
    """The module inputs of a commit's tree; a manifest mistake there names the commit."""
    try:
        return read_tree(git.write_tree(commit, folder), mode)
    except ManifestError as err:
        where = os.path.relpath(err.file, folder) if os.path.isabs(err.file) or \
            err.file.startswith(("..", ".fedbuild")) else err.file
        raise ManifestError(f"{where} at commit {commit[:12]}", err.where, err.message) \
            from None


def tasks_of(found: Affected, defaults: list[str], tasks: dict[str, Any]) -> list[str]:
    """What runs for the affected modules: their tasks among the run's default ones (already
    narrowed by select=), the module's verify task for `verify`, federate when a site
    module is affected."""
    names: list[str] = []
    for name in defaults:
        if name == "federate":
            if found.sites & set(found.modules):
                names.append(name)
        elif name == "verify":
            names += [f"verify:{m}" for m in found.modules if f"verify:{m}" in tasks]
        elif name.partition(":")[2] in found.modules:
            names.append(name)
    return names


def describe(found: Affected, commits: dict[str, str]) -> list[str]:
    """The affected modules and why, in words."""
    head = commits["head"] if commits["head"] == "working tree" else commits["head"][:12]
    count = len(found.modules)
    lines = [f"affected between {commits['base'][:12]} and {head}: {count} "
             f"module{'s' * (count != 1)}"]
    for name, reasons in found.modules.items():
        more = f" (and {len(reasons) - 1} more)" if len(reasons) > 1 else ""
        lines.append(f"  {name}: {reasons[0]}{more}")
    for name, renamed in found.removed.items():
        lines.append(f"  {name}: removed" + (f" (renamed {renamed})" if renamed else ""))
    return lines


def as_report(found: Affected, commits: dict[str, str], names: list[str]) -> dict[str, Any]:
    """`doit affected --json`."""
    return {"base": commits["base"], "head": commits["head"],
            "modules": [{"name": n, "reasons": r} for n, r in found.modules.items()],
            "removed": [{"name": n, "renamed_to": r} for n, r in found.removed.items()],
            "tasks": names}
