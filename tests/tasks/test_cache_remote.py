"""The remote cache stores against real servers on loopback: nginx's WebDAV module in Bazel's
HTTP cache layout and redis-server. Every failure must be a CacheError, never a wrong file."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tasks.cache.backend import CacheError
from tasks.cache.remote import CHUNK, HttpBackend, RedisBackend, remote_backend
from tests.conftest import eventually
from tests.servers import Nginx, Redis, free_port, nginx_cache, redis_cache, silent_server

KEY = "a1" * 32
RECORD = b'{"outputs": ["dist/app.bin"], "exit": 0}'


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    with nginx_cache(tmp_path) as server:
        yield server


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Redis]:
    with redis_cache(tmp_path) as server:
        yield server


def blob(tmp_path: Path, content: bytes, name: str = "blob") -> tuple[str, Path]:
    """A file holding `content` and its SHA-256."""
    path = tmp_path / name
    path.write_bytes(content)
    return hashlib.sha256(content).hexdigest(), path


def leftovers(folder: Path) -> list[str]:
    """Temporary download files left in `folder`."""
    return [p.name for p in folder.iterdir() if p.name.endswith(".part")]


# --- HTTP: nginx WebDAV -------------------------------------------------------------------


def test_http_action_records_round_trip(nginx: Nginx) -> None:
    backend = HttpBackend(nginx.url)
    assert backend.get_action(KEY) is None
    backend.put_action(KEY, RECORD)
    assert backend.get_action(KEY) == RECORD
    assert (nginx.root / "ac" / KEY).read_bytes() == RECORD  # Bazel's layout on the server
    backend.put_action(KEY, b"replaced")
    assert backend.get_action(KEY) == b"replaced"
    assert nginx.requests(5) == [f"GET /ac/{KEY} 404", f"PUT /ac/{KEY} 201",
                                f"GET /ac/{KEY} 200", f"PUT /ac/{KEY} 204",
                                f"GET /ac/{KEY} 200"]


@pytest.mark.parametrize("size", [0, 1000, 5 * CHUNK + 17])
def test_http_blobs_round_trip(nginx: Nginx, tmp_path: Path, size: int) -> None:
    digest, path = blob(tmp_path, os.urandom(size))
    backend = HttpBackend(nginx.url)
    dest = tmp_path / "out" / "restored"
    assert backend.has_blob(digest) is False
    assert backend.get_blob(digest, dest) is False
    assert not dest.exists()
    backend.put_blob(digest, path)
    assert (nginx.root / "cas" / digest).read_bytes() == path.read_bytes()
    assert backend.has_blob(digest) is True
    assert backend.get_blob(digest, dest) is True
    assert dest.read_bytes() == path.read_bytes()
    assert leftovers(dest.parent) == []


def test_http_url_path_is_the_root_of_the_layout(nginx: Nginx, tmp_path: Path) -> None:
    digest, path = blob(tmp_path, b"under a path")
    backend = HttpBackend(nginx.url + "team/cache/")
    backend.put_blob(digest, path)
    backend.put_action(KEY, RECORD)
    assert (nginx.root / "team" / "cache" / "cas" / digest).read_bytes() == b"under a path"
    assert (nginx.root / "team" / "cache" / "ac" / KEY).read_bytes() == RECORD


def test_http_corrupt_blob_is_an_error_and_leaves_no_file(nginx: Nginx, tmp_path: Path) -> None:
    digest, path = blob(tmp_path, os.urandom(3 * CHUNK))
    backend = HttpBackend(nginx.url)
    backend.put_blob(digest, path)
    (nginx.root / "cas" / digest).write_bytes(b"flipped bits" + path.read_bytes()[12:])
    dest = tmp_path / "restored"
    with pytest.raises(CacheError, match=f"blob {digest} is corrupt on the server"):
        backend.get_blob(digest, dest)
    assert not dest.exists()
    assert leftovers(tmp_path) == []
    # The connection survives a corrupt answer: the next request works.
    assert backend.get_action(KEY) is None


def test_http_error_status_is_an_error(nginx: Nginx, tmp_path: Path) -> None:
    (nginx.root / "cas" / "b2").mkdir(parents=True)  # a folder where a blob would be
    (nginx.root / "ac" / KEY).mkdir(parents=True)
    backend = HttpBackend(nginx.url)
    with pytest.raises(CacheError, match=r"GET cas/b2: 301 Moved Permanently"):
        backend.get_blob("b2", tmp_path / "restored")
    with pytest.raises(CacheError, match=r"PUT ac/a1a1a1a1a1a1: 409 Conflict"):
        backend.put_action(KEY, RECORD)
    assert not (tmp_path / "restored").exists()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_http_stopped_server_fails_fast(tmp_path: Path, sig: int) -> None:
    with nginx_cache(tmp_path) as server:
        url, root, process = server
        backend = HttpBackend(url, connect_timeout=30, timeout=30)
        backend.put_action(KEY, RECORD)  # a kept-alive connection to the server
        assert (root / "ac" / KEY).exists()
        server.stop(sig)
        assert process.returncode is not None
        started = time.monotonic()
        with pytest.raises(CacheError, match="connection refused"):
            backend.get_action(KEY)
        with pytest.raises(CacheError, match="connection refused"):
            backend.has_blob(KEY)
        assert time.monotonic() - started < 15  # refused at once, no 30 s timeout waited


def test_http_reconnects_after_the_server_restarts(tmp_path: Path) -> None:
    with nginx_cache(tmp_path) as first:
        backend = HttpBackend(first.url)
        backend.put_action(KEY, RECORD)
    # Same port and files: the backend's kept-alive connection is dead, the server is not.
    with nginx_cache(tmp_path, port=first.port, root=first.root) as second:
        assert backend.get_action(KEY) == RECORD
        assert second.requests(1) == [f"GET /ac/{KEY} 200"]


def test_http_silent_server_times_out(tmp_path: Path) -> None:
    digest, path = blob(tmp_path, os.urandom(1000))
    with silent_server() as silent:
        backend = HttpBackend(silent.url("http"), timeout=0.5)
        for call in (lambda: backend.get_action(KEY), lambda: backend.put_blob(digest, path),
                     lambda: backend.get_blob(digest, tmp_path / "restored")):
            started = time.monotonic()
            with pytest.raises(CacheError, match=r"no answer within 0\.5 s"):
                call()
            assert 0.4 < time.monotonic() - started < 8  # its 0.5 s, not the default 10 s
    assert not (tmp_path / "restored").exists()


def test_http_connect_timeout() -> None:
    with silent_server(accept=False) as silent:
        backend = HttpBackend(silent.url("http"), connect_timeout=0.3, timeout=30)
        started = time.monotonic()
        with pytest.raises(CacheError, match=r"no connection within 0\.3 s"):
            backend.get_action(KEY)
        assert time.monotonic() - started < 15  # the connect timeout, not the 30 s one


def test_http_read_only_never_writes(nginx: Nginx, tmp_path: Path) -> None:
    digest, path = blob(tmp_path, b"built by CI")
    HttpBackend(nginx.url).put_blob(digest, path)
    reader = HttpBackend(nginx.url, read_only=True)
    reader.put_action(KEY, RECORD)
    reader.put_blob(digest, path)
    reader.put_blob("c3" * 32, path)
    assert reader.get_action(KEY) is None
    assert reader.get_blob(digest, tmp_path / "restored") is True
    assert [r for r in nginx.requests(3) if r.startswith("PUT")] == [f"PUT /cas/{digest} 201"]
    # Nor does it connect to write: a read-only store on a dead port "stores" silently.
    HttpBackend(f"http://127.0.0.1:{free_port()}/", read_only=True).put_action(KEY, RECORD)


def test_http_write_token(tmp_path: Path) -> None:
    digest, path = blob(tmp_path, b"artifact")
    with nginx_cache(tmp_path, write_token="ci-s3cret") as server:
        HttpBackend(server.url, token="ci-s3cret").put_action(KEY, RECORD)
        for token in ("pr-read-only", "CI-S3CRET", None):
            untrusted = HttpBackend(server.url, token=token)
            with pytest.raises(CacheError, match=r"refused the upload \(403 Forbidden\): is the "
                                                 r"token read-only\?"):
                untrusted.put_action(KEY, b"poisoned")
            with pytest.raises(CacheError, match="refused the upload"):
                untrusted.put_blob(digest, path)
            assert untrusted.get_action(KEY) == RECORD  # reading still works
            assert untrusted.has_blob(digest) is False
        assert (server.root / "ac" / KEY).read_bytes() == RECORD


def test_http_basic_auth_from_the_url_is_sent_and_hidden(tmp_path: Path) -> None:
    with nginx_cache(tmp_path, write_basic="ci:pa55") as server:
        url = server.url.replace("http://", "http://ci:pa55@")
        backend = HttpBackend(url)
        assert backend.name == server.url
        backend.put_action(KEY, RECORD)
        assert (server.root / "ac" / KEY).read_bytes() == RECORD
        wrong = HttpBackend(server.url.replace("http://", "http://ci:guess@"))
        with pytest.raises(CacheError, match="refused the upload") as refused:
            wrong.put_action(KEY, b"poisoned")
        assert "guess" not in str(refused.value)


def test_http_one_connection_per_thread(nginx: Nginx) -> None:
    backend = HttpBackend(nginx.url)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(20):
                key = f"{n:02d}{i:02d}" * 16
                backend.put_action(key, key.encode())
                assert backend.get_action(key) == key.encode()
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(list((nginx.root / "ac").iterdir())) == 80


# --- Redis --------------------------------------------------------------------------------


def test_redis_action_records_round_trip(redis_server: Redis) -> None:
    backend = RedisBackend(redis_server.url)
    assert backend.get_action(KEY) is None
    backend.put_action(KEY, RECORD)
    assert backend.get_action(KEY) == RECORD
    assert redis.Redis.from_url(redis_server.url).get(f"ac/{KEY}") == RECORD


@pytest.mark.parametrize("size", [0, 1000, 3 * CHUNK, 5 * CHUNK + 17])
def test_redis_blobs_round_trip(redis_server: Redis, tmp_path: Path, size: int) -> None:
    digest, path = blob(tmp_path, os.urandom(size))
    backend = RedisBackend(redis_server.url)
    dest = tmp_path / "out" / "restored"
    assert backend.has_blob(digest) is False
    assert backend.get_blob(digest, dest) is False
    assert not dest.exists()
    backend.put_blob(digest, path)
    assert backend.has_blob(digest) is True
    assert backend.get_blob(digest, dest) is True
    assert dest.read_bytes() == path.read_bytes()
    assert leftovers(dest.parent) == []
    client = redis.Redis.from_url(redis_server.url)
    assert client.keys() == [f"cas/{digest}".encode()]  # no temporary key left behind
    assert client.ttl(f"cas/{digest}") == -1  # no expiry asked for, none set


def test_redis_prefix_and_ttl(redis_server: Redis, tmp_path: Path) -> None:
    digest, path = blob(tmp_path, os.urandom(2 * CHUNK + 5))
    backend = RedisBackend(redis_server.url + "?prefix=fedbuild:&ttl=600")
    assert backend.name == redis_server.url + " (prefix fedbuild:)"
    backend.put_action(KEY, RECORD)
    backend.put_blob(digest, path)
    client = redis.Redis.from_url(redis_server.url)
    assert sorted(client.keys()) == [f"fedbuild:ac/{KEY}".encode(),
                                     f"fedbuild:cas/{digest}".encode()]
    assert 590 < client.ttl(f"fedbuild:ac/{KEY}") <= 600
    assert 590 < client.ttl(f"fedbuild:cas/{digest}") <= 600
    assert RedisBackend(redis_server.url, prefix="other:").get_action(KEY) is None
    assert RedisBackend(redis_server.url, prefix="fedbuild:").get_action(KEY) == RECORD


@pytest.mark.parametrize("size", [100, 3 * CHUNK])
def test_redis_corrupt_blob_is_an_error(redis_server: Redis, tmp_path: Path, size: int) -> None:
    digest, path = blob(tmp_path, os.urandom(size))
    backend = RedisBackend(redis_server.url)
    backend.put_blob(digest, path)
    redis.Redis.from_url(redis_server.url).setrange(f"cas/{digest}", size - 3, b"bad")
    dest = tmp_path / "restored"
    with pytest.raises(CacheError, match=f"blob {digest} is corrupt on the server"):
        backend.get_blob(digest, dest)
    assert not dest.exists()
    assert leftovers(tmp_path) == []


def test_redis_stopped_server_fails_fast(tmp_path: Path) -> None:
    with redis_cache(tmp_path) as server:
        backend = RedisBackend(server.url, connect_timeout=30, timeout=30)
        backend.put_action(KEY, RECORD)
        server.stop()
        started = time.monotonic()
        with pytest.raises(CacheError, match=r"Connection refused|Connection closed"):
            backend.get_action(KEY)
        with pytest.raises(CacheError, match="Connection refused"):
            backend.has_blob(KEY)
        assert time.monotonic() - started < 15  # refused at once, no 30 s timeout waited


def test_redis_silent_server_times_out(tmp_path: Path) -> None:
    with silent_server() as silent:
        backend = RedisBackend(silent.url("redis"), timeout=0.5)
        started = time.monotonic()
        with pytest.raises(CacheError, match=r"no answer within 0\.5 s"):
            backend.get_action(KEY)
        assert time.monotonic() - started > 0.4
        assert eventually(lambda: len(silent.held) >= 1)
        assert len(silent.held) == 1  # one attempt: redis-py's retries are off


def test_redis_connect_timeout() -> None:
    with silent_server(accept=False) as silent:
        backend = RedisBackend(silent.url("redis"), connect_timeout=0.3, timeout=30)
        started = time.monotonic()
        with pytest.raises(CacheError, match=r"no connection within 0\.3 s"):
            backend.has_blob(KEY)
        assert time.monotonic() - started < 15  # the connect timeout, not the 30 s one


def test_redis_read_only_never_writes(redis_server: Redis, tmp_path: Path) -> None:
    digest, path = blob(tmp_path, os.urandom(2 * CHUNK))
    reader = RedisBackend(redis_server.url, read_only=True)
    reader.put_action(KEY, RECORD)
    reader.put_blob(digest, path)
    client = redis.Redis.from_url(redis_server.url)
    assert client.dbsize() == 0
    writes = [c for c in client.info("commandstats") if c.split("_", 1)[1] in
              ("set", "append", "rename", "persist", "expire")]
    assert writes == []
    RedisBackend(f"redis://127.0.0.1:{free_port()}/0", read_only=True).put_action(KEY, RECORD)


def test_redis_read_only_user_is_refused_and_can_read(redis_server: Redis,
                                                       tmp_path: Path) -> None:
    digest, path = blob(tmp_path, b"artifact")
    RedisBackend(redis_server.url).put_action(KEY, RECORD)
    client = redis.Redis.from_url(redis_server.url)
    client.acl_setuser("pr", enabled=True, passwords=["+pr-token"], keys=["*"],
                       commands=["+@read", "+@connection"])
    url = redis_server.url.replace("redis://", "redis://pr:pr-token@")
    untrusted = RedisBackend(url)
    assert "pr-token" not in untrusted.name
    with pytest.raises(CacheError, match=r"refused the upload \(NOPERM\): is the token "
                                         r"read-only\?"):
        untrusted.put_action(KEY, b"poisoned")
    with pytest.raises(CacheError, match="refused the upload"):
        untrusted.put_blob(digest, path)
    assert untrusted.get_action(KEY) == RECORD
    assert untrusted.get_blob(digest, tmp_path / "restored") is False


def test_redis_password_from_token_or_url(tmp_path: Path) -> None:
    with redis_cache(tmp_path, password="s3cret") as server:
        anonymous = server.url.replace(":s3cret@", "")
        RedisBackend(anonymous, token="s3cret").put_action(KEY, RECORD)
        from_url = RedisBackend(server.url)
        assert from_url.get_action(KEY) == RECORD
        assert "s3cret" not in from_url.name
        with pytest.raises(CacheError, match=r"(?i)auth"):
            RedisBackend(anonymous).get_action(KEY)
        with pytest.raises(CacheError) as wrong:
            RedisBackend(anonymous, token="guess").get_action(KEY)
        assert "guess" not in str(wrong.value)


# --- Choosing a store ---------------------------------------------------------------------


def test_remote_backend_by_scheme() -> None:
    assert isinstance(remote_backend("http://cache.example:8080/"), HttpBackend)
    assert isinstance(remote_backend("HTTPS://cache.example/bazel"), HttpBackend)
    assert isinstance(remote_backend("redis://cache.example:6379/0"), RedisBackend)
    assert isinstance(remote_backend("rediss://cache.example/2?prefix=ci:"), RedisBackend)
    backend = remote_backend("https://ci:hunter2@cache.example/bazel/", read_only=True,
                             connect_timeout=1, timeout=3)
    assert backend.name == "https://cache.example/bazel/"
    assert isinstance(backend, HttpBackend) and backend.read_only and backend.timeout == 3


@pytest.mark.parametrize("url", ["ftp://cache.example/", "cache.example:8080", "",
                                 "s3://user:hunter2@bucket/"])
def test_remote_backend_refuses_other_schemes(url: str) -> None:
    with pytest.raises(ValueError, match="expected http://, https://, redis:// or rediss://") \
            as refused:
        remote_backend(url)
    assert "hunter2" not in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("url", ["redis://h/zero", "redis://h/0?ttl=-5", "redis://h/0?ttl=0",
                                 "http:///nohost", "http://u:hunter2@h:port/"])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(ValueError, match="cache URL") as refused:
        remote_backend(url)
    assert "hunter2" not in str(refused.value)
