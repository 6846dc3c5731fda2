"""`doit affected` on git repositories made here from tests/fixtures/affected: sites home
(template default) and blog (template other), both theme plain; text modules lib and app
(app depends on lib, toolchains/text.yaml) and tool (toolchains/copy.yaml); README.md
belongs to no module.

Each case builds the base on main, changes something on a branch, and checks the exact
affected set, then that `doit affected` leaves nothing for `doit` to run (`doit plan`).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import copy_fixture, run_command, run_doit

pytestmark = pytest.mark.heavy(13)  # run early under -n (tests/conftest.py)

GIT = ["git", "-c", "user.email=test@example.org", "-c", "user.name=test"]
SITES = {"home", "blog"}
EVERY = {"home", "blog", "lib", "app", "tool"}


def git(repo: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


def commit(repo: Path, message: str = "change") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The fixture as a git repository: built on main, then on a branch `feature`."""
    repo = copy_fixture("affected", tmp_path / "repo")
    (repo / ".gitignore").write_text(".fedbuild/\ndist/\npublic/\n")
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    return repo


def affected(repo: Path, *args: str) -> dict[str, Any]:
    result = run_command(repo, "affected", "--json", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def modules(report: dict[str, Any]) -> set[str]:
    return {m["name"] for m in report["modules"]}


def build_affected_then_nothing_left(repo: Path) -> subprocess.CompletedProcess[str]:
    """`doit affected` succeeds; then `doit plan` finds nothing to run."""
    result = run_command(repo, "affected")
    assert result.returncode == 0, result.stdout + result.stderr
    plan = run_command(repo, "plan", "--json")
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["will_run"] == []
    return result


def edit(path: Path, change: Callable[[str], str]) -> None:
    path.write_text(change(path.read_text()))


def manifest(repo: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = json.loads((repo / "modules.json").read_text())
    change(data)
    (repo / "modules.json").write_text(json.dumps(data, indent=2))


def entry(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in data["modules"] if m["name"] == name)


def test_nothing_changed(repo: Path) -> None:
    report = affected(repo)
    assert report["modules"] == [] and report["tasks"] == [] and report["removed"] == []
    assert report["head"] == "working tree"
    assert report["base"] == git(repo, "rev-parse", "main").strip()


def test_one_modules_source_and_its_dependents(repo: Path) -> None:
    edit(repo / "modules/lib/lib.txt", lambda t: t + "more\n")
    commit(repo)
    report = affected(repo)
    assert modules(report) == {"lib", "app"}
    assert report["modules"][0] == {"name": "lib",
                                    "reasons": ["input changed: modules/lib/lib.txt"]}
    assert report["tasks"] == ["build:lib", "build:app"]  # no site: no federate
    result = build_affected_then_nothing_left(repo)
    assert "lib: input changed: modules/lib/lib.txt" in result.stdout


def test_uncommitted_and_untracked_files_count(repo: Path) -> None:
    (repo / "modules/tool/new.txt").write_text("untracked\n")
    assert modules(affected(repo)) == {"tool"}
    assert modules(affected(repo, "--head", "HEAD")) == set()  # committed: nothing
    build_affected_then_nothing_left(repo)


def test_a_shared_template_affects_the_sites_using_it(repo: Path) -> None:
    edit(repo / "site/templates/other/hugo.toml", lambda t: t + "# edited\n")
    commit(repo)
    report = affected(repo)
    assert modules(report) == {"blog"}
    assert report["tasks"] == ["build:blog", "federate"]
    build_affected_then_nothing_left(repo)


def test_a_shared_theme_and_the_build_script_affect_every_site(repo: Path) -> None:
    edit(repo / "site/themes/plain/layout.html", lambda t: t + "<!-- edited -->\n")
    commit(repo)
    assert modules(affected(repo)) == SITES
    edit(repo / "scripts/build.sh", lambda t: t + "# edited\n")
    assert modules(affected(repo)) == SITES
    build_affected_then_nothing_left(repo)


def test_a_toolchain_file_affects_the_modules_using_it(repo: Path) -> None:
    edit(repo / "toolchains/copy.yaml", lambda t: t.replace("{out}/copy.txt", "{out}/c.txt"))
    commit(repo)
    report = affected(repo)
    assert modules(report) == {"tool"}
    assert report["modules"][0]["reasons"] == [
        "task build:tool signature changed (its commands, environment or toolchain)"]
    build_affected_then_nothing_left(repo)


def test_a_toolchain_comment_changes_no_build(repo: Path) -> None:
    """What the steps do is unchanged: doit rebuilds nothing, and affected agrees."""
    edit(repo / "toolchains/text.yaml", lambda t: t + "# a comment\n")
    commit(repo)
    assert modules(affected(repo)) == set()


def test_a_file_outside_every_module(repo: Path) -> None:
    edit(repo / "README.md", lambda t: t + "more\n")
    commit(repo)
    assert affected(repo)["modules"] == []
    build_affected_then_nothing_left(repo)


def test_a_manifest_entry_affects_that_module_and_its_dependents(repo: Path) -> None:
    manifest(repo, lambda d: entry(d, "lib").update(env={"GREETING": "hi"}))
    commit(repo)
    report = affected(repo)
    assert modules(report) == {"lib", "app"}
    assert "its entry in modules.json changed" in report["modules"][0]["reasons"]
    build_affected_then_nothing_left(repo)


def test_tags_are_labels_only(repo: Path) -> None:
    manifest(repo, lambda d: entry(d, "home").update(tags=["front"]))
    commit(repo)
    assert modules(affected(repo)) == set()


def test_federation_settings_affect_every_module(repo: Path) -> None:
    manifest(repo, lambda d: d["federation"].update(name="renamed federation"))
    commit(repo)
    report = affected(repo)
    assert modules(report) == EVERY
    assert "federate" in report["tasks"]
    build_affected_then_nothing_left(repo)


def test_a_deleted_module_is_reported(repo: Path) -> None:
    manifest(repo, lambda d: d["modules"].remove(entry(d, "tool")))
    git(repo, "rm", "-rq", "modules/tool")
    commit(repo)
    report = affected(repo)
    assert report["modules"] == []
    assert report["removed"] == [{"name": "tool", "renamed_to": None}]
    result = build_affected_then_nothing_left(repo)
    assert "tool: removed" in result.stdout


def test_a_renamed_module(repo: Path) -> None:
    def rename(data: dict[str, Any]) -> None:
        entry(data, "lib")["name"] = "core"
        entry(data, "app")["depends_on"] = ["core"]
        step = entry(data, "app")["steps"][0]
        step["argv"] = [a.replace("{dist:lib}", "{dist:core}") for a in step["argv"]]

    manifest(repo, rename)
    commit(repo)
    report = affected(repo)
    assert modules(report) == {"core", "app"}
    assert report["modules"][0] == {"name": "core", "reasons": ["a new module"]}
    assert report["removed"] == [{"name": "lib", "renamed_to": "core"}]
    build_affected_then_nothing_left(repo)


def test_between_two_commits_and_with_a_selection(repo: Path) -> None:
    edit(repo / "modules/tool/tool.txt", lambda t: t + "1\n")
    commit(repo, "one")
    edit(repo / "modules/lib/lib.txt", lambda t: t + "2\n")
    commit(repo, "two")
    assert modules(affected(repo, "--base", "HEAD~1")) == {"lib", "app"}
    assert modules(affected(repo, "--base", "main", "--head", "HEAD~1")) == {"tool"}
    narrowed = affected(repo, "select=lib")
    assert modules(narrowed) == {"lib", "app", "tool"}
    assert narrowed["tasks"] == ["build:lib"]  # select= narrows what runs


def test_list_and_mistakes(repo: Path) -> None:
    edit(repo / "modules/app/app.txt", lambda t: t + "x\n")
    listed = run_command(repo, "affected", "--list")
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[1:] == ["  app: input changed: modules/app/app.txt",
                                              "tasks: build:app"]
    assert run_doit(repo, "list").returncode == 0
    bad = run_command(repo, "affected", "--base", "nosuchref")
    assert bad.returncode == 3
    assert bad.stderr.strip() == ("ERROR: command line: --base nosuchref: 'nosuchref' names "
                                  "no commit of this repository; give a branch, tag or commit")


# The property: affected and doit never disagree ------------------------------------------

FILES = ["modules/lib/lib.txt", "modules/app/app.txt", "modules/tool/tool.txt",
         "modules/home/content/one.md", "modules/blog/content/one.md",
         "site/templates/default/hugo.toml", "site/templates/other/hugo.toml",
         "site/themes/plain/layout.html", "scripts/build.sh", "README.md",
         "toolchains/text.yaml", "modules/lib/notes.md"]
EDITS = st.lists(st.tuples(st.sampled_from(["append", "new", "touch"]),
                           st.sampled_from(FILES), st.integers(0, 2)), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture as a git repository on a branch, built at its base."""
    repo = copy_fixture("affected", tmp_path_factory.mktemp("affected") / "repo")
    (repo / ".gitignore").write_text(".fedbuild/\ndist/\npublic/\n")
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "base")
    git(repo, "checkout", "-q", "-b", "feature")
    assert run_doit(repo).returncode == 0
    return repo


@settings(max_examples=8, deadline=None)
@given(edits=EDITS)
def test_affected_modules_are_the_modules_doit_would_run(built: Path,
                                                         edits: list[tuple[str, str, int]]
                                                         ) -> None:
    """After random edits (an append ending with a comment marker in the file's own syntax is
    still a change; a touch is none; a new file beside it may or may not be an input; no new
    toolchain file: one that is not a toolchain is a manifest error), the
    modules `doit affected` names are those with a task `doit plan` says will run."""
    try:
        for kind, name, n in edits:
            path = built / name
            if kind == "append":
                path.write_text(path.read_text() + f"\n# edit {n}\n")
            elif kind == "new" and not name.startswith("toolchains/"):  # no toolchain file
                (path.parent / f"new{n}{path.suffix}").write_text(f"new {n}\n")
            elif kind == "touch":
                path.touch()
        report = affected(built)
        plan = run_command(built, "plan", "--json")
        running = {t.partition(":")[2] for t in json.loads(plan.stdout)["will_run"]} - {""}
        assert modules(report) == running, edits
    finally:
        git(built, "checkout", "-q", "--", ".")
        git(built, "clean", "-fdq")


def test_a_broken_manifest_at_the_base_names_the_commit(repo: Path) -> None:
    manifest(repo, lambda d: entry(d, "tool").update(toolchain="cpy"))
    commit(repo, "broken")
    git(repo, "branch", "-f", "main", "HEAD")
    manifest(repo, lambda d: entry(d, "tool").update(toolchain="copy"))
    result = run_command(repo, "affected", "--list")
    assert result.returncode == 3
    head = git(repo, "rev-parse", "HEAD").strip()[:12]
    assert result.stderr.startswith(f"ERROR: modules.json at commit {head}: "
                                    "modules[4].toolchain: 'cpy' is not a toolchain")
