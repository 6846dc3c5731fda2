"""Fix and retry (tasks/fix.py): under `doit fix=auto` a failing step's fixers run in a scratch
copy of the module, the step is run again there, and a fix that makes it pass is kept as a
patch, never applied to the working tree. Real doit runs, real ruff and git.

The fixers fixture: tidy (an unused import, the repository's `ruffed` toolchain declares
`ruff check --fix` + `ruff format` on its lint step), broken (a syntax error no fixer
mends), plain (a `command` step whose fixer the manifest gives), registry (an import ruff
calls unused, which registers a handler its test step needs).
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from core.state import State
from federation.loader import load_project
from federation.platforms import host
from federation.steps import plan_steps
from federation.toolchains import load_toolchains
from tasks.fix import dependents
from tests.conftest import copy_fixture, edit_manifest, module, run_command, run_doit

LINE = re.compile(r"^fix:(?P<module>\S+): (?P<fixer>.+) made (?P<task>\S+) pass "
                  r"\((?P<files>\d+) files?, \+(?P<added>\d+) -(?P<deleted>\d+)\); "
                  r"apply with: (?P<apply>git apply (?:--directory=\S+ )?(?P<patch>\S+))$",
                  re.M)


def git(repo: Path, *args: str) -> str:
    """Run git in the fixture repository and return its output."""
    done = subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          cwd=repo, text=True, capture_output=True, check=True, timeout=60)
    return done.stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The fixture, as a git repository with everything committed."""
    repo = copy_fixture("fixers", tmp_path / "fixers")
    (repo / ".gitignore").write_text(".fedbuild/\ndist/\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fixture")
    return repo


def test_fix_auto_proposes_a_proven_patch_and_leaves_the_working_tree_alone(repo: Path) -> None:
    before = (repo / "modules/tidy/greet.py").read_text()
    done = run_doit(repo, "fix=auto", "lint:tidy")
    assert done.returncode != 0, "the run still reports the step as failed"
    found = LINE.search(done.stdout)
    assert found, done.stdout + done.stderr
    assert found["module"] == "tidy" and found["task"] == "lint:tidy"
    assert found["fixer"] == "ruff check --fix --no-cache . + ruff format --no-cache ."
    assert found["files"] == "1" and int(found["deleted"]) >= 1
    patch = repo / found["patch"]
    assert patch.is_file() and patch.is_relative_to(repo / ".fedbuild/fixes")
    assert patch.name == "lint:tidy.patch"
    assert "-import os" in patch.read_text()
    # The working tree and the repository are as they were: no change, no worktree left.
    assert git(repo, "status", "--porcelain") == ""
    assert (repo / "modules/tidy/greet.py").read_text() == before
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert not any((repo / ".fedbuild/tmp").iterdir())
    git(repo, "apply", found["patch"])
    assert run_doit(repo, "lint:tidy").returncode == 0


def test_an_unfixable_failure_says_no_fix_was_found(repo: Path) -> None:
    done = run_doit(repo, "fix=auto", "lint:broken")
    assert done.returncode != 0
    assert not LINE.search(done.stdout)
    assert re.search(r"^fix:broken: no fix found for lint:broken: .+", done.stdout, re.M), \
        done.stdout
    assert not list((repo / ".fedbuild").glob("fixes/*/*.patch"))
    assert git(repo, "status", "--porcelain") == ""


def test_without_a_git_repository_the_module_is_copied(tmp_path: Path) -> None:
    repo = copy_fixture("fixers", tmp_path / "fixers")
    before = (repo / "modules/plain/value.py").read_text()
    done = run_doit(repo, "fix=auto", "lint:plain")
    found = LINE.search(done.stdout)
    assert found and found["fixer"] == "ruff check --fix --no-cache .", done.stdout
    assert (repo / "modules/plain/value.py").read_text() == before
    subprocess.run(["git", "apply", found["patch"]], cwd=repo, check=True, timeout=60)
    assert run_doit(repo, "lint:plain").returncode == 0


