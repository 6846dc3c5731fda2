"""Redirects (issue 22 item 8) through real doit runs on the pages fixture (home at /, docs
at /docs/, shop at /products/shop/): static redirect pages, public/_redirects and the nginx
map, checked against the pages they would replace and the targets they name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import run_doit
from tests.e2e.test_published_tree import edit_manifest, tree

Repo = Callable[[str], Path]


def redirects(repo: Path, federation: list[dict[str, Any]],
              shop: list[dict[str, Any]] | None = None) -> None:
    def change(data: dict[str, Any]) -> None:
        data["federation"]["redirects"] = federation
        if shop is not None:
            data["modules"][1]["redirects"] = shop
    edit_manifest(repo, change)


def test_moved_urls_keep_working(monorepo: Repo) -> None:
    repo = monorepo("pages")
    redirects(repo, [{"from": "/old-docs/", "to": "/docs/"},
                     {"from": "/about-us.html", "to": "/about.html", "status": 302}],
              shop=[{"from": "/shop/", "to": "/products/shop/"}])
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    public = repo / "public"
    moved = (public / "old-docs/guide/index.html").read_text()
    assert '<meta http-equiv="refresh" content="0; url=/docs/guide/">' in moved
    assert '<link rel="canonical" href="/docs/guide/">' in moved
    assert "url=/docs/\"" in (public / "old-docs/index.html").read_text()
    assert "url=/about.html" in (public / "about-us.html").read_text()
    assert "url=/products/shop/" in (public / "shop/index.html").read_text()
    assert (public / "_redirects").read_text().splitlines()[1:] == [
        "/old-docs/* /docs/:splat 301", "/about-us.html /about.html 302",
        "/shop/* /products/shop/:splat 301"]
    assert (public / ".federation/redirects.map").read_text().splitlines()[2:] == [
        r"~^/old-docs/(.*)$ /docs/$1;", "/about-us.html /about.html;",
        r"~^/shop/(.*)$ /products/shop/$1;"]


def test_a_redirect_never_replaces_a_page_nor_leads_nowhere(monorepo: Repo) -> None:
    repo = monorepo("pages")
    assert run_doit(repo).returncode == 0
    before = tree(repo)
    redirects(repo, [{"from": "/about.html", "to": "/docs/"}])
    result = run_doit(repo)
    assert result.returncode == 1
    assert ("about.html: the redirect from /about.html (federation) would replace a "
            "published page") in result.stdout
    redirects(repo, [{"from": "/old/", "to": "/nowhere/"}])
    result = run_doit(repo)
    assert result.returncode == 1
    assert "/old/: redirect to /nowhere/, which the published tree does not have" \
        in result.stdout
    assert tree(repo) == before


def test_a_redirect_is_refused_when_it_would_break_the_files_it_goes_into(
        monorepo: Repo) -> None:
    repo = monorepo("pages")
    redirects(repo, [{"from": "/a b/", "to": "/docs/"}])
    result = run_doit(repo)
    assert result.returncode == 3
    assert result.stderr.startswith("ERROR: modules.json: federation.redirects[0].from: "
                                    "'/a b/' is not a URL path to redirect from")
