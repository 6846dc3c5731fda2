"""The service's HTTP API against a real `doit serve`: tokens, projects, builds."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import run_command, run_doit
from tests.service.service_server import Service, running_service, service_repo


def test_health_needs_no_token_and_the_openapi_document_is_served(service: Service) -> None:
    assert service.request("GET", "/api/health", token=None).json()["status"] == "ok"
    assert service.request("GET", "/openapi.json", token=None).status_code == 401
    document = service.get("/openapi.json").json()
    for path in ("/api/projects", "/api/projects/{project_id}/build", "/api/builds/{build_id}",
                 "/api/builds/{build_id}/retry", "/api/builds/{build_id}/cancel",
                 "/api/projects/{project_id}/stats", "/api/webhooks/github"):
        assert path in document["paths"], path
    page = service.request("GET", "/", token=None)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


def test_every_mutating_endpoint_and_every_read_needs_the_token(service: Service,
                                                                tmp_path: Path) -> None:
    project = service.register(service_repo("quick", tmp_path / "quick"))
    build = service.wait_build(service.trigger(project["id"])["id"])
    writes = [("POST", "/api/projects", {"path": str(tmp_path / "quick")}),
              ("PATCH", f"/api/projects/{project['id']}", {"status": "inactive"}),
              ("POST", f"/api/projects/{project['id']}/build", {}),
              ("POST", f"/api/builds/{build['id']}/retry", None),
              ("POST", f"/api/builds/{build['id']}/cancel", None)]
    reads = ["/api/projects", f"/api/projects/{project['id']}",
             f"/api/projects/{project['id']}/builds", f"/api/projects/{project['id']}/stats",
             "/api/builds", f"/api/builds/{build['id']}", f"/api/builds/{build['id']}/log"]
    for method, path, body in [*writes, *(("GET", path, None) for path in reads)]:
        for token in (None, "not-the-token"):
            answer = service.request(method, path, token=token, json=body)
            assert answer.status_code == 401, (method, path, token, answer.text)
            assert answer.headers["www-authenticate"] == "Bearer"
            assert "token" in answer.json()["detail"]
    for path in reads:
        assert service.get(path).status_code == 200, path
    assert service.get(f"/api/projects/{project['id']}").json()["status"] == "active"


def test_public_reads_open_the_reads_but_not_the_writes(tmp_path: Path) -> None:
    with running_service(tmp_path / "data", "--public-reads") as public:
        project = public.register(service_repo("quick", tmp_path / "quick"))
        assert public.request("GET", "/api/projects", token=None).status_code == 200
        answer = public.request("GET", f"/api/projects/{project['id']}/stats", token=None)
        assert answer.status_code == 200
        answer = public.request("POST", f"/api/projects/{project['id']}/build", token=None)
        assert answer.status_code == 401


def test_a_repository_that_cannot_build_is_refused_with_doits_own_line(service: Service,
                                                                       tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    answer = service.post("/api/projects", json={"path": str(missing)})
    assert answer.status_code == 422
    assert answer.json() == {"detail": f"{missing} does not exist"}

    repo = service_repo("quick", tmp_path / "broken")
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"][0]["toolchain"] = "nonesuch"
    (repo / "modules.json").write_text(json.dumps(manifest))
    answer = service.post("/api/projects", json={"path": str(repo)})
    assert answer.status_code == 422
    detail = answer.json()["detail"]
    assert detail.startswith("modules.json: modules[0].toolchain: 'nonesuch' is not a toolchain")
    cli = run_doit(repo)
    assert cli.returncode == 3
    assert f"ERROR: {detail}\n" in cli.stdout + cli.stderr

    (repo / "modules.json").unlink()
    answer = service.post("/api/projects", json={"path": str(repo)})
    assert answer.status_code == 422
    cli = run_doit(repo)
    assert f"ERROR: {answer.json()['detail']}\n" in cli.stdout + cli.stderr


def test_a_build_runs_in_the_background_and_is_recorded(service: Service, tmp_path: Path) -> None:
    repo = service_repo("quick", tmp_path / "quick")
    project = service.register(repo, name="quick one")
    queued = service.trigger(project["id"], trigger="manual")
    assert queued["status"] == "pending" and queued["build_id"] == queued["id"]

    build = service.wait_build(queued["id"])
    assert build["status"] == "success", build
    statuses = [e["status"] for e in build["events"] if e["type"] == "build.status"]
    assert statuses == ["pending", "running", "success"]
    assert build["started_at"] and build["completed_at"] and build["duration"] > 0
    assert build["triggered_by"] == "manual" and build["mode"] == "development"
    assert [(t["task"], t["status"]) for t in build["task_results"]] == [
        ("build:hello", "built"), ("test:hello", "built")]
    assert build["progress"] == {"done": 2, "total": 2, "percent": 100}
    assert "test:hello" in build["build_output"]
    assert (Path(build["artifacts_path"]) / "hello" / "hello.txt").read_text() == "one\n"
    results = build["test_results"]
    assert (results["tests"], results["passed"], results["failures"]) == (1, 1, 0)
    assert results["cases"][0]["name"] == "test:hello"
    log = service.get(f"/api/builds/{build['id']}/log")
    assert log.headers["content-type"].startswith("text/plain") and "build:hello" in log.text

    # The same run is in the repository's own history.
    history = run_command(repo, "history", "--run", str(build["run_id"]))
    assert history.returncode == 0, history.stderr
    assert f"run {build['run_id']}:" in history.stdout and "test:hello" in history.stdout


def test_a_failing_build_says_which_task_failed(service: Service, tmp_path: Path) -> None:
    project = service.register(service_repo("failing", tmp_path / "failing"))
    build = service.wait_build(service.trigger(project["id"])["id"])
    assert build["status"] == "failed"
    assert build["error"] == "failed: build:broken"
    assert [(t["task"], t["status"]) for t in build["task_results"]] == [
        ("build:broken", "failed")]
    assert "about to fail" in build["build_output"]
    assert build["completed_at"] and build["duration"] > 0


def test_paging_and_statistics(service: Service, tmp_path: Path) -> None:
    repo = service_repo("quick", tmp_path / "quick")
    project = service.register(repo)
    ids = []
    for tasks in ([], ["build:hello"], ["test:hello"]):
        if tasks == ["test:hello"]:  # the test step fails on an empty hello.txt
            (repo / "modules" / "hello" / "msg.txt").write_text("")
        ids.append(service.wait_build(service.trigger(project["id"], tasks=tasks)["id"])["id"])
    failed = service.build(ids[2])
    assert failed["status"] == "failed" and "test:hello" in failed["error"]

    builds = f"/api/projects/{project['id']}/builds"
    first = service.get(builds, params={"page": 1, "per_page": 2}).json()
    assert [b["id"] for b in first["items"]] == [ids[2], ids[1]] and first["total"] == 3
    second = service.get(builds, params={"page": 2, "per_page": 2}).json()
    assert [b["id"] for b in second["items"]] == [ids[0]]
    same = service.get(builds, params={"limit": 2, "offset": 2}).json()
    assert [b["id"] for b in same["items"]] == [ids[0]]
    only_failed = service.get(builds, params={"status": "failed"}).json()
    assert [b["id"] for b in only_failed["items"]] == [ids[2]]

    stats = service.get(f"/api/projects/{project['id']}/stats").json()
    assert (stats["total_builds"], stats["successful"], stats["failed"], stats["pending"],
            stats["running"]) == (3, 2, 1, 0, 0)
    assert stats["success_rate"] == 66.7
    durations = [service.build(i)["duration"] for i in ids]
    assert abs(stats["average_duration"] - sum(durations) / 3) < 0.01


def test_an_inactive_project_or_a_bad_request_builds_nothing(service: Service,
                                                             tmp_path: Path) -> None:
    project = service.register(service_repo("quick", tmp_path / "quick"))
    path = f"/api/projects/{project['id']}"
    assert service.request("PATCH", path, json={"status": "inactive"}).json()["status"] == \
        "inactive"
    answer = service.post(f"{path}/build", json={})
    assert answer.status_code == 409 and "inactive" in answer.json()["detail"]
    service.request("PATCH", path, json={"status": "active"})

    answer = service.post(f"{path}/build", json={"mode": "fast"})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("mode: Input should be 'development'")
    assert service.post(f"{path}/build", json={"tasks": ["--always"]}).status_code == 422
    answer = service.post(f"{path}/build", json={"commit": "abc1234"})
    assert answer.status_code == 422 and "abc1234" in answer.json()["detail"]
    assert service.post("/api/projects/nonesuch/build", json={}).status_code == 404
    assert service.get("/api/builds/999999").status_code == 404
    assert service.get(f"{path}/builds").json()["total"] == 0
