"""The fingerprint audit: whatever can change a task's output makes it due and changes its
cache key; whatever cannot does neither.

Each case edits one thing in a small fixture monorepo, asks real `doit list -s` whether the
task is due, then runs the task for real. A change that can matter must leave the task due
and, when it runs, build it afresh under a new cache key (a restore from the old key would be
the stale result). A change that cannot matter must leave the task up to date, and after
`doit clean` the task must come back from the cache under the same key.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import copy_fixture, run_doit

Change = Callable[[Path], None]
_ROW = re.compile(r"^(\S+)\s+(built|cached|up to date|failed|timed out|skipped|flaky|"
                  r"not needed)(?:\s|$)")


# Helpers --------------------------------------------------------------------------------------

def doit(repo: Path, *args: str, path: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run doit for real, `path` (a folder of wrappers) first on PATH, and insist it passed."""
    env = {"PATH": f"{path}{os.pathsep}{os.environ['PATH']}"} if path else None
    result = run_doit(repo, *args, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def due(repo: Path, task: str, path: Path | None = None) -> bool:
    """Whether `doit list -s` says `task` would run."""
    listed = doit(repo, "list", "-s", "--all", task, path=path).stdout.splitlines()
    line = next(line for line in listed if line.split()[1:2] == [task])
    return line.startswith("R ")


def status(result: subprocess.CompletedProcess[str], task: str) -> str:
    """The task's status in the run's summary table."""
    table = result.stdout.partition("\ntask ")[2]
    found = {m[1]: m[2] for m in map(_ROW.match, table.splitlines()) if m}
    return found[task]


def keys(repo: Path, task: str) -> set[str]:
    """The cache keys stored for `task` in the repository's local action cache."""
    folder = repo / ".fedbuild" / "cache" / "ac"
    return {p.name for p in folder.iterdir() if json.loads(p.read_bytes())["task"] == task} \
        if folder.is_dir() else set()


def wrapper(folder: Path, name: str, line: str) -> Path:
    """An executable `name` in `folder` that prints `line` (a tool of another version)."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / name
    exe.write_text(f"#!/bin/sh\necho '{line}'\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return folder


def append(rel: str, text: str = "\n// changed\n") -> Change:
    """A change: append `text` to the file (created, with its folders, if missing)."""
    def change(repo: Path) -> None:
        path = repo / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a") as f:
            f.write(text)
    return change


def assert_changes(repo: Path, task: str, change: Change, path: Path | None = None) -> None:
    """After `change`, the task is due and builds afresh under a new cache key."""
    before = keys(repo, task)
    change(repo)
    assert due(repo, task, path), f"{task} is up to date after a change that matters"
    result = doit(repo, task, path=path)
    assert status(result, task) == "built", result.stdout
    assert keys(repo, task) - before, f"{task} was stored under no new cache key"


def assert_no_change(repo: Path, task: str, change: Change) -> None:
    """After `change`, the task is up to date, and after a clean it is restored from the
    cache under the key it had."""
    before = keys(repo, task)
    change(repo)
    assert not due(repo, task), f"{task} is due after a change that cannot matter"
    doit(repo, "clean", task)
    result = doit(repo, task)
    assert status(result, task) == "cached", result.stdout
    assert keys(repo, task) == before


# Site builds ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The basic fixture (a build.sh stand-in, templates, themes, components), built once."""
    repo = copy_fixture("basic", tmp_path_factory.mktemp("audit") / "basic")
    doit(repo, "build:alpha")
    return repo


def test_another_hugo_makes_a_site_build_due_under_a_new_key(site: Path, tmp_path: Path
                                                             ) -> None:
    """A `hugo` of another version first on PATH: the site build is due and is not restored
    from what the other Hugo made, even after `doit clean`."""
    other = wrapper(tmp_path / "bin", "hugo", "hugo v0.999.0-other linux/amd64")
    before = keys(site, "build:alpha")
    assert due(site, "build:alpha", other)
    doit(site, "clean", "build:alpha", path=other)
    result = doit(site, "build:alpha", path=other)
    assert status(result, "build:alpha") == "built", result.stdout
    assert keys(site, "build:alpha") - before
    assert due(site, "build:alpha")  # and back with the usual Hugo: due again


@pytest.mark.parametrize("rel", [
    "scripts/build.sh",  # the build script itself
    "modules/alpha/content/one.md",  # content
    "modules/alpha/module.json",  # JSON: a trailing space keeps it valid
    "modules/alpha/static/logo.svg",  # any file of the module's folder, new or not
    "site/themes/plain/layout.html",  # the theme it uses
    "site/components/note/note.html",  # a component it uses
    "site/templates/default/hugo.toml",  # its template
])
def test_what_a_site_build_reads_changes_its_key(site: Path, rel: str) -> None:
    """Every kind of file the build reads, edited: due, and a new cache key."""
    doit(site, "build:alpha")
    assert_changes(site, "build:alpha", append(rel, " " if rel.endswith(".json") else
                                               "\n# changed\n"))


@pytest.mark.parametrize("rel", [
    "README.md",  # outside the module
    "modules/beta/content/one.md",  # another module
    "modules/alpha/node_modules/dep/index.js",  # vendored
    "modules/alpha/.git/HEAD",
])
def test_what_a_site_build_does_not_read_leaves_it_up_to_date(site: Path, rel: str) -> None:
    """Files outside the module, of another module or vendored: up to date, same key."""
    doit(site, "build:alpha")
    assert_no_change(site, "build:alpha", append(rel))

