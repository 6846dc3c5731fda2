"""Remote cache stores on existing servers, in Bazel's remote-cache layout: an HTTP server
(`GET/PUT/HEAD <url>/ac/<key>` and `<url>/cas/<sha256>`: nginx's WebDAV module, bazel-remote)
and Redis (keys `<prefix>ac/<key>`, `<prefix>cas/<sha256>`).

Every failure (refused, too slow, an error status, a short or corrupt answer, a refused
upload) raises CacheError with a one-line reason; every downloaded blob is checked against
its SHA-256 before it is renamed into place. Read-only stores never contact the server to
write. The redis client is imported only when a Redis store is used."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import SplitResult, parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from core.confine import remove_tree
from tasks.cache.backend import Backend, BadEntry, CacheError

CHUNK = 1 << 20  # bytes per read or write of a blob: memory stays flat for large blobs
TEMPORARY_TTL = 3600  # seconds a half-uploaded Redis blob is kept
WRITES = {"set", "append", "rename", "expire", "persist"}  # redis commands that need write access
ANSWERS = {"GET": (200, 404), "HEAD": (200, 404), "PUT": (200, 201, 204)}  # expected statuses
T = TypeVar("T")


def remote_backend(url: str, token: str | None = None, read_only: bool = False,
                   connect_timeout: float = 2.0, timeout: float = 10.0) -> Backend:
    """The store at `url`: http(s):// (Bazel's HTTP cache layout) or redis(s)://."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("http", "https"):
        return HttpBackend(url, token, read_only, connect_timeout, timeout)
    if scheme in ("redis", "rediss"):
        return RedisBackend(url, token, read_only, connect_timeout, timeout)
    raise ValueError(f"cache URL {redact(url)!r}: expected http://, https://, redis:// or "
                     "rediss://")


def redact(url: str) -> str:
    """`url` without the user and password it may carry, for messages."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def split_url(url: str, schemes: tuple[str, ...], expected: str) -> SplitResult:
    """`url`'s parts, checked: one of `schemes`, a host, a numeric port if any."""
    parts = urlsplit(url)
    try:
        valid = parts.scheme in schemes and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number
        valid = False
    if not valid:
        raise ValueError(f"cache URL {redact(url)!r}: expected {expected}")
    return parts


def short(digest: str) -> str:
    """A key or digest abbreviated for a message."""
    return digest[:12]


@contextmanager
def verified_download(digest: str, dest: Path, where: str) -> Iterator[Callable[[bytes], None]]:
    """Write a blob's chunks (through the yielded function) to a temporary file beside `dest`
    while hashing them; on leaving, rename it to `dest` only if the SHA-256 is `digest`, else
    raise CacheError. Any failure leaves neither `dest` nor the temporary file."""
    sha = hashlib.sha256()
    part = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.part")
    out = _on_disk(dest, _create, part)
    try:
        def write(chunk: bytes) -> None:
            sha.update(chunk)
            _on_disk(dest, out.write, chunk)
        yield write
        _on_disk(dest, out.close)
        if sha.hexdigest() != digest.lower():
            raise BadEntry(f"{where}: blob {digest} is corrupt on the server "
                             f"(its content hashes to {short(sha.hexdigest())})")
        _on_disk(dest, os.replace, part, dest)
    finally:
        out.close()
        with suppress(OSError):
            remove_tree(part, part.parent)


def _create(part: Path) -> IO[bytes]:
    part.parent.mkdir(parents=True, exist_ok=True)
    return part.open("wb")


def _on_disk(dest: Path, action: Callable[..., T], *args: Any) -> T:
    """`action(*args)`, with errors of this machine's disk (full, not writable) turned into
    CacheError like the server's: a download that cannot be kept is a miss too."""
    try:
        return action(*args)
    except OSError as e:
        raise CacheError(f"cannot write {dest}: {e.strerror or e}") from e


