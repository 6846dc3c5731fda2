"""The example monorepo (Hugo sites and toolchain modules) builds through doit, then is a no-op."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.conftest import copy_example, run_doit

Built = tuple[Path, subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """A copy of the example, built once by plain `doit` (the tests only read what it made;
    the first then runs the no-op)."""
    repo = copy_example(tmp_path_factory.mktemp("example") / "example")
    return repo, run_doit(repo, timeout=300)


def test_example_federation_builds_every_module(built: Built) -> None:
    """`doit` builds the sites with Hugo and the toolchain modules; a rerun builds nothing."""
    repo, first = built

    assert first.returncode == 0, first.stdout + first.stderr
    staging = repo / ".fedbuild/staging"
    for module, title in [("home", "fedbuild"), ("docs", "docs"), ("blog", "blog")]:
        index = (staging / module / "index.html").read_text()
        assert title in index.lower()
    docs_index = (staging / "docs" / "index.html").read_text()
    assert "/docs/" in docs_index  # built for its destination under the federation's baseURL
    assert "15 tasks: 15 built" in first.stdout
    assert "federation: published public/" in first.stdout
    second = run_doit(repo)
    assert "15 tasks: 15 up to date" in second.stdout
    assert "federation: up to date public/" in second.stdout


def test_example_federation_is_published_with_rewritten_links(built: Built) -> None:
    """The blog is built by Hugo for the root and published under /blog/ with its links fixed."""
    repo, result = built
    assert result.returncode == 0, result.stdout + result.stderr

    public = repo / "public"
    staged_blog = (repo / ".fedbuild/staging/blog/index.html").read_text()
    published_blog = (public / "blog/index.html").read_text()
    # Hugo wrote root links (the blog's baseURL override is the site root) ...
    assert 'href="/css/style.css"' in staged_blog
    assert 'href="https://fedbuild.example.org/"' in staged_blog
    # ... which point into /blog/ once published; everything else is byte for byte the same.
    assert 'href="/blog/css/style.css"' in published_blog
    assert 'href="https://fedbuild.example.org/blog/"' in published_blog
    assert 'href="/css/style.css"' not in published_blog
    assert "/blog/" not in staged_blog
    assert published_blog.replace("/blog/", "/") == staged_blog
    # docs was built for its destination: nothing to rewrite.
    assert (public / "docs/index.html").read_text() == \
        (repo / ".fedbuild/staging/docs/index.html").read_text()
    assert (public / "index.html").is_file() and (public / "blog/posts/index.html").is_file()
    check = subprocess.run(["sha256sum", "--strict", "-c", ".federation/checksums.sha256"],
                           cwd=public, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    manifest = json.loads((public / ".federation/federation-manifest.json").read_text())
    assert [(m["name"], m["destination"], m["status"]) for m in manifest["modules"]] == [
        ("home", "/", "published"), ("docs", "/docs/", "published"),
        ("blog", "/blog/", "published")]
