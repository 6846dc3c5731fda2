"""Real cache servers for tests, on 127.0.0.1 and stopped by PID: nginx with WebDAV PUT (the
Bazel HTTP cache layout), redis-server, and a listener that accepts and never answers.

    with nginx_cache(tmp_path) as server:          # server.url, server.root, server.process
        ...                                        # server.stop() mid-test: the port refuses
    with redis_cache(tmp_path) as server:          # server.url = "redis://127.0.0.1:P/0"
        ...
    with silent_server() as silent:                # silent.url("http"): times out

Each server runs in its own process group and writes its config, logs and temporary files
under a fresh folder inside `tmp_path`; leaving the `with` block stops it (SIGTERM, then
SIGKILL to the group after a few seconds)."""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

# Debian's paths; /usr/sbin is often missing from a non-root PATH.
_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/usr/bin"
NGINX = shutil.which("nginx", path=_PATH) or "/usr/sbin/nginx"
REDIS_SERVER = shutil.which("redis-server", path=_PATH) or "/usr/bin/redis-server"
HOST = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

# Characters that need no quoting inside an nginx string or an HTTP header.
SAFE_SECRET = re.compile(r"[A-Za-z0-9._~+/=:-]+")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's choice)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a server started by this module (the leader of its own process group): `sig` to
    the group, SIGKILL to the group if it still runs after STOP_TIMEOUT seconds. Safe to call
    again."""
    if process.returncode is not None:
        return  # stopped and reaped before: its group id may belong to someone else now
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=STOP_TIMEOUT)
    except ProcessLookupError:  # the whole group is gone already
        process.wait(timeout=STOP_TIMEOUT)
    with suppress(ProcessLookupError):
        # A leader killed outright (SIGKILL) leaves nginx's workers listening: end them too.
        os.killpg(process.pid, signal.SIGKILL)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once `port` accepts connections; raise with the log's tail if the server exits
    or does not listen within START_TIMEOUT seconds."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}: {_tail(log)}")
        try:
            socket.create_connection((HOST, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.02)
    stop_process(process, signal.SIGKILL)
    raise RuntimeError(f"server did not listen on {HOST}:{port} within {START_TIMEOUT} s: "
                       f"{_tail(log)}")


def _tail(log: Path) -> str:
    """The last lines of a server's log, for an error message."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    return " | ".join(lines[-5:]) or "(empty log)"


@dataclass(frozen=True)
class Nginx:
    """A running nginx serving `root` at `url` (ending with "/"); unpacks as (url, root,
    process). `folder` holds its config, logs and temporary files."""

    url: str
    root: Path
    process: subprocess.Popen[bytes]
    folder: Path

    def __iter__(self) -> Iterator[Any]:
        return iter((self.url, self.root, self.process))

    @property
    def port(self) -> int:
        """The loopback port it listens on."""
        return int(self.url.rstrip("/").rsplit(":", 1)[1])

    @property
    def access_log(self) -> Path:
        """nginx's access log: one line per request, `"METHOD /path HTTP/1.1" STATUS ...`."""
        return self.folder / "access.log"

    @property
    def error_log(self) -> Path:
        """nginx's error log."""
        return self.folder / "error.log"

    def requests(self, at_least: int = 0) -> list[str]:
        """The requests logged so far as "METHOD /path STATUS" ("PUT /ac/1f2e 201"), oldest
        first. nginx logs a request just after answering it, so a test that has just had its
        answer passes `at_least` (how many it sent) to wait up to START_TIMEOUT for the lines."""
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            text = self.access_log.read_text() if self.access_log.exists() else ""
            lines = [" ".join(m)
                     for m in re.findall(r'"([A-Z]+) (\S+) HTTP/[\d.]+" (\d+)', text)]
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.01)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it now (the port then refuses connections); SIGKILL kills it outright."""
        stop_process(self.process, sig)


def nginx_config(port: int, root: Path, folder: Path, write_token: str | None,
                 write_basic: str | None) -> str:
    """An nginx.conf for a WebDAV cache at 127.0.0.1:`port` serving `root`, with every path it
    writes under `folder`. With write_token and/or write_basic ("user:password"), PUT and
    DELETE are refused (403) unless they carry `Authorization: Bearer <write_token>` or the
    matching Basic credentials; GET and HEAD stay open to everyone."""
    write_headers = []
    if write_token is not None:
        write_headers.append(f"Bearer {_checked_secret(write_token)}")
    if write_basic is not None:
        encoded = base64.b64encode(_checked_secret(write_basic).encode()).decode()
        write_headers.append(f"Basic {encoded}")
    guard = ""
    if write_headers:
        # map: case-insensitive strings would accept "bearer S3CRET", so case-sensitive
        # regexes, tried in order: a write with an accepted header maps to 0, every other
        # write to 1, reads to the default 0.
        allowed = "".join(f'        "~^(PUT|DELETE) {_literal(h)}$" 0;\n' for h in write_headers)
        guard = ('    map "$request_method $http_authorization" $fedbuild_write_refused {\n'
                 "        default 0;\n"
                 f"{allowed}"
                 '        "~^(PUT|DELETE) " 1;\n'
                 "    }\n")
    refuse = "            if ($fedbuild_write_refused) { return 403; }\n" if write_headers else ""
    # As root, nginx's workers would otherwise drop to `nobody` and could not write `root`.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "".join(f"    {kind}_temp_path {folder / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return (f"{user}daemon off;\nworker_processes 1;\npid {folder / 'nginx.pid'};\n"
            f"error_log {folder / 'error.log'} info;\n"
            "events { worker_connections 128; }\n"
            "http {\n"
            f"    access_log {folder / 'access.log'};\n{temp}"
            "    client_max_body_size 0;\n"
            "    default_type application/octet-stream;\n"
            f"{guard}"
            "    server {\n"
            f"        listen {HOST}:{port};\n"
            "        location / {\n"
            f"            root {root};\n"
            f"{refuse}"
            "            dav_methods PUT DELETE;\n"
            "            create_full_put_path on;\n"
            "            dav_access user:rw group:r all:r;\n"
            "        }\n"
            "    }\n"
            "}\n")


def _literal(text: str) -> str:
    """`text` (SAFE_SECRET characters) as a PCRE matching exactly it."""
    return re.sub(r"([.+])", r"[\1]", text)


def _checked_secret(secret: str) -> str:
    """`secret`, refused if it could break out of the nginx config or an HTTP header."""
    if not SAFE_SECRET.fullmatch(secret):
        raise ValueError(f"credential {secret!r}: use letters, digits and ._~+/=:- only")
    return secret


@contextmanager
def nginx_cache(tmp_path: Path, write_token: str | None = None, *,
                write_basic: str | None = None, port: int | None = None,
                root: Path | None = None) -> Iterator[Nginx]:
    """Run nginx as a Bazel-layout HTTP cache (`GET/PUT/HEAD /ac/<key>`, `/cas/<sha256>`) on
    127.0.0.1 until the block ends. `root` (default: a fresh folder) holds what clients PUT;
    `port` (default: a free one) lets a test restart a server where a client expects it.
    write_token / write_basic ("user:password"): see nginx_config."""
    folder = Path(tempfile.mkdtemp(prefix="nginx-", dir=tmp_path))
    root = root if root is not None else folder / "root"
    root.mkdir(parents=True, exist_ok=True)
    for attempt in range(3):
        chosen = port if port is not None else free_port()
        config = folder / "nginx.conf"
        config.write_text(nginx_config(chosen, root, folder, write_token, write_basic))
        # -e: the log used before the config is read (Debian's default is stderr; keep it).
        with (folder / "stderr.log").open("ab") as stderr:
            process = subprocess.Popen(
                [NGINX, "-p", str(folder), "-c", str(config), "-e", str(folder / "error.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                start_new_session=True)
        try:
            _wait_for_port(chosen, process, folder / "error.log")
            break
        except RuntimeError:
            # Another process may have taken the free port in between: try a new one.
            if port is not None or attempt == 2:
                raise
    server = Nginx(f"http://{HOST}:{chosen}/", root, process, folder)
    try:
        yield server
    finally:
        server.stop()


class Redis(NamedTuple):
    """A running redis-server at `url` ("redis://127.0.0.1:P/0")."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it now (the port then refuses connections); SIGKILL kills it outright."""
        stop_process(self.process, sig)


