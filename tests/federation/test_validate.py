"""Validation of a new tree: index pages, internal links and symlinks, from file records only."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from federation.compose import Collision
from federation.records import FileInfo
from federation.validate import Problem, resolves, route_problems, validate

DIGEST = "0" * 64


def info(links: Iterable[str] = (), target: str | None = None, owner: str = "m") -> FileInfo:
    """A file record with the given links (or a symlink when `target` is given)."""
    if target is not None:
        return FileInfo(owner, "", 0, 0, list(links), target)
    return FileInfo(owner, DIGEST, 1, 0, list(links))


def tree(*paths: str) -> dict[str, FileInfo]:
    """Plain files without links."""
    return {path: info() for path in paths}


def folders_of(files: dict[str, FileInfo]) -> set[str]:
    """Every folder that holds a file of `files`."""
    found: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        found.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found


def described(problems: list[Problem]) -> list[str]:
    """The problems as the lines a user reads."""
    return [p.describe() for p in problems]


SITE = {
    "index.html": info(["/", "/docs/", "/css/site.css"]),
    "css/site.css": info(["/img/bg.png"]),
    "img/bg.png": info(),
    "docs/index.html": info(["/docs/guide/", "/docs/guide", "/", "/docs/index.html"]),
    "docs/guide/index.htm": info(),
}


def test_valid_tree_has_no_problems() -> None:
    """Every destination has an index page and every link names a file."""
    assert validate(SITE, [("root", "/"), ("docs", "/docs/")], "/") == []


@pytest.mark.parametrize("destination", ["/", "/docs/", "/docs/guide/"])
def test_missing_index_page(destination: str) -> None:
    """A published module whose destination holds no index page is a problem."""
    files = tree("about.html", "docs/page.html", "docs/guide/page.html")
    assert described(validate(files, [("m", destination)], "/")) == [
        f"{destination}: module m has no index page at {destination}"]


def test_index_htm_counts_as_index_page() -> None:
    """index.htm is accepted as the index page of a destination."""
    assert validate(tree("index.htm", "docs/index.htm"), [("r", "/"), ("d", "/docs/")], "/") == []


def test_index_page_checked_relative_to_the_tree_not_site_path() -> None:
    """Destinations are folders of the tree: site_path does not move them."""
    files = tree("index.html", "docs/index.html")
    assert validate(files, [("r", "/"), ("d", "/docs/")], "/sub/") == []


def test_broken_links_are_reported_per_page() -> None:
    """Each page reports each broken link once; pages come in path order."""
    files = {
        "index.html": info(["/missing.html", "/docs/", "/missing.html", "/gone/"]),
        "docs/index.html": info(["/missing.html", "/"]),
        "css/site.css": info(["/img/none.png"]),
    }
    assert described(validate(files, [("root", "/")], "/")) == [
        "css/site.css: broken link /img/none.png",
        "docs/index.html: broken link /missing.html",
        "index.html: broken link /missing.html",
        "index.html: broken link /gone/",
    ]


def test_index_problems_come_before_link_problems() -> None:
    """Missing index pages are listed first, in destination order, then the pages' problems."""
    files = {"docs/a.html": info(["/nope"])}
    assert described(validate(files, [("root", "/"), ("docs", "/docs/")], "/")) == [
        "/: module root has no index page at /",
        "/docs/: module docs has no index page at /docs/",
        "docs/a.html: broken link /nope",
    ]


def test_links_to_folders_resolve_to_their_index_page() -> None:
    """`/docs/` and `/docs` both name docs/index.html; a folder without index page is broken."""
    files = {
        "index.html": info(["/docs/", "/docs", "/", "/docs/guide/", "/docs/guide",
                            "/assets/", "/assets"]),
        "docs/index.html": info(),
        "docs/guide/index.htm": info(),
        "assets/logo.png": info(),
    }
    assert described(validate(files, [], "/")) == ["index.html: broken link /assets/",
                                                   "index.html: broken link /assets"]


def test_link_to_root_needs_root_index() -> None:
    """`/` is broken when the tree has no index page at its root."""
    files = {"docs/index.html": info(["/"])}
    assert described(validate(files, [], "/")) == ["docs/index.html: broken link /"]


