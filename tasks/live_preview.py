"""`doit watch serve=true`'s preview: the published tree over HTTP on loopback, live.

The standard library's threaded HTTP server, in a thread of the watch. Files are read from
the published folder at each request: it is swapped in whole (federation/publish.py), so
a page is never read from a half-published tree. Into each HTML page served (never into
the files on disk) goes a small script listening to `/__fedbuild/events` (server-sent
events): after each build, the modules republished or whose failure changed are sent, and
a page of one of them reloads itself. A page of a module whose last build failed is its
last good version, with an overlay naming the module and the first lines of its error; a
failure that is no module's (the plan, federate) is shown on every page.
"""

from __future__ import annotations

import errno
import html
import json
import mimetypes
import posixpath
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from federation.compose import RECORDS_DIR
from federation.records import MANIFEST

HOST = "127.0.0.1"
DEFAULT_PORT = 1313
PORTS_TRIED = 50  # from the asked port up, the first free one is used
EVENTS = "/__fedbuild/events"
STATUS = "/__fedbuild/status"
KEEPALIVE = 15.0  # seconds between two comments on an idle event stream
SCRIPT = """<script data-fedbuild-live>(function(){
var own=%s,es=new EventSource("%s");
es.addEventListener("reload",function(e){var d=JSON.parse(e.data);
if(own===null||d.modules.indexOf(own)>=0||d.modules.indexOf("*")>=0)location.reload();});
})();</script>"""
OVERLAY = ('<div id="fedbuild-overlay" style="position:fixed;left:0;right:0;bottom:0;'
           'z-index:2147483647;max-height:50%%;overflow:auto;margin:0;padding:12px 16px;'
           'background:#fff4f4;color:#600;border-top:3px solid #c00;'
           'font:14px/1.4 monospace">%s</div>')


class Published:
    """What the preview shows: the published folder, its modules and the last failures."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Condition()
        self.serial = 0  # of the last change sent
        self.modules: dict[str, str] = {}  # name -> destination ("/beta/")
        self.state: dict[str, Any] = {}  # name -> what identifies its published version
        self.failures: dict[str, list[str]] = {}
        self.changed: list[str] = []
        self.closed = False
        self._read()

    def update(self, failures: dict[str, list[str]]) -> list[str]:
        """After a build: read the published tree's manifest again, note the failures, and
        tell the listening pages which modules changed; those modules."""
        with self.lock:
            before, failed_before = dict(self.state), dict(self.failures)
            self._read()
            self.failures = dict(failures)
            names = set(self.state) | set(before) | set(self.failures) | set(failed_before)
            changed = sorted(name for name in names
                             if before.get(name) != self.state.get(name)
                             or failed_before.get(name) != self.failures.get(name))
            if any(name not in self.modules for name in changed):
                changed.append("*")  # not a module's: every page
            if changed:
                self.serial += 1
                self.changed = changed
                self.lock.notify_all()
            return changed

    def close(self) -> None:
        """End every event stream."""
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def owner(self, path: str) -> str | None:
        """The module whose destination holds the URL path (the longest one)."""
        found, length = None, -1
        for name, destination in self.modules.items():
            if path.startswith(destination) and len(destination) > length:
                found, length = name, len(destination)
        return found

    def overlay(self, module: str | None) -> str:
        """The overlay of a page of `module`: its failure, and those no module owns."""
        shown = [(name, lines) for name, lines in self.failures.items()
                 if name == module or name not in self.modules]
        if not shown:
            return ""
        parts = [f"<strong>fedbuild: the build of {html.escape(name)} failed</strong>; "
                 "this is its last good version.<pre style=\"white-space:pre-wrap;margin:"
                 f"6px 0 0\">{html.escape(chr(10).join(lines))}</pre>" for name, lines in shown]
        return OVERLAY % "".join(parts)

    def _read(self) -> None:
        try:
            manifest = json.loads((self.folder / RECORDS_DIR / MANIFEST).read_text())
            entries = manifest["modules"]
        except (OSError, ValueError, KeyError, TypeError):
            entries = []
        self.modules = {e["name"]: e["destination"] for e in entries}
        self.state = {e["name"]: (e.get("published_at"), e.get("status"), e.get("files"),
                                  e.get("bytes")) for e in entries}


class PreviewServer(ThreadingHTTPServer):
    """The preview's HTTP server; serve() runs it in a thread."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, published: Published, port: int) -> None:
        self.published = published
        super().__init__((HOST, port), _Handler)

    @property
    def url(self) -> str:
        """The address to open."""
        return f"http://{HOST}:{self.server_address[1]}/"

    def serve(self) -> threading.Thread:
        """Serve in a daemon thread."""
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 1.0},
                                  daemon=True, name="preview")
        thread.start()
        return thread

    def stop(self) -> None:
        """Stop serving, end the event streams, close the socket."""
        self.published.close()
        self.shutdown()
        self.server_close()