def test_a_fix_that_breaks_a_dependent_step_is_not_proposed(repo: Path) -> None:
    """ruff's fix makes lint:registry pass, but removes the import registering the handler
    test:registry needs: proven in the scratch copy, it is no fix."""
    done = run_doit(repo, "fix=auto", "lint:registry")
    assert done.returncode != 0
    assert not LINE.search(done.stdout), done.stdout
    assert re.search(r"^fix:registry: no fix found for lint:registry: test:registry fails "
                     r"after ruff check --fix --no-cache \. \(", done.stdout, re.M), done.stdout
    assert not list((repo / ".fedbuild").glob("fixes/*/*.patch"))
    assert git(repo, "status", "--porcelain") == ""
    assert "import json_handler" in (repo / "modules/registry/app.py").read_text()


def test_the_dependents_rerun_are_the_modules_own_in_order(repo: Path) -> None:
    project, toolchains = load_project(repo), load_toolchains(repo)
    steps = {s.task: s for s in plan_steps(project, State(repo), toolchains, "development",
                                           host()).steps}
    assert [s.task for s in dependents(steps["lint:registry"], steps)] == ["test:registry"]
    assert dependents(steps["lint:tidy"], steps) == []
    crate = [s.task for s in dependents(steps["check:crate"], steps)]
    assert crate == ["build:crate", "test:crate"]


def test_fixers_run_only_under_fix_auto(repo: Path) -> None:
    done = run_doit(repo, "lint:tidy")
    assert done.returncode != 0
    assert "fix:" not in done.stdout
    assert not (repo / ".fedbuild/fixes").exists()


def test_a_bad_fix_value_is_one_line(repo: Path) -> None:
    done = run_doit(repo, "fix=always", "lint:tidy")
    assert done.returncode == 3
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "fix=auto" in lines[0], done.stderr


def test_the_manifest_overrides_the_toolchains_fixers(repo: Path) -> None:
    def plan() -> dict[str, tuple[tuple[str, ...], ...]]:
        project = load_project(repo)
        toolchains = load_toolchains(repo)
        steps = plan_steps(project, State(repo), toolchains, "development", host())
        return {s.task: s.fix for s in steps.steps}

    assert plan()["lint:tidy"] == (("ruff", "check", "--fix", "--no-cache", "."),
                                   ("ruff", "format", "--no-cache", "."))
    edit_manifest(repo, lambda data: module(data, "tidy").update(
        steps=[{"name": "lint", "fix": []}]))
    edit_manifest(repo, lambda data: module(data, "broken").update(
        steps=[{"name": "lint", "fix": [["{python}", "-c", "print('{name}')"]]}]))
    fixes = plan()
    assert fixes["lint:tidy"] == ()
    assert fixes["lint:broken"][0][2] == "print('broken')"


def test_cargo_fix_removes_a_warning_denied_by_deny_warnings(repo: Path) -> None:
    done = run_doit(repo, "fix=auto", "check:crate", timeout=600)
    found = LINE.search(done.stdout)
    assert found, done.stdout + done.stderr
    assert re.fullmatch(r"cargo fix --allow-dirty --allow-no-vcs --jobs \d+", found["fixer"])
    assert "-use std::collections::HashMap;" in (repo / found["patch"]).read_text()
    assert git(repo, "status", "--porcelain") == ""
    git(repo, "apply", found["patch"])
    assert run_doit(repo, "check:crate", timeout=600).returncode == 0


def test_the_patch_is_against_the_working_tree_not_the_last_commit(repo: Path) -> None:
    """An uncommitted edit is in the scratch copy: the patch applies to the files as they are."""
    greet = repo / "modules/tidy/greet.py"
    greet.write_text("import re\n" + greet.read_text())
    found = LINE.search(run_doit(repo, "fix=auto", "lint:tidy").stdout)
    assert found
    assert "-import re" in (repo / found["patch"]).read_text()
    assert git(repo, "status", "--porcelain") == " M modules/tidy/greet.py\n"
    git(repo, "apply", found["patch"])
    assert run_doit(repo, "lint:tidy").returncode == 0


