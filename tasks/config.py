"""DOIT_CONFIG for a fedbuild repository, derived from its manifest."""

from __future__ import annotations

import atexit
import gc
import os
from pathlib import Path
from typing import Any

import doit

from core.errors import COMMAND_LINE, UsageError
from core.state import State
from federation.loader import MANIFEST_FILE, Project
from federation.manifest import MODES, BuildSettings
from federation.steps import StepsPlan
from tasks import doit_compat, planned, remote, schedule, shard
from tasks.cache import runtime
from tasks.cache.cache import cache_config
from tasks.command_line import check_variables, fixes_wanted, keeps_going
from tasks.history import FILE as HISTORY_FILE
from tasks.history import History
from tasks.reporter import FedbuildReporter
from tasks.session import lock_wait
from tasks.steps import board_given, on_device


def repository(dodo_folder: Path) -> Path:
    """The repository to build: the current folder. Refused when `doit -f` ran this dodo from
    a folder with a modules.json of its own without `-d`: doit moved to the dodo's folder, and
    building (or cleaning) that other checkout instead would be a silent surprise."""
    root = Path.cwd()
    started = doit.get_initial_workdir()
    if started is None or Path(started) == root or root != dodo_folder:
        return root
    if os.path.isfile(Path(started) / MANIFEST_FILE):
        raise UsageError(COMMAND_LINE, "-f", f"doit -f {dodo_folder / 'dodo.py'} builds "
                         f"{root}, not {started} where doit started (it has a {MANIFEST_FILE}); "
                         f"add -d {started} to build it (or -d {root} for the other)")
    return root


def run_mode() -> str:
    """The build mode from doit's command line (`doit mode=production`); development if none.
    Asked first when dodo.py loads: a variable fedbuild does not read is an error before any
    other (`doit mod=production` would otherwise build in development mode)."""
    check_variables()
    fixes_wanted()  # fix=: auto or off, checked before anything runs
    mode = doit.get_var("mode", None) or "development"
    if mode not in MODES:
        raise UsageError(COMMAND_LINE, "mode", f"{mode!r} is not a mode; use "
                         + ", ".join(f"mode={m}" for m in MODES))
    return str(mode)


def default_tasks(steps: StepsPlan, mode: str, sites: list[str],
                  state: State | None = None, chosen: frozenset[str] | None = None
                  ) -> list[str]:
    """What plain `doit` runs: every site build and every step marked default, federate (when
    there are site modules); verify in production. With `shard=K/N`, only the builds and steps
    of part K (no federate, no verify: those need every part). With `select=` (`chosen`: the
    modules it selects), only the chosen modules' builds, steps and verify tasks, and federate
    when a chosen module is a site: what naming those tasks would run."""
    if chosen is not None:
        sites = [site for site in sites if site in chosen]
    names = [f"build:{site}" for site in sites]
    names += [s.task for s in steps.steps if s.site is None and s.default
              and (board_given() or not on_device(s))
              and (chosen is None or s.module in chosen)]
    wanted = shard.requested()
    if wanted is not None:
        estimates = History(state.dir / HISTORY_FILE).estimates() if state else {}
        return shard.part(names, estimates, wanted)
    if sites:
        names.append("federate")
    if mode == "production" and steps.verifies:
        names += ["verify"] if chosen is None else [v.task for v in steps.verifies
                                                    if v.module in chosen]
    if chosen is not None and not names:
        raise UsageError(COMMAND_LINE, "select", f"the modules selected "
                         f"({', '.join(sorted(chosen))}) have no default task; name their "
                         "tasks instead (`doit list`)")
    return names


def doit_config(project: Project, state: State, defaults: list[str] | None = None,
                mode: str = "development") -> dict[str, Any]:
    """doit's settings; the command line still wins (`-n`, `-P`, `--continue`, `--reporter`,
    and the variables `continue=` and `fail_fast=` over the manifest's fail_fast)."""
    settings = project.manifest.federation.build_settings
    dep_file = str(state.db(mode))
    if not doit_compat.reads_only(doit_compat.loading_command()):
        state.dir.mkdir(parents=True, exist_ok=True)  # sqlite3 creates the file, not its folder
    elif not state.db(mode).is_file():
        # `doit list`, `doit info` create nothing: no state yet reads as an empty one
        dep_file = ":memory:"
    # doit's version, and not doit's own run or clean (fedbuild's are not registered: they
    # hold the lock, record the run, keep fedbuild's task order)
    doit_compat.check(doit_compat.loading_command())
    schedule.order()  # a bad `order=` is a one-line error now, not in the middle of the run
    lock_wait()  # so is a bad `lock_wait=` (or FEDBUILD_LOCK_WAIT)
    _settle_memory()
    fed = project.manifest.federation
    cache = cache_config(fed.cache.model_dump(), project.root, state.dir, os.environ) \
        if settings.cache_enabled else None
    runtime.configure(cache)
    # executor=dask: a bad value, no remote cache or no scheduler is one line before any task
    remote.configure(cache, fed.execution,
                     check=not doit_compat.reads_only(doit_compat.loading_command()))
    workers = parallel_workers(settings, os.cpu_count() or 1)
    defaults = defaults if defaults is not None else ["build", "federate"]
    planned.set_defaults(defaults)  # plain `doit` names no task (lazy steps may be skipped)
    return {
        "default_tasks": defaults,
        # sqlite3 writes only the tasks a run changed, in one transaction: two runs
        # (or a `doit info` beside a build) never clobber each other's state.
        "backend": "sqlite3",
        "dep_file": dep_file,
        "reporter": reporter_for(workers, [m.name for m in project.manifest.modules],
                                 settings.performance_tracking),
        "num_process": workers,
        # Threads: actions mostly wait on subprocesses, and nothing needs pickling.
        "par_type": "thread",
        "continue": keeps_going(settings.fail_fast),  # `doit continue=true` / `fail_fast=true`
        "subtasks": True,  # `doit list` shows every build:<module>
    }


def parallel_workers(settings: BuildSettings, cpus: int) -> int:
    """doit's workers when the command line gives no -n: the number of CPUs (as `doit -n`
    would be sized by hand), capped by max_parallel_builds when the manifest gives it; 0 (one
    task at a time, doit's serial runner) with `parallel` false or a single worker."""
    if not settings.parallel:
        return 0
    if "max_parallel_builds" in settings.model_fields_set:
        cpus = min(cpus, settings.max_parallel_builds)
    return cpus if cpus > 1 else 0


def reporter_for(workers: int, modules: list[str] | None = None,
                 performance: bool = False) -> type[FedbuildReporter]:
    """fedbuild's reporter, knowing how many workers the manifest asks for, its modules and
    whether it shows performance lines (doit passes reporters nothing but the failure
    verbosity)."""
    return type("FedbuildReporter", (FedbuildReporter,), {
        "workers": max(1, workers), "modules": None if modules is None else tuple(modules),
        "performance_tracking": performance})


GC_THRESHOLD = 20_000  # allocations between young collections (Python's default: 700)


def _settle_memory() -> None:
    """Keep the garbage collector off what lives for the whole run (modules, the manifest's
    models, the plans): moved to its permanent generation now (and doit's task objects when
    the reporter starts the run), it is not walked again by the run's collections, nor by
    the one at exit (registered first, this runs after every other exit handler, once the
    run's files and databases are closed). Young collections come less often: a run makes
    many small long-lived objects, and little cyclic garbage."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])
    gc.enable()  # dodo.py disabled it while modules loaded: nothing there was garbage to find
    atexit.register(gc.freeze)

