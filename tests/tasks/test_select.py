"""`select=`: names, tags, folders and Turborepo's `...` on the steps fixture (lib <- app)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import UsageError
from core.state import State
from federation.graph import dependencies, dependents
from federation.loader import load_project
from federation.platforms import host
from federation.steps import plan_steps
from tasks.config import default_tasks
from tasks.select import selected

Repo = Callable[[str], Path]


@pytest.fixture
def steps(monorepo: Repo) -> Path:
    """The steps fixture with tags: lib and app are `core`, tooled `tools`."""
    repo = monorepo("steps")
    data = json.loads((repo / "modules.json").read_text())
    for entry in data["modules"]:
        entry["tags"] = {"lib": ["core"], "app": ["core", "ui"], "tooled": ["tools"]}.get(
            entry["name"], [])
    (repo / "modules.json").write_text(json.dumps(data))
    return repo


@pytest.mark.parametrize(("value", "modules"), [
    ("lib", {"lib"}),
    ("lib,tooled", {"lib", "tooled"}),
    (" lib , tooled ", {"lib", "tooled"}),
    ("lib...", {"lib", "app"}),
    ("...app", {"lib", "app"}),
    ("...lib", {"lib"}),
    ("app...", {"app"}),
    ("tag:core", {"lib", "app"}),
    ("tag:ui...", {"app"}),
    ("...tag:ui", {"lib", "app"}),
    ("modules/app", {"app"}),
    ("modules/lib/src", {"lib"}),
    ("modules/lib/lib.cfg", {"lib"}),
    ("tag:tools,app", {"tooled", "app"}),
])
def test_terms(steps: Path, value: str, modules: set[str]) -> None:
    assert selected(load_project(steps), value) == modules


def test_a_folder_above_modules_selects_each_under_it(steps: Path) -> None:
    everything = {m.name for m in load_project(steps).manifest.modules}
    assert selected(load_project(steps), "modules") == everything
    assert selected(load_project(steps), ".") == everything


def test_no_selection_is_none(steps: Path) -> None:
    assert selected(load_project(steps), None) is None  # no select= on this command line


@pytest.mark.parametrize(("value", "line"), [
    ("lbi", "command line: select=lbi: no module 'lbi'; did you mean lib? (a module's name, "
            "tag:<tag> or a folder)"),
    ("tag:cor", "command line: select=tag:cor: no module has the tag 'cor'; did you mean "
                "tag:core? (tags: core, tools, ui)"),
    ("...", "command line: select=...: names no module around '...'; write web... or ...web"),
    ("modules/nope", "command line: select=modules/nope: 'modules/nope' is no module's name "
                     "and no file or folder of the repository"),
    ("tools", "command line: select=tools: no module's folder is at, under or above 'tools'"),
    (",", "command line: select=,: names no module; give names, tag:<tag> or a path, "
          "e.g. select=web,docs"),
])
def test_mistakes_are_one_line(steps: Path, value: str, line: str) -> None:
    with pytest.raises(UsageError) as err:
        selected(load_project(steps), value)
    assert str(err.value) == line


def test_closures() -> None:
    graph = {"a": [], "b": ["a"], "c": ["b"], "d": []}
    assert dependents(graph, ["a"]) == {"a", "b", "c"}
    assert dependencies(graph, ["c"]) == {"a", "b", "c"}
    assert dependents(graph, ["d"]) == {"d"}


def test_default_tasks_of_a_selection_are_the_modules_own(steps: Path) -> None:
    """What `doit select=...` runs: exactly the chosen modules' default tasks, the same
    names `doit build:app` would be given."""
    project = load_project(steps)
    plan = plan_steps(project, State(steps), project.toolchains, "development", host())
    everything = default_tasks(plan, "development", [])
    chosen = default_tasks(plan, "development", [], chosen=frozenset({"app", "lib"}))
    assert chosen == [t for t in everything if t.split(":")[-1] in {"app", "lib"}]
    assert "build:app" in chosen and "build:tooled" not in chosen
    production = default_tasks(plan, "production", [], chosen=frozenset({"lib"}))
    assert "verify:lib" in production and "verify" not in production
    assert default_tasks(plan, "development", ["home"], chosen=frozenset({"lib"})) \
        == [t for t in everything if t.endswith(":lib")]
    assert default_tasks(plan, "development", ["home"], chosen=frozenset({"home"})) \
        == ["build:home", "federate"]


def test_a_selection_without_default_tasks_is_refused(steps: Path) -> None:
    project = load_project(steps)
    plan = plan_steps(project, State(steps), project.toolchains, "development", host())
    with pytest.raises(UsageError, match="the modules selected \\(nap\\) have no default task"):
        default_tasks(plan, "development", [], chosen=frozenset({"nap"}))
