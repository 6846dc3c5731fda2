"""This repository's own example federation builds with Hugo through doit, then is a no-op."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import REPO, run_doit

EXAMPLE_PARTS = ("modules.json", "modules.schema.json", "modules", "site", "scripts")


def test_example_federation_builds_every_module(tmp_path: Path) -> None:
    """`doit` builds home, docs and blog with the real build.sh and Hugo; a rerun builds nothing."""
    repo = tmp_path / "example"
    repo.mkdir()
    for part in EXAMPLE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, repo / part)
        else:
            shutil.copy(source, repo / part)

    first = run_doit(repo, timeout=300)

    assert first.returncode == 0, first.stdout + first.stderr
    staging = repo / ".fedbuild/staging"
    for module, title in [("home", "fedbuild"), ("docs", "docs"), ("blog", "blog")]:
        index = (staging / module / "index.html").read_text()
        assert title in index.lower()
    docs_index = (staging / "docs" / "index.html").read_text()
    assert "/docs/" in docs_index  # built for its destination under the federation's baseURL
    assert "3 tasks: 3 built" in first.stdout
    second = run_doit(repo)
    assert "3 tasks: 3 up to date" in second.stdout
