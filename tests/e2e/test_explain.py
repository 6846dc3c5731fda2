"""`doit explain TASK` through the registered plugin, for each kind of reason, on fixture copies.

The steps fixture: lib (generate -> build, inputs src/*.txt, src/**/*.txt and lib.cfg, env
GREETING), app (needs lib's build), tooled (the `fake` toolchain: tools/VERSION is its tool
version), elsewhere (another platform's, skipped). The basic fixture: three build.sh sites.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import edit_manifest, module, run_command, run_doit

Repo = Callable[[str], Path]
NEVER = "never built in {mode} mode: no successful run is recorded"


def explain(repo: Path, *args: str) -> list[str]:
    """The lines `doit explain` prints, but the line saying where a module's source resolved
    (tests/e2e/test_reference_format.py checks it); it must succeed without a traceback."""
    result = run_command(repo, "explain", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return [line for line in result.stdout.splitlines() if not line.startswith("  source: ")]


def doit_ok(repo: Path, *args: str) -> None:
    """A real build; it must succeed."""
    result = run_doit(repo, *args)
    assert result.returncode == 0, result.stdout + result.stderr



@pytest.fixture
def steps(monorepo: Repo) -> Path:
    """The steps fixture after a plain `doit`."""
    repo = monorepo("steps")
    doit_ok(repo)
    return repo


@pytest.fixture
def sites(monorepo: Repo) -> Path:
    """The basic fixture (build.sh sites) after a plain `doit`."""
    repo = monorepo("basic")
    doit_ok(repo)
    return repo


def test_never_built(monorepo: Repo) -> None:
    """Nothing recorded yet: that is the reason, for it and for what it needs first."""
    repo = monorepo("steps")
    assert explain(repo, "build:lib") == [
        "build:lib will run (development mode):",
        "  - " + NEVER.format(mode="development"),
        f"  - before it, generate:lib will run ({NEVER.format(mode='development')})"]


def test_up_to_date(steps: Path) -> None:
    """After a build with nothing changed: one line."""
    assert explain(steps, "build:app") == ["build:app is up to date (development mode)"]
    assert explain(steps, "generate:lib") == ["generate:lib is up to date (development mode)"]


def test_input_changed(steps: Path) -> None:
    """An edited input file is named, relative to the repository."""
    (steps / "modules/lib/src/deep/b.txt").write_text("edited\n")
    assert explain(steps, "build:lib") == ["build:lib will run (development mode):",
                                           "  - input changed: modules/lib/src/deep/b.txt"]
    # src/*.txt does not reach into deep/: generate:lib is untouched
    assert explain(steps, "generate:lib") == ["generate:lib is up to date (development mode)"]


def test_input_added(steps: Path) -> None:
    """A new file matching the module's input globs is an added input."""
    (steps / "modules/lib/src/deep/c.txt").write_text("new\n")
    assert explain(steps, "build:lib") == ["build:lib will run (development mode):",
                                           "  - input added: modules/lib/src/deep/c.txt"]


def test_input_removed(steps: Path) -> None:
    """A deleted input file is a removed input."""
    (steps / "modules/lib/lib.cfg").unlink()
    assert explain(steps, "build:lib") == ["build:lib will run (development mode):",
                                           "  - input removed: modules/lib/lib.cfg"]


def test_env_field_changed_from_what_to_what(steps: Path) -> None:
    """A module's env in modules.json: the field and both values."""
    edit_manifest(steps, lambda d: module(d, "lib").update(env={"GREETING": "bye"}))
    lines = explain(steps, "build:lib")
    assert lines[:2] == ["build:lib will run (development mode):",
                         '  - signature field env.GREETING changed from "hello" to "bye"']


def test_argv_field_changed_from_what_to_what(steps: Path) -> None:
    """A step's argv in modules.json: the argument that changed, as it is run."""
    def change(data: dict[str, Any]) -> None:
        build = next(s for s in module(data, "lib")["steps"] if s["name"] == "build")
        build["argv"] = [a.replace("lib.txt=lib", "lib.txt=LIB") for a in build["argv"]]
    edit_manifest(steps, change)
    lines = explain(steps, "build:lib")
    assert len(lines) == 2, lines
    assert re.fullmatch(r'  - signature field commands\[0\]\[\d+\] changed from '
                        r'"lib\.txt=lib development \$GREETING" to '
                        r'"lib\.txt=LIB development \$GREETING"', lines[1]), lines[1]


def test_toolchain_yaml_and_tool_version_fields(steps: Path) -> None:
    """The repository's toolchain file (an env value) and the tool's version line."""
    yaml = steps / "toolchains/fake.yaml"
    yaml.write_text(yaml.read_text().replace('FAKE_MODE: "{mode}"', 'FAKE_MODE: "fast-{mode}"'))
    (steps / "tools/VERSION").write_text("faketool 2.0\n")
    assert explain(steps, "build:tooled") == [
        "build:tooled will run (development mode):",
        '  - signature field env.FAKE_MODE changed from "development" to "fast-development"',
        '  - signature field tool changed from "faketool 1.0" to "faketool 2.0"']


def test_mode_has_its_own_state(steps: Path) -> None:
    """Another mode is another build: never built there until it is; switching back keeps the
    first mode's state."""
    assert explain(steps, "build:lib", "mode=production")[:2] == [
        "build:lib will run (production mode):", "  - " + NEVER.format(mode="production")]
    doit_ok(steps, "build:lib", "mode=production")
    assert explain(steps, "build:lib", "mode=production") == [
        "build:lib is up to date (production mode)"]
    assert explain(steps, "build:lib") == ["build:lib is up to date (development mode)"]


