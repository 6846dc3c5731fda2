"""Tasks for toolchain steps (`<step>:<module>`) and `verify:<module>`, and `execute`: the
one pipeline every step runs through, site builds (the build.sh toolchain's build step)
included.

The generators only describe; the actions run each step's commands through the
runner, in the module's folder, and move what a step wrote to {out} into
dist/<mode>/<module>/ (a site build's: .fedbuild/staging/<module>/) only when every
command succeeded. A site build's step reads its module.json first, for its argv's options
and its inputs (tasks/sites.py holds what only it has). The outcome goes back to the run's
record in the action's returned values (tasks/returned.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeAlias

import doit
from doit.exceptions import TaskFailed
from doit.task import Task, dict_to_task
from doit.tools import result_dep

from core.confine import remove_tree
from core.digests import content_digest, file_digest, files_digest, stat_fingerprint
from core.errors import ManifestError
from core.outcome import Outcome, Status
from core.runner import Command, Result, run, which
from core.runner import Status as Ended
from core.staging import new_workdir, replace_dir
from core.state import STATE_DIR, State
from federation.inputs import GitIgnores, files_under
from federation.manifest import display_path
from federation.sites import ResolvedSite, Walk
from federation.steps import (
    BOARD_OPTIONS,
    DIST,
    StepPlan,
    ToolPlan,
    VerifyPlan,
    resolve_step,
    site_step,
)
from tasks import fix, planned, sites
from tasks.cache.actions import lookup as cache_lookup
from tasks.cache.actions import warnings as cache_warnings
from tasks.cache.record import ActionRecord
from tasks.clean import CLEAN, cleaned_modes, remove
from tasks.doit_compat import AFTER_FAILURES
from tasks.exclusive import STEPS_LOCK, slot
from tasks.no_tests import ran_no_tests
from tasks.planned import ON_DEVICE
from tasks.remote import run_remotely
from tasks.returned import result, returned
from tasks.signature import Signature
from tasks.temp_paths import TempPaths
from tasks.tool_probe import joined, version_line

TaskDict = dict[str, Any]
# What a task generator yields: doit makes a Task of a dict (or takes one made already).
TaskDef: TypeAlias = "dict[str, Any] | Task"


def step_tasks(steps: list[StepPlan], groups: bool = True,
               resolved: Mapping[str, ResolvedSite] | None = None) -> Iterator[TaskDef]:
    """A subtask per module (`test:web`) and, with `groups`, a group task per step name
    (`doit test`); a local site build's argv and inputs from `resolved` (by task name,
    tasks/snapshot.py) when given there, else read now."""
    names: dict[str, list[str]] = {}
    for step in steps:
        names.setdefault(step.step, []).append(step.module)
    for name, modules in names.items() if groups else ():
        yield {"basename": name, "name": None, "meta": {AFTER_FAILURES: True},
               "doc": f"the {name} step of every module having one ({', '.join(modules)})"}
    # Folders shared by site builds (templates, themes) are listed once per load.
    walk = functools.cache(functools.partial(files_under, ignores=GitIgnores()))
    for step in steps:
        task = step_task(step, walk, (resolved or {}).get(step.task))
        if on_device(step) and not board_given():
            task["meta"] = {**task["meta"], ON_DEVICE: {"default": step.default}}
            yield outside_group(task) if groups else task
        else:
            yield task


def build_group() -> TaskDict:
    """The group task `build` (yielded by task_build): it only gathers its subtasks, so a
    failed one is reported once, by itself, and the run ends "failed" (exit 1), not
    "dependency error" (exit 2)."""
    return {"name": None, "meta": {AFTER_FAILURES: True},
            "doc": "build every module (build:<module> for one, with what it depends on)"}


def on_device(step: StepPlan) -> bool:
    """A step that needs a board on a serial port (its commands use {port}): flashing, tests
    on the chip. QEMU's are not."""
    return "port" in step.board_options


def board_given() -> bool:
    """Whether the command line names a board's port (`port=` or `ports=`)."""
    return bool(doit.get_var("port", None) or doit.get_var("ports", None))


