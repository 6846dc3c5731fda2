"""A build's event channel: a Unix socket the service listens on until its own child (the
build's supervisor) connects, then a connection no one else can write to.

An events file, even one only doit holds open, can be reopened by any process of the same
user: by its path (the data folder's layout, the supervisor's command line) or through
/proc/<doit>/fd/N. A connected socket cannot be reopened through /proc (ENXIO), the
listening one is closed and removed once the first connection is accepted (the supervisor
connects before doit starts, so before any step exists), and that connection must come
from a child of this process: the supervisor, never a step. Nothing of the channel is on
disk afterwards, so no path read from it or guessed leads back into it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import tempfile
from pathlib import Path
from typing import Any

from core.confine import remove_tree
from service.config import LOGGER

_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid
READ_SIZE = 65536

log = logging.getLogger(LOGGER)


class EventChannel:
    """Listen for one build's supervisor, then read the events doit sends (JSON lines)."""

    def __init__(self, build_id: int) -> None:
        self.build_id = build_id
        self._folder = Path(tempfile.mkdtemp(prefix="fedbuild-events-"))  # mode 700
        self.address = str(self._folder / "sock")  # short: a socket path has 107 bytes
        self._listener: socket.socket | None = socket.socket(socket.AF_UNIX,
                                                             socket.SOCK_STREAM)
        self._listener.bind(self.address)
        self._listener.listen(1)
        self._listener.setblocking(False)
        self._peer: socket.socket | None = None
        self._partial = b""

    def lines(self) -> list[dict[str, Any]]:
        """The events that arrived since the last call (a line still being written waits
        for the next call); [] until the supervisor has connected."""
        if self._peer is None and not self._accept():
            return []
        assert self._peer is not None
        data = b""
        while True:
            try:
                chunk = self._peer.recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                chunk = b""
            if not chunk:
                break
            data += chunk
        *complete, self._partial = (self._partial + data).split(b"\n")
        return [event for line in complete if (event := self._parse(line)) is not None]

    def close(self) -> None:
        """Stop listening and reading; nothing of the channel is left."""
        self._stop_listening()
        if self._peer is not None:
            self._peer.close()
            self._peer = None

    def _accept(self) -> bool:
        """Take the supervisor's connection if it has come (True); refuse any other."""
        while self._listener is not None:
            try:
                peer, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return False
            pid = peer_pid(peer)  # None: the system cannot tell; the first is ours then
            if pid is None or parent_pid(pid) == os.getpid():
                peer.setblocking(False)
                self._peer = peer
                self._stop_listening()
                return True
            log.warning("build %s: a connection to its event channel from process %s (not "
                        "its supervisor) was refused", self.build_id, pid)
            peer.close()
        return False

    def _stop_listening(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
            remove_tree(self._folder, self._folder.parent, ignore_errors=True)

    def _parse(self, line: bytes) -> dict[str, Any] | None:
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            log.warning("build %s: unreadable event %r", self.build_id, line[:80])
            return None
        return event


def peer_pid(peer: socket.socket) -> int | None:
    """The pid of the process that connected (SO_PEERCRED; None where it is missing)."""
    option = getattr(socket, "SO_PEERCRED", None)
    if option is None:
        return None
    pid, _, _ = _PEERCRED.unpack(peer.getsockopt(socket.SOL_SOCKET, option, _PEERCRED.size))
    return pid or None


def parent_pid(pid: int) -> int | None:
    """The parent of a running process (None once it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])