def test_in_a_subfolder_of_a_git_repository_the_command_says_where(tmp_path: Path) -> None:
    """`git apply` run in a subfolder reads the patch's paths from the top and skips them all
    (exit 0, nothing changed): the command names the folder with --directory."""
    outer = tmp_path / "outer"
    outer.mkdir()
    repo = copy_fixture("fixers", outer / "fixers")
    (outer / ".gitignore").write_text(".fedbuild/\ndist/\n")
    git(outer, "init", "-q", "-b", "main")
    git(outer, "add", "-A")
    git(outer, "commit", "-q", "-m", "fixture")
    found = LINE.search(run_doit(repo, "fix=auto", "lint:tidy").stdout)
    assert found and found["apply"].startswith("git apply --directory=fixers ")
    assert git(outer, "status", "--porcelain") == ""
    subprocess.run(found["apply"].split(), cwd=repo, check=True, timeout=60)
    assert "import os" not in (repo / "modules/tidy/greet.py").read_text()
    assert run_doit(repo, "lint:tidy").returncode == 0


def fix_command(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`doit fix ...` on the fixture (fedbuild's command, from this checkout)."""
    return run_command(repo, "fix", *args)


def test_doit_fix_lists_then_applies_the_last_proposed_fixes(repo: Path) -> None:
    # Two workers: the fixes of tidy, broken and plain are tried side by side.
    assert run_doit(repo, "-n", "2", "fix=auto", "lint").returncode != 0
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    listed = fix_command(repo, "--list")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^lint:plain .*not applied", listed.stdout, re.M), listed.stdout
    assert re.search(r"^lint:tidy .*not applied", listed.stdout, re.M), listed.stdout
    assert "lint:broken" not in listed.stdout
    assert git(repo, "status", "--porcelain") == ""
    applied = fix_command(repo)
    assert applied.returncode == 0, applied.stderr
    assert re.search(r"^applied .*lint:tidy\.patch", applied.stdout, re.M), applied.stdout
    assert sorted(git(repo, "status", "--porcelain").splitlines()) == [
        " M modules/plain/value.py", " M modules/tidy/greet.py"]
    assert run_doit(repo, "lint:tidy", "lint:plain").returncode == 0
    again = fix_command(repo)
    assert again.returncode == 0 and "already applied" in again.stdout, again.stdout
    assert re.search(r"^lint:tidy .*\(applied\)", fix_command(repo, "--list").stdout, re.M)


def test_doit_fix_refuses_when_the_working_tree_changed_since(repo: Path) -> None:
    assert LINE.search(run_doit(repo, "fix=auto", "lint:tidy").stdout)
    greet = repo / "modules/tidy/greet.py"
    greet.write_text(greet.read_text() + "\n\nVALUE = 2\n")
    edited = greet.read_text()
    refused = fix_command(repo)
    assert refused.returncode == 3
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "modules/tidy/greet.py changed since" in lines[0], refused.stderr
    assert greet.read_text() == edited


def test_doit_fix_without_proposed_fixes_says_so(repo: Path) -> None:
    done = fix_command(repo)
    assert done.returncode == 0
    assert "no proposed fixes" in done.stdout and "doit fix=auto" in done.stdout


def test_the_attempt_is_recorded_in_the_history(repo: Path) -> None:
    line = LINE.search(run_doit(repo, "fix=auto", "lint:tidy", "lint:broken").stdout)
    assert line
    shown = run_command(repo, "history", "--run", "1")
    assert shown.returncode == 0, shown.stderr
    assert line.group(0) in shown.stdout.splitlines()
    assert any(text.startswith("fix:broken: no fix found for lint:broken")
               for text in shown.stdout.splitlines()), shown.stdout


def test_a_module_that_cannot_be_copied_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    repo = copy_fixture("fixers", tmp_path / "fixers")
    os.mkfifo(repo / "modules/plain/pipe")  # shutil refuses to copy a named pipe
    done = run_doit(repo, "fix=auto", "lint:plain")
    assert done.returncode == 1, done.stdout + done.stderr
    assert re.search(r"^fix:plain: no fix found for lint:plain: the module could not be "
                     r"copied: .*named pipe", done.stdout, re.M), done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    assert not any((repo / ".fedbuild/tmp").iterdir())
