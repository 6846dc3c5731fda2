"""The run as a stream of events, for a program watching it (the build service).

When FEDBUILD_EVENTS names a file (or `fd:N`, a descriptor to write to: the build
service hands doit alone a connection to its event socket), the reporter appends one
JSON object per line as things happen, in one write each, so a reader sees each event
when it happens. The variable is taken out of the environment as it is read, so the
steps a run starts never see it (and cannot forge events):

    {"event": "run.started", "time": ..., "run_id": 7, "total": 12, "tasks": [...]}
    {"event": "task.started", "time": ..., "task": "build:web", "done": 3, "total": 12}
    {"event": "task.finished", "time": ..., "task": "build:web", "status": "built",
     "duration": 1.2, "done": 4, "total": 12, "message": null}
    {"event": "run.finished", "time": ..., "status": "succeeded", "duration": 8.1,
     "run_id": 7, "run_files": ".fedbuild/runs/<run>/"}
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

ENV = "FEDBUILD_EVENTS"


class EventStream:
    """Appends events to the file FEDBUILD_EVENTS names; does nothing when it names none.
    A file that cannot be written is reported once through `warn` and then left alone."""

    def __init__(self, warn: Any, path: str | None = None) -> None:
        target = path if path is not None else os.environ.pop(ENV, None)
        self.fd: int | None = None
        if target and target.startswith("fd:") and target[3:].isdigit():
            self.fd = int(target[3:])
            os.set_inheritable(self.fd, False)  # a step started otherwise gets no copy
            target = f"/dev/fd/{self.fd}"  # how a warning names it
        self.path = Path(target) if target else None
        self._warn = warn
        self._lock = threading.Lock()
        self._done = 0
        self.total = 0

    def emit(self, event: str, **fields: Any) -> None:
        """Write one event (thread-safe: parallel workers finish tasks at once)."""
        if self.path is None:
            return
        with self._lock:
            if event == "run.started":
                self.total = int(fields.get("total", 0))
            if event == "task.finished":
                self._done += 1
            if event.startswith("task."):
                fields = {**fields, "done": self._done, "total": self.total}
            line = json.dumps({"event": event, "time": time.time(), **fields},
                              default=str) + "\n"
            try:
                if self.fd is not None:
                    os.write(self.fd, line.encode())  # one write: O_APPEND keeps lines whole
                else:
                    with self.path.open("a", encoding="utf-8") as f:
                        f.write(line)
            except OSError as err:
                self._warn(f"fedbuild: events not written to {self.path} ({err})")
                self.path = None
