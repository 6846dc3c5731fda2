"""Cancel, retry and the queue's limits, on builds whose step waits for the test."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

from tests.service.service_server import (
    Service,
    marked,
    running_service,
    service_repo,
)

STEP = "build:nap"


def release(repo: Path) -> None:
    """Let the slow fixture's waiting step finish."""
    (repo / "modules" / "nap" / "release").touch()


def when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def stays_pending(service: Service, build_id: int, seconds: float = 0.6) -> bool:
    """Whether the build is still pending after `seconds` of polling."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if service.build(build_id)["status"] != "pending":
            return False
        time.sleep(0.05)
    return True


def test_cancel_kills_the_whole_process_tree(service: Service, tmp_path: Path) -> None:
    project = service.register(service_repo("slow", tmp_path / "slow"))
    build = service.trigger(project["id"])
    service.wait_task_started(build["id"], STEP)
    # doit, the step and the step's own child all carry the build's marker.
    deadline = time.monotonic() + 10
    while len(marked(service.data, build["id"])) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(marked(service.data, build["id"])) >= 3

    answer = service.post(f"/api/builds/{build['id']}/cancel")
    assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    done = service.wait_build(build["id"])
    assert done["status"] == "cancelled" and done["completed_at"]
    assert marked(service.data, build["id"]) == []
    assert service.post(f"/api/builds/{build['id']}/cancel").status_code == 409


def test_a_pending_build_is_cancelled_before_it_starts(service: Service,
                                                       tmp_path: Path) -> None:
    repo = service_repo("slow", tmp_path / "slow")
    project = service.register(repo)
    first = service.trigger(project["id"])
    second = service.trigger(project["id"])
    service.wait_task_started(first["id"], STEP)
    answer = service.post(f"/api/builds/{second['id']}/cancel")
    assert answer.status_code == 200
    assert service.build(second["id"])["error"] == "cancelled before it started"
    release(repo)
    assert service.wait_build(first["id"])["status"] == "success"
    assert service.build(second["id"])["started_at"] is None


def test_only_failed_or_cancelled_builds_are_retried(service: Service, tmp_path: Path) -> None:
    failing = service.register(service_repo("failing", tmp_path / "failing"))
    failed = service.wait_build(service.trigger(failing["id"], mode="production")["id"])
    assert failed["status"] == "failed"
    answer = service.post(f"/api/builds/{failed['id']}/retry")
    assert answer.status_code == 202
    again = answer.json()
    assert (again["status"], again["retry_of"], again["mode"]) == ("pending", failed["id"],
                                                                   "production")
    assert service.wait_build(again["id"])["status"] == "failed"

    repo = service_repo("slow", tmp_path / "slow")
    slow = service.register(repo)
    running = service.trigger(slow["id"])
    service.wait_task_started(running["id"], STEP)
    answer = service.post(f"/api/builds/{running['id']}/retry")
    assert answer.status_code == 409
    assert answer.json()["detail"] == (f"build {running['id']} is running; only failed or "
                                       "cancelled builds can be retried")
    service.post(f"/api/builds/{running['id']}/cancel")
    assert service.wait_build(running["id"])["status"] == "cancelled"
    release(repo)
    retried = service.post(f"/api/builds/{running['id']}/retry").json()
    assert service.wait_build(retried["id"])["status"] == "success"
    assert service.post(f"/api/builds/{retried['id']}/retry").status_code == 409


def test_two_projects_build_at_once_with_two_workers(service: Service, tmp_path: Path) -> None:
    repos = [service_repo("slow", tmp_path / name) for name in ("left", "right")]
    builds = [service.trigger(service.register(repo)["id"]) for repo in repos]
    for build in builds:
        assert service.wait_task_started(build["id"], STEP)["status"] == "running"
    for repo in repos:
        release(repo)
    left, right = (service.wait_build(b["id"]) for b in builds)
    assert left["status"] == right["status"] == "success"
    # Each started before the other ended.
    assert when(left["started_at"]) < when(right["completed_at"])
    assert when(right["started_at"]) < when(left["completed_at"])


def test_two_builds_of_one_project_never_run_at_once(service: Service, tmp_path: Path) -> None:
    repo = service_repo("slow", tmp_path / "slow")
    project = service.register(repo)
    first, second = service.trigger(project["id"]), service.trigger(project["id"])
    service.wait_task_started(first["id"], STEP)
    assert stays_pending(service, second["id"])  # a worker is free, but not for this project
    release(repo)
    first_done, second_done = (service.wait_build(b["id"]) for b in (first, second))
    assert first_done["status"] == second_done["status"] == "success"
    assert when(second_done["started_at"]) >= when(first_done["completed_at"])


def test_one_worker_runs_one_build_at_a_time(tmp_path: Path) -> None:
    with running_service(tmp_path / "data", "--workers", "1") as single:
        slow_repo = service_repo("slow", tmp_path / "slow")
        slow = single.trigger(single.register(slow_repo)["id"])
        quick = single.trigger(single.register(service_repo("quick", tmp_path / "quick"))["id"])
        single.wait_task_started(slow["id"], STEP)
        assert stays_pending(single, quick["id"])
        release(slow_repo)
        slow_done, quick_done = (single.wait_build(b["id"]) for b in (slow, quick))
        assert slow_done["status"] == quick_done["status"] == "success"
        assert when(quick_done["started_at"]) >= when(slow_done["completed_at"])
