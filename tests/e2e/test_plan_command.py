"""`doit plan`: what a `doit` with the same arguments would do, checked against that `doit`.

The steps fixture for the states (run, run after, cached, up to date, skipped) and the JSON
schema; a small repository made here (each module's output is its inputs' content, so a
change always reaches what depends on it) for the property: after any random edits, the
tasks `doit plan --json` says will run are the tasks `doit` then runs.
"""

from __future__ import annotations

import json
import re
import subprocess
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.conftest import REPO, run_command, run_doit

pytestmark = pytest.mark.heavy(27)  # run early under -n (tests/conftest.py)

Repo = Callable[[str], Path]
SCHEMA = json.loads((REPO / "tasks/commands/plan.schema.json").read_text())
_PROGRESS = re.compile(r"^\[\d+/\d+\] (\S+) (not needed|up to date|\S+)")


def plan(repo: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    """`doit plan --json`, checked against its schema."""
    result = run_command(repo, "plan", "--json", *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    jsonschema.validate(report, SCHEMA)
    return report


def build(repo: Path, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """A real `doit`; the tasks whose actions ran (built, flaky or restored from a cache)."""
    result = run_doit(repo, *args, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return ran(result)


def ran(result: subprocess.CompletedProcess[str]) -> set[str]:
    found = set()
    for line in result.stdout.splitlines():
        match = _PROGRESS.match(line)
        if match and match[2] in ("ok", "flaky", "cached"):
            found.add(match[1])
    return found


def states(report: dict[str, Any]) -> dict[str, str]:
    return {t["task"]: t["state"] for t in report["tasks"]}


def test_states_of_the_steps_fixture(monorepo: Repo) -> None:
    repo = monorepo("steps")
    first = plan(repo)
    assert set(first["will_run"]) == build(repo)
    assert states(first)["build:elsewhere"] == "skipped"
    assert states(first)["publish:lib"] == "skipped"
    assert first["untimed"] == first["will_run"]
    again = plan(repo)
    assert again["will_run"] == []
    assert all(t["duration"] is not None for t in again["tasks"] if t["state"] == "up to date")
    assert all(t["key"] for t in again["tasks"] if t["state"] == "up to date")

    (repo / "modules/lib/lib.cfg").write_text("changed\n")
    edited = plan(repo, "-n", "3")
    lib = next(t for t in edited["tasks"] if t["task"] == "build:lib")
    assert lib["reasons"] == ["input changed: modules/lib/lib.cfg"] and lib["after"] == []
    app = next(t for t in edited["tasks"] if t["task"] == "build:app")
    assert app["state"] == "run" and app["after"] == ["build:lib"] and app["key"] is None
    assert edited["workers"] == 3
    assert edited["wall_time"] > 0

    text = run_command(repo, "plan", "-n", "3").stdout
    assert re.search(r"^  build:app +run \(after build:lib\)", text, re.M), text
    assert "predicted wall time" in text.splitlines()[-1]


def test_named_tasks_and_selection_plan_what_they_would_run(monorepo: Repo) -> None:
    repo = monorepo("steps")
    named = plan(repo, "build:app")
    assert named["will_run"] == ["generate:lib", "build:lib", "build:app"]
    selected = plan(repo, "select=...app")
    assert selected["will_run"] == ["generate:lib", "build:lib", "docs:lib", "build:app"]
    assert set(selected["will_run"]) == build(repo, "select=...app")


def test_a_selection_plans_what_naming_its_tasks_would(monorepo: Repo) -> None:
    """select= runs the modules' default tasks: the same as naming them."""
    repo = monorepo("steps")
    by_selection = plan(repo, "select=lib,tooled")
    by_name = plan(repo, "build:lib", "docs:lib", "publish:lib", "build:tooled")
    assert states(by_selection) == states(by_name)
    assert set(by_selection["will_run"]) == {"generate:lib", "build:lib", "docs:lib",
                                              "build:tooled"}


def test_cached_when_a_cache_holds_it(monorepo: Repo, tmp_path: Path) -> None:
    """The key plan computes is the one the build stored under, for a site build and for a
    toolchain step: forgotten, each is found in the cache."""
    env = {"FEDBUILD_CACHE_DIR": str(tmp_path / "cache")}
    repo = monorepo("affected")  # sites home and blog, text modules lib <- app, tool
    build(repo, env=env)
    run_command(repo, "forget", "build:home")
    run_command(repo, "forget", "build:tool")
    found = plan(repo, env=env)
    assert {t: s for t, s in states(found).items() if s != "up to date"} == {
        "build:home": "cached", "build:tool": "cached", "federate": "run"}
    assert build(repo, env=env) == {"build:home", "build:tool", "federate"}


def test_unknown_task_is_one_line(monorepo: Repo) -> None:
    result = run_command(monorepo("steps"), "plan", "build:ap")
    assert result.returncode == 3
    assert "did you mean build:app?" in result.stderr and "Traceback" not in result.stderr


# The property: plan == doit, after random edits ------------------------------------------

MODULES = ("a", "b", "c")  # b depends on a; c on nothing
# Each build's output changes with everything that makes it run again (its files and its
# LABEL): `run (after X)` is the plan's one guess (X's output may come out the same, README),
# and the property below is about the plan, not about that guess.
CONCAT = """
import os, pathlib, sys
out, *sources = sys.argv[1:]
text = [os.environ["LABEL"] + "\\n"]
for source in sources:
    path = pathlib.Path(source)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    text += [f"{p.name}:{p.read_text()}" for p in files]
pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True)
pathlib.Path(out).write_text("".join(text))
"""


def chain_repo(root: Path) -> Path:
    """Three modules whose builds write their inputs' names and content: b reads a's output."""
    (root / "tools").mkdir(parents=True)
    (root / "tools/concat.py").write_text(textwrap.dedent(CONCAT))
    modules = []
    for name in MODULES:
        (root / "modules" / name / "src").mkdir(parents=True)
        (root / "modules" / name / "src" / "one.txt").write_text(f"{name} one\n")
        sources = ["{root}/modules/" + name + "/src"] + (["{dist:a}/out.txt"] if name == "b"
                                                       else [])
        modules.append({
            "name": name, "source": {"repository": "local", "path": f"modules/{name}"},
            "toolchain": "command", "depends_on": ["a"] if name == "b" else [],
            "env": {"LABEL": name},
            "steps": [{"name": "build", "description": f"concatenate {name}",
                       "argv": ["{python}", "{root}/tools/concat.py", "{out}/out.txt",
                                *sources], "inputs": ["src/**"]}]})
    (root / "modules.json").write_text(json.dumps({
        "federation": {"name": "chain", "baseURL": "https://chain.example.org"},
        "modules": modules}))
    return root


EDITS = st.lists(st.tuples(st.sampled_from(["change", "add", "remove", "touch", "env"]),
                           st.sampled_from(MODULES), st.integers(0, 3)), max_size=4)


def apply(repo: Path, kind: str, name: str, n: int) -> None:
    """One edit of module `name`'s files or manifest entry."""
    src = repo / "modules" / name / "src"
    files = sorted(src.iterdir())
    if kind == "change":
        path = files[n % len(files)]
        path.write_text(path.read_text() + f"edit {n}\n")
    elif kind == "add":
        (src / f"new{n}.txt").write_text(f"new {n}\n")
    elif kind == "remove" and len(files) > 1:
        files[n % len(files)].unlink()
    elif kind == "touch":
        files[n % len(files)].touch()  # the same content: nothing to do
    elif kind == "env":
        data = json.loads((repo / "modules.json").read_text())
        entry = next(m for m in data["modules"] if m["name"] == name)
        entry["env"] = {"LABEL": f"{name}{n}"}
        (repo / "modules.json").write_text(json.dumps(data))


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = chain_repo(tmp_path_factory.mktemp("plan") / "chain")
    build(repo)
    return repo


@settings(max_examples=8, deadline=None)
@given(edits=EDITS)
@example(edits=[("env", "a", 1)])  # a runs again; b after it (failed 1 run in 3 before)
@example(edits=[("change", "c", 0), ("env", "a", 0)])
def test_plan_says_what_doit_then_runs(chain: Path, edits: list[tuple[str, str, int]]
                                       ) -> None:
    for kind, name, n in edits:
        apply(chain, kind, name, n)
    said = plan(chain)
    assert set(said["will_run"]) == build(chain), (edits, said)
    assert plan(chain)["will_run"] == []
