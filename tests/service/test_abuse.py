"""The security and load campaign of issue 18, replayed against a real `doit serve`: bad
tokens on every route (read from the app itself, so a new route is covered by itself), the
webhook's cases, oversized and slow requests, malformed inputs, builds that try to escape
or forge their records, floods of submissions, foreign Hosts and Origins, and the smaller
gaps (schema, health, headers, file modes, tickets, TLS, a busy port)."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import random
import re
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from service.gate import API_BODY, BODY_IDLE, WEBHOOK_BODY
from service.job import confined
from service.server import HEADER_TIMEOUT
from tests.conftest import REPO
from tests.servers import free_port
from tests.service.service_server import (
    HOST,
    Service,
    git,
    marked,
    running_service,
    service_repo,
    start_service,
    two_commit_repo,
)

SECRET = "abuse-campaign-secret"
PUBLIC = {("GET", "/"), ("GET", "/api/health"), ("POST", "/api/webhooks/github")}
WAIT = 30.0


def eventually(condition: Callable[[], Any], timeout: float = WAIT, what: str = "") -> Any:
    """Poll condition until it is truthy; its value. AssertionError after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what or condition}")
        time.sleep(0.05)


# --- raw HTTP: what a well-behaved client would never send -------------------------------

def raw_response(sock: socket.socket, timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    """Read one HTTP response (status, lower-case headers, body) from sock."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    while len(body) < int(headers.get("content-length", "0")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(lines[0].split()[1]), headers, body


def raw(service: Service, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send a request's head (CRLF lines, without the blank line) and body; the response."""
    with socket.create_connection((HOST, service.port), timeout=15) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
        return raw_response(sock)


def rss(service: Service) -> int:
    """The service's resident memory, in bytes."""
    return int(psutil.Process(service.process.pid).memory_info().rss)


# --- 1. every route needs the token -------------------------------------------------------

def app_routes(tmp_path: Path) -> list[tuple[str, str]]:
    """(method, path) of every route of the app, WebSockets as method "WS"."""
    from fastapi.routing import APIRoute, APIWebSocketRoute

    from service.api import create_app
    from service.config import ServiceConfig

    app = create_app(ServiceConfig(data=tmp_path / "routes"), token="t")
    found = []
    for route in _flat(app.routes):
        if isinstance(route, APIRoute):
            found += [(m, route.path) for m in sorted(route.methods or ())]
        elif isinstance(route, APIWebSocketRoute):
            found.append(("WS", route.path))
    return found


def _flat(routes: list[Any]) -> Iterator[Any]:
    """Every route, those of included routers too (FastAPI keeps an included router whole;
    its routes carry their full paths)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        yield from _flat(inner.routes) if inner is not None else [route]


def test_every_route_but_the_public_ones_refuses_a_missing_or_wrong_token(
        service: Service, tmp_path: Path) -> None:
    project = service.register(service_repo("quick", tmp_path / "quick"))
    build = service.wait_build(service.trigger(project["id"])["id"])
    routes = app_routes(tmp_path)
    assert len(routes) > 15 and set(routes) >= PUBLIC
    for method, template in routes:
        if (method, template) in PUBLIC:
            continue
        path = template.format(project_id=project["id"], build_id=build["id"])
        for token in (None, "not-the-token"):
            if method == "WS":
                url = f"ws://{HOST}:{service.port}{path}"
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                with pytest.raises(InvalidStatus) as refused:
                    connect(url, additional_headers=headers, open_timeout=10)
                assert refused.value.response.status_code == 401, path
                continue
            answer = service.request(method, path, token=token, json={})
            assert answer.status_code == 401, (method, path, token, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            detail = answer.json()["detail"]
            assert "token" in detail and str(service.data) not in detail, detail


# --- 2. the webhook -------------------------------------------------------------------------

def payload(after: str, ref: str = "refs/heads/main", **extra: Any) -> bytes:
    return json.dumps({"ref": ref, "after": after, "repository": {"full_name": "octo/hello"},
                       "head_commit": {"id": after, "message": "m", "author": {"name": "A"}},
                       **extra}).encode()


def deliver(service: Service, body: bytes, delivery: str | None = None,
            event: str = "push") -> httpx.Response:
    headers = {"X-GitHub-Event": event, "Content-Type": "application/json",
               "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body,
                                                           hashlib.sha256).hexdigest()}
    if delivery != "":
        headers["X-GitHub-Delivery"] = delivery or str(uuid.uuid4())
    return service.request("POST", "/api/webhooks/github", token=None, content=body,
                           headers=headers)


def test_the_webhook_builds_the_registered_branch_once_and_checks_what_it_queues(
        tmp_path: Path) -> None:
    repo, first, second = two_commit_repo(tmp_path / "repo")
    with running_service(tmp_path / "data", env={"FEDBUILD_WEBHOOK_SECRET": SECRET}) as hooked:
        project = hooked.register(repo, github="octo/hello", branch="main")

        def builds() -> int:
            return int(hooked.get("/api/builds").json()["total"])

        ignored = [payload(second, "refs/heads/feature"), payload(first, "refs/tags/v1"),
                   payload("0" * 40, deleted=True), payload(second, "refs/heads/main",
                                                            deleted=True),
                   payload(second, "refs/heads/<img src=x onerror=alert(1)>"),
                   payload(second, "refs/pull/1/head")]
        for body in ignored:
            answer = deliver(hooked, body)
            assert answer.status_code == 200 and answer.json()["queued"] is False, answer.text
        for after in ("--output=/tmp/owned", "HEAD; touch /tmp/owned", "abc123", first[:12]):
            answer = deliver(hooked, payload(after))
            assert answer.status_code == 422 and "commit" in answer.json()["detail"], after
        answer = deliver(hooked, payload(first), delivery="")
        assert answer.status_code == 400 and "X-GitHub-Delivery" in answer.json()["detail"]
        assert builds() == 0

        body, delivery = payload(first), str(uuid.uuid4())
        queued = deliver(hooked, body, delivery)
        assert queued.status_code == 202, queued.text
        replay = deliver(hooked, body, delivery)
        assert replay.status_code == 200 and replay.json()["queued"] is False
        assert "already received" in replay.json()["detail"]
        assert builds() == 1

        # Tags build once the project asks for them.
        answer = hooked.request("PATCH", f"/api/projects/{project['id']}",
                                json={"build_tags": True})
        assert answer.status_code == 200 and answer.json()["build_tags"] is True
        tagged = deliver(hooked, payload(second, "refs/tags/v2"))
        assert tagged.status_code == 202, tagged.text
        assert builds() == 2
        for build_id in (queued.json()["build_id"], tagged.json()["build_id"]):
            assert hooked.wait_build(build_id)["status"] == "success"


def test_a_webhook_body_is_limited_and_unsigned_ones_are_not_read(tmp_path: Path) -> None:
    with running_service(tmp_path / "data", env={"FEDBUILD_WEBHOOK_SECRET": SECRET}) as hooked:
        too_big = WEBHOOK_BODY + 1
        status, _, body = raw(hooked, f"POST /api/webhooks/github HTTP/1.1\nHost: {HOST}\n"
                              f"X-Hub-Signature-256: sha256=00\nContent-Length: {too_big}")
        assert status == 413 and b"bytes" in body
        # No signature: refused before the announced 20 MB are sent.
        status, _, _ = raw(hooked, f"POST /api/webhooks/github HTTP/1.1\nHost: {HOST}\n"
                           f"Content-Length: {20 * 1024 * 1024}")
        assert status == 401


# --- 4. oversized bodies ---------------------------------------------------------------------

def test_a_write_checks_the_token_before_the_body_and_bodies_are_limited(
        service: Service) -> None:
    fifty = 50 * 1024 * 1024
    head = f"POST /api/projects HTTP/1.1\nHost: {HOST}\nContent-Type: application/json\n"
    # The answers come before a byte of the announced 50 MB is sent.
    assert raw(service, head + f"Content-Length: {fifty}")[0] == 401
    authorized = head + f"Authorization: Bearer {service.token}\n"
    status, headers, _ = raw(service, authorized + f"Content-Length: {fifty}")
    assert status == 413 and "content-security-policy" in headers
    assert raw(service, authorized + "Content-Length: 12abc")[0] == 400
    # Streamed (chunked, no length): cut off once past the limit.
    chunk = API_BODY + 1
    status, _, _ = raw(service, authorized + "Transfer-Encoding: chunked",
                       f"{chunk:x}\r\n".encode() + b" " * chunk + b"\r\n")
    assert status == 413

    before = rss(service)
    threads = [threading.Thread(target=_stream_junk, args=(service, 30 * 1024 * 1024))
               for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert rss(service) - before < 40 * 1024 * 1024, (before, rss(service))
    assert service.get("/api/health").status_code == 200


def _stream_junk(service: Service, size: int) -> None:
    """Try to stream `size` bytes to the API as one chunk; stop when the service stops
    reading."""
    with suppress(OSError), socket.create_connection((HOST, service.port), timeout=10) as sock:
        sock.sendall(f"POST /api/projects HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer "
                     f"{service.token}\r\nTransfer-Encoding: chunked\r\n\r\n{size:x}\r\n"
                     .encode())
        block = b"x" * 65536
        for _ in range(size // len(block)):
            sock.sendall(block)


# --- 5. slow clients ---------------------------------------------------------------------------

def test_half_sent_requests_and_stalled_bodies_are_cut_off(service: Service) -> None:
    half_open = []
    for _ in range(300):
        sock = socket.create_connection((HOST, service.port), timeout=10)
        sock.sendall(b"GET /api/hea")
        half_open.append(sock)
    stalled = socket.create_connection((HOST, service.port), timeout=10)
    stalled.sendall(f"POST /api/projects HTTP/1.1\r\nHost: {HOST}\r\nAuthorization: Bearer "
                    f"{service.token}\r\nContent-Length: 100\r\n\r\n{{\"pa".encode())
    try:
        assert service.get("/api/health").status_code == 200  # still served meanwhile
        status, _, _ = raw_response(stalled, timeout=BODY_IDLE + 15)
        assert status == 408
        deadline = time.monotonic() + HEADER_TIMEOUT + 15
        for sock in half_open:
            sock.settimeout(max(0.1, deadline - time.monotonic()))
            assert sock.recv(100) == b"", "a half-sent request was answered"
    finally:
        for sock in [*half_open, stalled]:
            sock.close()
    assert service.get("/api/health").status_code == 200


def test_past_the_connection_limit_a_request_gets_503(tmp_path: Path) -> None:
    with running_service(tmp_path / "data", "--max-connections", "20") as limited:
        held = [socket.create_connection((HOST, limited.port), timeout=10) for _ in range(25)]
        try:
            for sock in held:
                sock.sendall(b"GET /api/hea")  # half a request: each holds its connection
            status, _, _ = raw(limited, f"GET /api/health HTTP/1.1\nHost: {HOST}")
            assert status == 503
        finally:
            for sock in held:
                sock.close()
        # Once they are gone the service answers again.
        eventually(lambda: raw(limited, f"GET /api/health HTTP/1.1\nHost: {HOST}")[0] == 200,
                   what="the service answering again")


# --- 8. malformed inputs ------------------------------------------------------------------------

def test_malformed_inputs_are_one_line_4xx_and_the_connection_lives_on(
        service: Service, tmp_path: Path) -> None:
    project = service.register(service_repo("quick", tmp_path / "quick"))
    build_path = f"/api/projects/{project['id']}/build"
    huge = "99999999999999999999"
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/api/projects", {"json": {"path": "/tmp/a\x00b"}}),
        ("POST", "/api/projects", {"json": {"path": "/" + "a" * 5000}}),
        ("POST", "/api/projects", {"json": {"path": "/tmp/" + "b" * 300 + "/x"}}),
        ("POST", "/api/projects", {"json": {"git_url": "/tmp/x\x00y"}}),
        ("POST", "/api/projects", {"json": {"path": str(tmp_path), "branch": "<b>x</b>"}}),
        ("POST", "/api/projects", {"content": b"{not json", "headers": {
            "Content-Type": "application/json"}}),
        ("GET", f"/api/builds/{huge}", {}),
        ("GET", f"/api/builds/{huge}/log", {}),
        ("POST", f"/api/builds/{huge}/cancel", {}),
        ("GET", "/api/builds/-1", {}),
        ("GET", f"/api/builds?offset={huge}", {}),
        ("GET", f"/api/builds?page={huge}", {}),
        ("GET", f"/api/projects/{project['id']}/builds?offset={huge}", {}),
        ("GET", f"/api/events/stream?build_id={huge}", {}),
        ("GET", "/api/projects/" + "p" * 5000, {}),
        ("POST", build_path, {"json": {"commit": "--output=/tmp/x"}}),
        ("POST", build_path, {"json": {"commit": "HEAD; touch /tmp/x"}}),
        ("POST", build_path, {"json": {"branch": "<script>alert(1)</script>"}}),
        ("POST", build_path, {"json": {"branch": "a..b"}}),
        ("POST", build_path, {"json": {"tasks": ["build:nonesuch"]}}),
        ("POST", build_path, {"json": {"tasks": ["-n", "9"]}}),
        ("POST", build_path, {"json": [1, 2]}),
    ]
    for method, path, kwargs in cases:
        answer = service.request(method, path, **kwargs)
        assert 400 <= answer.status_code < 500, (method, path[:80], answer.status_code,
                                                 answer.text[:300])
        detail = answer.json()["detail"]
        assert isinstance(detail, str) and "\n" not in detail and detail, detail
        assert service.get("/api/health").status_code == 200  # same keep-alive connection
    assert service.get(f"/api/projects/{project['id']}/builds").json()["total"] == 0


def test_check_lists_the_tasks_doit_lists(tmp_path: Path) -> None:
    """The check's task names (unknown ones get 422) are exactly what `doit list` shows."""
    repo = service_repo("quick", tmp_path / "quick")
    checked = subprocess.run([sys.executable, "-c", "import sys; sys.path[0] = sys.argv[1]; "
                              "from service.check import main; sys.exit(main())", str(REPO)],
                             cwd=repo, capture_output=True, text=True, timeout=60, check=True)
    names = json.loads(checked.stdout.splitlines()[-1].removeprefix("tasks: "))
    assert not (repo / ".fedbuild").exists()  # a check writes nothing
    listed = subprocess.run([sys.executable, "-m", "doit", "list", "--all", "-f",
                             str(REPO / "dodo.py"), "-d", str(repo)], cwd=REPO,
                            capture_output=True, text=True, timeout=60, check=True)
    assert names == sorted(line.split()[0] for line in listed.stdout.splitlines())


# --- 6. builds that try to escape -----------------------------------------------------------

@contextmanager
def runaway_repo(tmp_path: Path) -> Iterator[tuple[Path, list[str]]]:
    """The escape fixture with three unique sleep durations; whatever is left of its
    sleepers is killed at the end (so a failing test leaves nothing behind)."""
    repo = service_repo("escape", tmp_path / "escape")
    values = [f"{290 + random.random() * 9:.6f}" for _ in range(3)]
    (repo / "modules" / "runaway" / "seconds.txt").write_text(" ".join(values))
    try:
        yield repo, values
    finally:
        for proc in sleepers(values):
            with suppress(psutil.Error):
                proc.kill()


def sleepers(values: list[str]) -> list[psutil.Process]:
    """The live `sleep VALUE` processes."""
    found = []
    for proc in psutil.process_iter():
        with suppress(psutil.Error):
            line = proc.cmdline()
            if len(line) == 2 and line[0].endswith("sleep") and line[1] in values \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
    return found


def escaped(service: Service, tmp_path: Path,
            values: list[str], project: dict[str, Any]) -> dict[str, Any]:
    build = service.trigger(project["id"])
    eventually(lambda: len(sleepers(values)) == 3, what="the three sleepers started")
    # None of them carries the build's marker: only the tree, session or cgroup finds them.
    assert not {p.pid for p in sleepers(values)} & {p.pid for p in marked(service.data)}
    return build


def test_cancel_kills_what_shed_the_marker_the_session_and_its_parent(
        service: Service, tmp_path: Path) -> None:
    with runaway_repo(tmp_path) as (repo, values):
        build = escaped(service, tmp_path, values, service.register(repo))
        assert service.post(f"/api/builds/{build['id']}/cancel").status_code == 200
        eventually(lambda: not sleepers(values), timeout=10, what="the sleepers killed")
        assert service.wait_build(build["id"])["status"] == "cancelled"


def test_a_timeout_kills_the_same_way(tmp_path: Path) -> None:
    with runaway_repo(tmp_path) as (repo, values), \
            running_service(tmp_path / "data", "--timeout", "6") as short:
        build = escaped(short, tmp_path, values, short.register(repo))
        done = short.wait_build(build["id"])
        assert done["status"] == "failed" and "timed out" in done["error"]
        eventually(lambda: not sleepers(values), timeout=10, what="the sleepers killed")


def test_builds_die_with_the_service_and_the_restart_records_them(tmp_path: Path) -> None:
    with runaway_repo(tmp_path) as (repo, values):
        data = tmp_path / "data"
        with running_service(data, "--workers", "1") as first:
            build = escaped(first, tmp_path, values, first.register(repo))
            first.kill()  # SIGKILL: nothing of the service runs any more
            eventually(lambda: not sleepers(values) and not marked(first.data), timeout=10,
                       what="the build's processes gone with the service")
        with running_service(data, "--workers", "1") as second:
            again = second.build(build["id"])
            assert again["status"] == "failed" and again["error"].startswith("interrupted")


# --- 9. a build forging its records --------------------------------------------------------------

def test_a_step_cannot_forge_events_by_any_route_it_finds(tmp_path: Path) -> None:
    """The forger step writes a failed task and foreign run files through the environment,
    the events file's path and /proc/<ancestor>/fd (see its docstring); none of it may
    reach the build's records."""
    repo = service_repo("forger", tmp_path / "forger")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "junit.xml").write_text('<testsuite tests="99" failures="0" errors="0" '
                                       'skipped="0" time="1"></testsuite>')
    data = (tmp_path / "data").resolve()
    (repo / "modules" / "forger" / "target.txt").write_text(
        f"{data}/builds/*/events*\n{outside}\n")
    with running_service(data) as service:
        build = service.wait_build(service.trigger(service.register(repo)["id"])["id"])
        log = service.get(f"/api/builds/{build['id']}/log").text
        assert "forged" in log and "FEDBUILD_EVENTS seen by the step: None" in log
        assert "route /proc/" in log, log  # it found doit's descriptors and tried them
        assert [t["task"] for t in build["task_results"]] == ["build:forger"], log
        assert build["status"] == "success", log
        assert (build["test_results"] or {}).get("tests") != 99
        assert str(outside) not in str(build["run_files"])


