"""Tasks for toolchain steps (`<step>:<module>`) and `verify:<module>`.

The generators only describe; the actions run each step's commands through the
runner, in the module's folder, and move what a step wrote to {out} into
dist/<mode>/<module>/ only when every command succeeded.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import os
import re
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
from core.outcome import Outcome, Status
from core.runner import Command, Result, run, which
from core.runner import Status as Ended
from core.staging import new_workdir, replace_dir
from core.state import STATE_DIR, State
from federation.steps import BOARD_OPTIONS, DIST, StepPlan, ToolPlan, VerifyPlan
from tasks import planned
from tasks.cache.actions import lookup as cache_lookup
from tasks.cache.actions import warnings as cache_warnings
from tasks.cache.record import ActionRecord
from tasks.clean import CLEAN, cleaned_modes, remove
from tasks.doit_compat import AFTER_FAILURES
from tasks.exclusive import STEPS_LOCK, slot
from tasks.no_tests import ran_no_tests
from tasks.planned import ON_DEVICE
from tasks.signature import Signature

TaskDict = dict[str, Any]
# What a task generator yields: doit makes a Task of a dict (or takes one made already).
TaskDef: TypeAlias = "dict[str, Any] | Task"
_VERSION_TIMEOUT = 60.0


def step_tasks(steps: list[StepPlan], groups: bool = True) -> Iterator[TaskDef]:
    """A subtask per module (`test:web`) and, with `groups`, a group task per step name
    (`doit test`)."""
    names: dict[str, list[str]] = {}
    for step in steps:
        names.setdefault(step.step, []).append(step.module)
    for name, modules in names.items() if groups else ():
        yield {"basename": name, "name": None, "meta": {AFTER_FAILURES: True},
               "doc": f"the {name} step of every module having one ({', '.join(modules)})"}
    for step in steps:
        task = step_task(step)
        if on_device(step) and not board_given():
            task["meta"] = {**task["meta"], ON_DEVICE: {"default": step.default}}
            yield outside_group(task) if groups else task
        else:
            yield task


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


def step_task(step: StepPlan) -> TaskDict:
    """The task dict of one step."""
    where = os.path.relpath(step.cwd, step.root)
    _steps[step.task] = step  # for the tool probes and for lazy steps
    task: TaskDict = {
        "basename": step.step,
        "name": step.module,
        "doc": f"{step.description} [{step.toolchain}, {step.mode}, in {where}]",
        "actions": [(run_step, [step])],
        "file_dep": list(step.inputs),
        "task_dep": list(step.deps),
        "uptodate": [step_signature(step), *(result_dep(dep) for dep in step.deps)],
        "clean": [(clean_outputs, [step])],
        "meta": {CLEAN: True},
    }
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


def _step_fields(step: StepPlan) -> dict[str, Any]:
    return {**step.signature(), "tool": tool_version(step.tool, step.root)}


_steps: dict[str, StepPlan] = {}  # every step task of this dodo, by task name
_tools: dict[str, ToolPlan] = {}  # the tools of other tasks (site builds), by task name
_versions: dict[tuple[tuple[str, ...], str], Future[str | None]] = {}
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def register_tool(task: str, tool: ToolPlan | None) -> None:
    """Let the probes started for a run include `task`'s tool (a site build's Hugo)."""
    if tool is not None:
        _tools[task] = tool
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
    lines = [future.result() for future in asked]
    if not tool.also:
        return lines[0]
    return " | ".join(line or "none" for line in lines)


def _plan_tools(plan: planned.Plan) -> list[ToolPlan]:
    """The probes of every tool the plan's tasks run."""
    wanted: list[ToolPlan] = []
    for name in plan.tasks:
        step = _steps.get(name)
        if step is not None and step.tool is not None and not step.skip:
            wanted += step.tool.probes()
        elif name in _tools:
            wanted += _tools[name].probes()
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
            log = logs / f"{name}-{tag}.log"
            result = run(Command(argv=tool.version, cwd=root, log=log,
                                 timeout=_VERSION_TIMEOUT))
            text = _ANSI.sub("", log.read_text(errors="replace")).splitlines()
        lines = [line for line in text if not line.startswith("$ ")]
        if tool.line:  # the line it names, or the whole output when none matches
            pattern = re.compile(tool.line)
            lines = [line for line in lines if pattern.search(line)] or [" ".join(lines)]
        future.set_result(lines[0].strip() if result.ok and lines else None)
    except BaseException as err:  # the asking task fails with it, not this thread
        future.set_exception(err)


