"""What every cache store offers (the local folder, an HTTP server, Redis), in Bazel's
remote-cache layout: action records by key (`ac/<key>`), blobs by SHA-256 (`cas/<sha256>`)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class CacheError(Exception):
    """A store that failed: unreachable, too slow, an error status, corrupt or refused data.
    Callers turn it into a miss and one warning line; it never fails a build."""


class BadEntry(CacheError):
    """One entry that is wrong (a corrupt blob, a malformed or unsafe record), not a store
    that is broken: that entry is a miss, the store stays in use."""


class Backend(Protocol):
    """A place to keep action records and blobs."""

    name: str  # for messages: "local cache .fedbuild/cache", "http://127.0.0.1:8080/"

    def get_action(self, key: str) -> bytes | None:
        """The action record stored under `key` (None: a miss). Raises CacheError."""

    def put_action(self, key: str, data: bytes) -> None:
        """Store an action record. Raises CacheError."""

    def has_blob(self, digest: str) -> bool:
        """Whether the blob with this SHA-256 is stored. Raises CacheError."""

    def get_blob(self, digest: str, dest: Path) -> bool:
        """Write the blob to `dest` (False: not stored). The content is checked against
        `digest`; a mismatch raises CacheError and leaves no `dest`."""

    def put_blob(self, digest: str, path: Path) -> None:
        """Store the file at `path` as the blob `digest`. Raises CacheError."""
