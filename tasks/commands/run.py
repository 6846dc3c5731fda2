"""fedbuild's `doit run`: doit's run command inside a run session, whatever the reporter.

The session holds the repository lock (a second run is refused with one line), sweeps what
a dead run left, installs the signal handlers, and is ended (builds killed, temporary
folders removed, lock released) however the run ends. The session's record
(tasks/run_record.py) records the run: plan, task order, history, run files, events, and the
outputs of modules no longer in the manifest removed after a success. The chosen reporter
(fedbuild's, `--reporter=json`, `console`, a user's plugin) is told after it, and only
changes what is shown.

The session begins when doit builds the reporter: after it has checked the task selection
(an unknown task name is still the one-line error it was), before any task runs. A run
stopped by SIGINT or SIGTERM returns 130 or 143.

fedbuild_doit's entry points (pyproject.toml) register RunCommand as doit's `run`, so doit
finds it wherever it starts (`doit -f path/dodo.py` from another folder too). It is doit's
run with fedbuild's task control (tasks/doit_compat.py FedbuildRun): the task order, a
suggestion for an unknown task name, federate running after a failed build.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from core.digests import forget_fingerprints
from core.lock import LockHeld
from core.state import State
from tasks import command_line, remote, schedule, slots
from tasks.doit_compat import FedbuildRun, Hooks
from tasks.reporter import FedbuildReporter
from tasks.run_record import RunRecord
from tasks.session import (
    INTERRUPTED,
    LOCKED_OUT,
    Session,
    interrupted_exit_code,
    lock_wait,
)


def _task_ran(_task: Any) -> None:
    """A task ran (here, in a thread or in another process): it may have rewritten a staged
    output, so no fingerprint taken before it is reused (core/digests.py)."""
    forget_fingerprints()


# What doit's run calls in fedbuild (tasks/doit_compat.py's subclasses)
HOOKS = Hooks(next_node=schedule.next_node, unknown_task=command_line.unknown_task,
              run_task=slots.run_task, task_ran=_task_ran)


class RunCommand(FedbuildRun):
    """doit's `run`, in a fedbuild run session (see the module's docstring)."""

    name = "run"
    doc_purpose = "run tasks (in a fedbuild run session: the lock, the history, run files)"
    hooks = HOOKS

    def _execute(self, outfile: Any, verbosity: int | None = None, always: bool = False,
                 continue_: bool = False, reporter: Any = "console", num_process: int = 0,
                 par_type: str = "process", single: bool = False,
                 auto_delayed_regex: bool = False, force_verbosity: bool = False,
                 failure_verbosity: int = 0, pdb: bool = False) -> Any:
        """doit's run (same options), in a session."""
        params = dict(outfile=outfile, verbosity=verbosity, always=always,
                      continue_=continue_, reporter=reporter, num_process=num_process,
                      par_type=par_type, single=single,
                      auto_delayed_regex=auto_delayed_regex, force_verbosity=force_verbosity,
                      failure_verbosity=failure_verbosity, pdb=pdb)
        return execute_in_session(self, super()._execute, params)


def execute_in_session(command: Any, execute: Callable[..., Any],
                       params: dict[str, Any]) -> Any:
    """Run doit's `execute(**params)` (FedbuildRun._execute) in a run session."""
    forget_fingerprints()  # those of an earlier run in this process are not this run's
    run = RunSession(State(Path.cwd()), configured_reporter(command))
    chosen = params["reporter"]
    if isinstance(chosen, str):
        chosen = command.reporters[chosen]
    workers = max(1, int(params["num_process"] or 0))
    forks = workers > 1 and params["par_type"] == "process"
    # executor=dask: the reporter counts doit's threads, local and remote (ETA, parallelism)
    params["reporter"] = run.reporter_class(
        chosen, workers=_remote_slots(params, workers), verbosity=int(params["verbosity"] or 0),
        forks=forks)
    out = params["outfile"] if hasattr(params["outfile"], "write") else sys.stdout
    try:
        return execute(**params)
    except LockHeld as err:
        out.write(f"ERROR: {err}\n")
        out.flush()
        return LOCKED_OUT
    except KeyboardInterrupt:
        sys.stderr.write(INTERRUPTED)
        return interrupted_exit_code()
    finally:
        slots.clear()
        run.session.end()


def _remote_slots(params: dict[str, Any], workers: int) -> int:
    """executor=dask with threads: `workers` local slots and remote_jobs slots on the
    cluster, doit given a thread for each (tasks/slots.py); `-P process` keeps doit's. The
    number of doit's workers."""
    if params["par_type"] != "thread" and params["num_process"]:
        return workers
    threads = slots.configure(workers, remote.in_flight())
    if threads > workers:
        params["num_process"], params["par_type"] = threads, "thread"
    return threads


