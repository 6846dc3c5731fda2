"""The live event streams: a WebSocket at /api/events and Server-Sent Events at
/api/events/stream, both with the same JSON payloads (see service/events.py).

Both take the bearer token in the Authorization header, or (for browsers, which cannot send
one) `?ticket=` from POST /api/events/ticket: single-use, valid for a minute, so no
long-lived secret ends up in a URL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response, StreamingResponse

from service.context import TICKET_LIFE, Services
from service.events import Subscriber

KEEPALIVE = 15.0  # seconds between SSE comments, so proxies keep the connection open
BuildFilter = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
ProjectFilter = Annotated[str | None, Query(max_length=200)]
Ticket = Annotated[str | None, Query(max_length=200)]


def live_router(services: Services) -> APIRouter:
    """The WebSocket and SSE endpoints."""
    router = APIRouter()

    @router.post("/api/events/ticket", tags=["events"])
    async def ticket(request: Request) -> Response:
        """A single-use ticket for one event stream (`?ticket=`), valid for a minute."""
        why = services.refusal(request.headers.get("authorization"), write=False)
        if why is not None:
            return JSONResponse({"detail": why}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        body: dict[str, Any] = {"ticket": services.tickets.issue(), "expires_in": TICKET_LIFE}
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @router.websocket("/api/events")
    async def events(websocket: WebSocket, build_id: BuildFilter = None,
                     project_id: ProjectFilter = None, ticket: Ticket = None) -> None:
        """Every event (or one build's, one project's) as JSON text messages."""
        why = services.refusal(websocket.headers.get("authorization"), ticket, write=False)
        if why is not None:
            await websocket.send_denial_response(JSONResponse(
                {"detail": why}, status_code=401, headers={"WWW-Authenticate": "Bearer"}))
            return
        await websocket.accept()
        subscriber = services.bus.subscribe(build_id, project_id)
        try:
            await _pump(websocket, subscriber)
        finally:
            services.bus.unsubscribe(subscriber)

    @router.get("/api/events/stream", tags=["events"])
    async def stream(request: Request, build_id: BuildFilter = None,
                     project_id: ProjectFilter = None, ticket: Ticket = None) -> Response:
        """The same events as Server-Sent Events (`data: <json>` per event)."""
        why = services.refusal(request.headers.get("authorization"), ticket, write=False)
        if why is not None:
            return JSONResponse({"detail": why}, status_code=401,
                                headers={"WWW-Authenticate": "Bearer"})
        subscriber = services.bus.subscribe(build_id, project_id)
        return StreamingResponse(_sse(request, services, subscriber),
                                 media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})

    return router


async def _pump(websocket: WebSocket, subscriber: Subscriber) -> None:
    """Send queued events until the client goes (noticed by reading from it meanwhile)."""
    gone = asyncio.ensure_future(_until_closed(websocket))
    try:
        while True:
            nxt = asyncio.ensure_future(subscriber.queue.get())
            done, _ = await asyncio.wait({nxt, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone in done:
                nxt.cancel()
                return
            await websocket.send_text(json.dumps(nxt.result()))
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        gone.cancel()


async def _until_closed(websocket: WebSocket) -> None:
    """Return once the client has closed the connection (what it sends is ignored)."""
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except (WebSocketDisconnect, RuntimeError):
        return


async def _sse(request: Request, services: Services,
               subscriber: Subscriber) -> AsyncIterator[str]:
    try:
        yield ": connected\n\n"
        while not await request.is_disconnected():
            try:
                event = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE)
            except asyncio.TimeoutError:
                yield ": keepalive\n\n"
                continue
            yield f"data: {json.dumps(event)}\n\n"  # unnamed: EventSource.onmessage gets it
    finally:
        services.bus.unsubscribe(subscriber)
