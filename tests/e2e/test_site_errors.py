"""A failed Hugo build through real doit and real Hugo: its errors point at the module's
source file, not at the temporary copy the build script assembled the site in (removed once
the build ends), in the failure message and in the task's log."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import copy_example, run_doit

BAD = "---\ntitle: Bad\n---\n\nSome text.\n{{< nosuchshortcode >}}\n"


def test_hugo_errors_name_the_module_source_file(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "repo")
    (repo / "modules/home/content/bad.md").write_text(BAD)
    result = run_doit(repo, "build:home", timeout=300)
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    log = (repo / ".fedbuild/logs/build/home.log").read_text()
    for shown in (out, log):
        mentions = re.findall(r"\S*bad\.md\S*", shown)
        assert mentions, shown
        assert all("modules/home/content/bad.md:6:1" in m for m in mentions), mentions
        assert "fedbuild-site." not in shown