def test_file_with_trailing_slash_is_not_a_folder() -> None:
    """`/about.html/` names a folder, not the file about.html."""
    files = {"index.html": info(["/about.html/"]), "about.html": info()}
    assert described(validate(files, [], "/")) == ["index.html: broken link /about.html/"]


def test_percent_encoded_links_are_decoded() -> None:
    """Links as written in pages are percent-decoded before they are looked up."""
    files = {
        "index.html": info(["/caf%C3%A9/", "/a%20b.html", "/caf\u00e9/menu.html",
                            "/100%25.html", "/a%20c.html"]),
        "caf\u00e9/index.html": info(),
        "caf\u00e9/menu.html": info(),
        "a b.html": info(),
        "100%.html": info(),
    }
    assert described(validate(files, [], "/")) == ["index.html: broken link /a%20c.html"]


def test_site_path_below_the_host_root() -> None:
    """With site_path /sub/, `/sub/x` names the tree's x and links outside /sub/ are broken."""
    files = {
        "index.html": info(["/sub/", "/sub", "/sub/docs/", "/sub/docs", "/sub/a.html",
                            "/docs/", "/a.html", "/", "/subway/a.html"]),
        "docs/index.html": info(),
        "a.html": info(),
    }
    assert described(validate(files, [("root", "/"), ("docs", "/docs/")], "/sub/")) == [
        "index.html: broken link /docs/",
        "index.html: broken link /a.html",
        "index.html: broken link /",
        "index.html: broken link /subway/a.html",
    ]


def test_resolves_directly() -> None:
    """resolves() answers for one link against a tree and its folders."""
    files = tree("index.html", "docs/index.html", "docs/a.html", "img/x.png")
    folders = folders_of(files)
    assert resolves("/docs/a.html", files, folders, "/")
    assert resolves("/docs/", files, folders, "/")
    assert resolves("/docs", files, folders, "/")
    assert resolves("/", files, folders, "/")
    assert not resolves("/img/", files, folders, "/")
    assert not resolves("/img", files, folders, "/")
    assert not resolves("/docs/b.html", files, folders, "/")
    assert resolves("/sub", files, folders, "/sub/")
    assert resolves("/sub/img/x.png", files, folders, "/sub/")
    assert not resolves("/su", files, folders, "/sub/")
    assert not resolves("/img/x.png", files, folders, "/sub/")


def test_resolves_root_of_site_path_needs_index() -> None:
    """`/sub` and `/sub/` need an index page at the root of the tree."""
    files = tree("a.html")
    folders = folders_of(files)
    assert not resolves("/sub", files, folders, "/sub/")
    assert not resolves("/sub/", files, folders, "/sub/")


@pytest.mark.parametrize("target", ["/etc/passwd", "/srv/site/index.html", "/"])
def test_symlink_to_absolute_path_leaves_the_tree(target: str) -> None:
    """An absolute target points outside the published tree, wherever it points."""
    files = {"index.html": info(), "docs/link": info(target=target)}
    assert described(validate(files, [], "/")) == [
        f"docs/link: symlink to an absolute path ({target}) leaves the published tree"]


@pytest.mark.parametrize(("path", "target"), [
    ("link", ".."),
    ("link", "../outside.html"),
    ("docs/link", "../../etc/passwd"),
    ("docs/link", "../.."),
    ("docs/deep/link", "../../../index.html"),
    ("docs/link", "guide/../../../x"),
])
def test_symlink_escaping_with_dotdot(path: str, target: str) -> None:
    """A relative target that climbs above the tree's root escapes it."""
    files = {"index.html": info(), "docs/guide/index.html": info(), path: info(target=target)}
    assert described(validate(files, [], "/")) == [
        f"{path}: symlink to {target} escapes the published tree"]


@pytest.mark.parametrize(("path", "target"), [
    ("link", "missing.html"),
    ("docs/link", "../missing/"),
    ("docs/link", "index.html"),  # relative to docs/, which has no index.html
    ("docs/link", "a.html/x"),
])
def test_dangling_symlink(path: str, target: str) -> None:
    """A target that names no file or folder of the tree points to nothing."""
    files = {"index.html": info(), "docs/a.html": info(), path: info(target=target)}
    assert described(validate(files, [], "/")) == [
        f"{path}: symlink to {target} points to nothing"]


