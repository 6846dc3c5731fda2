"""The HTTP server under the app: uvicorn with timeouts for slow clients, a connection
limit, and TLS when given a certificate."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

HEADER_TIMEOUT = 10.0  # seconds a client has to send a request's line and headers
KEEP_ALIVE = 5.0  # seconds an idle keep-alive connection is kept
MAX_HEADERS = 64 * 1024  # bytes of a request's line and headers


def port_free(host: str, port: int) -> str | None:
    """Why the service could not listen on host:port (None: it can), asked before anything
    is printed or written."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            return f"cannot listen on {host}:{port} ({err.strerror}); choose another --port"
    return None


def guarded_protocol() -> type:
    """uvicorn's h11 protocol, closing a connection whose request line and headers have
    not all arrived within HEADER_TIMEOUT (uvicorn has no such timeout of its own: a
    half-sent request would hold its socket for ever)."""
    import h11
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class GuardedH11(H11Protocol):
        _headers_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm()  # the next request on this connection gets the same time

        def connection_lost(self, exc: Exception | None) -> None:
            if self._headers_timer is not None:
                self._headers_timer.cancel()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._headers_timer is not None:
                self._headers_timer.cancel()
            self._headers_timer = self.loop.call_later(HEADER_TIMEOUT, self._expire)

        def _expire(self) -> None:
            self._headers_timer = None
            # IDLE: the request's headers are not complete (a request in progress is the
            # gate's business: its body has its own timeouts).
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self.transport.close()

    return GuardedH11


def serve(app: Any, config: Any) -> None:
    """Serve the app until interrupted."""
    import uvicorn

    uvicorn.run(app, host=config.host, port=config.port, log_level="warning",
                timeout_graceful_shutdown=5, timeout_keep_alive=int(KEEP_ALIVE),
                limit_concurrency=config.connections, http=guarded_protocol(),
                h11_max_incomplete_event_size=MAX_HEADERS, server_header=False,
                ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
                ssl_keyfile=str(config.tls_key) if config.tls_key else None)