class HttpBackend:
    """A cache on an HTTP server in Bazel's layout, over one persistent connection per thread
    (http.client, reconnecting after a failure)."""

    checks_blobs = True  # get_blob hashes what it downloads (verified_download)

    def __init__(self, url: str, token: str | None = None, read_only: bool = False,
                 connect_timeout: float = 2.0, timeout: float = 10.0) -> None:
        parts = split_url(url, ("http", "https"), "http(s)://[USER:PASSWORD@]HOST[:PORT][/PATH]")
        self.name = redact(url)
        self.read_only = read_only
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._base = parts.path.rstrip("/")
        self._headers = {"User-Agent": "fedbuild"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif parts.username is not None:
            # urlsplit leaves the user and password percent-encoded as typed.
            user_pass = f"{unquote(parts.username)}:{unquote(parts.password or '')}"
            basic = base64.b64encode(user_pass.encode()).decode()
            self._headers["Authorization"] = f"Basic {basic}"
        self._local = threading.local()

    def __getstate__(self) -> dict[str, Any]:
        # Connections stay with the process and thread that opened them.
        return {k: v for k, v in self.__dict__.items() if k != "_local"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def get_action(self, key: str) -> bytes | None:
        """The action record stored under `key` (None: a miss). Raises CacheError."""
        return self._call("GET", f"ac/{key}", None, self._read_record)

    def put_action(self, key: str, data: bytes) -> None:
        """Store an action record (a no-op when read-only). Raises CacheError."""
        if not self.read_only:
            self._call("PUT", f"ac/{key}", data, self._check_stored)

    def has_blob(self, digest: str) -> bool:
        """Whether the blob with this SHA-256 is stored. Raises CacheError."""
        return self._call("HEAD", f"cas/{digest}", None, lambda r, what: r.status == 200)

    def get_blob(self, digest: str, dest: Path) -> bool:
        """Download the blob to `dest` (False: not stored), checked against `digest`."""
        def save(response: http.client.HTTPResponse, what: str) -> bool:
            if response.status == 404:
                return False
            with verified_download(digest, dest, self.name) as write:
                self._stream(response, write, what)
            return True
        return self._call("GET", f"cas/{digest}", None, save)

    def put_blob(self, digest: str, path: Path) -> None:
        """Upload the file at `path` as the blob `digest` (a no-op when read-only)."""
        if not self.read_only:
            self._call("PUT", f"cas/{digest}", path, self._check_stored)

    def _call(self, method: str, name: str, body: bytes | Path | None,
              handle: Callable[[http.client.HTTPResponse, str], T]) -> T:
        """Send one request and give its response to `handle`; any failure → CacheError."""
        kind, _, key = name.partition("/")
        what = f"{method} {kind}/{short(key)}"
        try:
            response = self._send(method, f"{self._base}/{quote(name)}", body)
            if response.status not in ANSWERS[method]:
                self._refuse(method, response, what)
            result = handle(response, what)
            response.read()  # the rest, so the connection can carry the next request
            return result
        except CacheError:
            self._drop()
            raise
        except TimeoutError as e:
            self._drop()
            raise CacheError(f"{self.name}: {what}: no answer within {self.timeout:g} s") from e
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            raise CacheError(f"{self.name}: {what}: {_reason(e)}") from e

    def _send(self, method: str, path: str, body: bytes | Path | None
              ) -> http.client.HTTPResponse:
        """Send a request and return the response's head. A kept-alive connection the server
        has meanwhile closed is reopened once; nothing is retried after a response began."""
        for attempt in (1, 2):
            conn, reused = self._connection()
            try:
                if isinstance(body, Path):
                    with body.open("rb") as stream:
                        self._request(conn, method, path, stream, os.fstat(stream.fileno()).st_size)
                else:
                    self._request(conn, method, path, body, len(body or b""))
                return conn.getresponse()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self._drop()
                if not reused or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _request(self, conn: http.client.HTTPConnection, method: str, path: str,
                 body: bytes | IO[bytes] | None, size: int) -> None:
        headers = dict(self._headers)
        if method == "PUT":
            headers["Content-Length"] = str(size)
            headers["Content-Type"] = "application/octet-stream"
        conn.request(method, path, body=body, headers=headers)

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """This thread's connection, connected (and whether it served a request before)."""
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) != os.getpid():
            conn = None  # inherited through fork: the parent's socket, not ours to use
        if conn is not None and conn.sock is not None:
            return conn, True
        cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
        conn = cls(self._host, self._port, timeout=self.connect_timeout, blocksize=CHUNK)
        try:
            conn.connect()
        except TimeoutError as e:
            raise CacheError(f"{self.name}: no connection within "
                             f"{self.connect_timeout:g} s") from e
        except OSError as e:
            raise CacheError(f"{self.name}: cannot connect: {_reason(e)}") from e
        assert conn.sock is not None
        conn.sock.settimeout(self.timeout)  # from now on, the limit of each read and write
        self._local.conn, self._local.pid = conn, os.getpid()
        return conn, False

    def _drop(self) -> None:
        """Close this thread's connection after a failure: the next request opens a new one."""
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()

    def _refuse(self, method: str, response: http.client.HTTPResponse, what: str) -> None:
        """Raise the CacheError for an unexpected status (_call then drops the connection)."""
        status = f"{response.status} {response.reason}".strip()
        if method == "PUT" and response.status in (401, 403):
            raise CacheError(f"{self.name} refused the upload ({status}): "
                             "is the token read-only?")
        raise CacheError(f"{self.name}: {what}: {status}")

    def _read_record(self, response: http.client.HTTPResponse, what: str) -> bytes | None:
        if response.status == 404:
            return None
        chunks: list[bytes] = []
        self._stream(response, chunks.append, what)
        return b"".join(chunks)

    def _check_stored(self, response: http.client.HTTPResponse, what: str) -> None:
        """A PUT's answer: 200, 201 or 204 (_call refused the others)."""

    def _stream(self, response: http.client.HTTPResponse, write: Callable[[bytes], None],
                what: str) -> None:
        """Pass a response body to `write` in chunks; a body shorter than its Content-Length
        raises CacheError."""
        expected, received = response.length, 0
        while chunk := response.read(CHUNK):
            write(chunk)
            received += len(chunk)
        if expected is not None and received < expected:
            raise CacheError(f"{self.name}: {what}: short read ({received} of "
                             f"{expected} bytes)")


def _reason(error: BaseException) -> str:
    """A one-line reason for a network error: "connection refused", "Name or service..."."""
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, socket.gaierror):
        return f"unknown host ({error.strerror})"
    if isinstance(error, http.client.IncompleteRead):
        return f"short read ({len(error.partial)} bytes, {error.expected} more expected)"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror[0].lower() + error.strerror[1:]
    text = str(error).splitlines()[0] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class RedisBackend:
    """A cache in Redis: values under `<prefix>ac/<key>` and `<prefix>cas/<sha256>`, blobs
    read and written in chunks (a large blob is appended to a temporary key, then renamed)."""

    checks_blobs = True  # get_blob hashes what it reads (verified_download)

    def __init__(self, url: str, token: str | None = None, read_only: bool = False,
                 connect_timeout: float = 2.0, timeout: float = 10.0, *,
                 prefix: str | None = None, ttl: int | None = None) -> None:
        expected = "redis(s)://[[USER]:PASSWORD@]HOST[:PORT][/DB][?prefix=P&ttl=SECONDS]"
        parts = split_url(url, ("redis", "rediss"), expected)
        if not re.fullmatch(r"/?\d*", parts.path):
            raise ValueError(f"cache URL {redact(url)!r}: expected {expected}")
        # prefix and ttl are fedbuild's; other query options (ssl_cert_reqs=...) go to redis-py.
        query = dict(parse_qsl(parts.query))
        url_prefix, url_ttl = query.pop("prefix", ""), query.pop("ttl", None)
        self.prefix = prefix if prefix is not None else url_prefix
        self.ttl = _seconds(str(ttl) if ttl is not None else url_ttl, url)
        self._url = urlunsplit(parts._replace(query=urlencode(query)))
        self.name = redact(urlunsplit(parts._replace(query="")))
        if self.prefix:
            self.name += f" (prefix {self.prefix})"
        self.read_only = read_only
        self.connect_timeout = connect_timeout
        self.timeout = timeout
        self._token = token
        self._client: Any = None
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("_client", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _client=None, _lock=threading.Lock())

    def get_action(self, key: str) -> bytes | None:
        """The action record stored under `key` (None: a miss). Raises CacheError."""
        value = self._run(f"GET ac/{short(key)}", "get", self._key("ac", key))
        return None if value is None else bytes(value)

    def put_action(self, key: str, data: bytes) -> None:
        """Store an action record (a no-op when read-only). Raises CacheError."""
        if not self.read_only:
            self._run(f"SET ac/{short(key)}", "set", self._key("ac", key), data, ex=self.ttl)

    def has_blob(self, digest: str) -> bool:
        """Whether the blob with this SHA-256 is stored. Raises CacheError."""
        return bool(self._run(f"EXISTS cas/{short(digest)}", "exists", self._key("cas", digest)))

    def get_blob(self, digest: str, dest: Path) -> bool:
        """Download the blob to `dest` (False: not stored), checked against `digest`.
        Chunks need no transaction: every value ever stored under the key is the same (it is
        its digest), and one that expired half-way fails the digest check."""
        key, what = self._key("cas", digest), f"GET cas/{short(digest)}"
        chunk = bytes(self._run(what, "getrange", key, 0, CHUNK - 1))
        if not chunk and not self._run(what, "exists", key):
            return False  # GETRANGE answers b"" for a missing key and for the empty blob
        with verified_download(digest, dest, self.name) as write:
            offset = 0
            while True:
                write(chunk)
                offset += len(chunk)
                if len(chunk) < CHUNK:
                    return True
                chunk = bytes(self._run(what, "getrange", key, offset, offset + CHUNK - 1))

    def put_blob(self, digest: str, path: Path) -> None:
        """Upload the file at `path` as the blob `digest` (a no-op when read-only); a large
        one goes to a temporary key first, so readers never see half a blob."""
        if self.read_only:
            return
        key, what = self._key("cas", digest), f"SET cas/{short(digest)}"
        try:
            with path.open("rb") as source:
                chunk = source.read(CHUNK)
                if len(chunk) < CHUNK:  # most blobs: one round trip
                    self._run(what, "set", key, chunk, ex=self.ttl)
                    return
                # The temporary key expires by itself if this upload dies half-way.
                temporary = self._key("tmp", f"{digest}.{secrets.token_hex(4)}")
                self._run(what, "set", temporary, chunk, ex=TEMPORARY_TTL)
                while chunk := source.read(CHUNK):
                    self._run(what, "append", temporary, chunk)
        except OSError as e:
            raise CacheError(f"{self.name}: cannot read {path}: {e.strerror or e}") from e
        self._run(what, "rename", temporary, key)
        self._run(what, "expire" if self.ttl else "persist", key,
                  *([self.ttl] if self.ttl else []))

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}{kind}/{name}"

    def _run(self, what: str, command: str, *args: Any, **kwargs: Any) -> Any:
        """One redis command (a method of redis.Redis); any redis error → CacheError."""
        import redis

        try:
            return getattr(self._redis(), command)(*args, **kwargs)
        except redis.exceptions.NoPermissionError as e:
            if command in WRITES:
                raise CacheError(f"{self.name} refused the upload (NOPERM): "
                                 "is the token read-only?") from e
            raise CacheError(f"{self.name}: {what}: {_first_line(e)}") from e
        except redis.exceptions.TimeoutError as e:
            if "connect" in str(e).lower():
                raise CacheError(f"{self.name}: no connection within "
                                 f"{self.connect_timeout:g} s") from e
            raise CacheError(f"{self.name}: {what}: no answer within "
                             f"{self.timeout:g} s") from e
        except redis.exceptions.RedisError as e:
            raise CacheError(f"{self.name}: {what}: {_first_line(e)}") from e

    def _redis(self) -> Any:
        """The redis client, made on first use (its pool reconnects and is fork-safe)."""
        with self._lock:
            if self._client is None:
                import redis
                from redis.backoff import NoBackoff
                from redis.retry import Retry

                password = {"password": self._token} if self._token else {}
                # No retries (redis.Redis() itself retries up to 10 times in redis-py 6+): a
                # failure costs one timeout at most, then the caller counts a miss.
                self._client = redis.Redis.from_url(
                    self._url, socket_connect_timeout=self.connect_timeout,
                    socket_timeout=self.timeout, retry=Retry(NoBackoff(), 0),
                    retry_on_timeout=False, **password)
            return self._client


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _seconds(value: str | None, url: str) -> int | None:
    """The `ttl` query parameter: a positive number of seconds."""
    if value is None:
        return None
    if not value.isdigit() or int(value) == 0:
        raise ValueError(f"cache URL {redact(url)!r}: ttl={value!r} must be a positive "
                         "number of seconds")
    return int(value)