def outside_group(task: TaskDict) -> Task:
    """The task `<step>:<module>` made here rather than by doit's loader, which would add it
    to the group `<step>`: `doit test` then leaves it out, `doit test:fw` still runs it."""
    data = {key: value for key, value in task.items() if key != "basename"}
    data["name"] = f"{task['basename']}:{task['name']}"
    made = dict_to_task(data)
    made.subtask_of = task["basename"]
    return made


def step_task(step: StepPlan, walk: Walk = files_under,
              resolved: ResolvedSite | None = None) -> TaskDict:
    """The task dict of one step (a site build's with what its module.json decides, read
    already when `resolved` is given; `walk` lists the folders it reads)."""
    where = os.path.relpath(step.cwd, step.root)
    _steps[step.task] = step  # for the tool probes and for lazy steps
    task: TaskDict = {
        "basename": step.step,
        "name": step.module,
        "doc": f"{step.description} [{step.toolchain}, {step.mode}, in {where}]",
        "actions": [(run_step, [step]), (result, [])],
        "file_dep": list(step.inputs),
        "task_dep": list(step.deps),
        "uptodate": [step_signature(step), *(result_dep(dep) for dep in step.deps)],
        "clean": [(clean_outputs, [step])],
        "meta": {CLEAN: True},
    }
    if step.site is not None:
        own = sites.site_fields(step, walk, resolved)
        own["uptodate"] = [task["uptodate"][0], *own["uptodate"], *task["uptodate"][1:]]
        task.update(own)
    if step.board_options:
        task["params"] = [board_param(name) for name in step.board_options]
    if step.skip:
        task["doc"] = f"{step.description} [skipped here: {step.skip}]"
        task["uptodate"] = [False]  # say why it is skipped on every run
    elif step.always_run:
        task["uptodate"] = [False]  # a board's state is not ours to remember
    else:
        task["targets"] = [str(o) for o in step.outputs]
    if step.lazy:
        task["uptodate"].append(functools.partial(_lazy_up_to_date, step))
    return task


_BOARD_HELP = {
    "port": "serial port(s) of the board: /dev/ttyUSB0, a pyserial URL, or several as a,b "
            "(default: the one ESP32 board found on USB)",
    "baud": "serial speed (default: the command's own)",
    "chip": "the chip expected on the board (default: the module's target)",
}


def board_param(name: str) -> dict[str, Any]:
    """A doit task option (`doit flash:fw --port /dev/ttyUSB1`) whose default comes from a
    command-line variable (`doit flash:fw port=/dev/ttyUSB1`; `ports=a,b` for several)."""
    default = doit.get_var(name, None) or ""
    if name == "port":
        default = default or doit.get_var("ports", None) or ""
    return {"name": name, "long": name, "type": str, "default": default,
            "help": _BOARD_HELP[name]}


def verify_tasks(verifies: list[VerifyPlan]) -> Iterator[TaskDict]:
    """`verify:<module>`: declared artifacts exist, are not empty and fit their budget."""
    if verifies:
        yield {"basename": "verify", "name": None, "meta": {AFTER_FAILURES: True},
               "doc": "check every module's declared artifacts"}
    for plan in verifies:
        yield {
            "basename": "verify",
            "name": plan.module,
            "doc": f"check that the {len(plan.artifacts)} declared artifacts of {plan.module} "
                   "exist, are not empty and fit their size budgets",
            "actions": [(verify, [plan])],
            "task_dep": list(plan.deps),
            "uptodate": [False],
        }


def step_signature(step: StepPlan) -> Signature:
    """Up to date only while the commands, env, mode, platform and tool version are the same,
    and what the step made at its last success is still there (`doit clean`, or by hand)."""
    return Signature(functools.partial(_step_fields, step), (*step.outputs, *step.clean))


def _step_fields(step: StepPlan) -> Any:
    """What decides the step's result besides its input files (its cache key's fields)."""
    if step.fields is not None:
        return step.fields
    return {**step.signature(), "tool": tool_version(step.tool, step.root)}


_steps: dict[str, StepPlan] = {}  # every step task of this dodo, by task name
_versions: dict[tuple[tuple[str, ...], str], Future[str | None]] = {}

_probe_lock = threading.Lock()
_plan_probed: planned.Plan | None = None  # the plan whose tools' probes were started


