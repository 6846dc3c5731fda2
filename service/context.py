"""What every request handler works with, and who may call it (the bearer token)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

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

    def refusal(self, header: str | None, query: str | None = None, *,
                write: bool) -> str | None:
        """Why a request with this Authorization header (or ?token=) is refused; None if
        it may go on. Reads need no token when the service was started with public reads."""
        if not write and self.config.public_reads:
            return None
        given = bearer(header) if header else query
        if not given:
            return ("missing bearer token: send `Authorization: Bearer <token>` (the token is "
                    f"in {self.config.token_file})")
        if not secrets.compare_digest(given.encode(), self.token.encode()):
            return "wrong bearer token"
        return None


def bearer(header: str) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (None for another scheme)."""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None
