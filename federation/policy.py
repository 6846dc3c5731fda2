"""The publish policy: which problems of a new tree fail it, and which files are left out.

Real sites carry their own broken links (a theme naming a favicon it does not
ship, slugs that differ from the links written in content): by default those
are warnings, reported per module, while what the federation itself breaks
(cross-module links, rewritten links, a destination without an index page)
fails the publish. `federation.validation` sets each kind to error, warn or off,
with `ignore` globs and `new_only`. Build leftovers (`.hugo_build.lock`) and a
module's `exclude` globs are never published.
"""

from __future__ import annotations

import fnmatch
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from federation.loader import Project, find_module_json
from federation.redirects import Redirect
from federation.sites import read_module_config
from federation.steps import StepPlan
from federation.validate import (
    ANCHORS,
    DUPLICATE_ROUTES,
    FEDERATION_LINKS,
    MISSING_INDEX,
    MODULE_LINKS,
    REDIRECTS,
    SYMLINKS,
    Problem,
)

ERROR, WARN, OFF = "error", "warn", "off"
# Files a site builder leaves in its output that are never part of a site.
LEFTOVERS = frozenset({".hugo_build.lock"})
LINKS_FILE = "links.json"  # the full list of problems, in the published tree's records
_WORST = 5  # most-named missing targets shown in the summary


@dataclass(frozen=True)
class SiteFacts:
    """What a site module was asked to be built for, and where its own config says."""

    passed: str  # the --base-url fedbuild passed
    folder: Path  # the module's files: its module.json is found there when publishing
    source_root: Path
    module_json: str
    css_path_prefix: str  # where its root links point once published ("" = its destination)

    def configured(self) -> str | None:
        """The base URL the module's own config names (site.baseURL), if any (read when
        publishing: a git source's clone exists then)."""
        config = find_module_json(self.folder, self.source_root, self.module_json)
        if config is None:
            return None
        try:
            site = read_module_config(config).site
        except Exception:
            return None
        url = site.baseURL if site is not None else None
        return url if url and url.startswith(("http://", "https://")) else None


@dataclass(frozen=True)
class Policy:
    """The manifest's validation settings, each site module's exclusions and facts."""

    levels: dict[str, str] = field(default_factory=lambda: {
        MODULE_LINKS: WARN, FEDERATION_LINKS: ERROR, MISSING_INDEX: ERROR, ANCHORS: WARN,
        DUPLICATE_ROUTES: WARN})
    ignore: tuple[str, ...] = ()
    new_only: bool = False
    exclude: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sites: dict[str, SiteFacts] = field(default_factory=dict)  # none: rewrite as planned
    redirects: tuple[Redirect, ...] = ()
    search: bool = False  # a Pagefind index over the published tree

    def signature(self) -> list[Any]:
        """Everything here that changes what is published or whether it is."""
        return [sorted(self.levels.items()), list(self.ignore), self.new_only,
                sorted((k, list(v)) for k, v in self.exclude.items()),
                sorted((k, f.passed, str(f.folder), f.module_json, f.css_path_prefix)
                       for k, f in self.sites.items()),
                [vars(r) for r in self.redirects], self.search]

    def level(self, problem: Problem) -> str:
        """error, warn or off for one problem (a symlink out of the tree is always an error)."""
        if problem.kind in (SYMLINKS, REDIRECTS):
            return ERROR
        if any(fnmatch.fnmatchcase(target, glob) for glob in self.ignore
               for target in _targets(problem)):
            return OFF
        return self.levels.get(problem.kind, ERROR)

    def left_out(self, module: str, rel: str) -> bool:
        """Whether a file of a module's output (relative to it) is not published."""
        if rel.rpartition("/")[2] in LEFTOVERS:
            return True
        return any(fnmatch.fnmatchcase(rel, glob) for glob in self.exclude.get(module, ()))


