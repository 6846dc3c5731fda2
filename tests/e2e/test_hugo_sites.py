"""Issue 22's "done when": a federation of real Hugo sites in the reference format publishes in
one `doit`, each page's styles, scripts, images and navigation resolving under its
destination, and the warnings say exactly what the sites themselves got wrong.

The hugo-sites fixture: three modules built by real Hugo through their own build script, left
as such scripts are (no --title; the module's own site.baseURL, read after the options, wins
over --base-url), one theme, and the sites' own imperfections: the theme links a favicon it
does not ship, the course's config says its public address on another origin
(https://org.github.io/course-site/), and the guide links a page by a slug that does not exist
(a relative link, ../configure/, where the page is configuration/).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

from tests.conftest import run_doit

pytestmark = pytest.mark.skipif(shutil.which("hugo") is None, reason="hugo is not installed")

Repo = Callable[[str], Path]
ORIGIN = "https://fed.example.org"
# What the sites got wrong, and nothing else: (page, link).
OWN_FAULTS = {
    ("index.html", "/favicon.ico"), ("about/index.html", "/favicon.ico"),
    *((f"course/{p}index.html", "/course/favicon.ico") for p in ("", "lesson-1/", "lesson-2/")),
    *((f"guide/{p}index.html", "/guide/favicon.ico")
      for p in ("", "install/", "configuration/")),
    ("guide/install/index.html", "/guide/configure/"),
}
TITLE_WARNING = ("WARNING: modules.json: modules[0].overrides.title: scripts/build.sh has no "
                 "--title (learned from its --help): applied as site.title in a copy of "
                 "modules/home/module.json passed as --config "
                 "(.fedbuild/configs/home/module.json)")


class _Urls(HTMLParser):
    """Every URL a page loads or links: stylesheets, scripts, images, icons, anchors."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value and not value.startswith("#"):
                self.urls.append((tag, value))


def urls_of(page: Path) -> list[tuple[str, str]]:
    parser = _Urls()
    parser.feed(page.read_text())
    return parser.urls


def target(public: Path, page: str, url: str) -> Path | None:
    """The published file a URL of `page` names (None: another site's URL)."""
    full = urlsplit(urljoin(f"{ORIGIN}/{page}", url))
    if f"{full.scheme}://{full.netloc}" != ORIGIN:
        return None
    path = public / unquote(full.path).lstrip("/")
    return path / "index.html" if full.path.endswith("/") or path.is_dir() else path


def test_real_hugo_sites_publish_in_one_run_with_their_own_faults_named(
        monorepo: Repo) -> None:
    repo = monorepo("hugo-sites")
    script = (repo / "scripts/build.sh").read_bytes()
    result = run_doit(repo, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (repo / "scripts/build.sh").read_bytes() == script
    assert [line for line in result.stderr.splitlines() if line.startswith("WARNING:")] == [
        TITLE_WARNING]
    public = repo / "public"
    assert "<title>Welcome · Federated home</title>" in (public / "index.html").read_text()

    pages = sorted(p.relative_to(public).as_posix() for p in public.rglob("*.html"))
    assert pages == ["about/index.html", "course/index.html", "course/lesson-1/index.html",
                     "course/lesson-2/index.html", "guide/configuration/index.html",
                     "guide/index.html", "guide/install/index.html", "index.html"]
    broken = set()
    for page in pages:
        text = (public / page).read_text()
        assert "org.github.io" not in text and "/course-site/" not in text, page
        loaded = urls_of(public / page)
        assert {tag for tag, _url in loaded} >= {"link", "script", "img", "a"}, page
        for _tag, url in loaded:
            found = target(public, page, url)
            if found is not None and not found.is_file():
                broken.add((page, urlsplit(urljoin(f"{ORIGIN}/{page}", url)).path))
    assert broken == OWN_FAULTS
    for css in public.rglob("style.css"):  # the theme's url(../img/bg.svg), per module
        assert (css.parent.parent / "img/bg.svg").is_file()

    record = json.loads((public / ".federation/links.json").read_text())
    assert {(p["path"], p["link"]) for p in record["problems"]} == OWN_FAULTS
    assert {(p["kind"], p["level"]) for p in record["problems"]} == {("module_links", "warn")}
    assert record["by_module"] == {"home": {"module_links": 2}, "course": {"module_links": 3},
                                   "guide": {"module_links": 4}}
    assert ("course: built for https://org.github.io/course-site/ (canonical links), "
            "published at https://fed.example.org/course/") in result.stdout
    assert "guide   published (8 files, 4 broken links of its own)" in result.stdout
