"""Live events: the build's reporter events turned into workflow.* events, and the bus
that hands them to every WebSocket and Server-Sent-Events client.

    {"type": "workflow.started", "job_id": 7, "project_id": "...", "timestamp": "...",
     "total": 3, "run_id": 12, "tasks": [...]}
    {"type": "workflow.progress", "job_id": 7, "project_id": "...", "task": "build:web",
     "status": "started" | "built" | "cached" | "up to date" | "failed" | ...,
     "done": 1, "total": 3, "progress": 33, "duration": 0.4, "timestamp": "..."}
    {"type": "workflow.completed", "job_id": 7, "project_id": "...", "status": "success",
     "success": true, "duration": 2.1, "error": null, "timestamp": "..."}
    {"type": "build.status", "job_id": 7, "project_id": "...", "status": "pending", ...}
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict, deque
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from service.db import now
from service.status import TASK_STARTED

KEEP_EVENTS = 200  # per build, for clients that arrive mid-build
KEEP_BUILDS = 50
QUEUE_SIZE = 1000  # per client; a client that falls this far behind loses the oldest


def stamp(seconds: float | None) -> str:
    """An epoch time as the ISO 8601 UTC timestamps the service uses."""
    if seconds is None:
        return now()
    moment = datetime.fromtimestamp(seconds, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def percent(done: int, total: int) -> int:
    """done of total, in whole percent (100 for an empty run)."""
    return round(100 * done / total) if total else 100


def translate(raw: dict[str, Any], build_id: int, project_id: str) -> dict[str, Any] | None:
    """The workflow event for one line of the reporter's FEDBUILD_EVENTS file (None for
    run.finished: the service sends workflow.completed itself once the build is recorded)."""
    base = {"job_id": build_id, "project_id": project_id, "timestamp": stamp(raw.get("time"))}
    kind = raw.get("event")
    if kind == "run.started":
        return {"type": "workflow.started", **base, "total": int(raw.get("total", 0)),
                "run_id": raw.get("run_id"), "tasks": list(raw.get("tasks", []))}
    if kind in ("task.started", "task.finished"):
        done, total = int(raw.get("done", 0)), int(raw.get("total", 0))
        event = {"type": "workflow.progress", **base, "task": raw.get("task"),
                 "status": TASK_STARTED if kind == "task.started" else raw.get("status"),
                 "done": done, "total": total, "progress": percent(done, total)}
        if kind == "task.finished":
            event.update(duration=raw.get("duration"), message=raw.get("message"))
        return event
    return None


@dataclass(eq=False)
class Subscriber:
    """One client's queue, and the build or project it wants to hear about (None: all)."""

    queue: asyncio.Queue[dict[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    build_id: int | None = None
    project_id: str | None = None

    def wants(self, event: dict[str, Any]) -> bool:
        """Whether the event is about what this client follows."""
        return ((self.build_id is None or event.get("job_id") == self.build_id)
                and (self.project_id is None or event.get("project_id") == self.project_id))


class EventBus:
    """Fan-out of events to asyncio clients; publish() may be called from any thread."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._subscribers: set[Subscriber] = set()  # touched in the loop's thread only
        self._lock = threading.Lock()
        self._recent: OrderedDict[int, deque[dict[str, Any]]] = OrderedDict()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the clients' queues belong to."""
        self._loop = loop

    def subscribe(self, build_id: int | None = None,
                  project_id: str | None = None) -> Subscriber:
        """A new client (call from the event loop)."""
        subscriber = Subscriber(build_id=build_id, project_id=project_id)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """The client has gone (call from the event loop)."""
        self._subscribers.discard(subscriber)

    def publish(self, event: dict[str, Any]) -> None:
        """Keep the event with its build's recent ones and send it to every client."""
        build_id = event.get("job_id")
        if isinstance(build_id, int):
            with self._lock:
                kept = self._recent.setdefault(build_id, deque(maxlen=KEEP_EVENTS))
                kept.append(event)
                self._recent.move_to_end(build_id)
                while len(self._recent) > KEEP_BUILDS:
                    self._recent.popitem(last=False)
        loop = self._loop
        if loop is not None and not loop.is_closed():
            # RuntimeError: the loop closed meanwhile, the service is stopping.
            with suppress(RuntimeError):
                loop.call_soon_threadsafe(self._deliver, event)

    def recent(self, build_id: int) -> list[dict[str, Any]]:
        """The last events of a build, oldest first."""
        with self._lock:
            return list(self._recent.get(build_id, ()))

    def _deliver(self, event: dict[str, Any]) -> None:
        for subscriber in list(self._subscribers):
            if not subscriber.wants(event):
                continue
            if subscriber.queue.full():  # a stalled client loses its oldest, not ours
                subscriber.queue.get_nowait()
            subscriber.queue.put_nowait(event)
