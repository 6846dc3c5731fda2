"""service.channel: a build's events come from the service's own child only, and the
channel leaves nothing behind to reopen."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from service.channel import EventChannel

SEND = ("import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
        "s.sendall(sys.argv[2].encode()); print('sent', flush=True); sys.stdin.read()")
# (stays until its stdin closes; says "sent" once its connection is queued and its text sent)
PASS_ON = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def sender(address: str, text: str, *, grandchild: bool = False) -> subprocess.Popen[bytes]:
    """A process connecting to the channel and sending text: a child of this process (as
    the supervisor is the service's), or a grandchild (as a build's step would be)."""
    argv = [sys.executable, "-c", SEND, address, text]
    if grandchild:
        argv = [sys.executable, "-c", PASS_ON, *argv]
    return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def events_until(channel: EventChannel, count: int) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + 20
    while len(got) < count and time.monotonic() < deadline:
        got += channel.lines()
        time.sleep(0.05)
    return got


def test_only_a_child_of_the_service_is_heard_and_the_socket_then_goes() -> None:
    channel = EventChannel(1)
    forger = sender(channel.address, '{"event": "task.finished", "task": "forged"}\n',
                    grandchild=True)
    child = None
    try:
        assert forger.stdout is not None
        assert forger.stdout.readline() == b"sent\n"  # the forger's connection is queued first
        child = sender(channel.address, '{"event": "run.started"}\n{"event": "task.st')
        assert events_until(channel, 1) == [{"event": "run.started"}]
        assert not Path(channel.address).exists()
        assert channel.lines() == []  # the half-sent line waits for its end
    finally:
        for process in (forger, child):
            if process is not None:
                process.communicate(b"", timeout=20)
        channel.close()
    assert not Path(channel.address).parent.exists()
