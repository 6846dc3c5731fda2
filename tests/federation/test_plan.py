"""The site build plan: the build.sh toolchain's build step, its argv and inputs (its
module.json's), and the federate plan, derived without running anything."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from core.state import State
from federation.loader import load_project
from federation.plan import FederationPlan, plan_federation
from federation.platforms import host
from federation.sites import OUT
from federation.steps import StepPlan, plan_steps, resolve_step, site_step

Repo = Callable[[str], Path]


def plan_sites(repo: Path) -> list[StepPlan]:
    """The site builds of the monorepo at `repo`, in the order they are planned."""
    project = load_project(repo)
    steps = plan_steps(project, State(repo), project.toolchains, "development", host())
    return [s for s in steps.steps if s.site is not None]


def plan(repo: Path) -> dict[str, StepPlan]:
    """Site builds of the monorepo at `repo`, by module."""
    return {s.module: s for s in plan_sites(repo)}


def test_argv_maps_module_json_and_manifest(monorepo: Repo) -> None:
    """--config, --output, --base-url, --content and the module.json's template/theme/components."""
    repo = monorepo("basic")
    alpha = resolve_step(plan(repo)["alpha"])
    assert alpha.argv == (
        "scripts/build.sh", "--config", "modules/alpha/module.json", "--output", OUT,
        "--base-url", "https://fixture.example.org/", "--content", "modules/alpha/content",
        "--template", "default", "--theme", "plain", "--components", "note")
    gamma = resolve_step(plan(repo)["gamma"])  # older "build" key, no components
    assert gamma.argv[-4:] == ("--template", "default", "--theme", "plain")


def test_the_build_sh_toolchains_build_step_is_the_site_builds_command(monorepo: Repo) -> None:
    """The build.sh toolchain's YAML defines the site build: its build step's argv (here a
    repository's own, running the script through sh) comes before the module's options,
    and the build's action plan is a toolchain step's, staged at .fedbuild/staging/."""
    repo = monorepo("basic")
    shipped = (Path(__file__).parents[2] / "tasks/toolchains/build.sh.yaml").read_text()
    (repo / "toolchains").mkdir()
    (repo / "toolchains/build.sh.yaml").write_text(
        shipped.replace('argv: ["{build_script}"]', 'argv: ["sh", "{build_script}"]'))
    site = plan(repo)["alpha"]
    resolved = resolve_step(site)
    assert resolved.argv[:4] == ("sh", "scripts/build.sh", "--config",
                                 "modules/alpha/module.json")
    step = site_step(site, resolved, fields=None)
    assert (step.task, step.dist, step.outputs) == (
        "build:alpha", repo / ".fedbuild/staging/alpha", (repo / ".fedbuild/staging/alpha",))
    assert step.commands == (resolved.argv,)  # sh found on PATH, run in the repository
    assert step.cwd == repo and step.creates_out


def test_overrides_win_over_module_json(monorepo: Repo) -> None:
    """overrides.theme/components/title/baseURL replace the module's own values."""
    repo = monorepo("basic")
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"][1]["overrides"] = {"theme": "other", "components": ["a", "b"],
                                           "title": "T (x)", "baseURL": "https://b.test/"}
    (repo / "modules.json").write_text(json.dumps(manifest))
    beta = resolve_step(plan(repo)["beta"])
    assert beta.argv == (
        "scripts/build.sh", "--config", "modules/beta/module.json", "--output", OUT,
        "--base-url", "https://b.test/", "--content", "modules/beta/content",
        "--template", "default", "--theme", "other", "--components", "a,b", "--title", "T (x)")


def test_only_the_options_the_script_accepts_are_passed(monorepo: Repo) -> None:
    """A script without --title or --theme gets neither: they go into a copy of module.json
    passed as --config (written when the build runs); --config, --output and --base-url are
    passed whatever it says (issue 22 item 3)."""
    repo = monorepo("basic")
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"][1]["overrides"] = {"theme": "other", "title": "T"}
    (repo / "modules.json").write_text(json.dumps(manifest))
    planned = plan(repo)["beta"]
    assert planned.site is not None
    beta = dataclasses.replace(planned, site=dataclasses.replace(
        planned.site, options=frozenset({"--content", "--template"})))
    resolved = resolve_step(beta)
    assert resolved.argv == (
        "scripts/build.sh", "--config", ".fedbuild/configs/beta/module.json", "--output", OUT,
        "--base-url", "https://fixture.example.org/beta/", "--content",
        "modules/beta/content", "--template", "default")
    assert beta.signature()["options"] == ["--content", "--template"]
    assert resolved.config is not None and not resolved.config[0].exists()
    own = json.loads((repo / "modules/beta/module.json").read_text())
    copied = json.loads(resolved.config[1])
    assert copied["site"] == {**own.get("site", {}), "title": "T"}
    assert copied["hugo_config"] == {**own.get("hugo_config", {}), "theme": "other"}
    assert {k: v for k, v in copied.items() if k not in ("site", "hugo_config")} == \
        {k: v for k, v in own.items() if k not in ("site", "hugo_config")}
    step = site_step(beta, resolved, fields=None)
    assert ".fedbuild/configs/beta/module.json" in step.inputs


