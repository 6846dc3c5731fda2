"""Live events seen by real clients: a WebSocket (the websockets library) and SSE."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.service.service_server import Service, service_repo

WAIT = 30.0


def ws_url(service: Service, query: str) -> str:
    return service.url.replace("http://", "ws://") + f"/api/events?{query}"


def until_completed(receive: Any, build_id: int | None = None) -> list[dict[str, Any]]:
    """Events until workflow.completed (of build_id, or of the first build seen)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        event = receive()
        if event is None:
            continue
        events.append(event)
        if build_id is None:
            build_id = event["job_id"]
        if event["type"] == "workflow.completed" and event["job_id"] == build_id:
            return events
    raise AssertionError(f"no workflow.completed within {WAIT}s: {events}")


def test_a_websocket_client_follows_a_build(service: Service, tmp_path: Path) -> None:
    project = service.register(service_repo("quick", tmp_path / "quick"))
    with connect(ws_url(service, f"ticket={service.ticket()}&project_id={project['id']}"),
                 open_timeout=10) as socket:
        build = service.trigger(project["id"])
        events = until_completed(lambda: json.loads(socket.recv(timeout=WAIT)), build["id"])

    assert {e["job_id"] for e in events} == {build["id"]}
    started = next(e for e in events if e["type"] == "workflow.started")
    assert (started["project_id"], started["total"]) == (project["id"], 2)
    assert started["timestamp"].endswith("Z")
    progress = [e for e in events if e["type"] == "workflow.progress"]
    assert events.index(started) < events.index(progress[0])
    finished = [e for e in progress if e["status"] != "started"]
    assert [(e["task"], e["status"], e["done"], e["total"], e["progress"]) for e in finished] == [
        ("build:hello", "built", 1, 2, 50), ("test:hello", "built", 2, 2, 100)]
    for task in ("build:hello", "test:hello"):
        assert [e["status"] for e in progress if e["task"] == task] == ["started", "built"]
    completed = events[-1]
    assert (completed["type"], completed["status"], completed["success"]) == (
        "workflow.completed", "success", True)
    assert completed["duration"] > 0
    # A client arriving later reads the same events with the build.
    recent = service.build(build["id"])["events"]
    assert [e["type"] for e in recent if e["type"].startswith("workflow.")] == [
        e["type"] for e in events if e["type"].startswith("workflow.")]


def test_a_websocket_needs_the_token_or_a_ticket_unless_reads_are_public(service: Service) -> None:
    for query in ("", "ticket=wrong", f"token={service.token}"):
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url(service, query), open_timeout=10)
        assert refused.value.response.status_code == 401
    headers = {"Authorization": f"Bearer {service.token}"}
    with connect(ws_url(service, "build_id=1"), additional_headers=headers,
                 open_timeout=10) as socket:
        socket.ping().wait(5)


def test_server_sent_events_carry_the_same_payloads(service: Service, tmp_path: Path) -> None:
    project = service.register(service_repo("failing", tmp_path / "failing"))
    url = f"/api/events/stream?ticket={service.ticket()}&project_id={project['id']}"
    assert service.request("GET", "/api/events/stream", token=None).status_code == 401
    # The token itself is never taken from a URL (it would end up in logs and history).
    assert service.request("GET", f"/api/events/stream?token={service.token}",
                           token=None).status_code == 401
    with service.client.stream("GET", url, timeout=httpx.Timeout(WAIT)) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == ": connected"
        build = service.trigger(project["id"])

        def receive() -> dict[str, Any] | None:
            line = next(lines)
            return json.loads(line[len("data: "):]) if line.startswith("data: ") else None

        events = until_completed(receive, build["id"])
    failed = [e for e in events if e["type"] == "workflow.progress" and e["status"] == "failed"]
    assert [e["task"] for e in failed] == ["build:broken"]
    assert (events[-1]["status"], events[-1]["success"]) == ("failed", False)
    assert events[-1]["error"] == "failed: build:broken"
