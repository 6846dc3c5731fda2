"""bench/profile.py on a tiny synthetic monorepo: every phase is found in a real profile."""

from __future__ import annotations

import pytest

from bench import profile


def test_the_profile_of_a_tiny_noop_names_every_phase(capsys: pytest.CaptureFixture[str]) -> None:
    assert profile.main(["--modules", "3", "--files-per-module", "2", "--top", "5"]) == 0
    out = capsys.readouterr().out
    for label, _, _ in profile.PHASES:
        row = next(line for line in out.splitlines() if line.startswith(label))
        assert "not seen" not in row, f"{label.strip()}: the profile no longer has this phase"
    assert "imports: " in out
    assert "posix.stat" in out and "task_build" in out


def test_import_costs_sums_top_level_imports_only() -> None:
    stderr = ("import time: self [us] | cumulative | imported package\n"
              "import time:       100 |        100 |   json.decoder\n"
              "import time:       200 |        300 | json\n"
              "import time:        50 |         50 | os\n")
    total, packages = profile.import_costs(stderr)
    assert total == pytest.approx(350e-6)
    assert packages[0] == ("json", pytest.approx(300e-6))