@pytest.mark.parametrize(("path", "target"), [
    ("latest.html", "docs/a.html"),
    ("docs/latest", "v2"),
    ("docs/latest", "v2/"),
    ("docs/v2/up", "../a.html"),
    ("docs/v2/root", "../../index.html"),
    ("docs/alias", "./v2/index.html"),
    ("docs/other", "latest"),
    ("docs/home", ".."),
])
def test_good_symlinks(path: str, target: str) -> None:
    """A relative target naming a file or folder inside the tree is fine."""
    files = {"index.html": info(), "docs/a.html": info(), "docs/v2/index.html": info(),
             "docs/latest": info(target="v2"), path: info(target=target)}
    assert validate(files, [], "/") == []


def test_link_through_symlinked_file_resolves() -> None:
    """A link naming a symlink's path resolves: the symlink is a file of the tree."""
    files = {"index.html": info(["/latest.html"]), "latest.html": info(target="index.html")}
    assert validate(files, [], "/") == []


def test_problem_describe() -> None:
    """A problem reads as `path: message`."""
    assert Problem("docs/a.html", "broken link /x").describe() == "docs/a.html: broken link /x"


def kinds(problems: list[Problem]) -> list[tuple[str, str, str]]:
    """(page, link, kind) of each broken link."""
    return [(p.path, p.link, p.kind) for p in problems if p.link]


def test_a_broken_link_is_the_module_s_own_or_the_federation_s() -> None:
    """Own: the module's own output lacks the target too (a theme's favicon, a wrong slug).
    The federation's: a link into another module's folder, or to a file the module's output
    had and the merge dropped (every rewritten link is of this kind)."""
    files = {
        "index.html": info(["/favicon.ico", "/docs/gone.html", "/about/"], owner="home"),
        "blog/index.html": info(["/favicon.ico", "/blog/posts/slug/", "/blog/css/a.css",
                                 "/docs/", "/docs/nope.html"], owner="blog"),
        "docs/index.html": info(["/docs/old.html"], owner="docs"),
    }
    own = {"home": {"index.html"}, "blog": {"index.html", "css/a.css"},
           "docs": {"index.html", "old.html"}}
    destinations = [("home", "/"), ("blog", "/blog/"), ("docs", "/docs/")]
    assert kinds(validate(files, destinations, "/", own)) == [
        ("blog/index.html", "/favicon.ico", "module_links"),
        ("blog/index.html", "/blog/posts/slug/", "module_links"),
        ("blog/index.html", "/blog/css/a.css", "federation_links"),
        ("blog/index.html", "/docs/nope.html", "federation_links"),
        ("docs/index.html", "/docs/old.html", "federation_links"),
        ("index.html", "/favicon.ico", "module_links"),
        ("index.html", "/docs/gone.html", "federation_links"),
        ("index.html", "/about/", "module_links"),
    ]


def test_fragment_links_name_an_id_of_the_page_they_lead_to() -> None:
    """Broken anchors (Docusaurus's onBrokenAnchors): the page a #fragment link leads to
    has no element with that id; #top and text fragments need none; a link to a missing
    page is a broken link, not an anchor problem."""
    files = {
        "index.html": FileInfo("home", DIGEST, 1, 0, ["/docs/"], None, ["intro"],
                               ["#intro", "#missing", "#top", "/docs/#setup", "/docs/#nope",
                                "/gone/#x", "/docs/#:~:text=a"]),
        "docs/index.html": FileInfo("docs", DIGEST, 1, 0, [], None, ["setup"], []),
    }
    problems = validate(files, [], "/")
    assert [(p.path, p.kind, p.link) for p in problems] == [
        ("index.html", "anchors", "#missing"), ("index.html", "anchors", "/docs/#nope")]


def test_two_owners_of_one_path_are_duplicate_routes() -> None:
    collision = Collision("docs/a.html", "docs", "home", "docs's file replaces home's")
    (problem,) = route_problems([collision])
    assert (problem.path, problem.kind, problem.module) == ("docs/a.html", "duplicate_routes",
                                                            "docs")
    assert problem.describe() == "docs/a.html: duplicate route: docs's file replaces home's"
