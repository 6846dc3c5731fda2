"""Cache keys: the same work in two clones at different paths, on machines with fedbuild and
Python installed at different paths, has the same key; any change to the task, its signature
fields, its input files or the fedbuild scripts it runs changes it."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from core.state import State
from federation.loader import load_project
from federation.platforms import host
from federation.steps import FEDBUILD, folder_digest, plan_steps, python_executable
from tasks.cache.keys import FEDBUILD_DIR, PYTHON, ROOT, action_key, relative_to
from tests.conftest import copy_example


def clone(tmp_path: Path, name: str) -> Path:
    root = tmp_path / name
    (root / "src").mkdir(parents=True)
    (root / "src" / "a.c").write_text("int a;\n")
    (root / "src" / "b.c").write_text("int b;\n")
    return root


def key(root: Path, **changes: object) -> str:
    command = ["cc", "-o", str(root / "out"), str(root / "src/a.c")]
    fields: dict[str, object] = {"commands": [command], "env": {"CFLAGS": "-O2"},
                                 "mode": "development", "tool": "cc 12"}
    fields.update(changes)
    return action_key("build:lib", fields, root, ["src/a.c", "src/b.c"])


def test_two_clones_at_different_paths_share_the_key(tmp_path: Path) -> None:
    assert key(clone(tmp_path, "one")) == key(clone(tmp_path, "elsewhere/two"))


def test_input_content_changes_the_key(tmp_path: Path) -> None:
    root = clone(tmp_path, "one")
    before = key(root)
    (root / "src" / "b.c").write_text("int b = 1;\n")
    assert key(root) != before


def test_each_signature_field_changes_the_key(tmp_path: Path) -> None:
    root = clone(tmp_path, "one")
    base = key(root)
    variants = [key(root, env={"CFLAGS": "-O0"}), key(root, mode="production"),
                key(root, tool="cc 13"), key(root, commands=[["cc", "-g"]])]
    assert len({base, *variants}) == 5


def test_the_task_name_and_a_missing_input_change_the_key(tmp_path: Path) -> None:
    root = clone(tmp_path, "one")
    fields = {"tool": "cc 12"}
    assert action_key("build:lib", fields, root, ["src/a.c"]) != \
        action_key("test:lib", fields, root, ["src/a.c"])
    present = action_key("build:lib", fields, root, ["src/a.c", "src/b.c"])
    shutil.move(root / "src" / "b.c", tmp_path / "b.c")
    assert action_key("build:lib", fields, root, ["src/a.c", "src/b.c"]) != present


def fedbuild_copy(tmp_path: Path, name: str) -> Path:
    """A fedbuild folder with its toolchains' helper script."""
    folder = tmp_path / name
    (folder / "tasks" / "toolchains").mkdir(parents=True)
    (folder / "tasks" / "toolchains" / "collect.py").write_text("print('collect')\n")
    return folder


def machine_key(root: Path, fedbuild: Path, python: str) -> str:
    """A cargo-like step: runs fedbuild's helper script with fedbuild's Python."""
    fields = {"commands": [[python, "-S", str(fedbuild / "tasks/toolchains/collect.py"),
                            str(root / "target")]],
              "env": {"PYTHONPATH": str(fedbuild)}, "tool": "cargo 1.95"}
    return action_key("build:crate", fields, root, ["src/a.c"], fedbuild=fedbuild, python=python)


def test_fedbuild_and_python_installed_elsewhere_share_the_key(tmp_path: Path) -> None:
    """A teammate's fedbuild checkout and virtualenv are not where CI has them."""
    here = machine_key(clone(tmp_path, "one"), fedbuild_copy(tmp_path, "opt/fedbuild"),
                       "/opt/fedbuild/.venv/bin/python3.11")
    there = machine_key(clone(tmp_path, "home/two"), fedbuild_copy(tmp_path, "home/me/fb"),
                        "/home/me/fb/.venv/bin/python3.11")
    assert here == there


def test_the_fedbuild_scripts_a_step_runs_are_in_its_key_by_content(tmp_path: Path) -> None:
    root, fedbuild = clone(tmp_path, "one"), fedbuild_copy(tmp_path, "fedbuild")
    before = machine_key(root, fedbuild, "/usr/bin/python3")
    (fedbuild / "tasks" / "toolchains" / "collect.py").write_text("print('changed')\n")
    folder_digest.cache_clear()
    assert machine_key(root, fedbuild, "/usr/bin/python3") != before


def test_a_virtualenv_inside_the_repository_is_python_not_root(tmp_path: Path) -> None:
    root = clone(tmp_path, "one")
    fields = {"commands": [[str(root / ".venv/bin/python"), str(root / "src/a.c")]]}
    assert relative_to(fields, {str(root): "{root}", str(root / ".venv/bin/python"): "{python}"}
                       ) == {"commands": [["{python}", "{root}/src/a.c"]]}


def test_the_repository_wins_where_it_is_fedbuilds_own_folder(tmp_path: Path) -> None:
    """fedbuild's checkout building its own example: the same place is the repository."""
    root = clone(tmp_path, "fedbuild")
    (root / "tasks" / "toolchains").mkdir(parents=True)
    fields = {"commands": [["python", str(root / "src/a.c")]]}
    assert action_key("build:lib", fields, root, ["src/a.c"], fedbuild=root, python="/p") == \
        action_key("build:lib", {"commands": [["python", "{root}/src/a.c"]]}, root, ["src/a.c"],
                   fedbuild=root, python="/p")


def test_no_path_of_this_machine_is_left_in_the_example_steps_keys(tmp_path: Path) -> None:
    """Every step of the example (cargo, cmake, npm, Python, firmware) and every site build:
    once the repository, fedbuild and Python are placeholders, no absolute path is left that
    another machine would not have."""
    repo = copy_example(tmp_path / "example")
    project = load_project(repo)
    state = State(repo)
    steps = plan_steps(project, state, project.toolchains, "development", host()).steps
    fields = [s.signature() for s in steps]  # site builds' among them
    places = {str(FEDBUILD): FEDBUILD_DIR, python_executable(): PYTHON, str(repo): ROOT}
    text = json.dumps(relative_to(fields, places))
    assert len(steps) >= 10 and FEDBUILD_DIR in text and PYTHON in text and ROOT in text
    # What is left starting with "/" is a URL path (a mount such as /docs/), not a folder here.
    local = [p for p in re.findall(r'"(/[^"]*)"', text)
             if len(Path(p).parts) > 1 and Path("/", Path(p).parts[1]).exists()]
    assert local == []
