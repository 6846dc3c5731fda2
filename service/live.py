"""The live event streams: a WebSocket at /api/events and Server-Sent Events at
/api/events/stream, both with the same JSON payloads (see service/events.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse, Response, StreamingResponse

from service.context import Services
from service.events import Subscriber

KEEPALIVE = 15.0  # seconds between SSE comments, so proxies keep the connection open


def live_router(services: Services) -> APIRouter:
    """The WebSocket and SSE endpoints."""
    router = APIRouter()

    @router.websocket("/api/events")
    async def events(websocket: WebSocket, build_id: int | None = None,
                     project_id: str | None = None, token: str | None = None) -> None:
        """Every event (or one build's, one project's) as JSON text messages."""
        why = services.refusal(websocket.headers.get("authorization"), token, write=False)
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
    async def stream(request: Request, build_id: int | None = None,
                     project_id: str | None = None,
                     token: str | None = None) -> Response:
        """The same events as Server-Sent Events (`data: <json>` per event)."""
        why = services.refusal(request.headers.get("authorization"), token, write=False)
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