def _forked() -> None:
    """In a `-P process` worker: the parent's probe threads did not come along, so a probe
    still running there would never answer here; forget it (asked again if needed)."""
    global _probe_lock, _lazy_lock
    _probe_lock, _lazy_lock = threading.Lock(), threading.RLock()
    for version, future in list(_versions.items()):
        if not future.done():
            del _versions[version]


os.register_at_fork(after_in_child=_forked)


def tool_version(tool: ToolPlan | None, root: Path) -> str | None:
    """The tool's version line, asked once per run (None when it cannot be run); with the
    lines of the other programs it names (`also`), joined by " | " ("none" for one that
    cannot be run). The first ask starts the probes of every tool the run's tasks use at
    once, so a run waits for the slowest probe, not for their sum (each is a process start:
    tens of milliseconds). Not where doit forks workers (`-P process`): a probe starting its
    process while doit forks can hang, so there each one is asked alone, and waited for."""
    if tool is None:
        return None
    global _plan_probed
    with _probe_lock:
        plan = planned.current()
        wanted = list(tool.probes())
        # The run's tools are gathered once per plan, not once per task asking (that was
        # quadratic: 1000 site builds walked 1000 tasks each).
        if plan and not plan.forks and plan is not _plan_probed:
            _plan_probed = plan
            wanted += _plan_tools(plan)
        for each in wanted:
            if (each.version, each.line) not in _versions:
                future: Future[str | None] = Future()
                _versions[each.version, each.line] = future
                threading.Thread(target=_probe, args=(each, root, future), daemon=True,
                                 name=f"probe {each.command}").start()
        asked = [_versions[each.version, each.line] for each in tool.probes()]
    return joined(tool, [future.result() for future in asked])


def _plan_tools(plan: planned.Plan) -> list[ToolPlan]:
    """The probes of every tool the plan's tasks run."""
    wanted: list[ToolPlan] = []
    for name in plan.tasks:
        step = _steps.get(name)
        if step is not None and step.tool is not None and not step.skip:
            wanted += step.tool.probes()
    return wanted


@contextlib.contextmanager
def _probe_logs(root: Path) -> Iterator[Path]:
    """The folder of the probes' logs: the state folder's, or, before any run made one
    (`doit info` on a fresh checkout creates nothing), a temporary one outside it."""
    if (root / STATE_DIR).is_dir():
        yield root / STATE_DIR / "logs" / "tools"
        return
    with tempfile.TemporaryDirectory(prefix="fedbuild-probe-") as folder:
        yield Path(folder)


def _probe(tool: ToolPlan, root: Path, future: Future[str | None]) -> None:
    try:
        name = Path(tool.version[0]).name
        tag = hashlib.sha256("\0".join(tool.version).encode()).hexdigest()[:8]
        with _probe_logs(root) as logs:
            future.set_result(version_line(tool, root, logs / f"{name}-{tag}.log"))
    except BaseException as err:  # the asking task fails with it, not this thread
        future.set_exception(err)


def run_step(step: StepPlan, **board: str) -> dict[str, Any] | TaskFailed:
    """Run the step's commands; publish {out} into dist/ only if all succeeded. `board`
    holds the values of the step's board options (port, baud, chip)."""
    started = time.monotonic()
    if step.skip:
        return returned(Outcome(task=step.task, status=Status.SKIPPED, duration=0.0,
                                log=str(step.log), message=step.skip),
                        step.outcome, {"skipped": step.skip})
    if step.lazy:
        why = _not_needed(step)
        if why is not None:
            # the same values every time: its dependents stay up to date
            return returned(Outcome(task=step.task, status=Status.NOT_NEEDED,
                                    duration=time.monotonic() - started, log=str(step.log),
                                    message=why), step.outcome, {"not needed": True})
    if step.site is not None:
        return sites.site_values(step, _run_site(step, started))
    outcome = execute(step, board, started)
    return returned(outcome, step.outcome, {} if outcome.status.failed else _stamp(step))


def _run_site(step: StepPlan, started: float) -> Outcome:
    """A site build: its module.json read (and the copy of it carrying what its script has
    no option for written), then run as every step is."""
    try:
        resolved = resolve_step(step)
    except ManifestError as err:
        return Outcome(task=step.task, status=Status.FAILED,
                       duration=time.monotonic() - started, log=str(step.log),
                       tolerated=step.tolerated, message=str(err))
    if resolved.config is not None:
        sites.write_config_copy(*resolved.config)
    return execute(_site_plan(step, resolved), None, started)


