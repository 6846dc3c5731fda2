"""One search across all modules (issue 22 item 7): with federation.search, each publish
builds a Pagefind index over the published tree (the `pagefind` PyPI package ships the
binary), on the pages fixture. The index is read back from its fragment files: every page
of every module is in it, under its published URL, with its text."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import run_doit
from tests.e2e.test_published_tree import edit_manifest, page, write

Repo = Callable[[str], Path]


def fragments(public: Path) -> dict[str, str]:
    """URL -> indexed text, from the index's fragment files (gzip, 'pagefind_dcd' + JSON)."""
    found = {}
    for path in (public / "pagefind/fragment").iterdir():
        data = json.loads(gzip.decompress(path.read_bytes()).removeprefix(b"pagefind_dcd"))
        found[data["url"]] = data["content"]
    return found


def test_one_index_covers_every_module_under_its_published_url(monorepo: Repo) -> None:
    repo = monorepo("pages")
    edit_manifest(repo, lambda d: d["federation"].update(search=True))
    write(repo, "docs", "guide/index.html", page("guide", "<p>Installing the quasar drive</p>"))
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    public = repo / "public"
    entry = json.loads((public / "pagefind/pagefind-entry.json").read_text())
    indexed = fragments(public)
    pages = {"/", "/about.html", "/docs/", "/docs/guide/", "/products/shop/"}
    assert set(indexed) == pages
    assert sum(lang["page_count"] for lang in entry["languages"].values()) == len(pages)
    assert "quasar drive" in indexed["/docs/guide/"]
    assert (public / "pagefind/pagefind-ui.js").is_file()  # the UI a template includes
    check = subprocess.run(["sha256sum", "--strict", "--quiet", "-c",
                            ".federation/checksums.sha256"], cwd=public, check=False)
    assert check.returncode == 0
    write(repo, "docs", "guide/index.html", page("guide", "<p>Calibrating the nebula</p>"))
    assert run_doit(repo).returncode == 0
    assert "nebula" in fragments(public)["/docs/guide/"]
