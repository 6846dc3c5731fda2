"""The base URL a site module was really built for: found out, not assumed.

A build script may let the module's own config win over the `--base-url` fedbuild
passes (the reference script reads module.json's `site.baseURL` after its
options), so a module meant for `/course/` can come out built for `/`, or for
another origin entirely (its public `https://org.github.io/` address). The
candidates are the URL fedbuild passed and the one the module's config names;
the output decides: canonical links first (a page at `posts/a/index.html` whose
canonical URL is `https://org.github.io/posts/a/` was built for
`https://org.github.io/`), then the absolute URLs the pages hold.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

_SAMPLE = 64  # pages read to find out (the largest sites agree with themselves)
_READ = 256 * 1024  # bytes of a page read: canonical links and most URLs are near the top
_LINK_TAG = re.compile(r"<link\b[^>]*>", re.IGNORECASE)
_CANONICAL = re.compile(r"""\brel\s*=\s*["']?canonical\b""", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_ROOTED = re.compile(r"""(?:href|src)\s*=\s*["']?(/(?!/)[^"'\s>]*)""", re.IGNORECASE)
_ABSOLUTE = re.compile(r"""(?:href|src|content)\s*=\s*["']?(https?://[^"'\s>]+)""",
                       re.IGNORECASE)


@dataclass(frozen=True)
class BuiltFor:
    """What a module's output was built for, and how that was found out."""

    url: str  # "https://org.github.io/course/": origin and folder
    evidence: str  # "canonical links", "absolute URLs", "module config", "--base-url"

    @property
    def origin(self) -> str:
        """scheme://host[:port], lower case."""
        return origin_of(self.url)

    @property
    def path(self) -> str:
        """The URL path as a folder: "/" or "/course/"."""
        return folder_of(self.url)


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower case."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def folder_of(url: str) -> str:
    """The path of a base URL as a folder: "/" or "/docs/"."""
    path = urlsplit(url).path.strip("/")
    return f"/{path}/" if path else "/"


def normal(url: str) -> str:
    """A base URL as compared: lower-case origin, folder path."""
    return origin_of(url) + folder_of(url)


def find_built_for(staged: Path, pages: list[str], passed: str, configured: str | None
                   ) -> BuiltFor:
    """What the output in `staged` (its HTML pages: `pages`, relative paths) was built for,
    among the URL fedbuild passed and the one the module's config names."""
    sample = sorted(pages, key=lambda p: (p.count("/"), p))[:_SAMPLE]
    texts = [(rel, _head(staged / rel)) for rel in sample]
    canonical = Counter(base for rel, text in texts for base in _canonical_bases(rel, text))
    if canonical:
        return BuiltFor(canonical.most_common(1)[0][0], "canonical links")
    passed = normal(passed)
    configured = normal(configured) if configured else None
    if configured is None or configured == passed:
        return BuiltFor(passed, "--base-url")
    absolute = [url for _rel, text in texts for url in _ABSOLUTE.findall(text)]
    for candidate in (configured, passed):
        if any(_under(url, candidate) for url in absolute):
            return BuiltFor(candidate, "absolute URLs")
    if folder_of(passed) != folder_of(configured):
        rooted = [link for _rel, text in texts for link in _ROOTED.findall(text)]
        deeper, other = sorted((passed, configured), key=lambda u: -len(folder_of(u)))
        if rooted:
            under = sum(link.startswith(folder_of(deeper)) for link in rooted)
            return BuiltFor(deeper if under * 2 >= len(rooted) else other, "root links")
    return BuiltFor(configured, "module config")


def _canonical_bases(rel: str, text: str) -> list[str]:
    """The base URL a page's canonical link implies (its URL less the page's own path)."""
    own = rel[:-len("index.html")] if rel.endswith("index.html") else rel
    found = []
    for tag in _LINK_TAG.findall(text):
        if not _CANONICAL.search(tag):
            continue
        href = _HREF.search(tag)
        url = next((g for g in href.groups() if g is not None), "") if href else ""
        path = urlsplit(url).path
        if url.startswith(("http://", "https://")) and path.endswith("/" + own if own else "/"):
            base_path = path[:len(path) - len(own)] if own else path
            found.append(origin_of(url) + folder_of("http://x" + base_path))
    return found


def _under(url: str, base: str) -> bool:
    """Whether an absolute URL lies on a base URL's origin, below its folder."""
    return origin_of(url) == origin_of(base) and (urlsplit(url).path or "/").startswith(
        folder_of(base))


def _head(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            return f.read(_READ).decode("utf-8", "replace")
    except OSError:
        return ""


def html_pages(files: set[str]) -> list[str]:
    """The HTML pages among a module's files."""
    return [f for f in files if os.path.splitext(f)[1].lower() in (".html", ".htm")]
