"""Cache keys: the same work in two clones at different paths has the same key; any change
to the task, its signature fields or its input files changes it."""

from __future__ import annotations

import shutil
from pathlib import Path

from tasks.cache.keys import action_key


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