def configured_reporter(command: Any) -> type[FedbuildReporter]:
    """fedbuild's reporter as the dodo configures it (DOIT_CONFIG, tasks/config.py): it
    carries the manifest's modules and settings, whatever reporter the command line picks."""
    loader = getattr(command, "loader", None)
    config = loader.load_doit_config() if loader is not None else {}
    given = config.get("reporter")
    if isinstance(given, type) and issubclass(given, FedbuildReporter):
        return given
    return FedbuildReporter


class RunSession:
    """One run's session, begun when doit builds its reporter; it owns the run's record."""

    def __init__(self, state: State, configured: type[FedbuildReporter]) -> None:
        self.session = Session(state)
        self.configured = configured
        self.record: RunRecord | None = None

    def begin(self, warn: Callable[[str], None], workers: int, forks: bool) -> RunRecord:
        """Take the lock (raises LockHeld), sweep, install the signal handlers; the record
        of the run that begins."""
        self.session.begin(wait=lock_wait())
        self.record = RunRecord(self.session, warn, workers=workers, forks=forks,
                                modules=self.configured.modules)
        return self.record

    def reporter_class(self, chosen: Any, workers: int, verbosity: int, forks: bool) -> Any:
        """The class doit builds the run's reporter from: the record of the run beside the
        chosen reporter (fedbuild's, given the record and the run's settings; any other as
        it is; an instance, which doit also accepts, is used as it is)."""
        if isinstance(chosen, type) and issubclass(chosen, FedbuildReporter):
            chosen = type(chosen.__name__, (chosen,), {
                "workers": workers, "verbosity": verbosity,
                "performance_tracking": self.configured.performance_tracking})
        name = getattr(chosen, "__name__", type(chosen).__name__)
        return type(f"Recorded{name}", (Recorded,), {
            "run_session": self, "shown": chosen, "workers": workers, "forks": forks})


class Recorded:
    """The run's record, told first of each of doit's reporter calls, then the chosen
    reporter, which shows it. doit building it begins the session."""

    run_session: RunSession
    shown: Any
    workers: int
    forks: bool

    def __init__(self, outstream: TextIO, options: dict[str, Any]) -> None:
        self.display: Any = None
        self.record = self.run_session.begin(self._warn, self.workers, self.forks)
        shown = self.shown
        if isinstance(shown, type) and issubclass(shown, FedbuildReporter):
            shown = type(shown.__name__, (shown,), {"run_record": self.record})
        self.display = shown(outstream, options) if isinstance(shown, type) else shown

    def _warn(self, text: str) -> None:
        """The record's warnings: on fedbuild's display, else on stderr (not in the
        chosen reporter's output, such as json)."""
        if isinstance(self.display, FedbuildReporter):
            self.display.warn(text)
        else:
            sys.stderr.write(text + "\n")

    def _show(self, method: str, *args: Any) -> None:
        if hasattr(self.display, method):
            getattr(self.display, method)(*args)

    def initialize(self, tasks: dict[str, Any], selected_tasks: list[str]) -> None:
        """The run starts (doit's reporter interface, as every method here)."""
        self.record.initialize(tasks, selected_tasks)
        self._show("initialize", tasks, selected_tasks)

    def get_status(self, task: Any) -> None:
        """doit checks whether a task is up to date."""
        self._show("get_status", task)

    def execute_task(self, task: Any) -> None:
        """A task starts."""
        self.record.execute_task(task)
        self._show("execute_task", task)

    def add_success(self, task: Any) -> None:
        """A task succeeded."""
        self.record.add_success(task)
        self._show("add_success", task)

    def add_failure(self, task: Any, fail: Any) -> None:
        """A task failed."""
        self.record.add_failure(task, fail)
        self._show("add_failure", task, fail)

    def skip_uptodate(self, task: Any) -> None:
        """A task is up to date."""
        self.record.skip_uptodate(task)
        self._show("skip_uptodate", task)

    def skip_ignore(self, task: Any) -> None:
        """A task is ignored."""
        self.record.skip_ignore(task)
        self._show("skip_ignore", task)

    def cleanup_error(self, exception: Any) -> None:
        """An error while cleaning up."""
        self._show("cleanup_error", exception)

    def runtime_error(self, msg: str) -> None:
        """An error that stops the run."""
        self.record.runtime_error(msg)
        self._show("runtime_error", msg)

    def teardown_task(self, task: Any) -> None:
        """A task's teardown."""
        self._show("teardown_task", task)

    def complete_run(self) -> None:
        """The run ended: the record writes the history and run files, then it is shown."""
        try:
            self.record.complete_run()
        finally:
            if not isinstance(self.display, FedbuildReporter):
                for line in self.record.notes:
                    sys.stderr.write(line + "\n")
            self._show("complete_run")