def open_server(published: Published, port: int) -> PreviewServer:
    """A server on `port` or, taken, the next free one (OSError when none of PORTS_TRIED)."""
    for candidate in range(port, port + PORTS_TRIED):
        try:
            return PreviewServer(published, candidate)
        except OSError as err:
            if err.errno != errno.EADDRINUSE:
                raise
    raise OSError(errno.EADDRINUSE, f"ports {port} to {port + PORTS_TRIED - 1} are all taken")


class _Handler(BaseHTTPRequestHandler):
    server: PreviewServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the watch's terminal shows the builds."""

    def do_GET(self) -> None:
        """A file of the published tree, the event stream, or the status."""
        path = unquote(urlsplit(self.path).path)
        if path == EVENTS:
            self._events()
        elif path == STATUS:
            published = self.server.published
            with published.lock:
                body = {"serial": published.serial, "failures": published.failures,
                        "modules": published.modules}
            self._send(200, "application/json", json.dumps(body).encode())
        else:
            self._file(path)

    def _file(self, path: str) -> None:
        published = self.server.published
        clean = posixpath.normpath(path)
        if ".." in clean.split("/"):
            self._send(404, "text/plain", b"not found\n")
            return
        target = published.folder / clean.lstrip("/")
        if target.is_dir():
            if not path.endswith("/"):
                self._redirect(path + "/")
                return
            target = target / "index.html"
        try:
            data = target.read_bytes()
        except OSError:
            self._missing(path)
            return
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if kind == "text/html":
            data = self._live(data, published.owner(path))
        self._send(200, kind, data)

    def _missing(self, path: str) -> None:
        """404; a page of a failed module never published says why, and reloads."""
        published = self.server.published
        owner = published.owner(path)
        extra = published.overlay(owner)
        if not extra:
            self._send(404, "text/plain", b"not found\n")
            return
        page = b"<!DOCTYPE html><html><head><title>build failed</title></head><body></body></html>"
        self._send(404, "text/html", self._live(page, owner))

    def _live(self, page: bytes, owner: str | None) -> bytes:
        """The page with the live-reload script and, when its module failed, the overlay."""
        with self.server.published.lock:
            added = self.server.published.overlay(owner)
        added += SCRIPT % (json.dumps(owner), EVENTS)
        lower = page.lower()
        at = lower.rfind(b"</body>")
        at = len(page) if at < 0 else at
        return page[:at] + added.encode() + page[at:]

    def _events(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        published = self.server.published
        with published.lock:
            seen = published.serial  # before the page can see anything: no change is missed
        try:
            self.wfile.write(b"retry: 1000\n\n")
            self.wfile.flush()
            for event in _changes(published, seen):
                self.wfile.write(event)
                self.wfile.flush()
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            pass  # the page went away

    def _redirect(self, location: str) -> None:
        self.send_response(301)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, kind: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind + ("; charset=utf-8" if kind.startswith(
            "text/") or kind == "application/json" else ""))
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)


def _changes(published: Published, seen: int) -> Iterator[bytes]:
    """The event stream's messages: each change after `seen`, and a comment now and then
    on an idle one (a closed connection is noticed when it is written to)."""
    while True:
        with published.lock:
            if published.serial == seen and not published.closed:
                published.lock.wait(timeout=KEEPALIVE)
            if published.closed:
                return
            if published.serial == seen:
                message = b": idle\n\n"
            else:
                seen = published.serial
                data = json.dumps({"serial": seen, "modules": published.changed})
                message = f"id: {seen}\nevent: reload\ndata: {data}\n\n".encode()
        yield message