def test_run_files_outside_the_builds_folder_are_never_followed(tmp_path: Path) -> None:
    folder = tmp_path / "build"
    (folder / ".fedbuild" / "runs" / "7").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (folder / "link").symlink_to(tmp_path / "elsewhere")
    assert confined(folder, ".fedbuild/runs/7/") == (folder / ".fedbuild/runs/7").resolve()
    for named in (str(tmp_path / "elsewhere"), "../elsewhere", "link", "link/../build"):
        assert confined(folder, named) in (None, folder.resolve()), named
    assert confined(folder, "link") is None and confined(folder, "a\0b") is None


# --- 10. floods of submissions -----------------------------------------------------------

def test_a_manifest_is_checked_once_and_retries_make_no_duplicates(tmp_path: Path) -> None:
    with running_service(tmp_path / "data") as busy:
        project = busy.register(service_repo("quick", tmp_path / "quick"))
        answers: list[httpx.Response] = []
        path = f"/api/projects/{project['id']}/build"

        def submit() -> None:
            with httpx.Client(base_url=busy.url, timeout=60) as client:
                answers.append(client.post(path, json={}, headers={
                    "Authorization": f"Bearer {busy.token}"}))
        threads = [threading.Thread(target=submit) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(a.status_code for a in answers) == [202] * 12
        checks = re.findall(r"checked .*quick \(manifest", (busy.data / "service.log").read_text())
        assert len(checks) == 1, checks  # the registration's check serves every submission

        key = {"Idempotency-Key": "retry-after-a-lost-answer"}
        first = busy.post(path, json={}, headers=key)
        again = busy.post(path, json={}, headers=key)
        assert first.status_code == again.status_code == 202
        assert first.json()["build_id"] == again.json()["build_id"]
        other = busy.post(path, json={}, headers={"Idempotency-Key": "another"})
        assert other.json()["build_id"] != first.json()["build_id"]
        assert busy.get("/api/builds").json()["total"] == 12 + 2


def test_a_full_queue_answers_429_with_retry_after(tmp_path: Path) -> None:
    repo = service_repo("slow", tmp_path / "slow")
    with running_service(tmp_path / "data", "--workers", "1", "--max-pending", "2") as full:
        project = full.register(repo)
        running = full.trigger(project["id"])
        full.wait_task_started(running["id"], "build:nap")
        waiting = [full.trigger(project["id"]) for _ in range(2)]
        answer = full.post(f"/api/projects/{project['id']}/build", json={})
        assert answer.status_code == 429 and int(answer.headers["retry-after"]) > 0
        assert "waiting" in answer.json()["detail"]
        (repo / "modules" / "nap" / "release").touch()
        for build in [running, *waiting]:
            assert full.wait_build(build["id"])["status"] == "success"


# --- 7. foreign pages ------------------------------------------------------------------------

def test_foreign_hosts_and_origins_are_refused_even_with_public_reads(tmp_path: Path) -> None:
    with running_service(tmp_path / "data", "--public-reads", "--allow-host",
                         "builds.example.org") as public:
        def status(host: str) -> int:
            return public.request("GET", "/api/projects", token=None,
                                  headers={"Host": host}).status_code
        assert status("attacker.example") == 400  # DNS rebinding: a name we never served
        assert status(f"attacker.example:{public.port}") == 400
        for host in (f"127.0.0.1:{public.port}", f"localhost:{public.port}", "[::1]",
                     "builds.example.org", "BUILDS.example.org.:443"):
            assert status(host) == 200, host
        url = f"ws://{HOST}:{public.port}/api/events"
        with pytest.raises(InvalidStatus) as refused:
            connect(url, origin=Origin("http://attacker.example"), open_timeout=10)
        assert refused.value.response.status_code == 403
        with connect(url, origin=Origin(f"http://{HOST}:{public.port}"),
                     open_timeout=10) as socket_:
            socket_.ping().wait(5)


# --- 11. the smaller gaps ----------------------------------------------------------------------

def test_schema_health_and_headers_tell_strangers_nothing(service: Service) -> None:
    for path in ("/docs", "/redoc", "/openapi.json"):
        assert service.request("GET", path, token=None).status_code in (401, 404), path
    assert set(service.request("GET", "/api/health", token=None).json()) == {
        "status", "service", "version"}
    assert "workers" in service.get("/api/health").json()
    for path in ("/", "/static/app.js", "/api/health", "/api/projects"):
        headers = service.request("GET", path, token=None).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"], path
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
    ticket = service.ticket()
    stream = f"/api/events/stream?ticket={ticket}&build_id=1"
    with service.client.stream("GET", stream, timeout=10) as first:
        assert first.status_code == 200
    assert service.request("GET", stream, token=None).status_code == 401  # used up


def test_the_data_folder_is_private_whatever_the_umask(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    old = os.umask(0)
    try:
        service = start_service(data)
    finally:
        os.umask(old)
    try:
        service.register(service_repo("quick", tmp_path / "quick"))
        assert stat.S_IMODE(data.stat().st_mode) == 0o700
        for name in ("service.sqlite", "service.log", "token", "service.lock"):
            assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name
    finally:
        service.stop()


def serve(data: Path, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "doit", "serve", "--data", str(data), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=timeout)


def test_a_network_bind_needs_tls_and_a_busy_port_is_told_before_anything(
        tmp_path: Path) -> None:
    refused = serve(tmp_path / "open", "--host", "0.0.0.0", "--port", str(free_port()))
    assert refused.returncode == 3 and "--tls-cert" in refused.stderr + refused.stdout
    assert not (tmp_path / "open" / "token").exists()
    with socket.socket() as taken:
        taken.bind((HOST, 0))
        taken.listen()
        busy = serve(tmp_path / "busy", "--port", str(taken.getsockname()[1]))
    assert busy.returncode == 3 and "--port" in busy.stderr + busy.stdout
    assert "API token" not in busy.stdout and not (tmp_path / "busy").exists()


def test_tls_serves_https(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    port = free_port()
    data = tmp_path / "data"
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "doit", "serve", "--data", str(data),
                                "--port", str(port), "--tls-cert", str(cert), "--tls-key",
                                str(key)], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        trust = ssl.create_default_context(cafile=str(cert))
        with httpx.Client(base_url=f"https://{HOST}:{port}", verify=trust, timeout=5) as client:
            def up() -> bool:
                with suppress(httpx.HTTPError):
                    return client.get("/api/health").status_code == 200
                return False
            eventually(up, what="the HTTPS service answering")
            token = (data / "token").read_text().strip()
            answer = client.get("/api/projects", headers={"Authorization": f"Bearer {token}"})
            assert answer.status_code == 200
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://{HOST}:{port}/api/health", timeout=5)
    finally:
        process.terminate()
        process.wait(15)
        log.close()


def test_a_registered_project_keeps_its_checkout_clean(service: Service,
                                                       tmp_path: Path) -> None:
    repo, _, _ = two_commit_repo(tmp_path / "repo")
    service.register(repo)
    assert git(repo, "status", "--porcelain", "--ignored") == ""
