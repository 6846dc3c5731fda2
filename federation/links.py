"""Links in published pages: fix the absolute ones of a module moved below the root, list them.

A module built for the root links to `/css/site.css`; published under `/blog/`
that link must become `/blog/css/site.css`. The rule, per link: a root-absolute
path (or an absolute URL on the federation's own origin) that does not already
start with the module's prefix is prefixed when it names a file the module
itself produced. Links to other modules (`/docs/` from the blog), external and
protocol-relative URLs, anchors, relative paths and data: URIs stay as written.

HTML is tokenized by the standard library's HTMLParser (so comments, scripts
and CDATA are never mistaken for tags) and edited in place at the offsets it
reports: every byte outside a rewritten URL is kept.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser

# Attributes holding one URL, rewritten wherever they appear.
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "poster", "data", "xlink:href",
                        "background", "longdesc", "cite"})
# The ones that name a resource that must exist (forms post to endpoints, data-* may be anything).
_CHECKED_ATTRS = frozenset({"href", "src", "srcset", "poster", "xlink:href", "background"})
_EXTERNAL_RELS = frozenset({"preconnect", "dns-prefetch", "me", "webmention", "pingback"})

_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s'"]*))\s*\)""", re.IGNORECASE)
_CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_REFRESH_URL = re.compile(r"""(?i:url)\s*=\s*['"]?([^'"\s;]+)""")
_SRCSET_URL = re.compile(r"[^\s,][^\s]*")


@dataclass(frozen=True)
class LinkRules:
    """How one module's links are read and rewritten."""

    prefix: str  # where the module is published, e.g. "/blog"; "" rewrites nothing
    origin: str  # the federation's own "scheme://host", lower case; "" if unknown
    owns: Callable[[str], bool]  # does the module have the file a root path names?


@dataclass
class Page:
    """A page's text after rewriting, and the internal paths its links name."""

    text: str
    links: list[str]


def rewrite_html(text: str, rules: LinkRules) -> Page:
    """Rewrite an HTML page's absolute links per `rules`; collect the internal ones."""
    scanner = _HtmlScanner(text, rules)
    scanner.feed(text)
    scanner.close()
    return Page(_apply(text, scanner.edits), scanner.links)


def rewrite_css(text: str, rules: LinkRules) -> Page:
    """Rewrite `url(...)` and `@import` targets of a stylesheet; collect the internal ones."""
    edits: list[tuple[int, int, str]] = []
    links: list[str] = []
    _css_edits(text, 0, rules, edits, links)
    return Page(_apply(text, edits), links)


def url_path(url: str, origin: str) -> tuple[str, str, str] | None:
    """Split an internal URL into (origin, root path, query and fragment); None if external.

    Internal means root-absolute (`/x`) or absolute on the federation's origin.
    """
    head = ""
    if url.startswith("//"):
        return None
    if not url.startswith("/"):
        if not origin or not url.lower().startswith(origin):
            return None
        rest = url[len(origin):]
        if rest and rest[0] not in "/?#":
            return None  # https://example.org.evil.com
        head, url = url[:len(origin)], rest or "/"
        if not url.startswith("/"):
            url = "/" + url
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    return head, url[:cut], url[cut:]


def _rewrite_url(url: str, rules: LinkRules,
                 decode: Callable[[str], str] = str) -> tuple[str | None, str | None]:
    """The rewritten URL (None if unchanged) and the internal path it names (None if external).

    `decode` turns the path as written into the file name it means (HTML entities
    in attribute values); the rewrite itself only inserts the prefix, as written.
    """
    parts = url_path(url.strip(), rules.origin)
    if parts is None:
        return None, None
    head, path, rest = parts
    prefix, named = rules.prefix, decode(path)
    if not prefix or named == prefix or named.startswith(prefix + "/") or not rules.owns(named):
        return None, named
    return head + prefix + path + rest, prefix + named


class _HtmlScanner(HTMLParser):
    def __init__(self, text: str, rules: LinkRules) -> None:
        super().__init__(convert_charrefs=False)
        self.rules = rules
        self.edits: list[tuple[int, int, str]] = []
        self.links: list[str] = []
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._in_style = False

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        self._tag(tag, raw, self._offset())
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raw = self.get_starttag_text() or ""
        self._tag(tag, raw, self._offset())

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            _css_edits(data, self._offset(), self.rules, self.edits, self.links)

    def _tag(self, tag: str, raw: str, start: int) -> None:
        name_end = len(tag) + 1
        values: dict[str, tuple[int, str]] = {}
        for match in _ATTR.finditer(raw, name_end):
            if match.group(2) is None:
                continue
            value = match.group(2)
            quoted = value[:1] in "\"'"
            at = start + match.start(2) + (1 if quoted else 0)
            values.setdefault(match.group(1).lower(), (at, value[1:-1] if quoted else value))
        rels = set((values.get("rel", (0, ""))[1]).lower().split())
        for name, (at, value) in values.items():
            checked = name in _CHECKED_ATTRS and not rels & _EXTERNAL_RELS
            if name in _URL_ATTRS or name.startswith("data-"):
                self._url(at, value, checked)
            elif name == "srcset":
                for m in _SRCSET_URL.finditer(value):
                    self._url(at + m.start(), m.group().rstrip(","), checked)
            elif name == "style":
                _css_edits(value, at, self.rules, self.edits, self.links, html.unescape)
            elif name == "content" and tag == "meta" and \
                    values.get("http-equiv", (0, ""))[1].lower() == "refresh":
                refresh = _REFRESH_URL.search(value)
                if refresh:
                    self._url(at + refresh.start(1), refresh.group(1), True)

    def _url(self, at: int, url: str, checked: bool) -> None:
        lead = len(url) - len(url.lstrip())
        new, path = _rewrite_url(url, self.rules, html.unescape)
        if new is not None:
            self.edits.append((at + lead, at + lead + len(url.strip()), new))
        if path is not None and checked:
            self.links.append(path)


def _css_edits(text: str, base: int, rules: LinkRules, edits: list[tuple[int, int, str]],
               links: list[str], decode: Callable[[str], str] = str) -> None:
    for pattern in (_CSS_URL, _CSS_IMPORT):
        for match in pattern.finditer(text):
            group = next(g for g in range(1, pattern.groups + 1) if match.group(g) is not None)
            url = match.group(group)
            new, path = _rewrite_url(url, rules, decode)
            if new is not None:
                edits.append((base + match.start(group), base + match.end(group), new))
            if path is not None:
                links.append(path)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    pieces: list[str] = []
    last = 0
    for start, end, new in sorted(edits):
        pieces.append(text[last:start])
        pieces.append(new)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
