"""`doit watch`'s loop: build once, then build again after each burst of saves.

Each build is a fresh `doit run` with the watch's own task names, options and variables,
started through core.runner: doit's own up-to-date checks then pick exactly the tasks
whose inputs changed (the incremental build, the cache, the run history with trigger
`watch`), and a changed manifest or toolchain file is simply read again. One thread
watches the repository (inotify, through watchfiles); the main thread runs the builds one
at a time, so saves made during a build gather into at most one follow-up build. Only
changes the watch set counts start one (tasks/watch_set.py): fedbuild's own writes never
do.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from core.errors import ManifestError, UsageError
from core.runner import Command, Process, start
from core.state import State
from tasks.history import TRIGGER_VARIABLE
from tasks.watch_set import WatchSet

TRIGGER = "watch"
QUIET_MS = 100  # a burst of saves ends when nothing changed for this long
LONGEST_BURST_MS = 1600  # ... or after this long anyway
ERROR_LINES = 12  # of a failure, kept for the preview's overlay
PLAN = "the plan"  # what a failure before any task ran (a broken manifest) is called
ADDED, MODIFIED = 1, 2  # watchfiles.Change's values


@dataclass
class Outcome:
    """One build of the watch: its exit code and what failed, by module."""

    number: int
    code: int
    seconds: float
    changed: list[str]
    failures: dict[str, list[str]] = field(default_factory=dict)  # module -> error lines
    cpu: float | None = None  # CPU seconds of the build's processes

    @property
    def ok(self) -> bool:
        """Whether the build succeeded."""
        return self.code == 0


# A build's interpreter is started ahead, right after the build before: it imports doit and
# fedbuild's code (not the dodo: the plan is read when the build begins), then waits for one
# byte on GO_VARIABLE's descriptor and runs `doit ARGS` as `python -m doit` would; end of
# file instead of the byte ends it. A save then costs doit's planning and work, not its
# imports.
GO_VARIABLE = "FEDBUILD_WATCH_GO"
WARM = """\
import os, runpy, sys
sys.argv = ["doit", *sys.argv[1:]]
try:
    import fedbuild_doit
    fedbuild_doit.use_fedbuild()
    import doit.doit_cmd, federation.loader, federation.plan, federation.steps, tasks.commands.run
    import tasks.config, tasks.federate, tasks.sites, tasks.steps
except Exception:
    pass  # the build itself says what is wrong
go = int(os.environ.pop("FEDBUILD_WATCH_GO"))
if not os.read(go, 1):
    sys.exit(0)
os.close(go)
runpy.run_module("doit", run_name="__main__", alter_sys=True)
"""


@dataclass
class _Started:
    """A build's doit, started ahead and waiting for the word to go."""

    process: Process
    go: int  # write a byte to begin, close to end it
    output: int  # its output's read end


class Builder:
    """Runs one `doit ARGS` at a time and tells what it did."""

    def __init__(self, args: list[str], cwd: Path, root: Path, out: TextIO) -> None:
        self.args, self.cwd, self.root, self.out = args, cwd, root, out
        self.count = 0
        self.process: Process | None = None
        self.next: _Started | None = None

    def prepare(self) -> None:
        """Start the next build's interpreter now, so that it is ready for the next save."""
        if self.next is None:
            self.next = self._start()

    def build(self, changed: list[str]) -> Outcome:
        """Run doit to its end, its output shown as it comes; the outcome."""
        self.count += 1
        ready, self.next = self.next or self._start(), None
        started, wall = time.time(), time.monotonic()
        self.process = ready.process
        tail = _Tail(ready.output, self.out)
        try:
            with contextlib.suppress(BrokenPipeError):  # it died early: its output says why
                os.write(ready.go, b"g")
            os.close(ready.go)
            while self.process.wait(1.0) is None:
                pass
        except BaseException:
            tail.quiet = True  # its own "interrupted" line would say the watch's twice
            raise
        finally:  # interrupted too: the build goes first, then its output's reader
            code = self.process.kill()
            cpu = self.process.result().cpu_time
            self.process = None
            tail.join(timeout=5.0)
        outcome = Outcome(self.count, code if code is not None else 1,
                          time.monotonic() - wall, changed, cpu=cpu)
        if not outcome.ok:
            outcome.failures = self.failures(started, tail.lines)
        return outcome

    def _start(self) -> _Started:
        """Start a build's interpreter, waiting for the word to go."""
        go_read, go_write = os.pipe()
        out_read, out_write = os.pipe()
        command = Command((sys.executable, "-c", WARM, *self.args), cwd=self.cwd,
                          log=Path(os.devnull),
                          env={TRIGGER_VARIABLE: TRIGGER, GO_VARIABLE: str(go_read)})
        try:
            process = start(command, output=out_write, pass_fds=(go_read,))
        except BaseException:
            for fd in (go_write, out_read):
                os.close(fd)
            raise
        finally:
            for fd in (go_read, out_write):
                os.close(fd)
        return _Started(process, go_write, out_read)

    def stop(self) -> None:
        """Kill the build running, if any, with everything it started, and the next one."""
        process, ready, self.next = self.process, self.next, None
        if process is not None:
            process.kill()
        if ready is not None:
            ready.process.kill()
            for fd in (ready.go, ready.output):
                with contextlib.suppress(OSError):
                    os.close(fd)

    def failures(self, started: float, output: list[str]) -> dict[str, list[str]]:
        """What failed in the run that began at `started`, by module (`build:web` is web's),
        from its summary.json; a run that never began (a broken manifest) is the plan's
        failure, told by doit's last lines."""
        summary = _summary(State(self.root).dir / "runs", started)
        found: dict[str, list[str]] = {}
        for task in (summary or {}).get("tasks", []):
            if task.get("status") == "failed":
                module = task["name"].partition(":")[2] or task["name"]
                found.setdefault(module, _first_lines(task.get("message") or "failed"))
        if not found:
            errors = [line for line in output if line.startswith("ERROR")] or output[-3:]
            found[PLAN] = [line[:300] for line in errors[:ERROR_LINES]]
        return found


