"""fedbuild's shipped toolchains are read on every dodo load: what each file parses to is kept
as JSON named by the file's content digest (as Python keeps bytecode), so a run whose
toolchains are all shipped ones never imports PyYAML. A changed file is parsed again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from core.errors import ManifestError
from federation import toolchains
from tests.conftest import REPO

CHAIN = """\
# a comment, which JSON cannot keep
description: a C compiler
tool: {command: cc, version: [cc, --version], install: "apt-get install gcc"}
steps:
  - name: build
    argv: [cc, -o, "{out}/app", main.c]
"""


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "toolchains"
    folder.mkdir()
    monkeypatch.setattr(toolchains, "SHIPPED", folder)
    monkeypatch.setattr(toolchains, "PARSED", folder / "__pycache__")
    return folder


def memos(folder: Path) -> list[str]:
    return sorted(p.name for p in (folder / "__pycache__").glob("*.json"))


def test_a_shipped_toolchain_is_parsed_once_then_read_from_its_json(shipped: Path) -> None:
    (shipped / "cc.yaml").write_text(CHAIN)
    first = toolchains.read_toolchain(shipped / "cc.yaml")
    [memo] = memos(shipped)
    assert memo.startswith("cc.yaml.") and memo.endswith(".json")
    (shipped / "__pycache__" / memo).write_text(
        (shipped / "__pycache__" / memo).read_text().replace('"-o"', '"-O"'))
    second = toolchains.read_toolchain(shipped / "cc.yaml")  # from the memo (edited above)
    assert second.steps[0].command_list[0] == ["cc", "-O", "{out}/app", "main.c"]
    assert first.steps[0].command_list[0] == ["cc", "-o", "{out}/app", "main.c"]


def test_a_changed_file_is_parsed_again(shipped: Path) -> None:
    (shipped / "cc.yaml").write_text(CHAIN)
    toolchains.read_toolchain(shipped / "cc.yaml")
    (shipped / "cc.yaml").write_text(CHAIN.replace("main.c", "app.c"))
    chain = toolchains.read_toolchain(shipped / "cc.yaml")
    assert chain.steps[0].command_list[0][-1] == "app.c"
    [memo] = memos(shipped)  # the earlier content's copy is gone
    assert toolchains.read_toolchain(shipped / "cc.yaml").steps[0].command_list[0][-1] == "app.c"
    assert memos(shipped) == [memo]


def test_yaml_only_values_and_errors_are_not_kept(shipped: Path) -> None:
    (shipped / "dated.yaml").write_text(CHAIN + "env: {SINCE: 2026-12-05}\n")
    with pytest.raises(ManifestError):  # a date is not a string: the model says so
        toolchains.read_toolchain(shipped / "dated.yaml")
    (shipped / "broken.yaml").write_text("steps: [unclosed\n")
    with pytest.raises(ManifestError, match=r"line \d+ column \d+.*invalid YAML"):
        toolchains.read_toolchain(shipped / "broken.yaml")
    assert memos(shipped) == []


def test_where_the_memo_cannot_be_written_the_file_is_parsed_every_time(
        shipped: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only install: here a file stands where the memo folder would be (root could
    write to a read-only folder)."""
    (shipped / "cc.yaml").write_text(CHAIN)
    (shipped / "taken").write_text("")
    monkeypatch.setattr(toolchains, "PARSED", shipped / "taken" / "__pycache__")
    for _ in range(2):
        assert toolchains.read_toolchain(shipped / "cc.yaml").steps[0].command_list[0][0] == "cc"
    assert sorted(p.name for p in shipped.iterdir()) == ["cc.yaml", "taken"]  # no leftovers


def test_loading_the_example_with_its_memos_never_imports_yaml(tmp_path: Path) -> None:
    script = ("import sys; from pathlib import Path; from federation.loader import load_project;"
              f" load_project(Path({str(REPO)!r})); print('yaml' in sys.modules)")
    runs = [subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                           text=True, timeout=60, check=True).stdout.strip() for _ in range(2)]
    assert runs[1] == "False"  # the first run may have written the memos
