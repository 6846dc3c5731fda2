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
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, copy_fixture, run_command, run_doit

pytestmark = pytest.mark.heavy(45)  # run early under -n (tests/conftest.py)

Change = Callable[[Path], None]
_ROW = re.compile(r"^(\S+)\s+(built|cached|up to date|failed|timed out|skipped|flaky|"
                  r"not needed)(?:\s|$)")


# Helpers --------------------------------------------------------------------------------------

def doit(repo: Path, *args: str, path: str | Path | None = None
         ) -> subprocess.CompletedProcess[str]:
    """Run doit for real, `path` (folders of tools) first on PATH, and insist it passed."""
    env = {"PATH": f"{path}{os.pathsep}{os.environ['PATH']}"} if path else None
    result = run_doit(repo, *args, env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def due(repo: Path, task: str, path: str | Path | None = None) -> bool:
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


def assert_changes(repo: Path, task: str, change: Change, path: str | Path | None = None
                   ) -> None:
    """After `change`, the task is due and builds afresh under a new cache key."""
    before = keys(repo, task)
    change(repo)
    assert due(repo, task, path), f"{task} is up to date after a change that matters"
    result = doit(repo, task, path=path)
    assert status(result, task) == "built", result.stdout
    assert keys(repo, task) - before, f"{task} was stored under no new cache key"


def assert_no_change(repo: Path, task: str, *changes: Change, path: str | Path | None = None
                     ) -> None:
    """After `changes` (checked together: none may matter), the task is up to date, and
    after a clean it is restored from the cache under the key it had."""
    before = keys(repo, task)
    for change in changes:
        change(repo)
    assert not due(repo, task, path), f"{task} is due after a change that cannot matter"
    doit(repo, "clean", task, path=path)
    result = doit(repo, task, path=path)
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


def test_what_a_site_build_does_not_read_leaves_it_up_to_date(site: Path) -> None:
    """Files outside the module, of another module or vendored: up to date, same key."""
    doit(site, "build:alpha")
    assert_no_change(site, "build:alpha", *map(append, [
        "README.md",  # outside the module
        "modules/beta/content/one.md",  # another module
        "modules/alpha/node_modules/dep/index.js",  # vendored
        "modules/alpha/.git/HEAD"]))


def test_a_gitignored_file_is_not_an_input(site: Path) -> None:
    """In a git checkout, what the repository's .gitignore ignores is not an input."""
    if not (site / ".git").exists():
        subprocess.run(["git", "init", "-q", str(site)], check=True, timeout=60)
    (site / ".gitignore").write_text("*.log\n/modules/alpha/drafts/\n")
    doit(site, "build:alpha")
    assert_no_change(site, "build:alpha", append("modules/alpha/content/notes.log"))
    assert_no_change(site, "build:alpha", append("modules/alpha/drafts/wip.md"))
    assert_changes(site, "build:alpha", append("modules/alpha/content/three.md"))
    shutil.rmtree(site / ".git")


# Toolchain steps ------------------------------------------------------------------------------

def delegating(folder: Path, name: str, version: str, where: Path | None = None) -> Path:
    """A `name` in `folder` that says it is `version` when asked, and is the real one (on
    PATH, or in `where`) for anything else (so a build with it still works)."""
    real = shutil.which(name, path=f"{where}{os.pathsep}{os.environ['PATH']}" if where
                        else None)
    assert real, f"{name} is not installed"
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / name
    exe.write_text('#!/bin/sh\ncase "$1" in --version|-v|version) '
                   f"echo '{version}'; exit 0 ;; esac\nexec '{real}' \"$@\"\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return folder


@pytest.fixture(scope="module")
def audit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/fixtures/audit (one module per toolchain), the firmware fixture's app and its
    ESP-IDF project (built by the stand-in idf.py: ESP-IDF cannot be installed here)."""
    repo = copy_fixture("audit", tmp_path_factory.mktemp("audit") / "audit")
    shutil.copytree(FIXTURES / "firmware" / "app", repo / "fw")
    shutil.copytree(FIXTURES / "idf" / "project", repo / "idf")
    data = json.loads((repo / "modules.json").read_text())
    data["modules"] += [{"name": "fw", "source": {"repository": "local", "path": "fw"},
                         "toolchain": "esp-baremetal", "target": "esp32c3"},
                        {"name": "idf", "source": {"repository": "local", "path": "idf"},
                         "toolchain": "esp-idf", "target": "esp32c3"}]
    (repo / "modules.json").write_text(json.dumps(data))
    return repo


# (task, tool wrapped, what matters, what does not): paths relative to the repository.
TOOLCHAIN_CASES = [
    ("build:next", "node", ["next/app/page.tsx", "next/components/button.js",
                            "next/pages/about.js", "next/styles/site.css",
                            "next/public/logo.svg", "next/package.json", "next/build.mjs"],
     ["next/test/button.test.js", "next/node_modules/dep/index.js", "README.md",
      "next/.next/cache/x", "pkg/src/pkg/__init__.py"]),
    ("build:pkg", None, ["pkg/src/pkg/data/table.json", "pkg/src/pkg/__init__.py",
                         "pkg/pyproject.toml"],
     ["pkg/tests/test_pkg.py", "README.md", "pkg/build/lib/stray.py"]),
    ("build:rusty", "cargo", ["rusty/build.rs", "rusty/src/lib.rs", "rusty/Cargo.toml"],
     ["rusty/tests/api.rs", "README.md"]),
    ("build:cm", "cmake", ["cm/cmake/warnings.cmake", "cm/include/cm.h", "cm/src/cm.c",
                           "cm/CMakeLists.txt", "cm/tests/test_cm.c"],
     ["README.md", "cm/build/CMakeCache.txt"]),
    ("build:fw", "riscv64-unknown-elf-gcc", ["fw/include/calc.h", "fw/src/calc.c"],
     ["fw/test/test_calc.c", "README.md"]),
    ("build:idf", "idf.py", ["idf/main/main.c", "idf/main/Kconfig.projbuild",
                             "idf/CMakeLists.txt", "idf/sdkconfig.defaults"],
     ["README.md", "idf/build/x.o", "idf/managed_components/dep/x.c", "idf/sdkconfig.old"]),
]
FAKE_IDF = FIXTURES / "idf" / "fake-idf"
_EDIT = {".json": " ", ".toml": "\n# changed\n", ".cmake": "\n# changed\n",
         ".txt": "\n# changed\n", ".svg": "\n<!-- changed -->\n", ".py": "\n# changed\n",
         ".css": "\n/* changed */\n"}


def edit(rel: str) -> Change:
    """A harmless edit in the file's own language (a comment, or a space in JSON)."""
    return append(rel, _EDIT.get(Path(rel).suffix, "\n// changed\n"))


def planned(repo: Path, task: str, path: str | Path | None = None) -> tuple[str, str]:
    """`task`'s state and cache key in `doit plan --json` (which runs and writes nothing)."""
    env = {"PATH": f"{path}{os.pathsep}{os.environ['PATH']}"} if path else None
    result = run_command(repo, "plan", "--json", task, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    entry = next(t for t in report["tasks"] if t["task"] == task)
    return entry["state"], entry["key"]


def revertible(repo: Path, rel: str) -> Callable[[], None]:
    """What puts `rel` back as it is now (its bytes, or its absence, and new folders gone)."""
    path = repo / rel
    data = path.read_bytes() if path.exists() else None
    made = next((p for p in reversed(path.parents) if not p.exists()), None)

    def revert() -> None:
        if data is not None:
            path.write_bytes(data)
        elif made is not None:
            shutil.rmtree(made)
        else:
            path.unlink()
    return revert


@pytest.mark.parametrize(("task", "tool", "matters", "ignored"), TOOLCHAIN_CASES,
                         ids=[case[0] for case in TOOLCHAIN_CASES])
def test_toolchain_fingerprints(audit: Path, tmp_path: Path, task: str, tool: str | None,
                                matters: list[str], ignored: list[str]) -> None:
    """Each kind of source file, the build script and the tool's version make the build due
    under a new cache key; tests, vendored and output folders and files outside the module
    do neither.

    Each edit that matters is checked alone from a built state, then undone: `doit plan`
    says the task would run, under a key of its own (not one the cache holds: no stale
    restore). The last edit is kept and built for real: the run builds afresh and stores
    exactly the key the plan gave, so the plan's keys are the run's. Building every edit
    (cmake, cargo, a firmware image each time) proved no more and cost most of the audit."""
    base = FAKE_IDF if tool == "idf.py" else None  # the stand-in on PATH
    doit(audit, task, path=base)
    assert_no_change(audit, task, *map(edit, ignored), path=base)
    current = keys(audit, task)
    assert planned(audit, task, base) == ("up to date", *current)
    seen, reverted = set(current), False
    for i, rel in enumerate(matters):
        last = i == len(matters) - 1
        if last and reverted:  # the edits undone leave nothing that makes it due
            assert planned(audit, task, base) == ("up to date", *current)
        revert = revertible(audit, rel)
        edit(rel)(audit)
        state, key = planned(audit, task, base)
        assert state == "run", f"{task} is {state} after an edit of {rel}"
        assert key not in seen, f"{task}'s cache key did not change with {rel}"
        reverted = key is not None and not last
        if reverted:
            seen.add(key)
            revert()
            continue
        # Built for real: the last edit, or one whose key waits on a step that must run
        # first (npm's install after package.json). The run stores the key the plan gave.
        result = doit(audit, task, path=base)
        assert status(result, task) == "built", result.stdout
        current = keys(audit, task) - seen
        assert current and (key is None or current == {key}), (key, current)
        seen |= current
    if tool is not None:  # the key waits on the tool's probe: built for real
        other = delegating(tmp_path / "bin", tool, f"{tool} 99.0.0-other", base)
        assert_changes(audit, task, lambda repo: None, path=other)


def test_npm_install_is_due_when_node_modules_is_gone(audit: Path) -> None:
    """`install:` declares node_modules: after `doit clean` it is due, not up to date; it
    stays lazy (not run while the build comes from the cache) and runs when named."""
    doit(audit, "install:next")
    assert not due(audit, "install:next")
    doit(audit, "clean", "install:next")
    assert not (audit / "next" / "node_modules").exists()
    assert due(audit, "install:next")
    doit(audit, "clean", "build:next")
    result = doit(audit, "build:next")
    assert status(result, "build:next") == "cached", result.stdout
    assert status(result, "install:next") == "not needed", result.stdout
    result = doit(audit, "install:next")
    assert status(result, "install:next") == "built", result.stdout
    assert (audit / "next" / "node_modules").is_dir()
    assert not due(audit, "install:next")
