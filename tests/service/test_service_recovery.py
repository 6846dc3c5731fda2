"""A service killed mid-build: its build's processes die with it (PR_SET_PDEATHSIG on the
build's supervisor); on its next start the build it ran is failed (interrupted), and the
builds still pending run."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import eventually
from tests.service.service_server import marked, running_service, service_repo


def test_a_restart_fails_the_interrupted_build_and_runs_the_pending_one(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_service(data, "--workers", "1") as first:
        slow = first.trigger(first.register(service_repo("slow", tmp_path / "slow"))["id"])
        quick = first.trigger(first.register(service_repo("quick", tmp_path / "quick"))["id"])
        first.wait_task_started(slow["id"], "build:nap")
        assert marked(first.data, slow["id"])
        first.kill()
        printed = len(first.log_text())
        assert first.token in first.log_text()
        # Its build does not live on, unsupervised, until the next start.
        assert eventually(lambda: not marked(first.data, slow["id"]), timeout=10)

    with running_service(data, "--workers", "1") as second:
        interrupted = second.build(slow["id"])
        assert interrupted["status"] == "failed"
        assert interrupted["error"] == "interrupted: the service stopped while it ran"
        assert interrupted["completed_at"] and interrupted["duration"] > 0
        assert marked(second.data, slow["id"]) == []
        assert second.wait_build(quick["id"])["status"] == "success"
        later = second.log_text()[printed:]  # the token is printed on the first start only
        assert "API token in" in later and second.token not in later
