"""The base URL a site was really built for (issue 22 item 2), on the built-for fixture.

Its build script lets the module's own module.json site.baseURL win over --base-url, like
the reference script: `course` (published at /course/) comes out built for its public
address https://org.github.io/, `guide` (published at /guide/) for /old-guide/ of the
federation's own origin, `home` for what fedbuild passed. fedbuild reads the config,
confirms it from the output and rewrites every URL on that origin and prefix to the
module's destination on the federation's baseURL.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import run_doit

Repo = Callable[[str], Path]


def test_every_url_of_the_built_for_origin_and_prefix_moves_to_the_destination(
        monorepo: Repo) -> None:
    repo = monorepo("built-for")
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    public = repo / "public"
    course = (public / "course/posts/first/index.html").read_text()
    assert '<link rel="canonical" href="https://fed.example.org/course/posts/first/">' in course
    assert 'href="https://fed.example.org/course/css/style.css"' in course
    assert '<script src="/course/js/app.js">' in course
    assert '<a href="https://fed.example.org/course/posts/first/">' in course
    assert '<a href="/course/">home</a>' in course
    assert 'href="https://elsewhere.example.com/x"' in course
    assert "org.github.io" not in course
    guide = (public / "guide/index.html").read_text()
    assert 'href="https://fed.example.org/guide/css/style.css"' in guide
    assert '<script src="/guide/js/app.js">' in guide and "old-guide" not in guide
    home = (public / "index.html").read_text()
    assert 'href="https://fed.example.org/css/style.css"' in home
    lines = result.stdout.splitlines()
    assert ("  course: built for https://org.github.io/ (canonical links), published at "
            "https://fed.example.org/course/, 12 links rewritten") in lines
    assert ("  guide: built for https://fed.example.org/old-guide/ (canonical links), "
            "published at https://fed.example.org/guide/, 12 links rewritten") in lines
    assert not any(line.startswith("  home: built for") for line in lines)  # as published
    entries = {m["name"]: m for m in json.loads(
        (public / ".federation/federation-manifest.json").read_text())["modules"]}
    assert entries["course"]["built_for"] == {"url": "https://org.github.io/",
                                              "evidence": "canonical links",
                                              "links_rewritten": 12}
    log = (repo / ".fedbuild/logs/federate/federate.log").read_text()
    assert "course: built for https://org.github.io/ (canonical links), published at " \
        "https://fed.example.org/course/, 12 links rewritten" in log


def test_a_sitemap_index_and_a_merged_robots_txt(monorepo: Repo) -> None:
    """Issue 22 item 6: public/sitemap.xml indexes each module's own sitemap (its URLs
    rewritten to its destination; the root module's moves aside to sitemap-home.xml), and
    robots.txt merges the modules' rules below their destinations and names the index."""
    repo = monorepo("built-for")
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    public = repo / "public"
    index = (public / "sitemap.xml").read_text()
    assert "<sitemapindex" in index
    assert re.findall(r"<loc>([^<]*)</loc>", index) == [
        "https://fed.example.org/sitemap-home.xml", "https://fed.example.org/course/sitemap.xml",
        "https://fed.example.org/guide/sitemap.xml"]
    assert re.findall(r"<loc>([^<]*)</loc>", (public / "course/sitemap.xml").read_text()) == [
        "https://fed.example.org/course/", "https://fed.example.org/course/posts/first/"]
    assert "<urlset" in (public / "sitemap-home.xml").read_text()
    assert (public / "robots.txt").read_text().splitlines()[1:] == [
        "User-agent: *", "Disallow: /drafts/", "Disallow: /course/drafts/",
        "Disallow: /guide/drafts/", "", "Sitemap: https://fed.example.org/sitemap.xml"]
    check = subprocess.run(["sha256sum", "--strict", "--quiet", "-c",
                            ".federation/checksums.sha256"], cwd=public, check=False)
    assert check.returncode == 0