class _Tail(threading.Thread):
    """Copies a build's output to the watch's own, keeping its last lines."""

    def __init__(self, fd: int, out: TextIO) -> None:
        super().__init__(daemon=True)
        self.fd, self.out = fd, out
        self.lines: list[str] = []
        self.quiet = False
        self.start()

    def run(self) -> None:
        with open(self.fd, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                if not self.quiet:
                    self.out.write(line)
                    self.out.flush()
                self.lines = [*self.lines[-39:], line.rstrip("\n")]


def _summary(runs: Path, started: float) -> dict[str, Any] | None:
    """The summary.json of the newest run, if it began after `started`."""
    try:
        latest = json.loads((runs / "latest.json").read_text())
        summary = json.loads((runs / latest["summary"]).read_text())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not isinstance(summary, dict) or summary.get("started_epoch", 0) < started - 1:
        return None
    return summary


def _first_lines(message: str) -> list[str]:
    return [line[:300] for line in message.splitlines()[:ERROR_LINES]]


class Watch:
    """The loop: a watcher thread fills a queue with changed paths; builds run here."""

    def __init__(self, builder: Builder, watch_set: WatchSet,
                 refresh: Callable[[], WatchSet], after: Callable[[Outcome], None],
                 out: TextIO) -> None:
        self.builder, self.watch_set, self.refresh = builder, watch_set, refresh
        self.after, self.out = after, out
        self.changes: queue.Queue[set[tuple[int, str]]] = queue.Queue()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True, name="watchfiles")

    def run(self) -> None:
        """Build, then wait for changes and build again, until interrupted."""
        self.thread.start()
        self._build([], structural=True)
        while True:
            relevant = self._relevant(self._next_burst())
            if relevant:
                self._build(sorted({path for _, path in relevant}),
                            structural=any(kind != MODIFIED for kind, _ in relevant))

    def stop(self) -> None:
        """Stop the watcher thread and the build running."""
        self.stopping.set()
        self.builder.stop()

    def _build(self, changed: list[str], structural: bool) -> None:
        """One build; then the watch set is worked out again when files came or went, the
        plan changed or the build failed (a broken manifest fixed is a new plan)."""
        structural = structural or any(self.watch_set.changes_plan(p) for p in changed)
        shown = ", ".join(os.path.relpath(p, self.watch_set.root) for p in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        if changed:
            self._say(f"{shown}{more} changed: building")
        outcome = self.builder.build(changed)
        if structural or not outcome.ok:
            self._reload_set()
        self.after(outcome)
        self.builder.prepare()
        state = "ok" if outcome.ok else f"failed ({', '.join(outcome.failures)})"
        cpu = f" ({outcome.cpu:.2f}s CPU)" if outcome.cpu is not None else ""
        self._say(f"build {outcome.number} {state} in {outcome.seconds:.2f}s{cpu}; watching "
                  f"{len(self.watch_set.modules)} modules (Ctrl-C stops)")

    def _reload_set(self) -> None:
        """Work out the watch set again (a new module, a new file); a manifest the build
        could not read keeps the old one: its fix is a change to a watched file."""
        with contextlib.suppress(ManifestError, UsageError):
            self.watch_set = self.refresh()

    def _next_burst(self) -> set[tuple[int, str]]:
        """The changes of the next burst, and any already queued with them."""
        changes = self.changes.get()
        while True:
            try:
                changes |= self.changes.get_nowait()
            except queue.Empty:
                return changes

    def _relevant(self, changes: Iterable[tuple[int, str]]) -> list[tuple[int, str]]:
        """The changes (kind, path) that start a build."""
        return [(kind, path) for kind, path in changes
                if self.watch_set.triggers(path, created=kind == ADDED)]

    def _watch(self) -> None:
        import watchfiles

        for batch in watchfiles.watch(self.watch_set.root, watch_filter=None,
                                      debounce=LONGEST_BURST_MS, step=QUIET_MS,
                                      stop_event=self.stopping, rust_timeout=60_000,
                                      raise_interrupt=False):
            self.changes.put({(int(kind), path) for kind, path in batch})

    def _say(self, text: str) -> None:
        self.out.write(f"fedbuild watch: {text}\n")
        self.out.flush()


def rebuild_args(dodo: str | None, root: Path, tasks: list[str], workers: int,
                 variables: dict[str, str]) -> list[str]:
    """doit's arguments for each build, a `run` of the watch's dodo, repository, tasks and
    variables."""
    argv = ["run"]
    if dodo is not None:
        argv += ["-f", dodo]
    argv += ["-d", str(root)]
    if workers > 1:
        argv += ["-n", str(workers)]
    return [*argv, *tasks, *(f"{name}={value}" for name, value in variables.items())]
