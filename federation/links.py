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
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

# Attributes holding one URL, rewritten wherever they appear.
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "poster", "data", "xlink:href",
                        "background", "longdesc", "cite"})
# The ones that name a resource that must exist (forms post to endpoints, data-* may be anything).
_CHECKED_ATTRS = frozenset({"href", "src", "srcset", "poster", "xlink:href", "background"})
_EXTERNAL_RELS = frozenset({"preconnect", "dns-prefetch", "me", "webmention", "pingback"})

_ATTR = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*("[^"]*"|'[^']*'|[^\s"'=<>`]+))?""")
_CSS_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)\s'"]*))\s*\)""", re.IGNORECASE)
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|\Z)", re.DOTALL)
_CSS_IMPORT = re.compile(r"""@import\s+(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_REFRESH_URL = re.compile(r"""(?i:url)\s*=\s*['"]?([^'"\s;]+)""")
# A relative URL: no scheme, not protocol-relative, not a query of the page itself.
_RELATIVE = re.compile(r"(?![A-Za-z][A-Za-z0-9+.-]*:)(?!//)[^?\s]")
_CHARREF = re.compile(r"&(?:#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")


@dataclass(frozen=True)
class LinkRules:
    """How one module's links are read and rewritten."""

    prefix: str  # where the module is published, e.g. "/blog"; "" rewrites nothing
    origin: str  # the federation's own "scheme://host", lower case; "" if unknown
    owns: Callable[[str], bool]  # does the module have the file a root path names?
    # A module built for a folder other than the root and its destination: its links below
    # `moved_from` ("/old-guide/") move to `moved_to` ("/guide/"), whatever they name.
    moved_from: str = ""
    moved_to: str = ""
    # A module built for another origin ("https://org.github.io" + "/"): every URL there,
    # below that folder, moves to `foreign_to` ("https://fed.example.org/course/").
    foreign_origin: str = ""
    foreign_path: str = "/"
    foreign_to: str = ""


@dataclass
class Page:
    """A page's text after rewriting, and the internal paths its links name."""

    text: str
    links: list[str]
    rewritten: int = 0  # links changed
    ids: list[str] = field(default_factory=list)  # element ids: what a #fragment can name
    anchors: list[str] = field(default_factory=list)  # fragment links: "/x/#id", "#id"
    relative: list[str] = field(default_factory=list)  # relative URLs (../x/), as written


def rewrite_html(text: str, rules: LinkRules) -> Page:
    """Rewrite an HTML page's absolute links per `rules`; collect the internal ones."""
    scanner = _HtmlScanner(text, rules)
    scanner.feed(text)
    scanner.close()
    return Page(_apply(text, scanner.edits), scanner.links, len(scanner.edits),
                scanner.ids, scanner.found.anchors, scanner.found.relative)


def relative_targets(urls: list[str], page: str) -> tuple[list[str], list[str]]:
    """The root paths a file at root path `page` names by relative URLs, and the
    "path#id" anchors among them (a browser resolves them against the file's URL)."""
    paths, anchors = [], []
    for url in urls:
        target = urlsplit(urljoin("http://page.invalid" + page, url))
        paths.append(target.path)
        if target.fragment:
            anchors.append(f"{target.path}#{target.fragment}")
    return paths, anchors


def rewrite_css(text: str, rules: LinkRules) -> Page:
    """Rewrite `url(...)` and `@import` targets of a stylesheet; collect the internal ones."""
    found = _Found(rules)
    found.css(_Text(text, 0))
    return Page(_apply(text, found.edits), found.links, len(found.edits),
                relative=found.relative)


_LOC = re.compile(r"<loc>\s*([^<]*?)\s*</loc>", re.IGNORECASE)


def rewrite_sitemap(text: str, rules: LinkRules) -> Page:
    """Rewrite the `<loc>` URLs of a sitemap (or sitemap index) like a page's links; they
    are not checked (a sitemap lists pages, it does not link them)."""
    found = _Found(rules)
    for match in _LOC.finditer(text):
        piece = _Text(match.group(1), match.start(1), decode=True)
        found.url(piece, 0, len(piece.text), checked=False)
    return Page(_apply(text, found.edits), [], len(found.edits))


# Go template actions ({{ .Title }}, {{- partial "x" . }}, {{ end }}): a file holding one is a
# template (Hugo's layouts a build script copied into its output), not a published page.
_TEMPLATE_ACTION = re.compile(r"\{\{-?\s*(?:\.|/\*|(?:end|block|define|partial|partialCached|"
                              r"range|if|with|template|else|\$)\b)")


def is_template(text: str) -> bool:
    """Whether a .html/.css file is a template copied into the output, not a page (its
    links are placeholders: they are not checked)."""
    return "{{" in text and _TEMPLATE_ACTION.search(text) is not None


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
        head, url = url[:len(origin)], rest if rest.startswith("/") else "/" + rest
    cut = min((i for i in (url.find("?"), url.find("#")) if i >= 0), default=len(url))
    return head, url[:cut], url[cut:]


class _Text:
    """A piece of the document as it reads (character references decoded), mapped to the raw text.

    Links are judged on what the text means (`&#38;` is `&`, `&#34;` a quote) and
    the prefix is inserted at the matching place of the raw text, so nothing
    else in the document changes.
    """

    def __init__(self, raw: str, at: int, decode: bool = False) -> None:
        self.at = at
        if not decode or "&" not in raw:
            self.text, self._raw_index = raw, None
            return
        pieces, index = [], []
        last = 0
        for match in _CHARREF.finditer(raw):
            for i in range(last, match.start()):
                pieces.append(raw[i])
                index.append(i)
            decoded = html.unescape(match.group())
            pieces.append(decoded)
            index.extend([match.start()] * len(decoded))
            last = match.end()
        for i in range(last, len(raw)):
            pieces.append(raw[i])
            index.append(i)
        index.append(len(raw))
        self.text, self._raw_index = "".join(pieces), index

    def raw_offset(self, i: int) -> int:
        """The document offset where decoded character `i` is written."""
        return self.at + (i if self._raw_index is None else self._raw_index[i])


class _Found:
    """Edits (insertions of the prefix) and internal links collected from pieces of text."""

    def __init__(self, rules: LinkRules) -> None:
        self.rules = rules
        self.edits: list[tuple[int, int, str]] = []  # (start, end, replacement) in the raw text
        self.links: list[str] = []
        self.anchors: list[str] = []  # "/x/#id" (or "#id" on the page itself)
        self.relative: list[str] = []  # relative URLs, checked once the page's path is known

    def url(self, piece: _Text, start: int, end: int, checked: bool = True) -> None:
        """The URL at piece.text[start:end]."""
        url = piece.text[start:end]
        start += len(url) - len(url.lstrip())
        url = url.strip()
        if url.startswith("#"):
            if checked and len(url) > 1:
                self.anchors.append(url)
            return
        if self.rules.foreign_origin:
            url = self._foreign(piece, start, url)
        parts = url_path(url, self.rules.origin)
        if parts is None:
            if checked and _RELATIVE.match(url):
                self.relative.append(url)
            return
        head, path, _rest = parts
        fragment = _rest.partition("#")[2]
        prefix, moved_from = self.rules.prefix, self.rules.moved_from
        if moved_from and (path + "/").startswith(moved_from):
            cut = min(len(moved_from), len(path))
            to = self.rules.moved_to[:len(self.rules.moved_to) - (len(moved_from) - cut)]
            at = start + len(head)
            self.edits.append((piece.raw_offset(at), piece.raw_offset(at + cut), to))
            path = to + path[cut:]
        elif prefix and path != prefix and not path.startswith(prefix + "/") and \
                self.rules.owns(path):
            # `https://host` alone (or `https://host?q`) has no "/" to put the prefix before.
            slash = "" if url[len(head):len(head) + 1] == "/" else "/"
            at = piece.raw_offset(start + len(head))
            self.edits.append((at, at, prefix + slash))
            path = prefix + path
        if checked:
            self.links.append(path)
            if fragment:
                self.anchors.append(f"{path}#{fragment}")

    def _foreign(self, piece: _Text, start: int, url: str) -> str:
        """A URL on the origin the module was built for, below its folder, moved to the
        module's place on the federation's origin (the URL it now reads as); else `url`."""
        rules = self.rules
        origin, folder = rules.foreign_origin, rules.foreign_path
        if url[:len(origin)].lower() != origin:
            return url
        rest = url[len(origin):]
        if rest.startswith(folder):
            cut, to = len(origin) + len(folder), rules.foreign_to
        elif rest == folder[:-1] or rest.startswith((folder[:-1] + "?", folder[:-1] + "#")):
            cut, to = len(origin) + len(folder) - 1, rules.foreign_to.rstrip("/")
        else:
            return url
        self.edits.append((piece.raw_offset(start), piece.raw_offset(start + cut), to))
        return to + url[cut:]

    def srcset(self, piece: _Text) -> None:
        """Each candidate URL of a srcset (a comma after a descriptor ends a candidate)."""
        text, i = piece.text, 0
        while i < len(text):
            while i < len(text) and (text[i].isspace() or text[i] == ","):
                i += 1
            start = i
            while i < len(text) and not text[i].isspace():
                i += 1
            end = i
            while end > start and text[end - 1] == ",":
                end -= 1
            if end > start:
                self.url(piece, start, end)
            if end == i:  # descriptors follow, up to the next comma
                while i < len(text) and text[i] != ",":
                    i += 1

    def css(self, piece: _Text) -> None:
        """`url(...)` and `@import "..."` in a stylesheet, a <style> block or a style attribute
        (not in its /* comments */: a comment showing url("../img/...") links nothing)."""
        comments = [m.span() for m in _CSS_COMMENT.finditer(piece.text)]
        for pattern in (_CSS_URL, _CSS_IMPORT):
            for match in pattern.finditer(piece.text):
                if any(start <= match.start() < end for start, end in comments):
                    continue
                group = next(g for g in range(1, pattern.groups + 1)
                             if match.group(g) is not None)
                self.url(piece, match.start(group), match.end(group))


class _HtmlScanner(HTMLParser):
    def __init__(self, text: str, rules: LinkRules) -> None:
        super().__init__(convert_charrefs=False)
        self.found = _Found(rules)
        self.ids: list[str] = []
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self._in_style = False

    @property
    def edits(self) -> list[tuple[int, int, str]]:
        return self.found.edits

    @property
    def links(self) -> list[str]:
        return self.found.links

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, self.get_starttag_text() or "", self._offset())
        self._in_style = tag == "style"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, self.get_starttag_text() or "", self._offset())

    def handle_endtag(self, tag: str) -> None:
        if tag == "style":
            self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:  # raw text: no character references inside <style>
            self.found.css(_Text(data, self._offset()))

    def _tag(self, tag: str, raw: str, start: int) -> None:
        values: dict[str, _Text] = {}
        for match in _ATTR.finditer(raw, len(tag) + 1):
            value = match.group(2)
            if value is None:
                continue
            quoted = value[:1] in "\"'"
            at = start + match.start(2) + (1 if quoted else 0)
            values.setdefault(match.group(1).lower(),
                              _Text(value[1:-1] if quoted else value, at, decode=True))
        rels = set(values["rel"].text.lower().split()) if "rel" in values else set()
        if "id" in values:
            self.ids.append(values["id"].text)
        if tag == "a" and "name" in values:
            self.ids.append(values["name"].text)
        for name, piece in values.items():
            checked = name in _CHECKED_ATTRS and not rels & _EXTERNAL_RELS
            if name in _URL_ATTRS or name.startswith("data-"):
                self.found.url(piece, 0, len(piece.text), checked)
            elif name == "srcset":
                self.found.srcset(piece)
            elif name == "style":
                self.found.css(piece)
            elif name == "content" and tag == "meta" and "http-equiv" in values and \
                    values["http-equiv"].text.lower() == "refresh":
                refresh = _REFRESH_URL.search(piece.text)
                if refresh:
                    self.found.url(piece, refresh.start(1), refresh.end(1))


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    pieces: list[str] = []
    last = 0
    for start, end, replacement in sorted(edits):
        pieces.append(text[last:start])
        pieces.append(replacement)
        last = end
    pieces.append(text[last:])
    return "".join(pieces)
