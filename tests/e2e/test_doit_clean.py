"""A clean that cleans (issue 17): `doit clean` removes fedbuild's outputs in every mode (one
with `mode=`), says what it removed in its own words, and the outputs of modules deleted
from modules.json go with the next successful build. Real doit runs on fixture copies."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tests.conftest import copy_fixture, edit_manifest, run_doit, set_module


def ok(repo: Path, *args: str) -> str:
    result = run_doit(repo, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def drop(repo: Path, name: str) -> None:
    edit_manifest(repo, lambda data: data.update(
        modules=[m for m in data["modules"] if m["name"] != name]))


REMOVED = re.compile(r"^removed (\S+) \(\d+(\.\d)? (B|KB|MB|GB)\)$")


def removed(output: str) -> set[str]:
    """The paths `doit clean` said it removed."""
    found = set()
    for line in output.splitlines():
        match = REMOVED.match(line)
        if match:
            found.add(match[1])
    return found


def test_doit_clean_removes_the_outputs_of_every_mode_and_says_so(tmp_path: Path) -> None:
    repo = copy_fixture("steps", tmp_path / "repo")
    ok(repo, "build:lib", "build:app")
    ok(repo, "mode=production", "build:lib", "build:app")
    for mode in ("development", "production"):
        assert (repo / f"dist/{mode}/lib/lib.txt").is_file()
    output = ok(repo, "clean")
    assert not (repo / "dist/development/lib").exists()
    assert not (repo / "dist/production/lib").exists()
    assert not (repo / "dist/production/app").exists()
    assert not (repo / ".fedbuild/work/production/lib/gen.txt").exists()
    assert {"dist/development/lib/", "dist/production/lib/", "dist/development/app/",
            "dist/production/app/", ".fedbuild/work/development/lib/gen.txt",
            ".fedbuild/work/production/lib/gen.txt"} <= removed(output), output
    assert "executing" not in output and "Python:" not in output, output
    assert (repo / "modules/lib/src/a.txt").is_file()  # never a source


def test_doit_clean_removes_the_outputs_of_steps_doit_does_not_run(tmp_path: Path) -> None:
    """A step outside the default tasks (default: false) made outputs: `doit clean` removes
    them too, not only the default tasks'."""
    repo = copy_fixture("steps", tmp_path / "repo")
    set_module(repo, "nap", steps=[
        {"name": "report", "description": "write a report", "default": False,
         "argv": ["{python}", "{root}/tools/step.py", "report:{name}", "--out", "{work}",
                  "--write", "report.txt=report"], "outputs": ["{work}/report.txt"]}])
    ok(repo, "report:nap")
    assert (repo / ".fedbuild/work/development/nap/report.txt").is_file()
    output = ok(repo, "clean")
    assert ".fedbuild/work/development/nap/report.txt" in removed(output), output
    assert not (repo / ".fedbuild/work/development/nap/report.txt").exists()


def test_doit_clean_with_a_mode_removes_only_that_modes_outputs(tmp_path: Path) -> None:
    repo = copy_fixture("steps", tmp_path / "repo")
    ok(repo, "build:lib")
    ok(repo, "mode=production", "build:lib")
    output = ok(repo, "clean", "mode=production")
    assert not (repo / "dist/production/lib").exists()
    assert (repo / "dist/development/lib/lib.txt").is_file()
    assert "dist/production/lib/" in removed(output)
    assert not any(p.startswith("dist/development") for p in removed(output)), output


def test_doit_clean_of_sites_says_what_it_removed(tmp_path: Path) -> None:
    repo = copy_fixture("basic", tmp_path / "repo")
    ok(repo)
    output = ok(repo, "clean")
    assert {".fedbuild/staging/alpha/", ".fedbuild/staging/beta/", ".fedbuild/staging/gamma/",
            "public/"} <= removed(output), output
    assert "executing" not in output, output
    assert not (repo / "public").exists() and not (repo / ".fedbuild/staging/alpha").exists()


def test_a_dry_run_says_what_it_would_remove_and_removes_nothing(tmp_path: Path) -> None:
    repo = copy_fixture("steps", tmp_path / "repo")
    ok(repo, "build:lib")
    output = ok(repo, "clean", "-n", "build:lib")
    assert re.search(r"^would remove dist/development/lib/ \(", output, re.MULTILINE), output
    assert (repo / "dist/development/lib/lib.txt").is_file()


def test_a_module_removed_from_the_manifest_loses_its_outputs_at_the_next_good_build(
        tmp_path: Path) -> None:
    repo = copy_fixture("steps", tmp_path / "repo")
    ok(repo, "build:lib", "build:app")
    ok(repo, "mode=production", "build:app")
    drop(repo, "app")
    # A failed run removes nothing: the manifest may be half edited.
    failed = run_doit(repo, "run:ghost")
    assert failed.returncode != 0
    assert (repo / "dist/development/app/app.txt").is_file()
    output = ok(repo, "build:lib")
    lines = [ln for ln in output.splitlines() if "no longer in modules.json" in ln]
    assert len(lines) == 1 and "app" in lines[0], output
    assert "dist/development/app/" in lines[0] and "dist/production/app/" in lines[0]
    assert not (repo / "dist/development/app").exists()
    assert not (repo / "dist/production/app").exists()
    assert (repo / "dist/development/lib/lib.txt").is_file()
    again = ok(repo, "build:lib")
    assert "no longer in modules.json" not in again  # said once, when removed


def test_a_site_module_removed_from_the_manifest_loses_its_staged_output(
        tmp_path: Path) -> None:
    repo = copy_fixture("basic", tmp_path / "repo")
    ok(repo)
    assert (repo / ".fedbuild/staging/gamma").is_dir()
    drop(repo, "gamma")
    output = ok(repo)
    lines = [ln for ln in output.splitlines() if "no longer in modules.json" in ln]
    assert len(lines) == 1 and ".fedbuild/staging/gamma/" in lines[0], output
    assert not (repo / ".fedbuild/staging/gamma").exists()
    assert not (repo / "public/gamma").exists()
    assert (repo / ".fedbuild/staging/beta").is_dir()


def test_folders_fedbuild_never_wrote_are_left_alone(tmp_path: Path) -> None:
    """dist/<mode>/<name> of a name fedbuild never built (no outcome of it) is not its own."""
    repo = copy_fixture("steps", tmp_path / "repo")
    mine = repo / "dist/development/notes"
    mine.mkdir(parents=True)
    (mine / "keep.txt").write_text("the user's\n")
    ok(repo, "build:lib")
    assert (mine / "keep.txt").read_text() == "the user's\n"
    assert json.loads((repo / "modules.json").read_text())  # untouched manifest
