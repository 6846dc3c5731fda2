"""What every request handler works with, and who may call it (the bearer token)."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from dataclasses import dataclass, field

from service.builds import BuildQueue
from service.config import ServiceConfig
from service.db import Database
from service.events import EventBus
from service.projects import Projects


@dataclass(frozen=True)
class Services:
    """The service's parts, made once by create_app."""

    config: ServiceConfig
    token: str
    db: Database
    bus: EventBus
    queue: BuildQueue
    projects: Projects
    tickets: Tickets = field(default_factory=lambda: Tickets())
    idempotency: asyncio.Lock = field(default_factory=asyncio.Lock)

    def refusal(self, header: str | None, ticket: str | None = None, *,
                write: bool) -> str | None:
        """Why a request with this Authorization header (or an event-stream ?ticket=) is
        refused; None if it may go on. Reads need no token with public reads."""
        if not write and self.config.public_reads:
            return None
        if not header and ticket:
            return None if self.tickets.redeem(ticket) else "unknown or expired ticket"
        given = bearer(header) if header else None
        if not given:
            return ("missing bearer token: send `Authorization: Bearer <token>` (the token "
                    "`doit serve` printed on its first start)")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return "wrong bearer token"
        return None


TICKET_LIFE = 60.0  # seconds a ticket may wait to be used
TICKETS = 1000  # tickets not yet used, at most


class Tickets:
    """Short-lived, single-use tickets for the event streams: a browser cannot send a
    header with a WebSocket or EventSource, and a token in a URL ends up in logs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[str, float] = {}

    def issue(self) -> str:
        """A new ticket, good for one connection within TICKET_LIFE seconds."""
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            self._prune()
            while len(self._open) >= TICKETS:
                self._open.pop(next(iter(self._open)))
            self._open[ticket] = time.monotonic() + TICKET_LIFE
        return ticket

    def redeem(self, ticket: str) -> bool:
        """Whether the ticket is valid (it is used up either way)."""
        with self._lock:
            expires = self._open.pop(ticket, None)
        return expires is not None and time.monotonic() < expires

    def _prune(self) -> None:
        moment = time.monotonic()
        for ticket in [t for t, end in self._open.items() if end <= moment]:
            del self._open[ticket]


def bearer(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (None for another scheme)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None