def test_output_missing(steps: Path) -> None:
    """A deleted output (a target) is named once."""
    (steps / ".fedbuild/work/development/lib/gen.txt").unlink()
    assert explain(steps, "generate:lib") == [
        "generate:lib will run (development mode):",
        "  - output missing: .fedbuild/work/development/lib/gen.txt"]


def test_dependency_will_run_first(steps: Path) -> None:
    """Up to date itself, but what it needs will run: it may run, if that result changes."""
    (steps / "modules/lib/src/deep/b.txt").write_text("edited\n")
    assert explain(steps, "build:app") == [
        "build:app may run (development mode): it is up to date itself, but what it needs "
        "runs first:",
        "  - build:lib will run (input changed: modules/lib/src/deep/b.txt): "
        "build:app runs again if its result changes"]


def test_dependency_ran_since_with_another_result(steps: Path) -> None:
    """lib rebuilt alone with a new output: app's result_dep says so."""
    edit_manifest(steps, lambda d: module(d, "lib").update(env={"GREETING": "bye"}))
    doit_ok(steps, "build:lib")
    assert explain(steps, "build:app") == [
        "build:app will run (development mode):",
        "  - build:lib, which it depends on, has another result than when build:app last ran "
        "(it was rebuilt since)"]


def test_always_run_checks_say_which(steps: Path) -> None:
    """A step skipped on this machine, and verify, run on every build: each says why."""
    lines = explain(steps, "build:elsewhere")
    assert lines[0] == "build:elsewhere will run (development mode):"
    assert re.fullmatch(r"  - skipped on this machine, and reported on every run: elsewhere "
                        r"builds only on win32-arm64; this host is \S+", lines[1]), lines
    always = ("  - runs on every build (its up-to-date check is always false): check that the "
              "2 declared artifacts of lib exist, are not empty and fit their size budgets")
    assert explain(steps, "verify:lib")[:3] == [  # not a default task in development
        "verify:lib will run (development mode):", "  - " + NEVER.format(mode="development"),
        always]
    doit_ok(steps, "verify:lib")
    assert explain(steps, "verify:lib") == [
        "verify:lib will run (development mode):", always,
        "  - before it, publish:lib will run (skipped on this machine, and reported on every "
        "run: skip_if: publish.cfg is missing)"]


def test_the_explanation_matches_what_doit_then_does(steps: Path) -> None:
    """Every task explained as `will run` runs in the next build; `up to date` ones do not."""
    (steps / "modules/lib/src/a.txt").write_text("edited\n")
    tasks = ["generate:lib", "build:lib", "docs:lib", "build:app", "build:tooled", "build:snake"]
    said = {task: explain(steps, task)[0].split(" (")[0] for task in tasks}
    assert said == {"generate:lib": "generate:lib will run", "build:lib": "build:lib will run",
                    "docs:lib": "docs:lib is up to date", "build:app": "build:app may run",
                    "build:tooled": "build:tooled is up to date",
                    "build:snake": "build:snake is up to date"}
    result = run_doit(steps)
    ran = {m.group(1) for m in re.finditer(r"^\[\d+/\d+\] (\S+) ok\b", result.stdout, re.M)}
    assert {"generate:lib", "build:lib"} <= ran
    assert not ran & {"docs:lib", "build:tooled", "build:snake"}


def test_group_explains_each_task_it_gathers(steps: Path) -> None:
    """`doit explain build`: one explanation per build:<module>."""
    (steps / "modules/app/src/main.txt").write_text("edited\n")
    lines = explain(steps, "build")
    assert lines[0] == "build gathers 5 tasks (development mode):"
    assert "build:app will run (development mode):" in lines
    assert "  - input changed: modules/app/src/main.txt" in lines
    assert "build:lib is up to date (development mode)" in lines


def test_ignored_task(steps: Path) -> None:
    """`doit ignore` is reported as such."""
    assert run_doit(steps, "ignore", "build:tooled").returncode == 0
    (steps / "tools/VERSION").write_text("faketool 3.0\n")
    assert explain(steps, "build:tooled") == [
        "build:tooled is ignored (`doit ignore`): it does not run until "
        "`doit forget build:tooled`"]


def test_site_reasons(sites: Path) -> None:
    """build.sh sites: a manifest entry field, a deleted staged output, an edited one."""
    edit_manifest(sites, lambda d: module(d, "beta").update(overrides={"title": "Beta!"}))
    assert explain(sites, "build:beta") == [
        "build:beta will run (development mode):",
        '  - signature field entry.overrides.title changed from null to "Beta!"']
    staged = sites / ".fedbuild/staging"
    (staged / "alpha/extra.html").write_text("not built by build.sh")
    assert explain(sites, "build:alpha") == [
        "build:alpha will run (development mode):",
        "  - its output .fedbuild/staging/alpha was changed since it was built"]
    for path in sorted((staged / "gamma").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (staged / "gamma").rmdir()
    assert explain(sites, "build:gamma") == ["build:gamma will run (development mode):",
                                             "  - output missing: .fedbuild/staging/gamma"]
    federate = explain(sites, "federate")
    assert federate[0] == "federate will run (development mode):"
    assert "  - before it, build:gamma will run (output missing: .fedbuild/staging/gamma)" \
        in federate


def test_errors_are_one_line(steps: Path) -> None:
    """An unknown task, or none: one line, exit 3, no traceback."""
    for args, message in [(("nope",), "ERROR: 'nope' is not a task (see `doit list`)"),
                          ((), "ERROR: `doit explain` takes one task name: doit explain TASK "
                               "(see `doit list`)")]:
        result = run_command(steps, "explain", *args)
        assert result.returncode == 3
        assert result.stderr.strip() == message
