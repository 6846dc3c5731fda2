"""Fix and retry: under `doit fix=auto`, a failing step's fixers (`fix:` in its toolchain YAML
or the module's step entry) run in a scratch copy of the module, and the step runs again
there; a fix that makes it pass is kept as a patch under `.fedbuild/fixes/<run>/<task>.patch`
with one line saying how to apply it.

The user's working tree is never touched. The scratch copy is a `git worktree add --detach`
of the repository (with the module's current files, uncommitted ones too, laid over it) when
the repository is git, else a copy of the module in a fresh `git init` (so the patch is
written by `git diff` either way, and `git apply` reads it). A fix is proven there before it
is proposed: the failed step passes, and so do the module's steps that depend on it (a lint
fix removing an import a test needs is no fix). One attempt per failed step; the step stays
failed in the run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
import shutil
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import psutil

from core.confine import remove_tree
from core.digests import file_digest
from core.outcome import Outcome, Status
from core.runner import RUN_VARIABLE, Command, Result, run
from core.runner import Status as Ended
from core.staging import new_workdir
from core.state import STATE_DIR, State
from federation.manifest import LlmFixer
from federation.steps import StepPlan
from tasks import llm_fix
from tasks.command_line import fixes_wanted

FIXES = "fixes"  # .fedbuild/fixes/<run>/<task>.patch
_GIT_TIMEOUT = 120.0
_NOT_COPIED = (".git", STATE_DIR)
_DIFF_LINE = re.compile(r"diff --git a/(.+) b/\1")


def after_failure(plan: StepPlan, outcome: Outcome, execute: Callable[[StepPlan], Outcome],
                  planned: Mapping[str, StepPlan] | None = None) -> Outcome:
    """The outcome of a step that ran, with a line per fix attempt when it failed, has
    fixers (or a model is configured) and the run says fix=auto (`execute` runs the step,
    then the steps of `planned` depending on it, again in the scratch copy)."""
    if not fixers(plan) or not outcome.status.failed or outcome.status is Status.INTERRUPTED \
            or not fixes_wanted():
        return outcome
    lines = propose(plan, execute, dependents(plan, planned or {}))
    return dataclasses.replace(outcome, warnings=(*outcome.warnings, *lines))


def fixers(plan: StepPlan) -> list[Fixer]:
    """What is tried, one per attempt, up to the attempts allowed: the step's fixers (once:
    they do the same again), then the model for every attempt left."""
    tried: list[Fixer] = [_Commands(plan.fix)] if plan.fix else []
    llm = plan.fixing.llm
    if llm is not None:
        tried += [_Model(llm)] * max(0, plan.fixing.attempts - len(tried))
    return tried[:plan.fixing.attempts]


def dependents(plan: StepPlan, planned: Mapping[str, StepPlan]) -> list[StepPlan]:
    """The steps of the plan's module that depend on it, directly or not, each after the
    ones it depends on; not those that cannot run in a scratch copy (skipped here, or
    needing a board)."""
    found: dict[str, StepPlan] = {}
    grew = True
    while grew:  # a step joins once one of its deps is the plan or already joined
        grew = False
        for step in planned.values():
            if step.task not in found and step.module == plan.module and \
                    any(dep == plan.task or dep in found for dep in step.deps):
                found[step.task] = step
                grew = True
    return [step for step in found.values() if step.skip is None and not step.board_options]


def propose(plan: StepPlan, execute: Callable[[StepPlan], Outcome],
            after: list[StepPlan] | None = None) -> list[str]:
    """Try each fixer in turn, each in a fresh scratch copy, until one is proven: the line
    saying what came of each attempt."""
    lines = []
    for fixer in fixers(plan):
        line = _in_scratch(plan, fixer, execute, after or [])
        lines.append(line)
        if not line.startswith(f"fix:{plan.module}: no fix found"):
            break
    return lines


def _in_scratch(plan: StepPlan, fixer: Fixer, execute: Callable[[StepPlan], Outcome],
                after: list[StepPlan]) -> str:
    """One attempt in a fresh scratch copy, removed after it: the line saying what came of
    it."""
    work = new_workdir(plan.tmp, "fix-" + plan.task.replace(":", "-"))
    scratch = _Scratch(plan, work)
    try:
        try:
            why = scratch.make()
        except OSError as err:  # a file shutil cannot copy (a named pipe), no space left
            why = f"the module could not be copied: {_one_line(err)}"
        if why is None:
            return _attempt(plan, fixer, scratch, execute, after)
        return _no_fix(plan, why)
    finally:
        scratch.remove()


def _one_line(err: OSError) -> str:
    """An OSError as one line (shutil's copytree error lists every file that failed)."""
    if isinstance(err, shutil.Error) and err.args and isinstance(err.args[0], list):
        source, _, why = err.args[0][0]
        return f"{source}: {why}"
    return str(err).splitlines()[0]


def fixer_name(plan: StepPlan) -> str:
    """The step's fixers as a user would type them, joined by " + "."""
    return _Commands(plan.fix).name


class Fixer(Protocol):
    """One way of changing the scratch copy: named in the line, and why it could not."""

    @property
    def name(self) -> str:
        """How the line names it."""

    def change(self, plan: StepPlan, scratch: _Scratch) -> str | None:
        """Change the module in the scratch copy; why it could not, or None."""


@dataclasses.dataclass(frozen=True)
class _Commands:
    """The step's deterministic fixers (argv lists, run in turn)."""

    argvs: tuple[tuple[str, ...], ...]

    @property
    def name(self) -> str:
        return " + ".join(shlex.join(_filled(argv)) for argv in self.argvs)

    def change(self, plan: StepPlan, scratch: _Scratch) -> str | None:
        broke = scratch.run_fixers(self.argvs)
        return None if broke is None else f"{self.name} could not run: {_first(broke)}"


@dataclasses.dataclass(frozen=True)
class _Model:
    """A language model asked for a diff (tasks/llm_fix.py), applied only if it applies."""

    llm: LlmFixer

    @property
    def name(self) -> str:
        return f"the model {self.llm.model} ({self.llm.api})"

    def change(self, plan: StepPlan, scratch: _Scratch) -> str | None:
        try:
            answer = llm_fix.ask(self.llm, llm_fix.prompt(plan, self.llm.max_bytes))
        except llm_fix.ModelError as err:
            return f"{self.name} could not be asked: {err}"
        diff = llm_fix.diff_in(answer)
        if diff is None:
            return f"{self.name} answered no unified diff; rejected"
        why = scratch.apply(diff)
        return None if why is None else f"{self.name}'s diff does not apply ({why}); rejected"


def _filled(argv: tuple[str, ...]) -> tuple[str, ...]:
    """A fixer's argv with {jobs} (the one run-time placeholder a fixer may use) filled in."""
    jobs = str(os.cpu_count() or 1)
    return tuple(arg.replace("{jobs}", jobs) for arg in argv)


def _no_fix(plan: StepPlan, why: str) -> str:
    return f"fix:{plan.module}: no fix found for {plan.task}: {why}"


def _attempt(plan: StepPlan, fixer: Fixer, scratch: _Scratch,
             execute: Callable[[StepPlan], Outcome], after: list[StepPlan]) -> str:
    """Change the module with `fixer`, keep the diff, run the step and the steps `after` it
    again: the line to print."""
    why = fixer.change(plan, scratch)
    if why is not None:
        return _no_fix(plan, why)
    patch = scratch.diff()
    if patch is None or not patch.read_text(errors="replace").strip():
        return _no_fix(plan, f"{fixer.name} changed nothing")
    failed = _proof(plan, scratch, execute, after)
    if failed is not None:
        task, first = failed
        still = "still fails" if task == plan.task else "fails"
        rejected = "; rejected" if isinstance(fixer, _Model) else ""
        return _no_fix(plan, f"{task} {still} after {fixer.name} ({first}){rejected}")
    kept = plan.root / STATE_DIR / FIXES / run_name() / f"{plan.task}.patch"
    files, added, deleted = patch_stats(patch.read_text(errors="replace"))
    apply = apply_argv(os.path.relpath(kept, plan.root), scratch.prefix)
    line = (f"fix:{plan.module}: {fixer.name} made {plan.task} pass ({files} "
            f"{'file' if files == 1 else 'files'}, +{added} -{deleted}); "
            f"apply with: {shlex.join(apply)}")
    _keep(plan, patch, kept, {"line": line, "apply": apply,
                              "proven": [plan.task, *(step.task for step in after)]})
    return line


def _proof(plan: StepPlan, scratch: _Scratch, execute: Callable[[StepPlan], Outcome],
           after: list[StepPlan]) -> tuple[str, str] | None:
    """Run the step, then each step after it, in the scratch copy: the first that fails
    (its task and the first line of why), or None when all pass."""
    for step in (plan, *after):
        again = execute(scratch.rerun_plan(step))
        if not again.status.succeeded:
            return step.task, (again.message or again.status.value).splitlines()[0]
    return None


def apply_argv(patch: str, prefix: str) -> list[str]:
    """The command applying a patch whose paths are relative to the repository, run there:
    where that folder is a subfolder of a git repository, `git apply` reads paths from the
    top and would skip every file, so --directory says where they are."""
    return ["git", "apply", *([f"--directory={prefix}"] if prefix != "." else []), patch]


def _keep(plan: StepPlan, patch: Path, kept: Path, said: dict[str, Any]) -> None:
    """Move the proven patch to .fedbuild/fixes/<run>/<task>.patch, with a record beside it
    (<task>.json: the line, and the digest of each file it changes as the file is now, so
    `doit fix` can refuse once the working tree has changed)."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    touched = patched_files(patch.read_text(errors="replace"))
    record = {"task": plan.task, "module": plan.module, **said,
              "files": {name: file_digest(plan.root / name)
                        if (plan.root / name).is_file() else None for name in touched}}
    kept.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.move(patch, kept)


def patched_files(text: str) -> list[str]:
    """The files a `git diff` patch changes, creates or deletes (relative to where it
    applies; names git had to quote are left out: `git apply --check` still checks them)."""
    names: list[str] = []
    for line in text.splitlines():
        same = _DIFF_LINE.fullmatch(line)  # a binary file has no ---/+++ lines
        name = same.group(1) if same else line[6:] if line.startswith(("--- a/", "+++ b/")) \
            else None
        if name and name not in names:
            names.append(name)
    return names


def run_name(token: str | None = None) -> str:
    """This run's folder name: its start (UTC, so names sort by start) and its process id,
    read from the run's mark (tasks/session.py sets it: "<pid>-<start>"), else this
    process's own start."""
    token = os.environ.get(RUN_VARIABLE) if token is None else token
    pid, _, since = (token or "").partition("-")
    try:
        started = float(since)
    except ValueError:
        pid, started = str(os.getpid()), psutil.Process().create_time()
    stamp = datetime.fromtimestamp(started, timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{stamp}-{re.sub(r'[^0-9]', '', pid) or 0}"


def patch_stats(text: str) -> tuple[int, int, int]:
    """(files, added lines, deleted lines) of a unified diff as `git diff` writes it."""
    files = added = deleted = 0
    for line in text.splitlines():
        if line.startswith("diff --git "):
            files += 1
        elif line.startswith("+") and not line.startswith("+++ "):
            added += 1
        elif line.startswith("-") and not line.startswith("--- "):
            deleted += 1
    return files, added, deleted


class _Scratch:
    """A scratch image of the repository holding the module as it is now, where fixers and
    the step run: its folder mirrors the repository's layout, so the diff's paths are the
    repository's."""

    def __init__(self, plan: StepPlan, work: Path) -> None:
        self.plan, self.work = plan, work
        self.module = plan.module_dir or plan.cwd
        inside = self.module.resolve().is_relative_to(plan.root.resolve())
        self.rel = os.path.relpath(self.module, plan.root) if inside else plan.module
        self.tree = work / work.name  # its basename names the worktree in .git/worktrees/
        self.image = self.tree  # the repository root's image (a subfolder of a git worktree)
        self.top: Path | None = None  # the git repository whose worktree this is
        self.prefix = "."  # the repository's folder in the git repository holding it
        self.log = work / "fix.log"

    def make(self) -> str | None:
        """Create the scratch image; why it could not be made, or None."""
        top = self._git_top()
        if top is not None:
            self.prefix = os.path.relpath(self.plan.root, top)
        if top is not None and self._git(top, "worktree", "add", "--detach", "--quiet",
                                          str(self.tree), "HEAD").ok:
            self.top = top
            self.image = self.tree / os.path.relpath(self.plan.root, top)
        elif self.tree.exists():
            remove_tree(self.tree, State(self.plan.root).roots)
        self._lay_over()
        if self.top is None:
            made = self._git(self.image, "init", "--quiet")
            if not made.ok:
                return f"git could not make a scratch repository: {_first(made)}"
        added = self._git(self.image, "add", "--all", "--", self.rel)
        return None if added.ok else f"git could not record the module's files: {_first(added)}"

    def _lay_over(self) -> None:
        """Put the module's files as they are now (uncommitted changes too) in the image,
        in place of the committed ones (a module at the repository's root: over them)."""
        copy = self.image / self.rel
        if copy.exists() and self.rel != ".":
            remove_tree(copy, State(self.plan.root).roots)
        shutil.copytree(self.module, copy, symlinks=True, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(*_NOT_COPIED))

    def remove(self) -> None:
        """Remove the scratch image (and its worktree entry) and the work folder."""
        if self.top is not None and not self._git(self.top, "worktree", "remove", "--force",
                                                  str(self.tree)).ok:
            self._git(self.top, "worktree", "prune")
        remove_tree(self.work, State(self.plan.root).roots)

    def run_fixers(self, argvs: tuple[tuple[str, ...], ...]) -> Result | None:
        """Run every fixer in the copy (their exit codes decide nothing: running the step
        again does); the result of one that could not run at all, or None."""
        env = {k: self.moved(v) for k, v in self.plan.env.items()}
        for argv in argvs:
            result = run(Command(argv=tuple(self.moved(a) for a in _filled(argv)),
                                 cwd=Path(self.moved(str(self.plan.cwd))), log=self.log,
                                 env=env, timeout=self.plan.timeout, append=True))
            if result.status in (Ended.TIMED_OUT, Ended.MISSING_TOOL, Ended.INTERRUPTED):
                return result
        return None

    def apply(self, diff: str) -> str | None:
        """Apply a diff of the module's files (paths relative to its folder, with a/ b/
        prefixes or without) to the copy, if `git apply --check` accepts it; why not, or
        None."""
        patch = self.work / "model.patch"
        patch.write_text(diff)
        top = self.tree if self.top is not None else self.image
        folder = os.path.normpath(os.path.relpath(self.image / self.rel, top))
        where = [f"--directory={folder}"] if folder != "." else []
        said: str | None = None  # what git said of the a/ b/ form: what a model writes
        for strip in ("-p1", "-p0"):
            checked = self._git(top, "apply", "--check", strip, *where, str(patch))
            if checked.ok:
                done = self._git(top, "apply", strip, *where, str(patch))
                return None if done.ok else _first(done)
            said = said or _said(self.log)
        return said or "git apply --check refused it"

    def diff(self) -> Path | None:
        """What the fixers changed in the module, as a patch relative to the repository."""
        patch = self.work / "fix.patch"
        self._git(self.image, "add", "--intent-to-add", "--all", "--", self.rel)
        done = self._git(self.image, "diff", "--relative", "--binary", "--no-color",
                         "--no-ext-diff", f"--output={patch}", "--", self.rel)
        return patch if done.ok and patch.is_file() else None

    def rerun_plan(self, plan: StepPlan) -> StepPlan:
        """A step of the module as it runs in the copy: its own folders there, no cache, no
        fixers."""
        state = self.work / "state" / plan.task.replace(":", "-")
        moved = self.moved
        return dataclasses.replace(
            plan, commands=tuple(tuple(moved(a) for a in c) for c in plan.commands),
            cwd=Path(moved(str(plan.cwd))), env={k: moved(v) for k, v in plan.env.items()},
            outputs=tuple(Path(moved(str(o))) for o in plan.outputs), clean=(),
            dist=Path(moved(str(plan.dist))), log=state / "rerun.log",
            outcome=state / "rerun.json", tmp=state / "tmp", cache=False, lazy=False,
            deps=(), fix=(), module_dir=self.image / self.rel,
            sources=Path(moved(str(plan.sources))) if plan.sources else None)

    def moved(self, text: str) -> str:
        """A path (or an argument holding paths) of the real module, its work folder or its
        dist folder, as the copy's (other paths, fedbuild's, a tool's, what other modules
        built, stay)."""
        state, dist = self.plan.root / STATE_DIR, self.plan.dist
        swaps = {str(self.module): str(self.image / self.rel),
                 str(state / "work"): str(self.work / "state" / "work"),
                 str(dist): str(self.work / "state" / os.path.relpath(dist, self.plan.root))}
        pattern = "|".join(re.escape(k) for k in sorted(swaps, key=len, reverse=True))
        return re.sub(pattern, lambda m: swaps[m.group(0)], text)

    def _git_top(self) -> Path | None:
        """The top of the git repository holding the module and the repository, if any."""
        log = self.work / "rev-parse.log"
        done = run(Command(argv=("git", "rev-parse", "--show-toplevel"), cwd=self.module,
                           log=log, timeout=_GIT_TIMEOUT))
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if line and not line.startswith("$ ")] if log.is_file() else []
        if not done.ok or not lines:
            return None
        top = Path(lines[-1])
        return top if self.plan.root.resolve().is_relative_to(top.resolve()) else None

    def _git(self, cwd: Path, *args: str) -> Result:
        """Run git through the runner, its output in the fix log; the repository's hooks
        (post-checkout on `worktree add`) are not run."""
        return run(Command(argv=("git", "-c", "core.hooksPath=/dev/null", *args), cwd=cwd,
                           log=self.log, timeout=_GIT_TIMEOUT, append=self.log.exists()))


def _said(log: Path) -> str | None:
    """The last line git wrote to the fix log (what it refused), if any."""
    lines = [line for line in log.read_text(errors="replace").splitlines()
             if line.strip() and not line.startswith("$ ")] if log.is_file() else []
    return lines[-1].strip() if lines else None


def _first(result: Result) -> str:
    """The first line of what a failed command's result says."""
    return result.describe().splitlines()[0]
