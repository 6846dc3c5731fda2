"""The site build plan: build.sh's argv and inputs, derived without running anything."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from federation.loader import load_project
from federation.plan import OUT, SiteBuild, plan_sites, resolve_site
from federation.state import State

Repo = Callable[[str], Path]


def plan(repo: Path) -> dict[str, SiteBuild]:
    """Sites of the monorepo at `repo`, by name."""
    return {s.name: s for s in plan_sites(load_project(repo), State(repo))}


def test_argv_maps_module_json_and_manifest(monorepo: Repo) -> None:
    """--config, --output, --base-url, --content and the module.json's template/theme/components."""
    repo = monorepo("basic")
    alpha = resolve_site(plan(repo)["alpha"])
    assert alpha.argv == (
        "scripts/build.sh", "--config", "modules/alpha/module.json", "--output", OUT,
        "--base-url", "https://fixture.example.org/", "--content", "modules/alpha/content",
        "--template", "default", "--theme", "plain", "--components", "note")
    gamma = resolve_site(plan(repo)["gamma"])  # older "build" key, no components
    assert gamma.argv[-4:] == ("--template", "default", "--theme", "plain")


def test_overrides_win_over_module_json(monorepo: Repo) -> None:
    """overrides.theme/components/title/baseURL replace the module's own values."""
    repo = monorepo("basic")
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"][1]["overrides"] = {"theme": "other", "components": ["a", "b"],
                                           "title": "T $(x)", "baseURL": "https://b.test/"}
    (repo / "modules.json").write_text(json.dumps(manifest))
    beta = resolve_site(plan(repo)["beta"])
    assert beta.argv == (
        "scripts/build.sh", "--config", "modules/beta/module.json", "--output", OUT,
        "--base-url", "https://b.test/", "--content", "modules/beta/content",
        "--template", "default", "--theme", "other", "--components", "a,b", "--title", "T $(x)")


def test_inputs_are_module_files_and_used_assets_only(monorepo: Repo) -> None:
    """Inputs: the module's files, its module.json, and the template/theme/components it names."""
    repo = monorepo("basic")
    (repo / "site/components/unused").mkdir()
    (repo / "site/components/unused/x.html").write_text("x")
    assert resolve_site(plan(repo)["alpha"]).inputs == (
        "modules/alpha/content/one.md", "modules/alpha/content/two.md",
        "modules/alpha/module.json", "site/components/note/note.html",
        "site/templates/default/hugo.toml", "site/themes/plain/layout.html")


def test_priority_orders_the_plan_and_timeouts_carry_over(monorepo: Repo) -> None:
    """Higher priority first; build_options reach the SiteBuild."""
    repo = monorepo("basic")
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"][2]["build_options"] = {"priority": 99, "build_timeout": 45}
    (repo / "modules.json").write_text(json.dumps(manifest))
    sites = plan_sites(load_project(repo), State(repo))
    assert [s.name for s in sites] == ["gamma", "alpha", "beta"]
    assert sites[0].timeout == 45.0
    assert sites[0].staged == repo / ".fedbuild/staging/gamma"
