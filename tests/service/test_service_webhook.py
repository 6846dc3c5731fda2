"""GitHub's push webhook (signed with HMAC-SHA256) and builds of a given commit, each in a
worktree of its own: the user's checkout is never touched."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

from service.webhook import find_project, push_build, signature_ok, url_key
from tests.service.service_server import (
    Service,
    git,
    running_service,
    two_commit_repo,
)

SECRET = "s3cret-for-tests"


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def push(repository: dict[str, Any], after: str, ref: str = "refs/heads/main") -> bytes:
    return json.dumps({"ref": ref, "after": after, "repository": repository,
                       "head_commit": {"id": after, "message": "first: say one",
                                       "author": {"name": "Ada Pusher"}}}).encode()


def deliver(service: Service, body: bytes, event: str = "push",
            signature: str | None = "sign", delivery: str | None = None) -> Any:
    """POST a webhook delivery (a new delivery id each time unless one is given)."""
    headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
               "Content-Type": "application/json"}
    if signature is not None:
        headers["X-Hub-Signature-256"] = signed(body) if signature == "sign" else signature
    return service.request("POST", "/api/webhooks/github", token=None, content=body,
                           headers=headers)


def untouched(repo: Path, head: str) -> None:
    """The user's checkout is as it was: same HEAD, clean, no build output, one worktree."""
    assert git(repo, "rev-parse", "HEAD") == head
    assert git(repo, "status", "--porcelain", "--ignored") == ""
    assert (repo / "modules" / "hello" / "msg.txt").read_text() == "two\n"
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_a_build_of_a_commit_runs_in_its_own_worktree(service: Service, tmp_path: Path) -> None:
    repo, first, second = two_commit_repo(tmp_path / "repo")
    project = service.register(repo)
    queued = service.trigger(project["id"], commit=first[:10])
    assert queued["commit_sha"] == first and queued["worktree"] is True
    build = service.wait_build(queued["id"])
    assert build["status"] == "success", build["build_output"]
    assert (build["commit_message"], build["commit_author"]) == ("first: say one", "Ada Tester")
    artifacts = Path(build["artifacts_path"])
    assert (artifacts / "dist" / "development" / "hello" / "hello.txt").read_text() == "one\n"
    assert (artifacts / "run" / "junit.xml").is_file() and build["test_results"]["tests"] == 1
    assert not (service.data / "worktrees" / str(build["id"])).exists()
    untouched(repo, second)


def test_a_signed_push_queues_a_build_of_the_pushed_commit(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(SECRET + "\n")
    repo, first, second = two_commit_repo(tmp_path / "repo")
    with running_service(tmp_path / "data", "--webhook-secret-file", str(secret_file)) as hooked:
        hooked.register(repo, github="octo/hello")
        repository = {"full_name": "octo/hello", "clone_url": "https://github.com/octo/hello.git"}
        body = push(repository, first)

        assert deliver(hooked, body, signature=None).status_code == 401
        assert deliver(hooked, body, signature=signed(body, "wrong")).status_code == 401
        assert deliver(hooked, body[:-1] + b" }", signature=signed(body)).status_code == 401
        stranger = push({"full_name": "octo/other",
                         "clone_url": "https://github.com/octo/other.git"}, first)
        answer = deliver(hooked, stranger)
        assert answer.status_code == 404 and "octo/other" in answer.json()["detail"]
        ping = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
        assert deliver(hooked, ping, event="ping").status_code == 200
        assert hooked.get("/api/builds").json()["total"] == 0

        answer = deliver(hooked, body)
        assert answer.status_code == 202, answer.text
        build = hooked.wait_build(answer.json()["build_id"])
        assert (build["status"], build["triggered_by"], build["commit_sha"], build["branch"]) == (
            "success", "push", first, "main")
        assert (build["commit_author"], build["commit_message"]) == ("Ada Pusher",
                                                                      "first: say one")
        hello = Path(build["artifacts_path"]) / "dist" / "development" / "hello" / "hello.txt"
        assert hello.read_text() == "one\n"
        untouched(repo, second)
        log = (hooked.data / "service.log").read_text()
        assert log.count(" refused (401)") == 3
        assert " refused (404)" in log


def test_a_push_to_a_cloned_project_is_matched_by_its_url(tmp_path: Path) -> None:
    source, first, second = two_commit_repo(tmp_path / "source")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(source), str(origin)], check=True)
    with running_service(tmp_path / "data", env={"FEDBUILD_WEBHOOK_SECRET": SECRET}) as hooked:
        answer = hooked.post("/api/projects", json={"git_url": str(origin), "branch": "main"})
        assert answer.status_code == 201, answer.text
        project = answer.json()
        assert Path(project["path"]) == hooked.data / "repos" / project["id"]
        body = push({"full_name": "elsewhere/origin", "clone_url": f"file://{origin}"}, first)
        build = hooked.wait_build(deliver(hooked, body).json()["build_id"])
        assert (build["status"], build["commit_sha"]) == ("success", first)
        # Without a commit, a cloned project builds its branch's newest commit.
        latest = hooked.wait_build(hooked.trigger(project["id"])["id"])
        assert (latest["status"], latest["commit_sha"]) == ("success", second)


def test_without_a_secret_the_webhook_refuses_everything(service: Service) -> None:
    body = push({"full_name": "octo/hello"}, "0" * 39 + "1")
    answer = deliver(service, body)
    assert answer.status_code == 503 and "secret" in answer.json()["detail"]


def test_registering_a_url_that_cannot_be_cloned_is_refused(service: Service,
                                                            tmp_path: Path) -> None:
    answer = service.post("/api/projects", json={"git_url": str(tmp_path / "none.git")})
    assert answer.status_code == 422 and "cannot be cloned" in answer.json()["detail"]
    assert not list((service.data / "repos").glob("*"))  # no half-made clone is left


def test_repository_urls_compare_in_any_spelling() -> None:
    keys = {url_key(u) for u in ("https://github.com/Octo/Hello.git", "git@github.com:octo/hello",
                                 "ssh://git@github.com/octo/hello.git",
                                 "https://github.com/octo/hello/")}
    assert keys == {"github.com/octo/hello"}
    assert url_key("file:///srv/git/app.git") == url_key("/srv/git/app") == "/srv/git/app"
    projects = [{"git_url": None, "github": "octo/a"},
                {"git_url": "git@github.com:octo/b.git", "github": None}]
    assert find_project(projects, {"full_name": "Octo/A"}) is projects[0]
    assert find_project(projects, {"clone_url": "https://github.com/octo/b.git"}) is projects[1]
    assert find_project(projects, {"full_name": "octo/b"}) is projects[1]
    assert find_project(projects, {"full_name": "octo/c"}) is None


def test_signatures_and_deleted_branches() -> None:
    assert signature_ok(SECRET, b"{}", signed(b"{}"))
    assert not signature_ok(SECRET, b"{}", signed(b"{}", "other"))
    assert not signature_ok(SECRET, b"{}", "sha1=abc")
    assert push_build({"after": "0" * 40, "ref": "refs/heads/x", "deleted": True}) is None
    tag = push_build({"after": "a" * 40, "ref": "refs/tags/v1", "head_commit": None})
    assert tag == {"commit": "a" * 40, "branch": None, "message": None, "author": None}
