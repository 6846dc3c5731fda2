"""`doit watch serve=true` as a user runs it: a real subprocess on a copy of the basic
fixture, edited while it watches; the preview read over HTTP and through a real
server-sent-events client. Every wait is for a property (a build reported, a file
changed), bounded by a timeout; nothing depends on how long a build takes."""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from tasks.history import FILE, History
from tests.conftest import DODO, copy_fixture, edit_manifest, eventually, module

BUILD_DONE = re.compile(r"^fedbuild watch: build (\d+) (ok|failed)", re.M)
SERVING = re.compile(r"serving public/ at http://127\.0\.0\.1:(\d+)/")
WAIT = 90.0  # seconds a build may take on a loaded machine
CHROMIUM = Path("/usr/bin/chromium")  # Debian's, as tests/service/test_dashboard.py drives it
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update"]


class Watching:
    """One `doit watch` (or `doit preview`) process and what it printed."""

    def __init__(self, repo: Path, log: Path, *args: str, command: str = "watch") -> None:
        self.repo, self.log = repo, log
        argv = [sys.executable, "-m", "doit", command, "-f", str(DODO), "-d", str(repo),
                "--port", "18313", *args]
        with log.open("w") as out:
            self.proc = subprocess.Popen(argv, cwd=repo, stdout=out, stderr=subprocess.STDOUT,
                                         env={**os.environ, "NO_COLOR": "1"},
                                         start_new_session=True)

    def output(self) -> str:
        """Everything printed so far."""
        return self.log.read_text(errors="replace")

    def builds(self) -> list[tuple[int, str]]:
        """(number, ok|failed) of each finished build."""
        return [(int(n), state) for n, state in BUILD_DONE.findall(self.output())]

    def wait_build(self, after: int) -> tuple[int, str]:
        """The first build numbered above `after`, once it has finished."""
        assert eventually(lambda: any(n > after for n, _ in self.builds())
                          or self.proc.poll() is not None, WAIT), self.output()[-3000:]
        assert any(n > after for n, _ in self.builds()), self.output()[-3000:]
        return next(b for b in self.builds() if b[0] > after)

    def last(self) -> int:
        """The number of the last finished build (0: none yet)."""
        return max((n for n, _ in self.builds()), default=0)

    @property
    def port(self) -> int:
        """The preview's port, as printed."""
        found = SERVING.search(self.output())
        assert found, self.output()
        return int(found.group(1))

    def get(self, path: str) -> tuple[int, str]:
        """GET a path of the preview: status and body."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read().decode()
        finally:
            conn.close()

    def stop(self) -> None:
        """SIGINT, then wait for the end (killed if it will not)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


