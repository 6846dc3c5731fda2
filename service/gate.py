"""What every request passes before the app sees it: the Host it names, the Origin of a
WebSocket, the token of a write (checked before the body is read), the body's size and
pace, and the security headers every answer carries."""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers

from service.context import Services

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

API_BODY = 1024 * 1024  # the REST API's requests are a few hundred bytes
WEBHOOK_BODY = 25 * 1024 * 1024  # GitHub caps a webhook payload at 25 MB
BODY_IDLE = 10.0  # seconds a request's body may pause between two chunks
BODY_TOTAL = 60.0  # seconds a whole body may take
WEBHOOK = "/api/webhooks/github"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Gate:
    """ASGI middleware in front of the whole app (see the module's docstring)."""

    def __init__(self, app: App, services: Services) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        why = self.host_refusal(headers.get("host"))
        if why is None and scope["type"] == "websocket":
            why = origin_refusal(headers.get("origin"), headers.get("host"))
        if why is not None:
            await _deny(scope, send, 400 if scope["type"] == "http" else 403, why)
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, _secured(send), headers)

    def host_refusal(self, host: str | None) -> str | None:
        """Why a request naming this Host is not served (DNS rebinding); None: served."""
        name = host_name(host or "")
        if not name:
            return "a request must name the service in its Host header"
        if name in LOOPBACK_NAMES or name in self.services.config.allowed_hosts:
            return None
        try:
            ipaddress.ip_address(name)  # an address can never be a rebound name
            return None
        except ValueError:
            return (f"Host {name[:100]!r} is not served here; start `doit serve` with "
                    f"--allow-host {name[:100]} to serve it")

    async def _http(self, scope: Scope, receive: Receive, send: Send,
                    headers: Headers) -> None:
        path, method = scope["path"], scope["method"]
        limit = WEBHOOK_BODY if path == WEBHOOK else API_BODY
        if path.startswith("/api/") and path != WEBHOOK and method in _WRITES:
            why = self.services.refusal(headers.get("authorization"), write=True)
            if why is not None:  # refused before a byte of the body is read
                await _answer(send, 401, why, {"www-authenticate": "Bearer"})
                return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or len(length) > 12):
            await _answer(send, 400, "Content-Length must be a number of bytes")
            return
        if length is not None and int(length) > limit:
            await _answer(send, 413, f"the request body is {length} bytes; at most {limit} "
                          "are accepted here")
            return
        if path == WEBHOOK and not (self.services.config.webhook_secret
                                    and headers.get("x-hub-signature-256")):
            await self.app(scope, receive, send)  # refused by the handler, body unread
            return
        if method not in _WRITES and length is None and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive, limit, send)
        if body is not None:
            await self.app(scope, _replay(body, receive), send)


def host_name(host: str) -> str:
    """The name or address of a Host header, lower-case, without port or brackets."""
    text = host.strip().lower()
    if text.startswith("["):
        return text[1:].partition("]")[0]
    if text.count(":") == 1:
        text = text.partition(":")[0]
    return text.rstrip(".")


def origin_refusal(origin: str | None, host: str | None) -> str | None:
    """Why a WebSocket from this Origin is refused: a browser's page must come from the
    service itself (same scheme-less host and port). No Origin: not a browser, allowed."""
    if origin is None:
        return None
    netloc = urlsplit(origin).netloc.lower()
    if netloc and host is not None and netloc == host.strip().lower():
        return None
    return f"WebSocket connections from Origin {origin[:100]!r} are refused"


async def _read_body(receive: Receive, limit: int, send: Send) -> bytes | None:
    """The whole body, or None after answering 413 (too big) or 408 (too slow)."""
    chunks, size = [], 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + BODY_TOTAL
    while True:
        wait = min(BODY_IDLE, deadline - loop.time())
        try:
            message = await asyncio.wait_for(receive(), max(wait, 0.001))
        except asyncio.TimeoutError:
            await _answer(send, 408, "the request body came too slowly", {"connection": "close"})
            return None
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            await _answer(send, 413, f"the request body is over {limit} bytes",
                          {"connection": "close"})
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive() giving the body read already, then what the connection says next."""
    sent = False

    async def again() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return again


def _secured(send: Send) -> Send:
    """send() adding the security headers to every response."""
    async def secured(message: Message) -> None:
        if message["type"] == "http.response.start":
            names = {k.lower() for k, _ in message.get("headers", [])}
            extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
            message = {**message, "headers": [*message.get("headers", []), *extra]}
        await send(message)
    return secured


async def _answer(send: Send, status: int, detail: str,
                  headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
           *((k.encode(), v.encode()) for k, v in (headers or {}).items())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def _deny(scope: Scope, send: Send, status: int, detail: str) -> None:
    if scope["type"] == "http":
        await _answer(_secured(send), status, detail)
        return
    # A WebSocket handshake refused with an HTTP answer (the ASGI denial response).
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "websocket.http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "websocket.http.response.body", "body": body})
