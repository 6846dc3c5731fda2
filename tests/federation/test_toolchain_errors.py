"""Every toolchain mistake is one line naming file, field and fix; exit code 3; no traceback.

Each case under tests/fixtures/bad-toolchains/ is a whole repository: a modules.json
whose one module is the repository itself, the toolchains/<name>.yaml it uses, and
expected.txt, the line `doit list` must print after `ERROR: `.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, run_doit
from tests.robustness.doit_list import doit_list

CASES = sorted(p.name for p in (FIXTURES / "bad-toolchains").iterdir() if p.is_dir())
# Every tenth case runs a real `doit list` process; the others the same DoitMain and dodo.py
# in a forked child (tests/robustness/doit_list.py): the error comes from loading dodo.py
# in both, and a fork skips an interpreter's start and imports.
REAL = set(CASES[::10])


@pytest.mark.parametrize("case", CASES)
def test_bad_toolchain_prints_its_exact_line(case: str, tmp_path: Path) -> None:
    """The case's toolchain file and modules.json make doit print exactly expected.txt."""
    folder = FIXTURES / "bad-toolchains" / case
    repo = tmp_path / "repo"
    shutil.copytree(folder, repo, ignore=shutil.ignore_patterns("expected.txt"))
    expected = (folder / "expected.txt").read_text().strip()

    result = run_doit(repo, "list") if case in REAL else doit_list(repo, timeout=60)

    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.splitlines() == [f"ERROR: {expected}"]
    assert "Traceback" not in result.stdout + result.stderr


def test_every_case_has_its_files() -> None:
    """A case without its toolchain file or expected line would test nothing."""
    assert len(CASES) >= 8
    for case in CASES:
        folder = FIXTURES / "bad-toolchains" / case
        assert (folder / "modules.json").is_file(), case
        assert (folder / "expected.txt").read_text().strip(), case
        assert list((folder / "toolchains").glob("*.yaml")), case


def test_a_toolchain_file_linked_out_of_the_repository_is_not_read(tmp_path: Path) -> None:
    """Even a valid toolchain file is refused when its link leads out of the repository."""
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "bad-toolchains" / "unknown-field", repo,
                    ignore=shutil.ignore_patterns("expected.txt"))
    outside = tmp_path / "outside.yaml"
    outside.write_text("steps:\n  build:\n    argv: [echo, hi]\n")
    (repo / "toolchains" / "elsewhere.yaml").symlink_to(outside)

    result = run_doit(repo, "list")

    assert result.returncode == 3, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"ERROR: toolchains/elsewhere.yaml: is a link to {outside}, outside the repository; "
        "copy the file into toolchains/ instead of linking it"]
