"""The preview server: the published tree served with the live script, events, overlays."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.live_preview import EVENTS, PreviewServer, Published, open_server


def publish(folder: Path, stamp: str, beta_status: str = "published") -> None:
    """A published tree of two modules, as federate writes it (records included)."""
    (folder / "beta").mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(f"<html><body><p>root {stamp}</p></body></html>")
    (folder / "beta" / "index.html").write_text(f"<html><BODY>beta {stamp}</BODY></html>")
    (folder / ".federation").mkdir(exist_ok=True)
    modules = [{"name": "alpha", "destination": "/", "published_at": "t0", "status": "published"},
               {"name": "beta", "destination": "/beta/", "published_at": stamp,
                "status": beta_status}]
    (folder / ".federation" / "federation-manifest.json").write_text(
        json.dumps({"modules": modules}))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[PreviewServer]:
    """A preview of a published tree, on a free loopback port."""
    publish(tmp_path / "public", "v1")
    preview = open_server(Published(tmp_path / "public"), 0)
    preview.serve()
    yield preview
    preview.stop()


def get(server: PreviewServer, path: str) -> tuple[int, str, str]:
    """Status, content type and body of a GET."""
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read().decode()
    finally:
        conn.close()


def test_pages_get_the_script_when_served_and_keep_it_off_disk(server: PreviewServer) -> None:
    status, kind, body = get(server, "/beta/")
    assert status == 200 and kind.startswith("text/html")
    assert body.startswith("<html><BODY>beta v1<script data-fedbuild-live>")
    assert body.endswith("</script></BODY></html>") and '"beta"' in body
    assert "fedbuild" not in (server.published.folder / "beta/index.html").read_text()
    assert get(server, "/beta")[0] == 301
    assert get(server, "/nothing.html")[0] == 404
    assert get(server, "/../../etc/passwd")[0] == 404


def test_pages_belong_to_the_module_with_the_longest_destination(tmp_path: Path) -> None:
    publish(tmp_path, "v1")
    published = Published(tmp_path)
    assert published.owner("/beta/page.html") == "beta"
    assert published.owner("/about.html") == "alpha"


def test_a_republished_module_is_sent_to_the_open_pages(server: PreviewServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=10)
    conn.request("GET", EVENTS)
    stream = conn.getresponse()
    assert stream.getheader("Content-Type") == "text/event-stream"
    assert stream.readline() == b"retry: 1000\n"
    publish(server.published.folder, "v2")
    assert server.published.update({}) == ["beta"]
    lines = [stream.readline() for _ in range(4)]
    conn.close()
    assert lines[:3] == [b"\n", b"id: 1\n", b"event: reload\n"]
    assert json.loads(lines[3].removeprefix(b"data: "))["modules"] == ["beta"]
    assert "beta v2" in get(server, "/beta/")[2]


def test_a_failed_module_shows_its_last_good_page_with_the_error(server: PreviewServer) -> None:
    publish(server.published.folder, "v1", beta_status="failed (stale)")
    changed = server.published.update({"beta": ["error: <b>broke</b>", "line two"]})
    assert changed == ["beta"]
    body = get(server, "/beta/")[2]
    assert "beta v1" in body and 'id="fedbuild-overlay"' in body
    assert "the build of beta failed" in body and "error: &lt;b&gt;broke&lt;/b&gt;" in body
    assert 'id="fedbuild-overlay"' not in get(server, "/")[2]
    assert server.published.update({}) == ["beta"]  # fixed: the overlay goes
    assert 'id="fedbuild-overlay"' not in get(server, "/beta/")[2]


def test_a_failure_of_no_module_shows_everywhere(server: PreviewServer) -> None:
    assert server.published.update({"the plan": ["modules.json: broken"]}) == ["the plan", "*"]
    assert "modules.json: broken" in get(server, "/")[2]
    assert "modules.json: broken" in get(server, "/beta/")[2]


def test_a_module_never_published_says_why_in_place_of_its_pages(
        server: PreviewServer) -> None:
    server.published.update({"beta": ["error: first build broke"]})
    status, kind, body = get(server, "/beta/missing.html")
    assert status == 404 and kind.startswith("text/html")
    assert "error: first build broke" in body and "data-fedbuild-live" in body
    assert get(server, "/missing.html")[1].startswith("text/plain")  # alpha did not fail
