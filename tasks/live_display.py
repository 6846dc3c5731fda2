"""The display of a run in a terminal: a live region (rich) at the bottom with the tasks
running now and their elapsed time, done/total, failures so far and an ETA; finished tasks
are printed above it. Imported only when the output is a terminal (rich takes a while to
load, and pipes and CI logs get tasks/display.py's PlainDisplay)."""

from __future__ import annotations

import threading
import time
from typing import Any, TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.text import Text

from core.outcome import Status
from tasks.display import ETA, clock

_STYLES = {Status.BUILT: "green", Status.CACHED: "cyan", Status.FLAKY: "yellow",
           Status.UP_TO_DATE: "dim", Status.FAILED: "red", Status.TIMED_OUT: "red",
           Status.SKIPPED: "yellow", Status.NOT_NEEDED: "dim", Status.NO_TESTS: "red",
           Status.INTERRUPTED: "red", Status.NO_BOARD: "yellow"}
_MAX_RUNNING_SHOWN = 8


class LiveDisplay:
    """A live region at the bottom of the terminal; finished tasks are printed above it."""

    def __init__(self, out: TextIO, eta: ETA | None = None, workers: int = 1) -> None:
        self.console = Console(file=out, highlight=False, soft_wrap=True)
        self.lock = threading.RLock()
        self.eta = eta
        self.workers = workers
        self.total = 0
        self.done: set[str] = set()
        self.failed = 0
        self.running: dict[str, float] = {}
        self.began = time.monotonic()
        self.live = Live(console=self.console, transient=True, refresh_per_second=4,
                         get_renderable=self._render, redirect_stdout=False,
                         redirect_stderr=False)

    def start(self, total: int) -> None:
        self.total = total
        self.began = time.monotonic()
        self.live.start()

    def task_started(self, name: str) -> None:
        with self.lock:
            self.running[name] = time.monotonic()

    def task_finished(self, name: str, status: Status, text: str) -> None:
        with self.lock:
            self.running.pop(name, None)
            self.done.add(name)
            self.failed += status.failed
            if status is Status.UP_TO_DATE:
                return  # counted in done/total; a no-op run stays quiet
            word, _, rest = text.partition(" ")
            self.live.refresh()  # the region redrawn below the line shows this task done
            line = Text(f"{name} ")
            line.append(word, style=_STYLES[status])
            if rest:
                line.append(f" {rest}")
            self.console.print(line)

    def message(self, text: str) -> None:
        with self.lock:
            self.console.print(Text(text))

    def stop(self) -> None:
        with self.lock:
            self.live.stop()

    def _render(self) -> RenderableType:
        with self.lock:
            now = time.monotonic()
            total = max(self.total, len(self.done))
            head = Text()
            head.append(f"{len(self.done)}/{total} done", style="bold")
            if self.failed:
                head.append(f", {self.failed} failed", style="red")
            head.append(f", {len(self.running)} running, {clock(now - self.began)} elapsed")
            if self.eta is not None:
                left = self.eta.remaining(self.done, self.running, now)
                head.append(", ETA unknown (no earlier runs)" if left is None
                            else f", about {clock(left)} left")
            lines: list[Any] = [head]
            by_age = sorted(self.running.items(), key=lambda item: item[1])
            for name, started in by_age[:_MAX_RUNNING_SHOWN]:
                lines.append(Text(f"  {name}  {clock(now - started)}", style="cyan"))
            if len(by_age) > _MAX_RUNNING_SHOWN:
                lines.append(Text(f"  and {len(by_age) - _MAX_RUNNING_SHOWN} more"))
            return Group(*lines)