def completed(step: StepPlan, walk: Walk = files_under) -> StepPlan:
    """A site build's step with its module.json read (argv, inputs) and its cache key's
    fields; any other step as it is."""
    return step if step.site is None else _site_plan(step, resolve_step(step, walk))


def _site_plan(step: StepPlan, resolved: ResolvedSite) -> StepPlan:
    """A site build's step with its module.json's argv and inputs, and what its cache key
    covers besides the files: its signature with the tool's version, the argv, a git
    source's commit."""
    assert step.site is not None
    commit = step.site.git.recorded_head() if step.site.git else None
    # The YAML's argv is in the key once, as the head of resolved.argv: the keys of site
    # builds stay those made before it was part of their signature.
    signature = {k: v for k, v in _step_fields(step).items() if k != "command"}
    return site_step(step, resolved, [signature, resolved.argv, commit])


def execute(plan: StepPlan, board: Mapping[str, str] | None = None,
            started: float | None = None) -> Outcome:
    """Run one action plan, whatever its kind (a toolchain step, a site build): restore it
    from the cache, or run its commands in a fresh work folder and, if they all succeed,
    make what they wrote to {out} its output folder in one rename and store it in the cache.
    Retries, timeouts, logs and the outcome's words are the runner's, the same for all."""
    started = time.monotonic() if started is None else started
    fields = _step_fields(plan)
    cached = cache_lookup(plan.task, plan.module, fields, plan.root, plan.inputs,
                          plan.deps) if plan.cache else None
    lock = plan.root / STATE_DIR / STEPS_LOCK
    if cached is not None:
        with slot(lock, plan.exclusive):
            record = cached.restore(plan.log, plan.outputs)
        if record is not None:
            return _restored(plan, record, started)
    missing = _missing_tool(plan)  # only what runs needs its tool
    notes, failure = ([], missing) if missing else _run_lazy_deps(plan)  # outside the slot
    if failure is not None:
        return Outcome(task=plan.task, status=Status.FAILED, tolerated=plan.tolerated,
                       duration=time.monotonic() - started, log=str(plan.log),
                       message=failure, warnings=tuple(notes))
    if notes and cached is not None:  # what they produced is part of this step's key
        cached = cache_lookup(plan.task, plan.module, fields, plan.root, plan.inputs,
                              plan.deps)
    ran = None if board else run_remotely(
        plan, cached, _dep_outputs(plan), functools.partial(tool_version, plan.tool, plan.root))
    if ran is not None and ran.here:  # executor=dask,local-fallback: the cluster is gone
        notes, ran = [*notes, ran.here], None
    if ran is not None and ran.failure:
        return Outcome(task=plan.task, status=Status.FAILED, tolerated=plan.tolerated,
                       duration=time.monotonic() - started, log=str(plan.log),
                       message=ran.failure, **ran.where())
    if ran is not None:
        results, wrote, paths = list(ran.results), ran.wrote, None
    else:
        with slot(lock, plan.exclusive):
            results, wrote, paths = _run_in_workdir(plan, dict(board or {}))
    if all(r.ok for r in results) and not wrote:
        return Outcome(task=plan.task, status=Status.FAILED, tolerated=plan.tolerated,
                       duration=time.monotonic() - started, log=str(plan.log),
                       message=_wrote_nothing(plan))
    outcome = _record(plan, results, time.monotonic() - started, fields)
    if paths is not None and outcome.status.failed:
        outcome = dataclasses.replace(outcome, message=paths.map(outcome.message))
    if cached and outcome.status.succeeded and ran is None:  # a worker stored it already
        cached.store(plan.outputs, plan.log, outcome.duration)
    outcome = dataclasses.replace(outcome, warnings=(*notes, *cache_warnings()),
                                  **(ran.where() if ran else {}))
    return fix.after_failure(plan, outcome, execute, _steps)  # fix=auto: a proven patch