class Events(threading.Thread):
    """A server-sent-events client of the preview: the reload events it received."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=WAIT)
        self.conn.request("GET", "/__fedbuild/events")
        self.response = self.conn.getresponse()
        assert self.response.getheader("Content-Type", "").startswith("text/event-stream")
        self.reloads: list[dict[str, Any]] = []
        self.start()

    def run(self) -> None:
        event: dict[str, str] = {}
        try:
            for raw in self.response:
                line = raw.decode().rstrip("\n")
                if not line:
                    if event.get("event") == "reload":
                        self.reloads.append(json.loads(event["data"]))
                    event = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    event[name] = value.strip()
        except (OSError, ValueError):
            pass

    def reloaded(self, module: str) -> bool:
        """Whether a reload naming `module` arrived."""
        return any(module in r["modules"] for r in self.reloads)

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


@pytest.fixture(scope="module")
def watching(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Watching]:
    """A watch with a preview on the basic fixture, its first build done."""
    base = tmp_path_factory.mktemp("watch")
    repo = copy_fixture("basic", base / "basic")
    watch = Watching(repo, base / "watch.log", "serve=true")
    try:
        assert watch.wait_build(0) == (1, "ok")
        yield watch
    finally:
        watch.stop()


def test_an_edit_republishes_the_page_and_reloads_it(watching: Watching) -> None:
    events = Events(watching.port)
    before = watching.last()
    page = watching.repo / "modules/beta/content/one.md"
    page.write_text(page.read_text() + "an edit seen live\n")
    assert watching.wait_build(before)[1] == "ok"
    on_disk = (watching.repo / "public/beta/index.html").read_text()
    assert "an edit seen live" in on_disk
    assert "data-fedbuild-live" not in on_disk  # the script is added when served only
    status, served = watching.get("/beta/")
    assert status == 200
    assert "an edit seen live" in served and "data-fedbuild-live" in served
    assert eventually(lambda: events.reloaded("beta"), 10), events.reloads
    assert not events.reloaded("gamma")  # gamma's pages did not change
    events.close()
    runs = History(watching.repo / ".fedbuild" / FILE).runs()
    assert runs and {run.trigger for run in runs} == {"watch"}


def test_a_new_module_in_the_manifest_is_built_served_and_watched(watching: Watching) -> None:
    shutil.copytree(watching.repo / "modules/gamma", watching.repo / "modules/delta")
    (watching.repo / "modules/delta/module.json").write_text(json.dumps({"name": "delta"}))
    before = watching.last()
    edit_manifest(watching.repo, lambda data: data["modules"].append(
        {"name": "delta", "source": {"repository": "local", "path": "modules/delta"},
         "destination": "/delta/", "module_json": "module.json"}))
    assert watching.wait_build(before)[1] == "ok"
    assert watching.get("/delta/")[0] == 200
    before = watching.last()
    (watching.repo / "modules/delta/content/one.md").write_text("delta edited\n")
    assert watching.wait_build(before)[1] == "ok"
    assert "delta edited" in watching.get("/delta/")[1]


def test_a_broken_module_shows_its_last_good_page_and_error_until_fixed(
        watching: Watching) -> None:
    events = Events(watching.port)
    good = watching.get("/gamma/")[1]
    before = watching.last()
    edit_manifest(watching.repo, lambda data: module(data, "gamma").update(
        env={"BEHAVIOR": "fail"}))
    assert watching.wait_build(before)[1] == "failed"
    assert "the build of gamma broke" in watching.output()
    status, page = watching.get("/gamma/")
    assert status == 200
    assert 'id="fedbuild-overlay"' in page and "gamma" in page
    assert "error: the build of gamma broke" in page
    assert page.split('<div id="fedbuild-overlay"')[0] in good  # the last good version
    assert 'id="fedbuild-overlay"' not in watching.get("/beta/")[1]
    assert eventually(lambda: events.reloaded("gamma"), 10), events.reloads
    assert watching.proc.poll() is None  # still watching
    before = watching.last()
    edit_manifest(watching.repo, lambda data: module(data, "gamma").pop("env"))
    assert watching.wait_build(before)[1] == "ok"
    assert 'id="fedbuild-overlay"' not in watching.get("/gamma/")[1]
    events.close()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed")
def test_an_open_page_in_chromium_reloads_itself_after_a_save(watching: Watching) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{watching.port}/gamma/")
            page.wait_for_function("document.querySelector('[data-fedbuild-live]') !== null")
            page.evaluate("window.stillTheSamePage = true")
            before = watching.last()
            source = watching.repo / "modules/gamma/content/two.md"
            source.write_text("seen in the browser\n")
            assert watching.wait_build(before)[1] == "ok"
            page.wait_for_function("window.stillTheSamePage === undefined", timeout=30_000)
            page.wait_for_load_state()
            assert "seen in the browser" in page.content()
        finally:
            browser.close()


def test_a_burst_of_saves_is_one_build(watching: Watching) -> None:
    before = watching.last()
    content = watching.repo / "modules/alpha/content"
    for i in range(20):  # 20 saves within about 100 ms
        (content / f"burst{i:02}.md").write_text(f"burst {i}\n")
        time.sleep(0.005)
    assert watching.wait_build(before) == (before + 1, "ok")
    said = watching.output().split(f"build {before} ")[-1]
    assert "burst00.md" in said and "and 17 more changed" in said  # every save, one build
    # A later save is the next build: no second build of the burst came between.
    (content / "one.md").write_text("after the burst\n")
    assert watching.wait_build(before + 1)[0] == before + 2
    said = watching.output().split(f"build {before + 1} ")[-1]
    assert "modules/alpha/content/one.md changed" in said and "burst" not in said


def test_own_writes_and_unwatched_files_start_no_build(watching: Watching) -> None:
    before = watching.last()
    (watching.repo / "public" / "stray.html").write_text("written by hand\n")
    (watching.repo / ".fedbuild" / "stray").write_text("x\n")
    (watching.repo / "modules/alpha/content/.#one.md").write_text("editor lock\n")
    (watching.repo / "modules/alpha/content/two.md").write_text("the sentinel\n")
    assert watching.wait_build(before)[0] == before + 1
    said = watching.output().split(f"build {before} ")[-1]
    assert "modules/alpha/content/two.md changed: building" in said
    assert "stray" not in said and ".#one.md" not in said


def test_preview_with_select_watches_and_builds_only_the_selected(tmp_path: Path) -> None:
    repo = copy_fixture("basic", tmp_path / "basic")
    watch = Watching(repo, tmp_path / "watch.log", "select=beta", command="preview")
    try:
        assert watch.wait_build(0) == (1, "ok")
        assert watch.get("/beta/")[0] == 200  # doit preview serves: watch serve=true
        # An edit of alpha alone starts nothing; with beta's, beta's is the change named (the
        # build is `doit run select=beta`'s, which federates every site module).
        (repo / "modules/alpha/content/one.md").write_text("not watched\n")
        (repo / "modules/beta/content/one.md").write_text("watched\n")
        assert watch.wait_build(1) == (2, "ok")
        said = watch.output().split("build 1 ")[-1].splitlines()
        assert said[1] == "fedbuild watch: modules/beta/content/one.md changed: building"
        assert "watched" in watch.get("/beta/")[1]
    finally:
        watch.stop()


def test_sigint_stops_the_watch_and_every_build_process(tmp_path: Path) -> None:
    repo = copy_fixture("basic", tmp_path / "basic")
    edit_manifest(repo, lambda data: module(data, "beta").update(env={"BEHAVIOR": "hang"}))
    watch = Watching(repo, tmp_path / "watch.log")
    try:
        def hanging() -> list[psutil.Process]:
            try:
                tree = psutil.Process(watch.proc.pid).children(recursive=True)
            except psutil.Error:
                return []
            return tree if any("sleep" in p.name() for p in tree if _alive(p)) else []
        assert eventually(lambda: bool(hanging()), WAIT), watch.output()
        pids = [p.pid for p in hanging()]
        assert len(pids) >= 3  # doit, build.sh, its sleep
        watch.proc.send_signal(signal.SIGINT)
        assert watch.proc.wait(60) == 130
        assert watch.output().count("fedbuild: interrupted") == 1, watch.output()
        assert eventually(lambda: not any(_alive_pid(pid) for pid in pids), 10)
    finally:
        watch.stop()


def test_sigint_while_waiting_leaves_no_process(tmp_path: Path) -> None:
    """Between builds the watch holds the next build's interpreter, ready: it goes too."""
    watch = Watching(copy_fixture("basic", tmp_path / "basic"), tmp_path / "watch.log")
    try:
        assert watch.wait_build(0) == (1, "ok")
        assert eventually(lambda: bool(psutil.Process(watch.proc.pid).children()), 30)
        pids = [p.pid for p in psutil.Process(watch.proc.pid).children(recursive=True)]
        watch.proc.send_signal(signal.SIGINT)
        assert watch.proc.wait(60) == 130
        assert watch.output().count("fedbuild: interrupted") == 1, watch.output()
        assert eventually(lambda: not any(_alive_pid(pid) for pid in pids), 10)
    finally:
        watch.stop()


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _alive_pid(pid: int) -> bool:
    try:
        return _alive(psutil.Process(pid))
    except psutil.Error:
        return False