def test_inputs_are_module_files_and_used_assets_only(monorepo: Repo) -> None:
    """Inputs: the module's files, its module.json, the template/theme/components it names and
    the build script (by content, so an edited script also misses the cache)."""
    repo = monorepo("basic")
    (repo / "site/components/unused").mkdir()
    (repo / "site/components/unused/x.html").write_text("x")
    assert resolve_step(plan(repo)["alpha"]).inputs == (
        "modules/alpha/content/one.md", "modules/alpha/content/two.md",
        "modules/alpha/module.json", "scripts/build.sh", "site/components/note/note.html",
        "site/templates/default/hugo.toml", "site/themes/plain/layout.html")


def test_priority_orders_the_plan_and_timeouts_carry_over(monorepo: Repo) -> None:
    """Higher priority first; build_options reach the site build's step."""
    repo = monorepo("basic")
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"][2]["build_options"] = {"priority": 99, "build_timeout": 45}
    (repo / "modules.json").write_text(json.dumps(manifest))
    sites = plan_sites(repo)
    assert [s.module for s in sites] == ["gamma", "alpha", "beta"]
    assert sites[0].timeout == 45.0
    assert sites[0].dist == repo / ".fedbuild/staging/gamma"


def federation(repo: Path) -> FederationPlan:
    """The federate step of the monorepo at `repo`."""
    project, state = load_project(repo), State(repo)
    steps = plan_steps(project, state, project.toolchains, "development", host())
    return plan_federation(project, state, steps.steps)


def test_federation_plan_mounts_every_site_module(monorepo: Repo) -> None:
    """Destinations, strategies, staged outputs and the published folder, in manifest order."""
    repo = monorepo("pages")
    plan_ = federation(repo)
    assert [(m.name, m.destination, m.strategy) for m in plan_.mounts] == [
        ("docs", "/docs/", "overwrite"), ("shop", "/products/shop/", "overwrite"),
        ("home", "/", "overwrite")]
    assert plan_.output == repo / "public"
    assert plan_.site_path == "/" and plan_.origin == "https://pages.example.org"
    assert plan_.mounts[0].staged == repo / ".fedbuild/staging/docs"
    assert not plan_.preserve_base


def test_only_modules_built_for_another_path_get_a_link_prefix(monorepo: Repo) -> None:
    """docs is built for the root (overrides.baseURL): its links gain /docs; shop and home
    are built where they are published: nothing to rewrite."""
    repo = monorepo("pages")
    prefixes = {m.name: m.prefix for m in federation(repo).mounts}
    assert prefixes == {"docs": "/docs", "shop": "", "home": ""}
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"][0]["css_path_prefix"] = "/handbook"
    manifest["federation"]["build_settings"] = {"css_path_resolution": True}
    (repo / "modules.json").write_text(json.dumps(manifest))
    assert federation(repo).mounts[0].prefix == "/handbook"
    manifest["federation"]["build_settings"] = {"css_path_resolution": False}
    (repo / "modules.json").write_text(json.dumps(manifest))
    assert federation(repo).mounts[0].prefix == ""


def test_base_url_with_a_path_moves_the_site_root(monorepo: Repo) -> None:
    """baseURL https://host/sub/: published paths and prefixes start with /sub/."""
    repo = monorepo("pages")
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["federation"]["baseURL"] = "https://pages.example.org/sub/"
    manifest["federation"]["strategy"] = "preserve-base-site"
    (repo / "modules.json").write_text(json.dumps(manifest))
    plan_ = federation(repo)
    assert plan_.site_path == "/sub/" and plan_.preserve_base
    assert {m.name: m.prefix for m in plan_.mounts}["docs"] == "/sub/docs"