def _dep_outputs(plan: StepPlan) -> Iterator[Path]:
    """What the steps `plan` depends on, directly or not, declared they make: inputs of a
    remote run too (a test may load a library its module's dependency built). A generator:
    only a remote run reads it, and walking every dependency of every step of a long chain
    at each step that runs here costs time that grows with the square of the chain."""
    seen: set[str] = set()
    todo = list(plan.deps)
    while todo:
        dep = todo.pop()
        if dep not in seen and dep in _steps:
            seen.add(dep)
            todo += _steps[dep].deps
    yield from (path for dep in sorted(seen) for path in _steps[dep].outputs)


def _run_in_workdir(plan: StepPlan, board: dict[str, str]
                    ) -> tuple[list[Result], bool, TempPaths | None]:
    """Run the commands with {out} (and TMPDIR, if it has its own) in a fresh work folder;
    make {out} the output folder if they all succeeded. (the results, whether {out} was
    there, what maps the work folder's paths in a failure's log and message to sources)."""
    work = new_workdir(plan.tmp, plan.task.replace(":", "-")) if plan.uses_out else None
    try:
        out = work / "out" if work else None
        if out is not None and not plan.creates_out:
            out.mkdir()
        tmpdir = work / "tmp" if work is not None and plan.own_tmp else None
        if tmpdir is not None:
            tmpdir.mkdir()
        results = _run_commands(plan, out, board, tmpdir)
        wrote = out is None or out.is_dir()
        paths = None
        if all(r.ok for r in results) and out is not None and wrote:
            merge_into(out, plan.dist, plan.root)
        elif work is not None:  # its errors name files of the copy about to be removed
            paths = TempPaths(work, plan.root, plan.inputs, plan.sources or plan.cwd)
            paths.rewrite_log(plan.log)
    finally:
        if work:
            remove_tree(work, State(plan.root).roots)
    return results, wrote, paths


def _wrote_nothing(plan: StepPlan) -> str:
    """The failure of a command that creates {out} itself and exited 0 without doing so,
    naming the option that gives it {out} (--output)."""
    argv = plan.commands[-1]
    at = argv.index("{out}") if "{out}" in argv else 0
    given = argv[at - 1] if at > 0 and argv[at - 1].startswith("-") else "{out}"
    return f"{display_path(Path(argv[0]))} exited 0 but wrote nothing to {given}"


# Lazy steps ----------------------------------------------------------------------------------
# A lazy step (npm's install) runs only for a task that will really run. When every task of
# this run needing it is in the cache, it is "not needed" and runs nothing; a task that then
# misses the cache after all runs it first, itself.

# One lazy step run at a time, however many dependents miss: this lock for threads, a lock
# file for `-P process` workers.
_lazy_lock = threading.RLock()


def _not_needed(step: StepPlan) -> str | None:
    """Why the lazy step need not run now, or None when it must: the run has no plan, names
    it, or has a task needing it that is not in the cache."""
    plan = planned.current()
    if plan is None or step.task in plan.named:
        return None
    dependents = plan.dependents(step.task)
    if not dependents:
        return None
    for name in dependents:
        other = _steps.get(name)
        if other is not None and other.skip:
            continue
        if other is None or other.always_run or not other.cache or other.site is not None:
            return None  # a site build, a board: not known to be restorable
        cached = cache_lookup(other.task, other.module, _step_fields(other), other.root,
                              other.inputs, other.deps)
        if cached is None or not cached.available(other.outputs):
            return None
    return (f"{', '.join(dependents)} in the cache; it runs first if "
            f"{'that' if len(dependents) == 1 else 'one of them'} has to be built")


def _run_lazy_deps(step: StepPlan) -> tuple[list[str], str | None]:
    """Run the lazy steps `step` needs that were not run (or failed when a dependent ran
    them): (lines saying so, the failure that stops `step`, if any)."""
    notes: list[str] = []
    for dep in step.deps:
        lazy = _steps.get(dep)
        if lazy is None or not lazy.lazy:
            continue
        lock = lazy.root / STATE_DIR / "locks" / f"lazy-{lazy.task.replace(':', '-')}"
        with _lazy_lock, slot(lock, exclusive=True):
            last = Outcome.read(lazy.outcome)
            if last is None or not (last.status is Status.NOT_NEEDED or last.status.failed):
                continue
            ran = execute(lazy)
            ran.write(lazy.outcome)
        if ran.status.failed:
            return notes, (f"{lazy.task}, run first because {step.task} was not in the cache, "
                           f"failed: {ran.message}")
        notes.append(f"{step.task}: ran {lazy.task} first in {ran.duration:.1f}s ({step.task} "
                     "was not in the cache after all)")
    return notes, None


