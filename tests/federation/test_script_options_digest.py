"""The build script's options, learned once per script digest (federation/script_options.py)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from core.state import State
from federation.loader import load_project
from federation.script_options import script_options, unsupported

Repo = Callable[[str], Path]

# A repository's build step running another file of its own through an interpreter.
THROUGH_BASH = """\
steps:
  - name: build
    argv: ["bash", "{root}/tools/site.sh"]
"""


def test_an_interpreted_script_is_asked_again_when_it_changes(monorepo: Repo) -> None:
    repo = monorepo("script-options")
    (repo / "tools").mkdir()
    shutil.copy(repo / "scripts/build.sh", repo / "tools/site.sh")
    (repo / "toolchains").mkdir()
    (repo / "toolchains/build.sh.yaml").write_text(THROUGH_BASH)
    project, state = load_project(repo), State(repo)
    options = script_options(project, state)
    assert options is not None and options.how == "learned from its --help"
    assert "--title" not in options.accepted and "--template" in options.accepted
    assert script_options(project, state) == options
    assert (repo / "help-runs.txt").read_text().splitlines() == ["help"]  # cached
    site = repo / "tools/site.sh"
    site.write_text(site.read_text().replace("[--template NAME]", "[--template NAME] "
                                             "[--title TEXT]"))
    again = script_options(project, state)
    assert again is not None and "--title" in again.accepted
    assert (repo / "help-runs.txt").read_text().splitlines() == ["help", "help"]
    assert unsupported(project, again) == []
