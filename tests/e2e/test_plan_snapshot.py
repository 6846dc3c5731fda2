"""The plan kept between runs (tasks/snapshot.py): reused while nothing it came from changed,
and never once something did: each test changes one thing a kept plan was made from and
checks that the next run acts on it."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import edit_manifest, module, run_doit

Repo = Callable[[str], Path]
SNAPSHOT = Path(".fedbuild/plan.snapshot")


def built(repo: Path, *args: str) -> list[str]:
    """Run doit (no action cache); the modules whose build script ran, sorted."""
    runs = repo / "runs.log"
    runs.unlink(missing_ok=True)
    result = run_doit(repo, *args, env={"RUNS_LOG": str(runs), "FEDBUILD_CACHE": "off"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    if not runs.exists():
        return []
    return sorted(line.split()[0] for line in runs.read_text().splitlines()
                  if " start " in line)


def kept(repo: Path) -> int:
    """The inode of the kept plan: a new one each time it is written (renamed into place)."""
    return os.stat(repo / SNAPSHOT).st_ino


@pytest.fixture
def repo(monorepo: Repo) -> Path:
    """The basic fixture, built once (which keeps its plan)."""
    path = monorepo("basic")
    assert built(path) == ["alpha", "beta", "gamma"]
    assert (path / SNAPSHOT).is_file()
    return path


def test_a_no_op_run_reuses_the_kept_plan(repo: Path) -> None:
    """Nothing changed: the next runs build nothing and read the plan instead of
    writing it again."""
    before = kept(repo)
    assert built(repo) == []
    assert built(repo) == []
    assert kept(repo) == before


def test_a_new_content_file_is_an_input(repo: Path) -> None:
    """A file added to a module's folder (its mtime changes) is built and tracked."""
    (repo / "modules/beta/content/three.md").write_text("beta page three\n")
    assert built(repo) == ["beta"]
    (repo / "modules/beta/content/three.md").write_text("beta page three, edited\n")
    assert built(repo) == ["beta"]


def test_a_new_file_in_a_new_subfolder_is_an_input(repo: Path) -> None:
    """A folder made (its parent's mtime changes: nothing to build, an empty folder is no
    input), then a file in it (only the new folder's mtime changes)."""
    (repo / "modules/gamma/content/deep").mkdir()
    assert built(repo) == []
    (repo / "modules/gamma/content/deep/page.md").write_text("deep page\n")
    assert built(repo) == ["gamma"]


def test_a_removed_module_folder_is_an_error(repo: Path) -> None:
    """A module's folder gone while modules.json still names it: the load says so."""
    shutil.rmtree(repo / "modules/gamma")
    result = run_doit(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "modules/gamma does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_module_folder_swapped_for_a_link_outside(repo: Path, tmp_path: Path) -> None:
    """The same folder (same inode, same files), moved out of the repository and linked
    back: the load refuses it as it would on a first run."""
    outside = tmp_path / "elsewhere"
    (repo / "modules/beta").rename(outside)
    (repo / "modules/beta").symlink_to(outside)
    result = run_doit(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "outside the repository" in result.stderr


def test_an_edited_module_json_changes_the_inputs(repo: Path) -> None:
    """beta's module.json names a component it did not: the component's files become its
    inputs, so editing one rebuilds beta (and alpha, which had it already)."""
    path = repo / "modules/beta/module.json"
    data = json.loads(path.read_text())
    data["hugo_config"]["components"] = ["note"]
    path.write_text(json.dumps(data))
    assert built(repo) == ["beta"]
    note = repo / "site/components/note/note.html"
    note.write_text(note.read_text() + "<!-- edited -->\n")
    assert built(repo) == ["alpha", "beta"]


def test_an_edited_manifest_is_validated_again(repo: Path) -> None:
    """modules.json edited into a mistake: the one-line error, not the kept plan."""
    edit_manifest(repo, lambda data: module(data, "beta").update(destination="beta"))
    result = run_doit(repo)
    assert result.returncode == 3
    assert "modules[1].destination" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_new_toolchain_file_is_read(repo: Path) -> None:
    """A toolchain YAML added to the repository (a folder that did not exist) is read by
    the next run: a broken one is its error."""
    (repo / "toolchains").mkdir()
    (repo / "toolchains/mine.yaml").write_text("steps: [\n")
    result = run_doit(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "mine.yaml" in result.stderr
    (repo / "toolchains/mine.yaml").unlink()
    assert built(repo) == []
    (repo / "toolchains/mine.yaml").write_text("steps: [\n")
    assert run_doit(repo).returncode == 3


def test_a_command_line_variable_makes_a_new_plan(repo: Path) -> None:
    """The kept plan is for one set of command-line variables: another set plans again
    (and keeps that plan)."""
    before = kept(repo)
    assert built(repo, "select=beta") == []
    assert kept(repo) != before


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty", "header only"])
def test_a_damaged_snapshot_is_planned_again(repo: Path, damage: str) -> None:
    """Whatever became of the file, the run loads and plans as on a first run, prints no
    traceback and keeps a good plan again."""
    path = repo / SNAPSHOT
    data = path.read_bytes()
    changed = {"garbage": os.urandom(len(data)), "truncated": data[: len(data) // 2],
               "empty": b"", "header only": b"\n".join(data.split(b"\n")[:2]) + b"\n"}
    path.write_bytes(changed[damage])
    (repo / "modules/alpha/content/one.md").write_text("alpha, edited\n")
    assert built(repo) == ["alpha"]
    assert path.read_bytes() != changed[damage]
    assert built(repo) == []


def test_listing_tasks_writes_no_plan(monorepo: Repo) -> None:
    """`doit list` on a repository never built creates nothing, kept plan included."""
    path = monorepo("basic")
    result = run_doit(path, "list")
    assert result.returncode == 0, result.stderr
    assert not (path / ".fedbuild").exists()


def test_listing_tasks_reads_the_kept_plan_and_keeps_it(repo: Path) -> None:
    """`doit list` after a change plans again, shows the change and writes nothing."""
    before = kept(repo)
    shutil.copytree(repo / "modules/beta", repo / "modules/delta")
    edit_manifest(repo, lambda data: data["modules"].append(
        {**module(data, "beta"), "name": "delta", "destination": "/delta/",
         "source": {"repository": "local", "path": "modules/delta"}}))
    result = run_doit(repo, "list", "--all")
    assert result.returncode == 0, result.stderr
    assert "build:delta" in result.stdout
    assert kept(repo) == before


def test_a_dangling_link_becomes_an_input_once_its_target_exists(repo: Path) -> None:
    """A link to a file not there yet is no input; once the file is made (no folder the
    module's listing read changes), it is one."""
    (repo / "modules/beta/content/later.md").symlink_to("../../shared.md")
    assert built(repo) == []
    (repo / "modules/shared.md").write_text("shared page\n")
    assert built(repo) == ["beta"]
    (repo / "modules/shared.md").write_text("shared page, edited\n")
    assert built(repo) == ["beta"]