def _lazy_up_to_date(step: StepPlan, task: Any, values: dict[str, Any]) -> bool:
    """A lazy step left not needed stays so until it is named (`doit install:web`); one that
    failed when a dependent ran it runs again."""
    last = Outcome.read(step.outcome)
    if last is None:
        return True
    if last.status is Status.NOT_NEEDED:
        plan = planned.current()
        return plan is None or step.task not in plan.named
    return not last.status.failed


def _restored(step: StepPlan, record: ActionRecord, started: float) -> Outcome:
    """A step whose outputs and log came from the cache."""
    return Outcome(task=step.task, status=Status.CACHED, duration=time.monotonic() - started,
                   log=str(step.log), saved=record.duration, warnings=cache_warnings(),
                   inputs_digest=files_digest(step.root, step.inputs, _step_fields(step)),
                   output_digest=outputs_digest(step, record.file_digests(step.root)))


def _run_commands(step: StepPlan, out: Path | None, board: dict[str, str],
                  tmpdir: Path | None = None) -> list[Result]:
    values = {"{out}": str(out) if out else "", "{jobs}": str(os.cpu_count() or 1),
              "{scratch}": str(out.parent / "scratch") if out else "",
              **{f"{{{name}}}": str(board.get(name) or "") for name in BOARD_OPTIONS}}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    env = {k: fill(v) for k, v in step.env.items()}
    if tmpdir is not None:
        env["TMPDIR"] = str(tmpdir)
    results: list[Result] = []
    for i, argv in enumerate(step.commands):
        result = run(Command(argv=tuple(fill(a) for a in argv), cwd=step.cwd, log=step.log,
                             env=env, timeout=step.timeout, retries=step.retries,
                             append=i > 0))
        results.append(result)
        if not result.ok:
            break
    return results


def _missing_tool(step: StepPlan) -> str | None:
    """The step's program is not there: one line naming it and how to install it. (An
    absolute path, the federation's build script, is left to the runner to report.)"""
    exe = step.commands[0][0]
    if os.path.isabs(exe):
        return None
    # A path (./gradlew) is the module's own script, found from the step's folder.
    found = os.access(step.cwd / exe, os.X_OK) if os.sep in exe else which(exe)
    if found:
        return None
    hint = f"; install it: {step.tool.install}" if step.tool else ""
    return f"{step.task} needs {exe!r}, which is not installed (not found on PATH){hint}"


def merge_into(out: Path, dist: Path, root: Path) -> None:
    """Make `out` the module's dist folder in one rename: nothing stale survives a rebuild."""
    replace_dir(out, dist, State(root).roots)


def clean_outputs(step: StepPlan, dryrun: bool = False) -> None:
    """`doit clean <step>:<module>`: remove what the step writes, never its sources, in every
    mode (or the one given: `doit clean mode=production`), saying what it removed."""
    paths: list[Path] = []
    for mode in cleaned_modes(step.mode):
        paths += [in_mode(path, step, mode) for path in step.outputs]
        for path in (in_mode(path, step, mode) for path in step.clean):
            # may hold globs: src/*.egg-info
            paths += sorted(path.parent.glob(path.name)) if "*" in path.name else [path]
    module = step.cwd.resolve()
    kept = [p for p in dict.fromkeys(paths)  # never a folder that holds the module itself
            if not (p.resolve() == module or module.is_relative_to(p.resolve()))]
    remove(kept, State(step.root).roots, step.root, dryrun)


def in_mode(path: Path, step: StepPlan, mode: str) -> Path:
    """Where `path`, planned for the step's mode, is in `mode`: dist/<mode>/ and the state
    folder's work/<mode>/ have a folder per mode; other paths are the same in every mode."""
    for base in (step.root / DIST, State(step.root).dir / "work"):
        if path.is_relative_to(base / step.mode):
            return base / mode / path.relative_to(base / step.mode)
    return path