def policy_of(project: Project, steps: Sequence[StepPlan] = ()) -> Policy:
    """The policy the manifest sets; with the planned site builds among `steps`, what each
    was asked to be built for (unless build_settings.css_path_resolution is false: nothing
    is rewritten)."""
    fed = project.manifest.federation
    settings = fed.validation
    facts = {}
    if fed.build_settings.css_path_resolution:
        facts = {step.module: SiteFacts(site.base_url, site.folder, site.source_root,
                                        site.module_json,
                                        project.module(step.module).css_path_prefix)
                 for step in steps if (site := step.site) is not None}
    return Policy(levels={MODULE_LINKS: settings.module_links,
                          FEDERATION_LINKS: settings.federation_links,
                          MISSING_INDEX: settings.missing_index,
                          ANCHORS: settings.anchors,
                          DUPLICATE_ROUTES: settings.duplicate_routes},
                  ignore=tuple(settings.ignore), new_only=settings.new_only,
                  exclude={m.name: tuple(m.exclude) for m in project.manifest.modules
                           if m.exclude}, sites=facts, redirects=_redirects(project),
                  search=fed.search)


def _redirects(project: Project) -> tuple[Redirect, ...]:
    """The manifest's redirects, the federation's first, then each site module's."""
    given = [(r, "federation") for r in project.manifest.federation.redirects]
    given += [(r, m.name) for m in project.manifest.modules for r in m.redirects or ()]
    return tuple(Redirect(r.from_, r.to, r.status, owner) for r, owner in given)


@dataclass
class Judged:
    """A tree's problems sorted by what they do: errors fail the publish."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def judge(problems: list[Problem], policy: Policy, published: set[tuple[str, str, str]]
          ) -> Judged:
    """Errors and warnings per the policy; with new_only, an error the published tree
    already had (`published`: its problems' keys) is only a warning."""
    judged = Judged()
    for problem in problems:
        level = policy.level(problem)
        if level == ERROR and policy.new_only and key(problem) in published:
            level = WARN
        if level == ERROR:
            judged.errors.append(problem)
        elif level == WARN:
            judged.warnings.append(problem)
    return judged


def key(problem: Problem) -> tuple[str, str, str]:
    """What identifies a problem from one publish to the next."""
    return (problem.kind, problem.path, problem.message)


def published_problems(output: Path) -> set[tuple[str, str, str]]:
    """The problems the published tree had when it was published (none when unknown)."""
    try:
        data = json.loads((output / ".federation" / LINKS_FILE).read_text())
        return {(p["kind"], p["path"], p["message"]) for p in data["problems"]}
    except (OSError, ValueError, KeyError, TypeError):
        return set()


def links_record(judged: Judged) -> dict[str, Any]:
    """links.json: every reported problem with its level, counts per module and kind, and
    the missing targets most often named."""
    rows = [(p, ERROR) for p in judged.errors] + [(p, WARN) for p in judged.warnings]
    by_module: dict[str, Counter[str]] = {}
    for problem, _level in rows:
        by_module.setdefault(problem.module, Counter())[problem.kind] += 1
    return {"problems": [{"path": p.path, "message": p.message, "kind": p.kind,
                          "module": p.module, "link": p.link or None, "level": level}
                         for p, level in sorted(rows, key=lambda r: (r[0].path, r[0].message))],
            "by_module": {name: dict(counts) for name, counts in sorted(by_module.items())},
            "worst": worst_targets([p for p, _ in rows])}


def worst_targets(problems: list[Problem]) -> list[dict[str, Any]]:
    """The broken links' targets named by the most pages."""
    pages = Counter(p.link for p in problems if p.link)
    return [{"target": target, "pages": count} for target, count in pages.most_common(_WORST)]


def _targets(problem: Problem) -> list[str]:
    """What an ignore glob is matched with: the link's target and the page's URL path."""
    page = "/" + problem.path.lstrip("/")
    return [unquote(problem.link), problem.link, page] if problem.link else [page]
