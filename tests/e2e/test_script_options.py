"""Pass only what the build script understands (issue 22 item 3), on the script-options fixture.

Its build script is a reference-format one of a version with no --title: an unknown option
is `Unknown option: --title` and exit 1. Module `docs` sets overrides.title. fedbuild learns
the script's options once per script digest (its --help, counted in help-runs.txt, or the
`options` of the build step in toolchains/build.sh.yaml), warns in one line at load time
and leaves --title out instead of failing the build: the title reaches the page through a
copy of the module's config with site.title set, passed as --config (the module's own
module.json is left as it is).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import run_doit

Repo = Callable[[str], Path]

WARNING = ("WARNING: modules.json: modules[0].overrides.title: scripts/build.sh has no "
           "--title ({how}): applied as site.title in a copy of modules/docs/module.json "
           "passed as --config (.fedbuild/configs/docs/module.json)")

DECLARED = """\
description: the reference script of a version with no --title
steps:
  - name: build
    argv: ["{build_script}"]
    options: [--config, --output, --base-url, --content, --template, --theme, --components]
"""


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("WARNING:")]


def test_an_override_the_script_lacks_is_left_out_with_one_warning(monorepo: Repo) -> None:
    repo = monorepo("script-options")
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert warnings(result.stderr) == [WARNING.format(how="learned from its --help")]
    assert "Unknown option" not in result.stdout + result.stderr
    args = (repo / "args.txt").read_text().splitlines()
    assert len(args) == 2 and not any("--title" in line for line in args)
    assert all("--content" in line and "--base-url" in line for line in args)
    assert "<title>Our docs</title>" in (repo / "public/index.html").read_text()
    assert "--config .fedbuild/configs/docs/module.json" in args[0] + args[1]
    assert "--config modules/blog/module.json" in args[0] + args[1]
    assert json.loads((repo / "modules/docs/module.json").read_text()) == {
        "site": {"title": "Docs"}}  # the user's file is not edited
    assert "<title>Blog</title>" in (repo / "public/blog/index.html").read_text()
    assert (repo / "help-runs.txt").read_text().splitlines() == ["help"]


def test_the_help_is_asked_once_per_script_digest(monorepo: Repo) -> None:
    repo = monorepo("script-options")
    assert run_doit(repo).returncode == 0
    again = run_doit(repo)
    assert again.returncode == 0, again.stdout + again.stderr
    assert warnings(again.stderr) == [WARNING.format(how="learned from its --help")]
    assert (repo / "help-runs.txt").read_text().splitlines() == ["help"]  # cached
    script = repo / "scripts/build.sh"
    script.write_text(script.read_text() + "# another version\n")
    third = run_doit(repo)
    assert third.returncode == 0, third.stdout + third.stderr
    assert (repo / "help-runs.txt").read_text().splitlines() == ["help", "help"]


def test_options_declared_in_the_toolchain_yaml_are_not_asked(monorepo: Repo) -> None:
    repo = monorepo("script-options")
    (repo / "toolchains").mkdir()
    (repo / "toolchains/build.sh.yaml").write_text(DECLARED)
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert warnings(result.stderr) == [WARNING.format(
        how="its options as declared in toolchains/build.sh.yaml")]
    assert not (repo / "help-runs.txt").exists()
    assert not any("--title" in line for line in (repo / "args.txt").read_text().splitlines())


def test_a_script_without_help_gets_only_what_fedbuild_needs(monorepo: Repo) -> None:
    """Its --help fails: said in one line, and only --config, --output, --base-url and
    --content are passed (the template override goes into the config copy, warned, never a
    failure)."""
    repo = monorepo("script-options")
    script = repo / "scripts/build.sh"
    script.write_text(script.read_text().replace("-h|--help)", "-h|--no-help)"))
    manifest = repo / "modules.json"
    manifest.write_text(manifest.read_text().replace(
        '"overrides": {"title": "Our docs"}', '"overrides": {"template": "default"}'))
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = warnings(result.stderr)
    assert lines[0].startswith("WARNING: scripts/build.sh --help failed (exit 1): passing only "
                               "--config, --output, --base-url, --content"), lines
    assert lines[1].startswith("WARNING: modules.json: modules[0].overrides.template: "
                               "scripts/build.sh has no --template (its --help failed): "
                               "applied as hugo_config.template in a copy of "
                               "modules/docs/module.json passed as --config"), lines
    assert len(lines) == 2
    assert not any("--template" in line for line in (repo / "args.txt").read_text().splitlines())
    copy = json.loads((repo / ".fedbuild/configs/docs/module.json").read_text())
    assert copy == {"site": {"title": "Docs"}, "hugo_config": {"template": "default"}}


def test_a_changed_override_rebuilds_with_the_new_title(monorepo: Repo) -> None:
    """The copy follows the manifest: another title is another build, with that title."""
    repo = monorepo("script-options")
    assert run_doit(repo).returncode == 0
    manifest = repo / "modules.json"
    manifest.write_text(manifest.read_text().replace("Our docs", "The handbook"))
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "<title>The handbook</title>" in (repo / "public/index.html").read_text()
