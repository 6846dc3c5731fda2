"""Redirects: URLs that moved keep working, on any web server.

Each redirect of the manifest (`federation.redirects` and a site module's
`redirects`) becomes a static page at the old path (a meta refresh, a canonical
link and a plain link: any static host serves it), a line of an nginx map
(`public/.federation/redirects.map`, for `map $uri $redirect { include ...; }`)
and a line of a Netlify-style `public/_redirects`. A redirect whose `from` and
`to` both end with '/' moves a whole folder: every published page below `to` is
also reachable below `from` (a module whose destination moved keeps its old
URLs). A redirect page that would replace a real page, two redirects from one
path and a redirect to a path the tree does not have are problems of the tree.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from html import escape
from pathlib import Path

from federation.compose import RECORDS_DIR
from federation.records import FileInfo
from federation.sitemaps import GENERATED, write_file
from federation.validate import FEDERATION_LINKS, REDIRECTS, Problem, resolves

NGINX_MAP = "redirects.map"
NETLIFY = "_redirects"


@dataclass(frozen=True)
class Redirect:
    """One redirect, as the manifest gives it, and who gives it."""

    source: str  # "/old/" (a URL path of the federation)
    target: str  # "/new/" or "https://elsewhere/"
    status: int
    owner: str  # a module's name, or "federation"


@dataclass
class Planned:
    """The redirect pages to write (tree path -> target URL) and the problems found."""

    pages: dict[str, str]
    problems: list[Problem]


def plan_redirects(redirects: list[Redirect], files: dict[str, FileInfo], site_path: str
                   ) -> Planned:
    """The static pages the redirects need in the tree `files`, checked against it."""
    planned = Planned({}, [])
    folders = _all_folders(files)
    for redirect in redirects:
        if redirect.target.startswith("/") and not resolves(redirect.target.split("#")[0]
                                                            .split("?")[0], files,
                                                            folders, site_path):
            planned.problems.append(Problem(redirect.source, f"redirect to {redirect.target}, "
                                            "which the published tree does not have",
                                            FEDERATION_LINKS, redirect.owner, redirect.target))
        for page, target in _pages(redirect, files, site_path):
            if page in files or page in folders:
                planned.problems.append(Problem(page, f"the redirect from {redirect.source} "
                                                f"({redirect.owner}) would replace a published "
                                                "page; remove the redirect or the page",
                                                REDIRECTS, redirect.owner))
            elif page in planned.pages and planned.pages[page] != target:
                planned.problems.append(Problem(page, f"redirected twice: to "
                                                f"{planned.pages[page]} and to {target}",
                                                REDIRECTS, redirect.owner))
            else:
                planned.pages[page] = target
    return planned


def write_redirects(tree: Path, files: dict[str, FileInfo], planned: Planned,
                    redirects: list[Redirect]) -> None:
    """Write the redirect pages, public/_redirects and the nginx map into a new tree."""
    for page, target in sorted(planned.pages.items()):
        (tree / page).parent.mkdir(parents=True, exist_ok=True)
        write_file(tree, files, page, redirect_page(target))
    if redirects:
        write_file(tree, files, NETLIFY, netlify(redirects))
        (tree / RECORDS_DIR).mkdir(exist_ok=True)
        (tree / RECORDS_DIR / NGINX_MAP).write_text(nginx_map(redirects))


def redirect_page(target: str) -> str:
    """A static page sending browsers and crawlers to `target`."""
    url = escape(target, quote=True)
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Moved</title>\n"
            f'<link rel="canonical" href="{url}">\n<meta name="robots" content="noindex">\n'
            f'<meta http-equiv="refresh" content="0; url={url}"></head>\n'
            f'<body><p>This page has moved to <a href="{url}">{url}</a>.</p></body></html>\n')


def netlify(redirects: list[Redirect]) -> str:
    """A Netlify-style _redirects file (Cloudflare Pages reads it too)."""
    lines = ["# written by fedbuild from modules.json's redirects"]
    for r in redirects:
        if _moves_folder(r):
            lines.append(f"{r.source}* {r.target}:splat {r.status}")
        else:
            lines.append(f"{r.source} {r.target} {r.status}")
    return "\n".join(lines) + "\n"


def nginx_map(redirects: list[Redirect]) -> str:
    """Lines of an nginx map from $uri to the new URL (`include` it in a map block)."""
    lines = ["# written by fedbuild: map $uri $redirect { include .../redirects.map; }",
             "# then: if ($redirect) { return 301 $redirect; }"]
    for r in redirects:
        if _moves_folder(r):
            lines.append(f"~^{_regex(r.source)}(.*)$ {r.target}$1;")
        else:
            lines.append(f"{r.source} {r.target};")
    return "\n".join(lines) + "\n"


def _pages(redirect: Redirect, files: dict[str, FileInfo], site_path: str
           ) -> list[tuple[str, str]]:
    """(tree path of a redirect page, its target) for one redirect."""
    source = _tree_path(redirect.source, site_path)
    if source is None:
        return []
    if not _moves_folder(redirect):
        return [(_page_file(source), redirect.target)]
    below = _tree_path(redirect.target, site_path)
    if below is None:
        return []
    pages = []
    for path in sorted(files):
        if path.startswith(below) and path.endswith((".html", ".htm")) and \
                files[path].owner != GENERATED:
            rel = path[len(below):]
            name = posixpath.basename(rel)
            url = redirect.target + (rel[:-len(name)] if name in ("index.html", "index.htm")
                                     else rel)
            pages.append((source + rel, url))
    return pages


def _moves_folder(redirect: Redirect) -> bool:
    return redirect.source.endswith("/") and redirect.target.startswith("/") and \
        redirect.target.endswith("/")


def _tree_path(url_path: str, site_path: str) -> str | None:
    """A URL path of the federation as a path of the tree ("" for its root)."""
    if not url_path.startswith(site_path):
        return None
    return url_path[len(site_path):]


def _page_file(path: str) -> str:
    """The file serving a URL path: a folder's index page, a named file as it is."""
    if path == "" or path.endswith("/"):
        return path + "index.html"
    return path if "." in posixpath.basename(path) else path + "/index.html"


def _regex(path: str) -> str:
    return "".join("\\" + c if c in ".+*?()[]^$|" else c for c in path)


def _all_folders(files: dict[str, FileInfo]) -> set[str]:
    found: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        found.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
    return found
