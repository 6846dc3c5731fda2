"""A real `doit serve` for tests: a subprocess on a free loopback port with its own data
folder, started from this checkout and stopped (with every build process it left) at the
end.

    with running_service(tmp_path / "data", "--workers", "1") as service:
        project = service.register(repo)
        build = service.trigger(project["id"])
        done = service.wait_build(build["id"])
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.conftest import FIXTURES, REPO
from tests.servers import free_port, stop_process

HOST = "127.0.0.1"
START_TIMEOUT = 20.0
BUILD_TIMEOUT = 45.0
MARKER = "FEDBUILD_SERVICE_BUILD"
FINISHED = ("success", "failed", "cancelled")
_UNSET: Any = object()


@dataclass
class Service:
    """A running service: its URL, data folder, process and an HTTP client."""

    url: str
    port: int
    data: Path
    process: subprocess.Popen[bytes]
    output: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    @property
    def token(self) -> str:
        """The API token, as the service stored it."""
        return (self.data / "token").read_text().strip()

    def request(self, method: str, path: str, *, token: str | None = _UNSET,
                **kwargs: Any) -> httpx.Response:
        """An HTTP request with the service's token (`token=None`: without one)."""
        token = self.token if token is _UNSET else token
        headers = dict(kwargs.pop("headers", {}))
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.request(method, path, headers=headers, **kwargs)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET with the token."""
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        """POST with the token."""
        return self.request("POST", path, **kwargs)

    def ticket(self) -> str:
        """A single-use ticket for one event stream (`?ticket=`)."""
        answer = self.post("/api/events/ticket")
        assert answer.status_code == 200, answer.text
        return str(answer.json()["ticket"])

    def register(self, path: Path, **fields: Any) -> dict[str, Any]:
        """Register a repository (which must succeed) and return the project."""
        answer = self.post("/api/projects", json={"path": str(path), **fields})
        assert answer.status_code == 201, answer.text
        return dict(answer.json())

    def trigger(self, project_id: str, **body: Any) -> dict[str, Any]:
        """Queue a build (which must be accepted) and return it."""
        answer = self.post(f"/api/projects/{project_id}/build", json=body)
        assert answer.status_code == 202, answer.text
        return dict(answer.json())

    def build(self, build_id: int) -> dict[str, Any]:
        """GET /api/builds/{id}."""
        answer = self.get(f"/api/builds/{build_id}")
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    def wait_build(self, build_id: int, condition: Callable[[dict[str, Any]], bool] | None = None,
                   timeout: float = BUILD_TIMEOUT) -> dict[str, Any]:
        """Poll the build until `condition` holds (default: it ended, completed_at set, and its
        clients were told: the service writes the record first, then publishes the events)."""
        check = condition or (lambda b: b["status"] in FINISHED and bool(b["completed_at"])
                              and _told(b))
        deadline = time.monotonic() + timeout
        while True:
            build = self.build(build_id)
            if check(build):
                return build
            if time.monotonic() > deadline:
                raise AssertionError(f"build {build_id} never got there: {build}")
            time.sleep(0.05)

    def wait_task_started(self, build_id: int, task: str) -> dict[str, Any]:
        """Poll until the build's task has started (the step's process is running)."""
        return self.wait_build(build_id, lambda b: any(
            t["task"] == task for t in b["task_results"]) or b["status"] in FINISHED)

    def log_text(self) -> str:
        """What the service printed so far."""
        return self.output.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL the service (its builds' processes, in their own sessions, live on)."""
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL) and kill any build process it left."""
        self.client.close()
        stop_process(self.process)
        kill_marked_under(self.data)


def marked(data: Path, build_id: int | None = None) -> list[psutil.Process]:
    """Live processes of builds of the service with this data folder (one build's only
    when build_id is given)."""
    found = []
    for proc in psutil.process_iter():
        with suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            value = proc.environ().get(MARKER, "")
            number, _, folder = value.partition("@")
            if folder == str(data) and (build_id is None or number == str(build_id)):
                found.append(proc)
    return found


def kill_marked_under(data: Path) -> None:
    """SIGKILL every process a build of this data folder's service left."""
    for proc in marked(data):
        with suppress(psutil.Error):
            proc.kill()


def start_service(data: Path, *args: str, env: dict[str, str] | None = None) -> Service:
    """Start `doit serve` on a free port with `data` and wait until it answers."""
    data.mkdir(parents=True, exist_ok=True)
    data = data.resolve()
    output = data.parent / f"{data.name}-serve.log"
    for attempt in range(3):
        port = free_port()
        argv = [sys.executable, "-m", "doit", "serve", "--port", str(port), "--data", str(data),
                *args]
        with output.open("ab") as out:
            process = subprocess.Popen(argv, cwd=REPO, env={**os.environ, **(env or {})},
                                       stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        service = Service(f"http://{HOST}:{port}", port, data, process, output)
        if _answers(service):
            return service
        service.stop()
        if "address already in use" not in service.log_text() or attempt == 2:
            raise RuntimeError(f"doit serve did not start: {service.log_text()[-2000:]}")
    raise AssertionError("unreachable")


def _answers(service: Service) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if service.process.poll() is not None:
            return False
        with suppress(httpx.HTTPError):
            if service.client.get("/api/health", timeout=1).status_code == 200:
                return True
        time.sleep(0.05)
    return False


@contextmanager
def running_service(data: Path, *args: str,
                    env: dict[str, str] | None = None) -> Iterator[Service]:
    """A service for the duration of the block."""
    service = start_service(data, *args, env=env)
    try:
        yield service
    finally:
        service.stop()


def service_repo(name: str, dest: Path) -> Path:
    """A copy of tests/fixtures/service/<name> at dest."""
    shutil.copytree(FIXTURES / "service" / name, dest)
    return dest.resolve()


def git(repo: Path, *args: str) -> str:
    """Run git in repo (with a fixed identity) and return what it printed."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ada Tester", "GIT_AUTHOR_EMAIL": "ada@example.org",
           "GIT_COMMITTER_NAME": "Ada Tester", "GIT_COMMITTER_EMAIL": "ada@example.org"}
    done = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=30, check=True)
    return done.stdout.strip()


def two_commit_repo(dest: Path) -> tuple[Path, str, str]:
    """The quick fixture as a git repository on branch main: the first commit has
    msg.txt "one", the second "two". Returns (repo, first sha, second sha)."""
    repo = service_repo("quick", dest)
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text(".fedbuild/\ndist/\npublic/\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first: say one")
    first = git(repo, "rev-parse", "HEAD")
    (repo / "modules" / "hello" / "msg.txt").write_text("two\n")
    git(repo, "commit", "-q", "-am", "second: say two")
    return repo, first, git(repo, "rev-parse", "HEAD")


def _told(build: dict[str, Any]) -> bool:
    """Whether the build's last status event says how it ended."""
    said = [e["status"] for e in build.get("events", []) if e.get("type") == "build.status"]
    return not said or said[-1] == build["status"]