@contextmanager
def redis_cache(tmp_path: Path, password: str | None = None, *,
                port: int | None = None) -> Iterator[Redis]:
    """Run redis-server on 127.0.0.1 with no persistence until the block ends. With
    `password`, clients must AUTH (the URL then carries it: redis://:password@...)."""
    folder = Path(tempfile.mkdtemp(prefix="redis-", dir=tmp_path))
    log = folder / "redis.log"
    for attempt in range(3):
        chosen = port if port is not None else free_port()
        argv = [REDIS_SERVER, "--port", str(chosen), "--bind", HOST, "--save", "",
                "--appendonly", "no", "--dir", str(folder), "--logfile", str(log),
                "--daemonize", "no"]
        if password is not None:
            argv += ["--requirepass", _checked_secret(password)]
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_for_port(chosen, process, log)
            break
        except RuntimeError:
            if port is not None or attempt == 2:
                raise
    auth = f":{password}@" if password is not None else ""
    server = Redis(f"redis://{auth}{HOST}:{chosen}/0", chosen, process, log)
    try:
        yield server
    finally:
        server.stop()


class Silent(NamedTuple):
    """A loopback listener that never answers."""

    port: int
    held: list[socket.socket]  # the connections it accepted (one per connection attempt)

    def url(self, scheme: str = "http") -> str:
        """Its address as a cache URL: "http://127.0.0.1:P/", "redis://127.0.0.1:P/0"."""
        return f"{scheme}://{HOST}:{self.port}/" + ("0" if scheme.startswith("redis") else "")


@contextmanager
def silent_server(accept: bool = True) -> Iterator[Silent]:
    """A TCP listener on 127.0.0.1 that never answers, until the block ends. accept=True: it
    accepts connections and holds them open without reading, so a client's reads wait for its
    (read) timeout. accept=False: its queue is full and never drained, so connecting itself
    waits for the client's connect timeout."""
    listener = socket.socket()
    listener.bind((HOST, 0))
    address = listener.getsockname()
    held: list[socket.socket] = []
    done = threading.Event()
    thread = None
    if accept:
        listener.listen(16)
        listener.settimeout(0.05)
        thread = threading.Thread(target=_hold, args=(listener, held, done), daemon=True)
        thread.start()
    else:
        # Linux queues backlog + 1 connections: one that is never accepted fills it, and
        # later SYNs are dropped, so connect() hangs.
        listener.listen(0)
        held.append(socket.create_connection(address, timeout=STOP_TIMEOUT))
    try:
        yield Silent(int(address[1]), held)
    finally:
        done.set()
        if thread is not None:
            thread.join(timeout=STOP_TIMEOUT)
        for conn in held:
            conn.close()
        listener.close()


def _hold(listener: socket.socket, held: list[socket.socket], done: threading.Event) -> None:
    """Accept connections on `listener` into `held` until `done` is set."""
    while not done.is_set():
        try:
            held.append(listener.accept()[0])
        except OSError:  # the 0.05 s accept timeout: look at `done` again
            continue
