"""A site build's task is its step's: described without running anything, with what its
module.json decides (tasks/sites.py), run through the one pipeline of every step."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from core.digests import forget_fingerprints, remembered_fingerprint, stat_fingerprint
from core.outcome import Outcome, Status
from core.staging import replace_dir
from core.state import State
from federation.loader import load_project
from federation.platforms import host
from federation.steps import StepPlan, plan_steps
from tasks.clean import CLEAN, clean_paths
from tasks.returned import result
from tasks.signature import Signature
from tasks.sites import StagedOutputIntact
from tasks.steps import run_step, step_tasks

Repo = Callable[[str], Path]


def site_builds(repo: Path) -> dict[str, StepPlan]:
    """The site builds planned for the monorepo at `repo`, by module."""
    project = load_project(repo)
    steps = plan_steps(project, State(repo), project.toolchains, "development", host())
    return {s.module: s for s in steps.steps if s.site is not None}


def test_build_task_dict(monorepo: Repo) -> None:
    """Name, action, inputs, target, dependencies and clean of build:beta, as doit receives them."""
    repo = monorepo("basic")
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"][1]["depends_on"] = ["alpha"]
    (repo / "modules.json").write_text(json.dumps(manifest))
    sites = site_builds(repo)
    tasks = {t["name"]: t for t in step_tasks(list(sites.values()), groups=False)
             if isinstance(t, dict)}
    beta = tasks["beta"]
    # the build, then its values without the outcome (what dependents compare)
    assert beta["actions"] == [(run_step, [sites["beta"]]), (result, [])]
    assert beta["basename"] == "build"
    assert beta["file_dep"] == ["modules/beta/content/one.md", "modules/beta/content/two.md",
                                "modules/beta/module.json", "scripts/build.sh",
                                "site/templates/default/hugo.toml",
                                "site/themes/plain/layout.html"]
    assert beta["targets"] == [str(repo / ".fedbuild/staging/beta")]
    assert beta["task_dep"] == ["build:alpha"]
    assert beta["clean"] == [(clean_paths, [[repo / ".fedbuild/staging/beta"], repo])]
    assert beta["meta"] == {CLEAN: True}  # says what it removed (tasks/clean.py)
    assert [type(check) for check in beta["uptodate"]][:2] == [Signature, StagedOutputIntact]
    assert beta["doc"] == "build.sh site modules/beta -> .fedbuild/staging/beta"
    assert not (repo / ".fedbuild/staging").exists()  # describing built nothing


def test_staged_output_check(tmp_path: Path) -> None:
    """Up to date only after a successful build whose output is untouched."""
    staged = tmp_path / "out"
    staged.mkdir()
    (staged / "index.html").write_text("x")
    check = StagedOutputIntact(staged)
    values = {"outcome": "built", "stat": stat_fingerprint(staged)}
    assert check(None, values)
    assert check(None, {**values, "outcome": "flaky"})  # built, on a later attempt
    assert not check(None, {**values, "outcome": "failed"})
    (staged / "extra.html").write_text("y")
    assert not check(None, values)


def test_the_check_fingerprint_is_reused_until_a_folder_is_replaced(tmp_path: Path) -> None:
    """Federate's check reuses the fingerprint the build's check took (it does not walk the
    folder again) until a staging replace, of any folder, or a new run forgets it."""
    staged, new = tmp_path / "out", tmp_path / "new"
    for folder in (staged, new):
        folder.mkdir()
        (folder / "index.html").write_text(folder.name)
    forget_fingerprints()
    taken = stat_fingerprint(staged)
    assert StagedOutputIntact(staged)(None, {"outcome": "built", "stat": taken})
    (staged / "extra.html").write_text("y")  # unseen: the fingerprint is this run's
    assert remembered_fingerprint(staged) == taken
    replace_dir(new, staged, tmp_path)
    assert remembered_fingerprint(staged) == stat_fingerprint(staged) != taken
    (staged / "extra.html").write_text("y")
    forget_fingerprints()
    assert remembered_fingerprint(staged) == stat_fingerprint(staged)


def test_a_retried_site_build_is_flaky_like_a_step(monorepo: Repo, tmp_path: Path) -> None:
    """Before: a site build that passed on its second attempt said `built` where a toolchain
    step said `flaky (passed on attempt 2)`; both now take Status.of_result's word."""
    repo = monorepo("basic")
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"][1].update(retries=1, env={"BEHAVIOR": "flaky",
                                                   "FLAKY_MARK": str(tmp_path / "tried")})
    (repo / "modules.json").write_text(json.dumps(manifest))
    site = site_builds(repo)["beta"]
    run_step(site)
    outcome = Outcome.read(site.outcome)
    assert outcome is not None
    assert (outcome.status, outcome.attempts, outcome.message) == (
        Status.FLAKY, 2, "passed on attempt 2")
