"""Link rewriting: only a module's own root-absolute links move under its prefix, byte-exact."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from federation.links import LinkRules, relative_targets, rewrite_css, rewrite_html, url_path

ORIGIN = "https://ex.org"
OWNED = frozenset({"/", "/x", "/css/site.css", "/img/a.png", "/img/b.png", "/img/c.png",
                   "/js/app.js", "/posts/", "/search", "/fonts/f.woff2", "/blogger/x",
                   "/a&b.html"})


def rules(prefix: str = "/blog", owned: Iterable[str] = OWNED, origin: str = ORIGIN) -> LinkRules:
    """Rules of a module published at `prefix` that produced the root paths `owned`."""
    paths = frozenset(owned)
    return LinkRules(prefix=prefix, origin=origin, owns=lambda path: path in paths)


def owns_all(prefix: str = "/blog") -> LinkRules:
    """Rules of a module that claims every root path (so only the URL's form decides)."""
    return LinkRules(prefix=prefix, origin=ORIGIN, owns=lambda _path: True)


# --- url_path ---------------------------------------------------------------------------------


def test_url_path_splits_root_absolute_url() -> None:
    """A root-absolute URL has no origin part; the query and fragment are split off together."""
    assert url_path("/a/b.html", ORIGIN) == ("", "/a/b.html", "")
    assert url_path("/a/b?q=1#f", ORIGIN) == ("", "/a/b", "?q=1#f")
    assert url_path("/a#f?not-a-query", ORIGIN) == ("", "/a", "#f?not-a-query")
    assert url_path("/", "") == ("", "/", "")


def test_url_path_same_origin_keeps_origin_as_written() -> None:
    """An absolute URL on the origin yields its scheme and host as written, and a root path."""
    assert url_path("https://ex.org/a/b", ORIGIN) == ("https://ex.org", "/a/b", "")
    assert url_path("HTTPS://EX.ORG/a?x", ORIGIN) == ("HTTPS://EX.ORG", "/a", "?x")
    assert url_path("https://ex.org", ORIGIN) == ("https://ex.org", "/", "")
    assert url_path("https://ex.org#top", ORIGIN) == ("https://ex.org", "/", "#top")
    assert url_path("https://ex.org?q=1", ORIGIN) == ("https://ex.org", "/", "?q=1")


@pytest.mark.parametrize("url", [
    "//cdn.example.com/x.js", "//ex.org/x", "https://cdn.example.com/x", "http://ex.org/x",
    "https://ex.org.evil.com/x", "https://ex.org.evil.com", "https://ex.org:8443/x",
    "https://ex.orgx/", "https://evil.com/https://ex.org/x", "x.html", "./x", "../x",
    "#top", "?q=1", "", "data:text/plain,/x", "mailto:me@ex.org", "tel:+100",
    "javascript:void(0)",
])
def test_url_path_external_or_relative_is_none(url: str) -> None:
    """Protocol-relative, other origins, lookalike hosts, relative paths and schemes: None."""
    assert url_path(url, ORIGIN) is None


def test_url_path_without_origin_treats_absolute_urls_as_external() -> None:
    """With an unknown origin only root-absolute paths are internal."""
    assert url_path("https://ex.org/x", "") is None
    assert url_path("/x", "") == ("", "/x", "")


# --- rewrite_html: which links move -----------------------------------------------------------


def test_owned_root_absolute_link_gets_prefix() -> None:
    """A link to a file the module produced is prefixed; the rewritten path is listed."""
    page = rewrite_html('<a href="/css/site.css">s</a>', rules())
    assert page.text == '<a href="/blog/css/site.css">s</a>'
    assert page.links == ["/blog/css/site.css"]


def test_link_to_file_the_module_does_not_own_is_kept_but_listed() -> None:
    """Cross-module links (`/docs/` from the blog) stay as written and are still checked."""
    text = '<a href="/docs/">docs</a><img src="/docs/logo.png">'
    page = rewrite_html(text, rules())
    assert page.text == text
    assert page.links == ["/docs/", "/docs/logo.png"]


def test_owns_is_asked_about_the_root_path_only() -> None:
    """owns() receives the path without query, fragment or origin."""
    asked: list[str] = []

    def owns(path: str) -> bool:
        asked.append(path)
        return True

    text = '<a href="/x?a=1#f"></a><a href="https://ex.org/y#z"></a><a href="/docs/"></a>'
    rewrite_html(text, LinkRules("/blog", ORIGIN, owns))
    assert asked == ["/x", "/y", "/docs/"]


def test_links_already_under_the_prefix_are_untouched() -> None:
    """`/blog` and `/blog/...` are not prefixed twice, even when owns() would say yes."""
    text = '<a href="/blog">b</a><a href="/blog/">b</a><a href="/blog/css/site.css">c</a>'
    page = rewrite_html(text, owns_all())
    assert page.text == text
    assert page.links == ["/blog", "/blog/", "/blog/css/site.css"]


def test_path_that_merely_starts_with_prefix_text_is_prefixed() -> None:
    """`/blogger/x` is not under `/blog`: the prefix is matched per path segment."""
    page = rewrite_html('<a href="/blogger/x">b</a>', rules())
    assert page.text == '<a href="/blog/blogger/x">b</a>'


@pytest.mark.parametrize("url", [
    "https://cdn.example.com/x.js", "//cdn.example.com/css/site.css", "//ex.org/x", "#top",
    "#", "x.html", "./x", "../css/site.css", "css/site.css", "?page=2", "",
    "data:image/png;base64,iVBORw0KGgo=", "mailto:me@ex.org", "tel:+100",
    "javascript:void(0)", "http://ex.org/x", "https://ex.org:8443/x",
    "https://ex.org.evil.com/x", "https://ex.org.evil.com/", "https://evil.com/https://ex.org/x",
])
def test_external_and_relative_links_are_untouched_and_unlisted(url: str) -> None:
    """External, protocol-relative, anchors, relative paths and other schemes stay put."""
    text = f'<a href="{url}">a</a><img src="{url}">'
    page = rewrite_html(text, owns_all())
    assert page.text == text
    assert page.links == []


def test_same_origin_absolute_url_keeps_scheme_and_host() -> None:
    """`https://ex.org/x` becomes `https://ex.org/blog/x`; the origin's case is kept."""
    text = ('<a href="https://ex.org/x">1</a><a href="HTTPS://Ex.Org/css/site.css">2</a>'
            '<a href="https://ex.org">3</a>')
    page = rewrite_html(text, rules())
    assert page.text == ('<a href="https://ex.org/blog/x">1</a>'
                         '<a href="HTTPS://Ex.Org/blog/css/site.css">2</a>'
                         '<a href="https://ex.org/blog/">3</a>')
    assert page.links == ["/blog/x", "/blog/css/site.css", "/blog/"]


def test_lookalike_host_is_external() -> None:
    """`https://ex.org.evil.com/` shares the origin's text but not its host."""
    text = '<a href="https://ex.org.evil.com/x">e</a><a href="https://ex.organic.com/x">o</a>'
    page = rewrite_html(text, owns_all())
    assert page.text == text
    assert page.links == []


def test_unknown_origin_leaves_absolute_urls_alone() -> None:
    """With origin "" even `https://ex.org/x` is external."""
    text = '<a href="https://ex.org/x">x</a>'
    page = rewrite_html(text, rules(origin=""))
    assert page.text == text
    assert page.links == []


def test_query_and_fragment_are_kept() -> None:
    """Query strings (entities included) and fragments follow the rewritten path verbatim."""
    text = ('<a href="/x?a=1&amp;b=2#sec-1">q</a><a href="/search?q=a%20b">s</a>'
            '<a href="/posts/#comments">c</a>')
    page = rewrite_html(text, rules())
    assert page.text == ('<a href="/blog/x?a=1&amp;b=2#sec-1">q</a>'
                         '<a href="/blog/search?q=a%20b">s</a>'
                         '<a href="/blog/posts/#comments">c</a>')
    assert page.links == ["/blog/x", "/blog/search", "/blog/posts/"]


def test_surrounding_whitespace_in_value_is_kept() -> None:
    """Whitespace inside the quotes is kept around the rewritten URL."""
    page = rewrite_html('<a href=" /x\n">x</a>', rules())
    assert page.text == '<a href=" /blog/x\n">x</a>'
    assert page.links == ["/blog/x"]


def test_empty_and_valueless_attributes_are_ignored() -> None:
    """`href=""` and a bare `href` neither break the scanner nor produce links."""
    text = '<a href="">e</a><a href>b</a><a href=\'\'>s</a>'
    page = rewrite_html(text, owns_all())
    assert page.text == text
    assert page.links == []


# --- rewrite_html: where links are found ------------------------------------------------------


def test_srcset_candidates_and_descriptors() -> None:
    """Each srcset candidate is judged alone; descriptors and external candidates are kept."""
    text = ('<img srcset="/img/a.png 1x, /img/b.png 2x">'
            '<img srcset="/img/a.png 480w,\n  https://cdn.example.com/b.png 800w,  /img/c.png">'
            '<source srcset="/img/a.png, /docs/d.png 2x">')
    page = rewrite_html(text, rules())
    assert page.text == ('<img srcset="/blog/img/a.png 1x, /blog/img/b.png 2x">'
                         '<img srcset="/blog/img/a.png 480w,\n'
                         '  https://cdn.example.com/b.png 800w,  /blog/img/c.png">'
                         '<source srcset="/blog/img/a.png, /docs/d.png 2x">')
    assert page.links == ["/blog/img/a.png", "/blog/img/b.png", "/blog/img/a.png",
                          "/blog/img/c.png", "/blog/img/a.png", "/docs/d.png"]


def test_srcset_comma_right_after_descriptor_starts_next_candidate() -> None:
    """`/a.png 1x,/b.png 2x` holds two candidates (HTML's srcset parsing): both are rewritten."""
    page = rewrite_html('<img srcset="/img/a.png 1x,/img/b.png 2x">', rules())
    assert page.text == '<img srcset="/blog/img/a.png 1x,/blog/img/b.png 2x">'
    assert page.links == ["/blog/img/a.png", "/blog/img/b.png"]


def test_data_attributes_are_rewritten_but_not_listed() -> None:
    """`data-*` values that are owned root paths move, but may be anything so are not checked."""
    text = ('<div data-src="/img/a.png" data-href="/docs/" data-count="3" '
            'data-json=\'{"u":"/x"}\'></div><object data="/x"></object>')
    page = rewrite_html(text, rules())
    assert page.text == ('<div data-src="/blog/img/a.png" data-href="/docs/" data-count="3" '
                         'data-json=\'{"u":"/x"}\'></div><object data="/blog/x"></object>')
    assert page.links == []


def test_forms_and_citations_are_rewritten_but_not_listed() -> None:
    """action, formaction, cite and longdesc move with the module; they are not checked."""
    text = ('<form action="/search"><button formaction="/x">go</button></form>'
            '<blockquote cite="/posts/"></blockquote><img longdesc="/x">')
    page = rewrite_html(text, rules())
    assert page.text == ('<form action="/blog/search"><button formaction="/blog/x">go</button>'
                         '</form><blockquote cite="/blog/posts/"></blockquote>'
                         '<img longdesc="/blog/x">')
    assert page.links == []


def test_checked_attributes_are_listed() -> None:
    """href, src, srcset, poster, xlink:href and background name resources that must exist."""
    text = ('<a href="/x"></a><script src="/js/app.js"></script>'
            '<img srcset="/img/a.png 2x"><video poster="/img/b.png"></video>'
            '<svg><use xlink:href="/img/c.png#icon"/></svg><table background="/docs/bg.png">')
    page = rewrite_html(text, rules())
    assert page.text == ('<a href="/blog/x"></a><script src="/blog/js/app.js"></script>'
                         '<img srcset="/blog/img/a.png 2x"><video poster="/blog/img/b.png"></video>'
                         '<svg><use xlink:href="/blog/img/c.png#icon"/></svg>'
                         '<table background="/docs/bg.png">')
    assert page.links == ["/blog/x", "/blog/js/app.js", "/blog/img/a.png", "/blog/img/b.png",
                          "/blog/img/c.png", "/docs/bg.png"]


@pytest.mark.parametrize("rel", ["preconnect", "dns-prefetch", "me", "Preconnect",
                                 "noopener preconnect"])
def test_links_with_external_rel_are_not_listed(rel: str) -> None:
    """rel=preconnect and friends name origins or identities, not files: never checked."""
    text = f'<link rel="{rel}" href="/docs/">'
    page = rewrite_html(text, rules())
    assert page.text == text
    assert page.links == []


def test_ordinary_rel_is_listed() -> None:
    """A stylesheet or canonical link is checked like any href."""
    page = rewrite_html('<link rel="stylesheet" href="/css/site.css">'
                        '<link rel=canonical href="/docs/">', rules())
    assert page.links == ["/blog/css/site.css", "/docs/"]


def test_style_attribute_urls_are_rewritten_and_listed() -> None:
    """url(...) inside a style attribute is treated as CSS."""
    text = ('<div style="background: url(/img/a.png) no-repeat; '
            "mask: url('/img/b.png')\"></div><p style='x: url(\"/docs/d.png\")'></p>")
    page = rewrite_html(text, rules())
    assert page.text == ('<div style="background: url(/blog/img/a.png) no-repeat; '
                         "mask: url('/blog/img/b.png')\"></div>"
                         "<p style='x: url(\"/docs/d.png\")'></p>")
    assert page.links == ["/blog/img/a.png", "/blog/img/b.png", "/docs/d.png"]


def test_style_block_is_rewritten_as_css() -> None:
    """A <style> element's url() and @import targets move; text after it is plain HTML again."""
    text = ('<head><style>\n@import "/css/site.css";\nbody { background: url( /img/a.png ); }\n'
            '</style></head><p>url(/x)</p>')
    page = rewrite_html(text, rules())
    assert page.text == ('<head><style>\n@import "/blog/css/site.css";\n'
                         'body { background: url( /blog/img/a.png ); }\n'
                         '</style></head><p>url(/x)</p>')
    assert page.links == ["/blog/img/a.png", "/blog/css/site.css"]


@pytest.mark.parametrize(("content", "expected"), [
    ("0; url=/x", "0; url=/blog/x"),
    ("0;URL=/x", "0;URL=/blog/x"),
    ("5; url='/posts/'", "5; url='/blog/posts/'"),
    ("0; url = https://ex.org/x", "0; url = https://ex.org/blog/x"),
])
def test_meta_refresh_target_is_rewritten_and_listed(content: str, expected: str) -> None:
    """The url= part of a refresh meta's content moves and is checked."""
    page = rewrite_html(f'<meta http-equiv="Refresh" content="{content}">', rules())
    assert page.text == f'<meta http-equiv="Refresh" content="{expected}">'
    assert len(page.links) == 1 and page.links[0].startswith("/blog/")


def test_meta_refresh_attribute_order_and_unquoted_values() -> None:
    """content before http-equiv, and an unquoted http-equiv, still count as a refresh."""
    page = rewrite_html('<meta content="0; url=/x" http-equiv=refresh>', rules())
    assert page.text == '<meta content="0; url=/blog/x" http-equiv=refresh>'
    assert page.links == ["/blog/x"]


def test_other_meta_content_is_not_a_link() -> None:
    """A content attribute outside a refresh meta is text, even when it looks like a path."""
    text = ('<meta name="description" content="/x"><meta http-equiv="refresh" content="30">'
            '<meta property="og:url" content="/x">')
    page = rewrite_html(text, rules())
    assert page.text == text
    assert page.links == []


def test_unquoted_and_single_quoted_values() -> None:
    """Unquoted and single-quoted values are rewritten in place without adding quotes."""
    text = "<a href=/x>u</a><img src='/img/a.png'><a href=/x?a=b>q</a><img src=/img/b.png/>"
    page = rewrite_html(text, rules())
    assert page.text == ("<a href=/blog/x>u</a><img src='/blog/img/a.png'>"
                         "<a href=/blog/x?a=b>q</a><img src=/img/b.png/>")
    assert page.links == ["/blog/x", "/blog/img/a.png", "/blog/x", "/img/b.png/"]


def test_uppercase_tags_and_attribute_names() -> None:
    """Tag and attribute names are case-insensitive; their case is preserved."""
    text = ('<A HREF="/x">x</A><IMG SRC=\'/img/a.png\' SrcSet="/img/b.png 2x">'
            '<META HTTP-EQUIV="REFRESH" CONTENT="0; URL=/x"><STYLE>a{b:URL(/img/c.png)}</STYLE>'
            '<LINK REL="PRECONNECT" HREF="/docs/">')
    page = rewrite_html(text, rules())
    assert page.text == ('<A HREF="/blog/x">x</A>'
                         '<IMG SRC=\'/blog/img/a.png\' SrcSet="/blog/img/b.png 2x">'
                         '<META HTTP-EQUIV="REFRESH" CONTENT="0; URL=/blog/x">'
                         '<STYLE>a{b:URL(/blog/img/c.png)}</STYLE><LINK REL="PRECONNECT" '
                         'HREF="/docs/">')
    assert page.links == ["/blog/x", "/blog/img/a.png", "/blog/img/b.png", "/blog/x",
                          "/blog/img/c.png"]


def test_tags_split_over_lines() -> None:
    """Offsets stay right across newlines (LF and CRLF) inside and between tags."""
    text = ('<p>one\r\ntwo</p>\r\n<a\r\n   class="c"\n   href="/x"\r\n>x</a>\n'
            '<img\n src =\n "/img/a.png"\n alt="a"\n/>\n<a href="/x">end</a>')
    page = rewrite_html(text, rules())
    assert page.text == ('<p>one\r\ntwo</p>\r\n<a\r\n   class="c"\n   href="/blog/x"\r\n>x</a>\n'
                         '<img\n src =\n "/blog/img/a.png"\n alt="a"\n/>\n'
                         '<a href="/blog/x">end</a>')
    assert page.links == ["/blog/x", "/blog/img/a.png", "/blog/x"]


def test_scripts_comments_and_cdata_are_not_markup() -> None:
    """href="/x" inside a script, a comment or a CDATA section is text and stays as written."""
    text = ('<script>document.write(\'<a href="/x">x</a>\'); var u = "url(/x)";</script>\n'
            '<!-- <a href="/x">old</a> <img src="/img/a.png"> -->\n'
            '<![CDATA[ <a href="/x"> ]]>\n'
            '<script type="application/ld+json">{"url": "/x", "image": "/img/a.png"}</script>\n'
            '<a href="/x">real</a>')
    page = rewrite_html(text, rules())
    assert page.text == text.replace('<a href="/x">real', '<a href="/blog/x">real')
    assert page.links == ["/blog/x"]


def test_attribute_like_text_is_not_an_attribute() -> None:
    """`>` or `href=` inside another quoted value, and escaped markup in text, are not links."""
    text = ('<a title="a>b" href="/x">t</a><a title=\'href="/x"\' data-note="src=/x">u</a>'
            '<p>&lt;a href="/x"&gt;</p><img src="/img/a.png"alt="">')
    page = rewrite_html(text, rules())
    assert page.text == ('<a title="a>b" href="/blog/x">t</a>'
                         '<a title=\'href="/x"\' data-note="src=/x">u</a>'
                         '<p>&lt;a href="/x"&gt;</p><img src="/blog/img/a.png"alt="">')
    assert page.links == ["/blog/x", "/blog/img/a.png"]


def test_script_src_is_rewritten() -> None:
    """The script element's own src attribute is a link, only its content is not."""
    text = '<script src="/js/app.js">var a = "/x";</script>'
    page = rewrite_html(text, rules())
    assert page.text == '<script src="/blog/js/app.js">var a = "/x";</script>'


def test_entities_in_values_are_kept_verbatim() -> None:
    """Character references in a rewritten value are neither decoded nor re-encoded."""
    text = '<a href="/x?a=1&amp;b=2&#38;c=3" title="a &amp; b">x</a>'
    page = rewrite_html(text, rules())
    assert page.text == '<a href="/blog/x?a=1&amp;b=2&#38;c=3" title="a &amp; b">x</a>'
    assert page.links == ["/blog/x"]


def test_entity_in_path_names_the_decoded_file() -> None:
    """`/a&amp;b.html` names the file `a&b.html`: owns() and the listed link see it decoded."""
    page = rewrite_html('<a href="/a&amp;b.html">x</a>', rules())
    assert page.text == '<a href="/blog/a&amp;b.html">x</a>'
    assert page.links == ["/blog/a&b.html"]


def test_entity_in_srcset_and_style_attribute_path_is_decoded() -> None:
    """srcset candidates and style url()s are attribute values too: their entities are decoded."""
    text = ('<img srcset="/a&amp;b.html 2x">'
            '<div style="background: url(/a&amp;b.html)"></div>')
    page = rewrite_html(text, rules())
    assert page.text == ('<img srcset="/blog/a&amp;b.html 2x">'
                         '<div style="background: url(/blog/a&amp;b.html)"></div>')
    assert page.links == ["/blog/a&b.html", "/blog/a&b.html"]


@pytest.mark.parametrize("ref", ["&#38;", "&#x26;", "&#X26;"])
def test_numeric_character_reference_in_path_is_not_a_fragment(ref: str) -> None:
    """`/a&#38;b.html` is `/a&b.html`: its `#` belongs to the reference, not a fragment."""
    page = rewrite_html(f'<a href="/a{ref}b.html#top">x</a>', rules())
    assert page.text == f'<a href="/blog/a{ref}b.html#top">x</a>'
    assert page.links == ["/blog/a&b.html"]


def test_entity_quoted_url_in_style_attribute() -> None:
    """`url(&#34;/x&#34;)` in a style attribute is `url("/x")` once the attribute is decoded."""
    text = '<div style="background-image: url(&#34;/img/a.png&#34;)"></div>'
    page = rewrite_html(text, rules())
    assert page.text == '<div style="background-image: url(&#34;/blog/img/a.png&#34;)"></div>'
    assert page.links == ["/blog/img/a.png"]


def test_style_block_is_raw_text_without_entities() -> None:
    """Inside <style>, `&amp;` is four literal characters: the path is not decoded."""
    text = '<style>a{b:url(/a&amp;b.html)} c{d:url(/a&b.html)}</style>'
    page = rewrite_html(text, rules())
    assert page.text == '<style>a{b:url(/a&amp;b.html)} c{d:url(/blog/a&b.html)}</style>'
    assert page.links == ["/a&amp;b.html", "/blog/a&b.html"]


def test_every_byte_outside_rewritten_urls_is_preserved() -> None:
    """A whole document comes back identical except for the two owned links."""
    doc = ('<!DOCTYPE html>\n<html lang="fr">\r\n<head>\n  <meta charset="utf-8">\n'
           '  <link  rel="stylesheet"\thref = "/css/site.css"  media=all >\n'
           '  <!-- a comment with <a href="/x"> inside -->\n'
           '  <?xml-stylesheet href="/x"?>\n'
           '</head>\n<body class=home data-flag hidden>\n'
           '  <p>Caf\u00e9 \u00ab guillemets \u00bb \u65e5\u672c\u8a9e \U0001f600 &amp; &nbsp; '
           '&#x263A; a < b && c > d</p>\n'
           "  <img alt='l\u00e0' src='/img/a.png' />\n"
           '  <a href="/docs/">docs</a> <a href="https://other.org/">ext</a>\n'
           '  <p>tail \u00e9</p>\n</body></html>\n\n')
    page = rewrite_html(doc, rules())
    expected = (doc.replace('"/css/site.css"', '"/blog/css/site.css"')
                .replace("'/img/a.png'", "'/blog/img/a.png'"))
    assert page.text == expected
    assert page.links == ["/blog/css/site.css", "/blog/img/a.png", "/docs/"]


def test_non_ascii_before_and_inside_links() -> None:
    """Non-ASCII text and non-ASCII paths keep offsets right."""
    owned = {"/caf\u00e9/", "/x"}
    text = '<p>\u00e9\u00e8\U0001f600</p><a href="/caf\u00e9/">c</a><p>\u65e5</p><a href="/x">x</a>'
    page = rewrite_html(text, rules(owned=owned))
    assert page.text == ('<p>\u00e9\u00e8\U0001f600</p><a href="/blog/caf\u00e9/">c</a>'
                         '<p>\u65e5</p><a href="/blog/x">x</a>')
    assert page.links == ["/blog/caf\u00e9/", "/blog/x"]


def test_empty_prefix_rewrites_nothing_but_lists_links() -> None:
    """A module at the site root keeps every link, and its internal links are still checked."""
    text = ('<a href="/x">x</a><img srcset="/img/a.png 2x"><div style="b:url(/img/b.png)"></div>'
            '<a href="https://ex.org/posts/">p</a><a href="https://other.org/">o</a>'
            '<style>@import "/css/site.css";</style>')
    page = rewrite_html(text, owns_all(prefix=""))
    assert page.text == text
    assert page.links == ["/x", "/img/a.png", "/img/b.png", "/posts/", "/css/site.css"]


def test_page_without_links() -> None:
    """Plain text and an empty page come back unchanged with no links."""
    assert rewrite_html("", rules()).text == ""
    page = rewrite_html("just text, no tags", rules())
    assert (page.text, page.links) == ("just text, no tags", [])


# --- rewrite_css ------------------------------------------------------------------------------


def test_css_url_forms() -> None:
    """url() with double, single or no quotes, with inner spaces and in any case, is rewritten."""
    css = ('a { background: url("/img/a.png"); }\n'
           "b { background: url('/img/b.png'); }\n"
           'c { background: url(/img/c.png); }\n'
           'd { background: url(  "/x"  ); }\n'
           'e { background: URL( /x ); }\n')
    page = rewrite_css(css, rules())
    assert page.text == ('a { background: url("/blog/img/a.png"); }\n'
                         "b { background: url('/blog/img/b.png'); }\n"
                         'c { background: url(/blog/img/c.png); }\n'
                         'd { background: url(  "/blog/x"  ); }\n'
                         'e { background: URL( /blog/x ); }\n')
    assert page.links == ["/blog/img/a.png", "/blog/img/b.png", "/blog/img/c.png", "/blog/x",
                          "/blog/x"]


def test_css_import_forms() -> None:
    """@import with a quoted string or with url() is rewritten; media queries are kept."""
    css = ('@import "/css/site.css";\n@import \'/x\' screen;\n'
           '@IMPORT url("/docs/d.css") print;\n')
    page = rewrite_css(css, rules())
    assert page.text == ('@import "/blog/css/site.css";\n@import \'/blog/x\' screen;\n'
                         '@IMPORT url("/docs/d.css") print;\n')
    assert sorted(page.links) == ["/blog/css/site.css", "/blog/x", "/docs/d.css"]


def test_css_leaves_data_external_and_relative_urls() -> None:
    """data: URIs, external, protocol-relative and relative URLs are untouched and unlisted."""
    css = ('a{b:url(data:image/svg+xml;utf8,<svg xmlns="http://www.w3.org/2000/svg"/>)}\n'
           "c{d:url('data:image/png;base64,iVBORw0KGgo=')}\n"
           'e{f:url(https://cdn.example.com/x.png)} g{h:url(//cdn.example.com/y.png)}\n'
           'i{j:url(../img/a.png)} k{l:url(img/b.png)} m{n:url(#grad)}\n'
           '@import "theme.css";\n')
    page = rewrite_css(css, owns_all())
    assert page.text == css
    assert page.links == []


def test_css_query_fragment_and_same_origin() -> None:
    """Font URLs keep their query and fragment; same-origin absolute URLs keep the origin."""
    css = ('@font-face{src:url(/fonts/f.woff2?v=3#iefix) format("woff2"),'
           'url("https://ex.org/fonts/f.woff2")}')
    page = rewrite_css(css, rules())
    assert page.text == ('@font-face{src:url(/blog/fonts/f.woff2?v=3#iefix) format("woff2"),'
                         'url("https://ex.org/blog/fonts/f.woff2")}')
    assert page.links == ["/blog/fonts/f.woff2", "/blog/fonts/f.woff2"]


def test_css_not_owned_and_already_prefixed() -> None:
    """Other modules' files and paths already under the prefix stay; both are listed."""
    css = 'a{b:url(/docs/d.png)} c{d:url(/blog/img/a.png)}'
    page = rewrite_css(css, rules())
    assert page.text == css
    assert page.links == ["/docs/d.png", "/blog/img/a.png"]


def test_css_empty_prefix_rewrites_nothing() -> None:
    """With prefix "" the stylesheet is unchanged but its internal URLs are listed."""
    css = '@import "/css/site.css"; a{b:url(/img/a.png)}'
    page = rewrite_css(css, owns_all(prefix=""))
    assert page.text == css
    assert sorted(page.links) == ["/css/site.css", "/img/a.png"]


def test_a_page_s_ids_and_fragment_links_are_collected() -> None:
    """What anchor checks need: the ids a page holds (id=, <a name=>) and its #fragment
    links, on itself or on another page of the federation."""
    page = rewrite_html('<h2 id="intro">x</h2><a name="old"></a><a href="#intro">i</a>'
                        '<a href="/docs/#setup">s</a><a href="https://x.org/#y">x</a>'
                        '<p id="a&amp;b"></p>', LinkRules("", "https://fed.org", lambda _p: False))
    assert page.ids == ["intro", "old", "a&b"]
    assert page.anchors == ["#intro", "/docs/#setup"]


def test_relative_urls_are_kept_for_checking_against_the_page_url() -> None:
    """Relative URLs stay as written but are listed, and resolve against the page's URL
    (anchors too); other schemes, protocol-relative URLs and a bare query are not."""
    text = ('<a href="../configure/">c</a><img src="img/a.png"><a href="x.html#part">x</a>'
            '<a href="?page=2">q</a><a href="mailto:me@ex.org">m</a><a href="//cdn.ex/x">p</a>')
    page = rewrite_html(text, owns_all())
    assert page.text == text
    assert page.relative == ["../configure/", "img/a.png", "x.html#part"]
    assert relative_targets(page.relative, "/guide/install/index.html") == (
        ["/guide/configure/", "/guide/install/img/a.png", "/guide/install/x.html"],
        ["/guide/install/x.html#part"])


def test_css_comments_name_no_links() -> None:
    """A url() inside a /* comment */ is neither rewritten nor checked."""
    css = ('/* use url("../img/...") or url(/img/x.png) */\n'
           'a { background: url(../img/bg.svg) }\n/* unterminated url(/y.png)')
    page = rewrite_css(css, rules())
    assert page.text == css
    assert (page.links, page.relative) == ([], ["../img/bg.svg"])
