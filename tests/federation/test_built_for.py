"""What a site module's output was built for: found out from its pages, not assumed."""

from __future__ import annotations

from pathlib import Path

from federation.built_for import find_built_for
from federation.links import LinkRules, rewrite_html

PASSED = "https://fed.example.org/course/"


def site(tmp_path: Path, pages: dict[str, str]) -> tuple[Path, list[str]]:
    for rel, text in pages.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path, sorted(pages)


def test_canonical_links_decide(tmp_path: Path) -> None:
    staged, pages = site(tmp_path, {
        "index.html": '<link href="https://org.github.io/" rel="canonical">',
        "posts/a/index.html": "<link rel=canonical href='https://org.github.io/posts/a/'>",
        "about.html": '<link rel="canonical" href="https://org.github.io/about.html">'})
    found = find_built_for(staged, pages, PASSED, None)
    assert (found.url, found.evidence) == ("https://org.github.io/", "canonical links")


def test_absolute_urls_confirm_the_config(tmp_path: Path) -> None:
    staged, pages = site(tmp_path, {"index.html": '<a href="https://Org.GitHub.io/x/">'})
    found = find_built_for(staged, pages, PASSED, "https://org.github.io")
    assert (found.url, found.evidence) == ("https://org.github.io/", "absolute URLs")


def test_root_links_tell_which_folder(tmp_path: Path) -> None:
    """Built for / (the config won) or for /course/ (the option won): the root links say."""
    staged, pages = site(tmp_path, {"index.html": '<a href="/css/a.css"><a href="/b/">'})
    found = find_built_for(staged, pages, PASSED, "https://fed.example.org/")
    assert (found.url, found.evidence) == ("https://fed.example.org/", "root links")
    (staged / "index.html").write_text('<a href="/course/css/a.css"><a href="/course/">')
    found = find_built_for(staged, pages, PASSED, "https://fed.example.org/")
    assert (found.url, found.evidence) == (PASSED, "root links")


def test_without_evidence_the_passed_url_or_the_config(tmp_path: Path) -> None:
    staged, pages = site(tmp_path, {"index.html": "<p>no links</p>"})
    assert find_built_for(staged, pages, PASSED, None).evidence == "--base-url"
    found = find_built_for(staged, pages, PASSED, "https://org.github.io/docs")
    assert (found.url, found.evidence) == ("https://org.github.io/docs/", "module config")


def never(_path: str) -> bool:
    return False


def test_urls_of_another_origin_and_folder_move_to_the_destination() -> None:
    rules = LinkRules("", "https://fed.example.org", never, foreign_origin="https://org.github.io",
                      foreign_path="/site/", foreign_to="https://fed.example.org/course/")
    page = rewrite_html('<a href="https://ORG.github.io/site/a/?q#f"><a href="https://org.'
                        'github.io/site"><a href="https://org.github.io/other/">'
                        '<a href="https://org.github.io.evil/site/">', rules)
    assert page.text == ('<a href="https://fed.example.org/course/a/?q#f"><a href="https://fed.'
                         'example.org/course"><a href="https://org.github.io/other/">'
                         '<a href="https://org.github.io.evil/site/">')
    assert page.rewritten == 2 and page.links == ["/course/a/", "/course"]


def test_links_below_the_built_for_folder_move_to_the_destination() -> None:
    rules = LinkRules("", "https://fed.example.org", never, moved_from="/old-guide/",
                      moved_to="/guide/")
    page = rewrite_html('<a href="/old-guide/a.html"><a href="/old-guide"><a href="/other/">'
                        '<a href="https://fed.example.org/old-guide/b/">', rules)
    assert page.text == ('<a href="/guide/a.html"><a href="/guide"><a href="/other/">'
                         '<a href="https://fed.example.org/guide/b/">')
    assert page.rewritten == 3
