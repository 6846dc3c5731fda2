"""`doit -v 2`: stream the captured output of running tasks as it is written.

Tasks write their output to their log files (so it is kept, and a failure can show
its tail); a follower thread reads what is new in the logs of the tasks running now
and prints it, a whole line at a time, prefixed with the task's name: lines of
parallel tasks never interleave mid-line.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

POLL = 0.1


@dataclass
class _Followed:
    path: Path
    since: float  # epoch: the log of an earlier run (older than this) is not shown
    offset: int = 0
    partial: bytes = b""


class LogFollower:
    """Prints new lines of the followed logs through `emit` (one call per line)."""

    def __init__(self, emit: Callable[[str], None]) -> None:
        self.emit = emit
        self._lock = threading.Lock()
        self._logs: dict[str, _Followed] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fedbuild-follow", daemon=True)

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def follow(self, name: str, path: Path, since: float) -> None:
        """Start showing `name`'s log at `path` (written from `since` on)."""
        with self._lock:
            self._logs[name] = _Followed(path, since - 0.001)

    def finish(self, name: str) -> None:
        """Show the rest of `name`'s log, including a last line without a newline."""
        with self._lock:
            followed = self._logs.pop(name, None)
            if followed is not None:
                self._read(name, followed, final=True)

    def stop(self) -> None:
        """Stop polling (what is still followed is flushed)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        for name in list(self._logs):
            self.finish(name)

    def _loop(self) -> None:
        while not self._stop.wait(POLL):
            with self._lock:
                for name, followed in list(self._logs.items()):
                    self._read(name, followed, final=False)

    def _read(self, name: str, followed: _Followed, final: bool) -> None:
        try:
            with followed.path.open("rb") as f:
                st = os.fstat(f.fileno())
                if st.st_mtime < followed.since:
                    return  # still the previous run's log
                if st.st_size < followed.offset:  # started anew (a retry)
                    followed.offset, followed.partial = 0, b""
                f.seek(followed.offset)
                data = f.read()
        except OSError:
            return
        followed.offset += len(data)
        data = followed.partial + data
        *lines, followed.partial = data.split(b"\n")
        if final and followed.partial:
            lines.append(followed.partial)
            followed.partial = b""
        for line in lines:
            self.emit(f"{name} | {line.decode(errors='replace').rstrip()}")