def run_step(step: StepPlan, **board: str) -> dict[str, Any] | TaskFailed:
    """Run the step's commands; publish {out} into dist/ only if all succeeded. `board`
    holds the values of the step's board options (port, baud, chip)."""
    started = time.monotonic()
    if step.skip:
        Outcome(task=step.task, status=Status.SKIPPED, duration=0.0, log=str(step.log),
                message=step.skip).write(step.outcome)
        return {"skipped": step.skip}
    if step.lazy:
        why = _not_needed(step)
        if why is not None:
            Outcome(task=step.task, status=Status.NOT_NEEDED,
                    duration=time.monotonic() - started, log=str(step.log),
                    message=why).write(step.outcome)
            return {"not needed": True}  # the same every time: its dependents stay up to date
    return _execute(step, board, started)


def _execute(step: StepPlan, board: dict[str, str], started: float
             ) -> dict[str, Any] | TaskFailed:
    cached = cache_lookup(step.task, step.module, _step_fields(step), step.root, step.inputs,
                          step.deps) if step.cache else None
    lock = step.root / STATE_DIR / STEPS_LOCK
    if cached is not None:
        with slot(lock, step.exclusive):
            record = cached.restore(step.log, step.outputs)
        if record is not None:
            return _finish(step, _restored(step, record, started))
    missing = _missing_tool(step)  # only what runs needs its tool
    if missing:
        return _finish(step, Outcome(task=step.task, status=Status.FAILED,
                                     duration=time.monotonic() - started, log=str(step.log),
                                     message=missing))
    notes, failure = _run_lazy_deps(step)  # outside the slot: each takes its own
    if failure is not None:
        return _finish(step, Outcome(task=step.task, status=Status.FAILED,
                                     duration=time.monotonic() - started, log=str(step.log),
                                     message=failure, warnings=tuple(notes)))
    if notes and cached is not None:  # what they produced is part of this step's key
        cached = cache_lookup(step.task, step.module, _step_fields(step), step.root,
                              step.inputs, step.deps)
    with slot(lock, step.exclusive):
        work = new_workdir(step.tmp, step.task.replace(":", "-")) if step.uses_out else None
        try:
            out = work / "out" if work else None
            if out:
                out.mkdir()
            results = _run_commands(step, out, board)
            if all(r.ok for r in results) and out is not None:
                merge_into(out, step.dist, step.root)
        finally:
            if work:
                remove_tree(work, State(step.root).roots)
    outcome = _record(step, results, time.monotonic() - started)
    if cached and outcome.status in (Status.BUILT, Status.FLAKY):
        cached.store(step.outputs, step.log, outcome.duration)
    return _finish(step, dataclasses.replace(outcome, warnings=(*notes, *cache_warnings())))


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
        if other is None or other.always_run or not other.cache:
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
            result = _execute(lazy, {}, time.monotonic())
            ran = Outcome.read(lazy.outcome)
        if isinstance(result, TaskFailed):
            return notes, (f"{lazy.task}, run first because {step.task} was not in the cache, "
                           f"failed: {result.message}")
        took = f" in {ran.duration:.1f}s" if ran else ""
        notes.append(f"{step.task}: ran {lazy.task} first{took} ({step.task} was not in the "
                     "cache after all)")
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


def _run_commands(step: StepPlan, out: Path | None, board: dict[str, str]) -> list[Result]:
    values = {"{out}": str(out) if out else "", "{jobs}": str(os.cpu_count() or 1),
              "{scratch}": str(out.parent / "scratch") if out else "",
              **{f"{{{name}}}": str(board.get(name) or "") for name in BOARD_OPTIONS}}

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    env = {k: fill(v) for k, v in step.env.items()}
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
    exe = step.commands[0][0]
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


def _record(step: StepPlan, results: list[Result], duration: float) -> Outcome:
    last = results[-1]
    attempts = max(r.attempts for r in results)
    status = Status.of_result(dataclasses.replace(last, attempts=attempts))
    if last.ok:
        message = f"passed on attempt {attempts}" if attempts > 1 else ""
    else:
        message = last.describe()
        if last.status is Ended.MISSING_TOOL and step.tool:
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
                   inputs_digest=files_digest(step.root, step.inputs, _step_fields(step)),
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


def _finish(step: StepPlan, outcome: Outcome) -> dict[str, Any] | TaskFailed:
    outcome.write(step.outcome)
    if outcome.status.failed:
        return TaskFailed(outcome.message)
    # What dependents compare (result_dep): the outputs as they are now, or when it ran (a
    # lazy step's outputs are dependencies such as node_modules: too big to stamp).
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
        Outcome(task=plan.task, status=Status.SKIPPED, duration=0.0, log=str(plan.log),
                message=plan.skip).write(plan.outcome)
        return {"skipped": plan.skip}
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
    Outcome(task=plan.task, status=status, duration=0.0, log=str(plan.log),
            message=message).write(plan.outcome)
    return TaskFailed(message) if problems else {"checked": len(lines)}


def _size(path: Path) -> int | None:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    return None
