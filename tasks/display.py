"""What a person (or a CI log) sees while a run goes: the reporter decides what happened,
a display decides how it looks.

- `PlainDisplay`: a line per task start and end, nothing else; for pipes and CI logs.
- `LiveDisplay` (tasks/live_display.py, loaded only in a terminal): a live region (rich)
  with the tasks running now and their elapsed time, done/total, failures so far and an
  ETA; finished tasks scroll above it.

Both write whole lines under one lock, so the output of parallel tasks never interleaves.
"""

from __future__ import annotations

import os
import secrets
import threading
from collections.abc import Mapping
from typing import Protocol, TextIO

from core.outcome import Status

_ANSI = {Status.BUILT: "32", Status.CACHED: "36", Status.FLAKY: "33", Status.UP_TO_DATE: "2",
         Status.FAILED: "31", Status.TIMED_OUT: "31", Status.SKIPPED: "33",
         Status.NOT_NEEDED: "2", Status.NO_TESTS: "31", Status.INTERRUPTED: "31",
         Status.NO_BOARD: "33"}


class Display(Protocol):
    """How the reporter shows a run."""

    def start(self, total: int) -> None:
        """The run starts with `total` tasks that may execute."""

    def task_started(self, name: str) -> None:
        """A task's action starts."""

    def task_finished(self, name: str, status: Status, text: str) -> None:
        """A task ended; `text` is its line (status, duration, note) after the name."""

    def message(self, text: str) -> None:
        """A block of text (a failure's log tail, a warning), printed whole."""

    def stop(self) -> None:
        """The run is over: leave the terminal as a plain scrolling log."""


def wants_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never with NO_COLOR set (https://no-color.org)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("NO_COLOR")


def wants_live(stream: TextIO) -> bool:
    """A live display only on a real terminal that can move its cursor."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM", "") not in ("", "dumb")


def paint(status: Status, text: str, color: bool) -> str:
    """`text` in the status's colour (ANSI), or as it is."""
    return f"\033[{_ANSI[status]}m{text}\033[0m" if color else text


class ETA:
    """Time left, from each task's recorded duration in earlier runs."""

    def __init__(self, estimates: Mapping[str, float], planned: list[str], workers: int) -> None:
        known = sorted(estimates[n] for n in planned if n in estimates)
        # A task never built before counts as a typical one.
        typical = known[len(known) // 2] if known else 0.0
        self.expected = {n: estimates.get(n, typical) for n in planned}
        self.known = bool(known)
        self.workers = max(1, workers)

    def remaining(self, done: set[str], running: Mapping[str, float], now: float) -> float | None:
        """Seconds left (None without any history): the work still ahead, shared by the
        workers, but never less than the longest task still running needs."""
        if not self.known:
            return None
        left_running = [max(0.0, self.expected.get(n, 0.0) - (now - t))
                        for n, t in running.items()]
        waiting = sum(v for n, v in self.expected.items() if n not in done and n not in running)
        return max(max(left_running, default=0.0),
                   (waiting + sum(left_running)) / self.workers)


def clock(seconds: float) -> str:
    """`42s`, `3m05s`, `1h02m`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


class PlainDisplay:
    """`[done/total] task started`, `[done/total] task ok 1.2s`: one line each, no control
    codes (colour only on a terminal without NO_COLOR)."""

    def __init__(self, out: TextIO, color: bool) -> None:
        self.out = out
        self.color = color
        self.lock = threading.RLock()
        self.total = 0
        self.done = 0

    def start(self, total: int) -> None:
        self.total = total

    def task_started(self, name: str) -> None:
        with self.lock:
            self._write(f"[{self.done}/{max(self.total, self.done)}] {name} started")

    def task_finished(self, name: str, status: Status, text: str) -> None:
        with self.lock:
            self.done += 1
            # An up-to-date line waits for the next line that matters (or the end): a no-op
            # run of 1000 tasks is then a few writes, not 1000.
            self._write(f"[{self.done}/{max(self.total, self.done)}] {name} "
                        f"{self._status(status, text)}", flush=status is not Status.UP_TO_DATE)

    def message(self, text: str) -> None:
        with self.lock:
            self._write(text)

    def stop(self) -> None:
        """Write out what waits."""
        with self.lock:
            self.out.flush()

    def _status(self, status: Status, text: str) -> str:
        word, _, rest = text.partition(" ")
        return paint(status, word, self.color) + (f" {rest}" if rest else "")

    def _write(self, text: str, flush: bool = True) -> None:
        self.out.write(text + "\n")
        if flush:
            self.out.flush()


def github_escape(text: str, prop: bool = False) -> str:
    """Escape a workflow command's message (or, `prop`, one of its properties)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if prop else text


def github_failure(name: str, headline: str, log: str) -> str:
    """A failed task under GitHub Actions: an `::error::` annotation naming it, and its whole
    log folded in a `::group::`."""
    body = log.rstrip("\n")
    # A log line that is itself a workflow command would be obeyed: stop commands inside.
    token = f"fedbuild-{secrets.token_hex(8)}"
    return "\n".join([
        f"::error title={github_escape(f'{name} failed', prop=True)}::"
        f"{github_escape(headline)}",
        f"::group::{name} log",
        f"::stop-commands::{token}",
        *([body] if body else []),
        f"::{token}::",
        "::endgroup::",
    ])


def in_github_actions() -> bool:
    """GitHub Actions sets GITHUB_ACTIONS=true in every step."""
    return os.environ.get("GITHUB_ACTIONS") == "true"
