"""The federation's sitemap index and merged robots.txt, as Antora publishes them.

Each site module keeps its own `sitemap.xml` at its destination (its `<loc>` URLs
rewritten like its links); `sitemap.xml` at the root of the published tree
becomes a sitemap index naming each of them (the root module's own moves aside
to `sitemap-<module>.xml`). `robots.txt` at the root merges every module's
rules (their paths moved below each module's destination) and names the index.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape

from core.confine import remove_tree
from federation.records import FileInfo

GENERATED = "(federation)"  # owner of the files the publish writes itself
SITEMAP, ROBOTS = "sitemap.xml", "robots.txt"
_RULES = ("allow", "disallow", "noindex", "crawl-delay")


@dataclass(frozen=True)
class Site:
    """One published module, as the index and robots.txt see it."""

    name: str
    destination: str  # "/" or "/docs/"
    built_path: str  # the URL folder it was built for: its robots.txt paths are below it
    published_path: str  # the URL folder it is published at


def write_site_files(tree: Path, files: dict[str, FileInfo], sites: list[Site],
                     base: str) -> list[str]:
    """Write the sitemap index and robots.txt into `tree` (a publish's new tree) and list
    them in `files`; `base` is the federation's URL with a trailing slash. The sitemaps
    indexed are returned."""
    sitemaps, robots = [], []
    for site in sorted(sites, key=lambda s: s.destination):
        folder = site.destination.strip("/")
        at = f"{folder}/" if folder else ""
        info = files.get(at + SITEMAP)
        if info is not None and info.owner == site.name:
            path = at + SITEMAP if folder else f"sitemap-{site.name}.xml"
            if path != at + SITEMAP:  # the root module's: sitemap.xml is the index
                os.replace(tree / SITEMAP, tree / path)
                files[path] = files.pop(SITEMAP)
            sitemaps.append(base + path)
        rules = files.get(at + ROBOTS)
        if rules is not None and rules.owner == site.name and rules.target is None:
            robots.append((site, (tree / (at + ROBOTS)).read_text(errors="replace")))
    if sitemaps:
        write_file(tree, files, SITEMAP, sitemap_index(sitemaps))
    if sitemaps or robots:
        write_file(tree, files, ROBOTS, merged_robots(robots, base + SITEMAP if sitemaps else None))
    return sitemaps


def sitemap_index(urls: list[str]) -> str:
    """A sitemaps.org sitemap index naming each sitemap."""
    entries = "".join(f"  <sitemap>\n    <loc>{escape(url)}</loc>\n  </sitemap>\n"
                      for url in urls)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            f"{entries}</sitemapindex>\n")


def merged_robots(sources: list[tuple[Site, str]], sitemap: str | None) -> str:
    """One robots.txt from each module's (site, text): groups by user agents, rule paths
    moved from the folder it was built for to where it is published, Sitemap lines replaced
    by the index."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for site, text in sources:
        for agents, fields in _groups(text):
            kept = groups.setdefault(agents, [])
            for field, value in fields:
                line = f"{field}: {_moved(value, site, field)}"
                if line not in kept:
                    kept.append(line)
    lines = ["# merged by fedbuild from the modules' robots.txt files"]
    for agents, rules in groups.items():
        lines += [f"User-agent: {agent}" for agent in agents] + rules + [""]
    if sitemap:
        lines.append(f"Sitemap: {sitemap}")
    return "\n".join(lines).rstrip("\n") + "\n"


def _groups(text: str) -> list[tuple[tuple[str, ...], list[tuple[str, str]]]]:
    """robots.txt records: (user agents, [(field, value)]) in order; Sitemap lines dropped."""
    found: list[tuple[tuple[str, ...], list[tuple[str, str]]]] = []
    agents: list[str] = []
    rules: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        field, _, value = line.partition(":")
        field, value = field.strip().lower(), value.strip()
        if field == "user-agent":
            if rules:
                found.append((tuple(agents), rules))
                agents, rules = [], []
            agents.append(value)
        elif field in _RULES and agents:
            rules.append((field.capitalize(), value))
    if agents:
        found.append((tuple(agents), rules))
    return found


def _moved(value: str, site: Site, field: str) -> str:
    """A rule's path moved from the folder the module was built for to where it is
    published (an empty Disallow, allowing all, stays empty)."""
    if field == "Crawl-delay" or not value.startswith(site.built_path):
        return value
    return site.published_path + value[len(site.built_path):]


def write_file(tree: Path, files: dict[str, FileInfo], path: str, text: str) -> None:
    """A file of the publish's own, replacing any (never through a hard link: a reused file
    of the new tree is also the old tree's)."""
    target = tree / path
    remove_tree(target, tree)
    data = text.encode()
    target.write_bytes(data)
    os.chmod(target, 0o644)
    st = os.lstat(target)
    files[path] = FileInfo(GENERATED, hashlib.sha256(data).hexdigest(), st.st_size,
                           st.st_mtime_ns)
