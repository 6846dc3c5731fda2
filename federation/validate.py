"""Checks of a new tree before it replaces the published one, each problem of a kind.

Every published module's destination holds an index page (missing_index); every
internal absolute link of a page or stylesheet names a file of the tree; every
symlink stays inside the tree (symlinks). A broken link is the module's own
(module_links: its own output lacks the target, as a theme naming a favicon it
does not ship) or the federation's (federation_links: a link into another
module's folder, or to a file the module's own output had and the merge dropped,
which covers every link the publish rewrote). federation/policy.py decides which
kinds fail the publish. The checks read the file records (links were collected
while the files were written), never the pages again.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from federation.compose import Collision
from federation.records import FileInfo

MISSING_INDEX = "missing_index"
MODULE_LINKS = "module_links"
FEDERATION_LINKS = "federation_links"
SYMLINKS = "symlinks"  # always an error: a link out of the tree is never published
REDIRECTS = "redirects"  # always an error: a redirect page replacing a page, or two at once
ANCHORS = "anchors"  # a #fragment link naming no id of its page
DUPLICATE_ROUTES = "duplicate_routes"  # two modules (or the base site) producing one path
_NO_ID_NEEDED = ("top",)  # browsers scroll to the top for #top without an element


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the tree, of one kind."""

    path: str  # the file (or destination) it is about
    message: str
    kind: str = SYMLINKS
    module: str = ""  # the module whose page (or destination) it is
    link: str = ""  # a broken link's target, as the page names it

    def describe(self) -> str:
        """One line."""
        return f"{self.path}: {self.message}"


def validate(files: dict[str, FileInfo], destinations: Iterable[tuple[str, str]],
             site_path: str, own: dict[str, set[str]] | None = None) -> list[Problem]:
    """Every problem of the tree `files` describes (empty when it is sound). `own` holds
    each module's files as its build left them (relative to its destination): a broken link
    the module's own output also lacks is the module's, any other the federation's."""
    destinations = list(destinations)
    folders = _folders(files)
    problems = [Problem(dest, f"module {name} has no index page at {dest}", MISSING_INDEX, name)
                for name, dest in destinations
                if _index(dest.strip("/") + "/" if dest.strip("/") else "", files) is None]
    judge = _Judge(dict(destinations), site_path, own or {})
    for path, info in sorted(files.items()):
        problems += _anchor_problems(path, info, files, folders, site_path)
        if info.target is not None:
            problem = _symlink_problem(path, info.target, files, folders)
            if problem:
                problems.append(Problem(path, problem, SYMLINKS, info.owner))
        for link in dict.fromkeys(info.links):
            if not resolves(link, files, folders, site_path):
                problems.append(Problem(path, f"broken link {link}", judge.kind(info.owner, link),
                                        info.owner, link))
    return problems


class _Judge:
    """Whose a broken link is: the module's own, or the federation's."""

    def __init__(self, destinations: dict[str, str], site_path: str,
                 own: dict[str, set[str]]) -> None:
        self.site_path = site_path
        self.own = own
        # Every module's folder, deepest first: the first holding a link's target is where
        # it points.
        self.folders = sorted(((site_path + dest.lstrip("/"), name)
                               for name, dest in destinations.items()),
                              key=lambda item: -len(item[0]))

    def kind(self, owner: str, link: str) -> str:
        """module_links when the owner's own output lacks the target too; federation_links
        for a link into another module's folder, or to a file the merge dropped. A link from
        a module below the root into the root module's files (a theme's /favicon.ico) is
        the module's own: its build made it."""
        path = unquote(link)
        for folder, name in self.folders:
            if not (path + "/").startswith(folder):
                continue
            if name == owner:
                rel = path[len(folder):]
                return FEDERATION_LINKS if _had(rel, self.own.get(owner, set())) \
                    else MODULE_LINKS
            return MODULE_LINKS if folder == self.site_path else FEDERATION_LINKS
        return MODULE_LINKS


def _had(rel: str, files: set[str]) -> bool:
    """Whether a module's own output holds what `rel` (below its destination) names."""
    if rel == "" or rel.endswith("/"):
        return rel + "index.html" in files or rel + "index.htm" in files
    return rel in files or rel + "/index.html" in files or rel + "/index.htm" in files


def route_problems(collisions: Iterable[Collision]) -> list[Problem]:
    """Two owners producing one path (Docusaurus's onDuplicateRoutes): a problem each, of
    the module whose file was kept (the merge strategy said which)."""
    return [Problem(c.path, f"duplicate route: {c.reason}", DUPLICATE_ROUTES, c.kept)
            for c in collisions]


def _anchor_problems(path: str, info: FileInfo, files: dict[str, FileInfo],
                     folders: set[str], site_path: str) -> list[Problem]:
    """Fragment links of a page naming no id of the page they lead to (one whose path
    does not resolve is a broken link, reported as such)."""
    problems = []
    for anchor in dict.fromkeys(info.anchors):
        link, _, fragment = anchor.partition("#")
        fragment = unquote(fragment)
        if fragment in _NO_ID_NEEDED or fragment.startswith(":~:"):
            continue
        target = path if not link else file_of(link, files, folders, site_path)
        page = files.get(target) if target is not None else None
        if target is None or page is None or page.target is not None or \
                not target.endswith((".html", ".htm")):
            continue
        if fragment not in page.ids:
            problems.append(Problem(path, f"broken anchor {anchor}", ANCHORS, info.owner,
                                    anchor))
    return problems


def file_of(link: str, files: dict[str, FileInfo], folders: set[str], site_path: str
            ) -> str | None:
    """The file of the tree an internal absolute link names (a folder: its index page)."""
    path = unquote(link)
    if path + "/" == site_path:
        return _index("", files)
    if not path.startswith(site_path):
        return None
    rel = path[len(site_path):]
    if rel == "" or rel.endswith("/"):
        return _index(rel, files)
    if rel in files:
        return rel
    return _index(rel + "/", files) if rel in folders else None


def resolves(link: str, files: dict[str, FileInfo], folders: set[str], site_path: str) -> bool:
    """Whether an internal absolute link names a file of the tree (a folder: its index page)."""
    path = unquote(link)
    if not path.startswith(site_path):
        return path + "/" == site_path and _index("", files) is not None
    rel = path[len(site_path):]
    if rel == "" or rel.endswith("/"):
        return _index(rel, files) is not None
    if rel in files:
        return True
    return rel in folders and _index(rel + "/", files) is not None


def _index(folder: str, files: dict[str, FileInfo]) -> str | None:
    for name in ("index.html", "index.htm"):
        if folder + name in files:
            return folder + name
    return None


def _symlink_problem(path: str, target: str, files: dict[str, FileInfo],
                     folders: set[str]) -> str | None:
    if target.startswith("/"):
        return f"symlink to an absolute path ({target}) leaves the published tree"
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if resolved == ".." or resolved.startswith("../"):
        return f"symlink to {target} escapes the published tree"
    if resolved != "." and resolved not in files and resolved not in folders:
        return f"symlink to {target} points to nothing"
    return None


def _folders(files: dict[str, FileInfo]) -> set[str]:
    folders: set[str] = set()
    for path in files:
        parts = path.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            folders.add("/".join(parts[:i]))
    return folders