def _record(step: StepPlan, results: list[Result], duration: float, fields: Any) -> Outcome:
    last = results[-1]
    attempts = max(r.attempts for r in results)
    status = Status.of_result(dataclasses.replace(last, attempts=attempts))
    if last.ok:
        message = f"passed on attempt {attempts}" if attempts > 1 else ""
    else:
        message = last.describe()
        if last.status is Ended.MISSING_TOOL and step.tool and \
                not os.path.isabs(last.command.argv[0]):
            message += f"\ninstall it: {step.tool.install}"
    if step.no_tests is not None and status not in (Status.TIMED_OUT, Status.INTERRUPTED):
        why = ran_no_tests(step.no_tests, step.log, last.exit_code)
        if why and step.allow_no_tests:
            status, message = Status.BUILT, f"ran no tests ({why}); allowed: allow_no_tests"
        elif why:
            status = Status.NO_TESTS
            message = (f"{step.task} ran no tests: {why}; add tests, or set "
                       "\"allow_no_tests\": true on the module if none is expected")
    return Outcome(task=step.task, status=status, duration=duration, log=str(step.log),
                   exit_code=last.exit_code, attempts=attempts,
                   peak_rss=max(r.peak_rss for r in results),
                   cpu_time=sum(r.cpu_time for r in results), message=message,
                   tolerated=step.tolerated and status.failed,
                   inputs_digest=files_digest(step.root, step.inputs, fields),
                   output_digest=outputs_digest(step) if status.succeeded else "")


def outputs_digest(step: StepPlan, known: Mapping[str, str] | None = None) -> str:
    """A digest of everything the step declares it makes, in dist/ or elsewhere (a work
    file): part of the cache keys of the steps that depend on it ("" when it declares none,
    or is lazy). Paths are relative to the repository, so every clone computes the same
    digest. `known`:
    the SHA-256 of files just restored (by path), not read again."""
    if not step.outputs or step.lazy:  # whether a lazy step ran must not change any key
        return ""
    known = known or {}
    h = hashlib.sha256()
    for path in sorted(step.outputs):
        kind = content_digest(path, known) if path.is_dir() else \
            known.get(str(path)) or file_digest(path) if path.is_file() else "missing"
        h.update(f"{os.path.relpath(path, step.root)}\0{kind}\n".encode())
    return h.hexdigest()


def _stamp(step: StepPlan) -> dict[str, Any]:
    """What dependents compare (result_dep): the outputs as they are now, or when it ran (a
    lazy step's outputs are dependencies such as node_modules: too big to stamp)."""
    outputs = {str(o): _output_stamp(o, step.dist) for o in step.outputs if not step.lazy}
    return {"outputs": outputs} if outputs else {"ran": time.time_ns()}


def _output_stamp(path: Path, dist: Path) -> str | None:
    """Artifacts (under dist/) by content, so a byte-identical rebuild reruns nothing after it;
    build folders (huge) by file stats."""
    if not path.exists():
        return None
    if path.is_relative_to(dist):
        return content_digest(path) if path.is_dir() else file_digest(path)
    return stat_fingerprint(path) if path.is_dir() else str(path.stat().st_mtime_ns)


def verify(plan: VerifyPlan) -> dict[str, Any] | TaskFailed:
    """Check the module's declared artifacts; fail naming each problem."""
    if plan.skip:
        return returned(Outcome(task=plan.task, status=Status.SKIPPED, duration=0.0,
                                log=str(plan.log), message=plan.skip),
                        plan.outcome, {"skipped": plan.skip})
    problems, lines = [], []
    for path, budget in plan.artifacts:
        shown = os.path.relpath(path, plan.root)
        size = _size(path)
        if size is None:
            problems.append(f"{shown}: missing")
        elif size == 0:
            problems.append(f"{shown}: empty")
        elif budget is not None and size > budget:
            problems.append(f"{shown}: {size} bytes, over its budget of {budget}")
        else:
            lines.append(f"{shown}: {size} bytes" + (f" (budget {budget})" if budget else ""))
    plan.log.parent.mkdir(parents=True, exist_ok=True)
    plan.log.write_text("\n".join([*lines, *problems]) + "\n")
    status = Status.FAILED if problems else Status.BUILT
    message = f"verify:{plan.module}: " + "; ".join(problems) if problems else ""
    return returned(Outcome(task=plan.task, status=status, duration=0.0, log=str(plan.log),
                            message=message), plan.outcome, {"checked": len(lines)})


def _size(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return None
