"""The link policy real sites can live with (issue 22 item 5), through real doit runs on the
pages fixture (docs is built for the root and published at /docs/; home is at /).

Links a module's own build left broken are warnings by default (counted per module, listed
in public/.federation/links.json and the log, the most named targets in the summary); links
the federation broke and destinations without an index page fail the publish;
`federation.validation` sets each kind to error, warn or off, with ignore globs and
new_only. Only published pages are checked, and build leftovers are not published.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_doit
from tests.e2e.test_published_tree import edit_manifest, page, tree, write

Repo = Callable[[str], Path]
OWN = '<a href="/guide/missing.html">x</a><img src="/nowhere.png">'


@pytest.fixture
def repo(monorepo: Repo) -> Path:
    """The pages fixture; docs's guide has two broken links of its own."""
    repo = monorepo("pages")
    write(repo, "docs", "guide/index.html", page("guide", OWN))
    return repo


def links(repo: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((repo / "public/.federation/links.json").read_text())
    return data


def validation(repo: Path, **settings: Any) -> None:
    edit_manifest(repo, lambda d: d["federation"].update(validation=settings))


def test_a_module_s_own_broken_links_are_warnings(repo: Path) -> None:
    write(repo, "docs", "layouts/partials/head.html",
          '{{ partial "meta" . }}<link rel="stylesheet" href="/theme-missing.css">')
    write(repo, "shop", ".hugo_build.lock", "")
    write(repo, "shop", "drafts/wip.html", page("wip"))
    edit_manifest(repo, lambda d: d["modules"][1].update(exclude=["drafts/*"]))
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (repo / "public/docs/guide/index.html").is_file()
    published = tree(repo)
    assert "docs/layouts/partials/head.html" in published  # published, not checked as a page
    assert not any(p.endswith(".hugo_build.lock") or "/drafts/" in p for p in published)
    record = links(repo)
    assert [(p["path"], p["link"], p["kind"], p["level"]) for p in record["problems"]] == [
        ("docs/guide/index.html", "/guide/missing.html", "module_links", "warn"),
        ("docs/guide/index.html", "/nowhere.png", "module_links", "warn")]
    assert record["by_module"] == {"docs": {"module_links": 2}}
    log = (repo / ".fedbuild/logs/federate/federate.log").read_text()
    assert "warning: docs/guide/index.html: broken link /nowhere.png (module_links of docs)" \
        in log
    assert "docs  published (5 files, 2 broken links of its own)" in result.stdout
    assert ("most named missing targets: /guide/missing.html (1 page), /nowhere.png (1 page)"
            in result.stdout)


def test_a_link_the_federation_broke_fails_and_keeps_the_old_tree(repo: Path) -> None:
    assert run_doit(repo).returncode == 0
    before = tree(repo)
    write(repo, "home", "index.html", page("home", '<a href="/docs/gone.html">gone</a>'))
    result = run_doit(repo)
    assert result.returncode == 1, result.stdout
    assert "federate kept the published tree public/ as it was: validation failed (1 problem" \
        in result.stdout
    assert "index.html: broken link /docs/gone.html" in result.stdout
    assert tree(repo) == before


def test_validation_sets_each_kind_and_ignores_globs(repo: Path) -> None:
    validation(repo, module_links="error")
    result = run_doit(repo)
    assert result.returncode == 1 and "broken link /nowhere.png" in result.stdout
    validation(repo, module_links="error", ignore=["/guide/*", "/nowhere.png"])
    assert run_doit(repo).returncode == 0
    assert links(repo)["problems"] == []
    write(repo, "home", "index.html", page("home", '<a href="/docs/gone.html">gone</a>'))
    (repo / "modules/shop/pages/index.html").rename(repo / "modules/shop/pages/start.html")
    validation(repo, federation_links="warn", missing_index="warn", module_links="off")
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout
    assert [(p["path"], p["kind"]) for p in links(repo)["problems"]] == [
        ("/products/shop/", "missing_index"), ("docs/index.html", "federation_links"),
        ("index.html", "federation_links")]  # both link to /products/shop/, now index-less


def test_new_only_fails_only_on_breakage_the_published_tree_does_not_have(repo: Path) -> None:
    assert run_doit(repo).returncode == 0
    validation(repo, module_links="error", new_only=True)
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout  # the guide's links were broken already
    assert len(links(repo)["problems"]) == 2
    write(repo, "docs", "guide/index.html", page("guide", OWN + '<a href="/new.html">n</a>'))
    result = run_doit(repo)
    assert result.returncode == 1
    assert "docs/guide/index.html: broken link /new.html" in result.stdout
    assert "broken link /nowhere.png" not in result.stdout.split("kept the published tree")[1]


def test_anchors_and_duplicate_routes_are_reported_under_the_same_policy(repo: Path) -> None:
    """Issue 22 item 9: a #fragment naming no id of its page, and two modules producing the
    same path, are warnings by default (Docusaurus's defaults), errors when asked."""
    write(repo, "home", "index.html", page("home", '<h2 id="here">h</h2><a href="#here">h</a>'
                                           '<a href="#gone">g</a><a href="/docs/#nope">d</a>'))
    write(repo, "home", "docs/extra.html", page("home's page in docs's folder"))
    validation(repo, module_links="off")
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout
    assert [(p["path"], p["kind"], p["level"]) for p in links(repo)["problems"]] == [
        ("docs/extra.html", "duplicate_routes", "warn"), ("index.html", "anchors", "warn"),
        ("index.html", "anchors", "warn")]
    assert [p["link"] for p in links(repo)["problems"][1:]] == ["#gone", "/docs/#nope"]
    validation(repo, module_links="off", anchors="error", duplicate_routes="error")
    write(repo, "home", "about.html", page("about v2"))
    result = run_doit(repo)
    assert result.returncode == 1
    assert "index.html: broken anchor #gone" in result.stdout
    assert "docs/extra.html: duplicate route: " in result.stdout
