"""The federate task generator describes the task; its up-to-date check follows its inputs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.state import State
from federation.loader import load_project
from federation.plan import FederationPlan, plan_federation
from federation.platforms import host
from federation.policy import Policy
from federation.steps import plan_steps
from tasks.clean import CLEAN
from tasks.doit_compat import AFTER_FAILURES
from tasks.federate import (
    PublishedCurrent,
    clean_federation,
    federate,
    federate_task,
    published_key,
)
from tests.conftest import run_doit

Repo = Callable[[str], Path]


def federation(repo: Path) -> FederationPlan:
    """The federate step of the monorepo at `repo`."""
    project, state = load_project(repo), State(repo)
    steps = plan_steps(project, state, project.toolchains, "development", host())
    return plan_federation(project, state, steps.steps)


def test_federate_task_dict(monorepo: Repo) -> None:
    """After every build (even a failed one), cleaned by clean_federation, nothing run yet."""
    repo = monorepo("pages")
    plan = federation(repo)
    task = federate_task(plan)
    assert task["basename"] == "federate"
    assert task["actions"] == [(federate, [plan, Policy()])]  # no validation settings given
    assert task["task_dep"] == ["build:docs", "build:shop", "build:home"]
    assert task["meta"] == {AFTER_FAILURES: True, CLEAN: True}
    assert task["clean"] == [(clean_federation, [plan])]
    assert isinstance(task["uptodate"][0], PublishedCurrent)
    assert not (repo / "public").exists() and not (repo / ".fedbuild/staging").exists()


@pytest.mark.parametrize("parallel", [[], ["-n", "2", "-P", "thread"],
                                      ["-n", "2", "-P", "process"]])
def test_check_sees_a_staged_output_rebuilt_in_the_same_run(monorepo: Repo,
                                                            parallel: list[str]) -> None:
    """The build's check fingerprints its staged output before the build rewrites it (its
    inputs are checked after it); federate's check, which reuses the fingerprints taken this
    run, must see the rewritten one, wherever the build ran (here, a thread, a process)."""
    repo = monorepo("pages")
    assert run_doit(repo, *parallel).returncode == 0
    page = repo / "modules/docs/pages/guide/index.html"
    page.write_text(page.read_text().replace("guide v1", "guide v2"))
    result = run_doit(repo, *parallel)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "guide v2" in (repo / ".fedbuild/staging/docs/guide/index.html").read_text()
    assert "guide v2" in (repo / "public/docs/guide/index.html").read_text()


def test_published_key_follows_outputs_settings_and_the_tree(monorepo: Repo) -> None:
    """The key changes with a module's staged output, the manifest and the published tree."""
    repo = monorepo("pages")
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    plan = federation(repo)
    key = published_key(plan)
    check = PublishedCurrent(plan)
    assert check(None, {"key": key}) and not check(None, {})
    (repo / "public/about.html").write_text("edited")
    assert published_key(plan) != key
    key = published_key(plan)
    (repo / ".fedbuild/staging/docs/new.html").write_text("new")
    assert published_key(plan) != key
    key = published_key(plan)
    (repo / "modules.json").write_text((repo / "modules.json").read_text().replace(
        '"destination": "/products/shop/"', '"destination": "/shop/"'))
    assert published_key(federation(repo)) != key
