"""The build script's options, learned once per script digest (federation/script_options.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from core.state import State
from federation.loader import Project, load_project
from federation.platforms import host
from federation.script_options import script_options, unsupported
from federation.steps import plan_steps

Repo = Callable[[str], Path]

# A repository's build step running another file of its own through an interpreter.
THROUGH_BASH = """\
steps:
  - name: build
    argv: ["bash", "{root}/tools/site.sh"]
"""


def site_command(project: Project, state: State) -> tuple[str, ...]:
    """The planned site build step's argv, before the module's options (what --help gets)."""
    steps = plan_steps(project, state, project.toolchains, "development", host()).steps
    return next(step.commands[0] for step in steps if step.site is not None)


def test_an_interpreted_script_is_asked_again_when_it_changes(monorepo: Repo) -> None:
    repo = monorepo("script-options")
    (repo / "tools").mkdir()
    shutil.copy(repo / "scripts/build.sh", repo / "tools/site.sh")
    (repo / "toolchains").mkdir()
    (repo / "toolchains/build.sh.yaml").write_text(THROUGH_BASH)
    project, state = load_project(repo), State(repo)
    command = site_command(project, state)
    assert command == ("bash", f"{repo}/tools/site.sh")
    options = script_options(project, state, command)
    assert options is not None and options.how == "learned from its --help"
    assert "--title" not in options.accepted and "--template" in options.accepted
    assert script_options(project, state, command) == options
    assert (repo / "help-runs.txt").read_text().splitlines() == ["help"]  # cached
    site = repo / "tools/site.sh"
    site.write_text(site.read_text().replace("[--template NAME]", "[--template NAME] "
                                             "[--title TEXT]"))
    again = script_options(project, state, command)
    assert again is not None and "--title" in again.accepted
    assert (repo / "help-runs.txt").read_text().splitlines() == ["help", "help"]
    assert unsupported(project, again) == []
