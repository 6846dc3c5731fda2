"""Publish the federation: assemble the new tree beside the old one, check it, swap it in.

The published folder is replaced in one rename (core/staging.py), so an
interrupt, a crash or a SIGKILL at any moment leaves the old tree or the new
one, never a mix. Files of modules whose output did not change since the last
publish are hard-linked from the old tree with the digests and links recorded
then; only changed modules are read, rewritten and hashed again. A module whose
last build failed keeps the files it had in the old tree, marked stale.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from core.confine import OutsideRoots, remove_tree, resolved
from core.digests import list_files, stat_fingerprint
from core.staging import replace_dir
from federation.built_for import BuiltFor, find_built_for, html_pages, normal
from federation.compose import BASE, RECORDS_DIR, Collision, Layer, MergeConflict, compose
from federation.links import (
    LinkRules,
    is_template,
    relative_targets,
    rewrite_css,
    rewrite_html,
    rewrite_sitemap,
)
from federation.plan import FederationPlan, Mount
from federation.policy import LINKS_FILE, Policy, judge, links_record, published_problems
from federation.records import (
    FileInfo,
    Record,
    deployment,
    now_iso,
    prune_records,
    write_published,
)
from federation.redirects import plan_redirects, write_redirects
from federation.search import Indexed, SearchError, index_modules, prune_kept
from federation.sitemaps import Site, write_site_files
from federation.validate import Problem, route_problems, validate

# Bump when the way files are processed changes: every module is then processed again.
PROCESSING_VERSION = 4
_CHECK_EVERY = 128  # files between two looks at the cancel flag
SEARCH_DIR = "search"  # of the records folder: each module's Pagefind bundle, kept


class Cancelled(Exception):
    """The run was interrupted; nothing was published."""


@dataclass(frozen=True)
class ModuleRun:
    """A site module as its last build left it."""

    mount: Mount
    built: bool  # the last build succeeded: the staged output is current
    build: dict[str, Any]  # that build's facts for the records (status, duration, digests)
    commit: str | None = None  # git sources: the commit built


@dataclass
class ModuleReport:
    """How one module appears in the published tree."""

    name: str
    destination: str
    status: str  # published | failed (stale) | failed (not published)
    files: int = 0
    bytes: int = 0
    warnings: int = 0  # problems of its pages reported, not failing the publish
    built_for: str = ""  # the base URL its output was built for, when found out
    evidence: str = ""  # how that was found out
    published_at: str = ""  # its URL in the federation
    rewritten: int = 0  # links of its files rewritten to where it is published


@dataclass
class Report:
    """The outcome of a publish, published or not."""

    published: bool
    reason: str = ""
    modules: list[ModuleReport] = field(default_factory=list)
    collisions: list[Collision] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)  # the ones failing the publish
    warnings: list[Problem] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    reused: int = 0
    processed: int = 0
    search: Indexed | None = None  # what the search step did (federation.search)


def publish(plan: FederationPlan, runs: list[ModuleRun],
            cancelled: Callable[[], bool] = lambda: False, policy: Policy | None = None) -> Report:
    """Build the new tree, validate it and swap it in; the Report says what happened."""
    policy = policy or Policy()
    output = published_folder(plan)
    sweep_leftovers(output, plan)
    old = Record.load(plan.records, output) if output.is_dir() else None
    sources = {run.mount.name: _module_files(run, old, output, policy) for run in runs}
    built = {run.mount.name: _built_for(run, sources[run.mount.name], policy)
             for run in runs if run.built and run.mount.name in policy.sites}
    keys = {run.mount.name: module_key(plan, run.mount, policy, built.get(run.mount.name))
            for run in runs}
    base = _base_files(output, old) if plan.preserve_base else []
    report = Report(published=False)
    try:
        tree = compose([Layer(r.mount.name, r.mount.destination, r.mount.strategy,
                              tuple(sorted(sources[r.mount.name]))) for r in runs], base)
    except MergeConflict as err:
        report.reason = f"merge conflict: {err}"
        return report
    report.collisions = tree.collisions
    output.parent.mkdir(parents=True, exist_ok=True)
    new = Path(tempfile.mkdtemp(prefix=f".{output.name}.new-", dir=output.parent))
    os.chmod(new, 0o755)  # mkdtemp's 0700 would hide the site from the web server
    try:
        assembler = _Assembler(plan, output, new, old, keys, cancelled, policy, built)
        files = assembler.assemble(tree.owners, {r.mount.name: r for r in runs}, sources)
        report.reused, report.processed = assembler.reused, assembler.processed
        _resolve_symlink_digests(files)
        destinations = [(r.mount.name, r.mount.destination) for r in runs
                        if any(info.owner == r.mount.name for info in files.values())]
        redirects = plan_redirects(list(policy.redirects), files, plan.site_path)
        judged = judge(validate(files, destinations, plan.site_path, sources)
                       + route_problems(tree.collisions) + redirects.problems, policy,
                       published_problems(output) if policy.new_only else set())
        report.problems, report.warnings = judged.errors, judged.warnings
        _summarize(report, runs, files)
        _describe_urls(report, plan, built, assembler.rewritten, old)
        if report.problems:
            report.reason = f"validation failed ({len(report.problems)} problems)"
            return report
        write_site_files(new, files, _sites(plan, runs, built, destinations),
                         plan.origin + plan.site_path)
        write_redirects(new, files, redirects, list(policy.redirects))
        if policy.search:
            try:
                report.search = index_modules(
                    new, files, [r.mount.name for r in runs], plan.records / SEARCH_DIR,
                    plan.log.with_name("pagefind.log"), plan.site_path, cancelled)
            except SearchError as err:
                report.reason = str(err)
                return report
        publish_id = uuid.uuid4().hex
        published_at = now_iso()
        entries = _module_entries(plan, runs, files, old, keys, published_at)
        for entry, module in zip(entries, report.modules, strict=True):
            if module.built_for:
                entry["built_for"] = {"url": module.built_for, "evidence": module.evidence,
                                      "links_rewritten": module.rewritten}
        statuses = Counter(entry["status"] for entry in entries)
        write_published(new, files, _manifest(plan, publish_id, entries, tree.collisions,
                                              published_at),
                        deployment(publish_id, _federation(plan), files, statuses,
                                   len(tree.collisions), published_at))
        (new / RECORDS_DIR / LINKS_FILE).write_text(json.dumps(links_record(judged), indent=2)
                                                    + "\n")
        Record(publish_id, {e["name"]: {"key": keys[e["name"]], "entry": e} for e in entries},
               files).save(plan.records)
        if cancelled():
            raise Cancelled()
        replace_dir(new, output, plan.roots)
        prune_records(plan.records, keep=publish_id)
        if report.search is not None:
            prune_kept(plan.records / SEARCH_DIR, report.search.keys, plan.roots)
        report.published = True
        return report
    finally:
        remove_tree(new, plan.roots)


def published_folder(plan: FederationPlan) -> Path:
    """The folder the tree is published in, a link to it followed: OutsideRoots unless it
    lies inside the repository (checked again here, not only when the manifest loaded: a
    link made since must not make publishing replace a folder elsewhere)."""
    output = resolved(plan.output) if plan.output.is_symlink() else plan.output
    if not plan.roots.may_write(output):
        raise OutsideRoots(f"{plan.output} is {resolved(plan.output)}, outside the repository; "
                           "publishing would replace it: make it a folder of the repository")
    return output


def module_key(plan: FederationPlan, mount: Mount, policy: Policy,
               built: BuiltFor | None = None) -> str:
    """Identifies a module's processed files: its staged output and how it is published."""
    data = [PROCESSING_VERSION, stat_fingerprint(mount.staged), mount.destination, mount.prefix,
            plan.origin, list(policy.exclude.get(mount.name, ())),
            built.url if built else None]
    return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def sweep_leftovers(output: Path, plan: FederationPlan) -> None:
    """Remove new trees of interrupted publishes and old trees not yet removed."""
    if not output.parent.is_dir():
        return
    for pattern in (f".{output.name}.new-*", f".{output.name}.old-*"):
        for path in output.parent.glob(pattern):
            remove_tree(path, plan.roots)


def published_files(plan: FederationPlan) -> list[Path]:
    """The modules' files in the published tree (with preserve-base-site: not the base's)."""
    output = published_folder(plan)
    old = Record.load(plan.records, output) if output.is_dir() else None
    return [output / path for path, info in (old.files.items() if old else ())
            if info.owner != BASE and os.path.lexists(output / path)]


def clean_published(plan: FederationPlan) -> None:
    """`doit clean federate`: remove the published tree (only module files with preserve-base)."""
    output = published_folder(plan)
    if plan.preserve_base and output.is_dir():
        old = Record.load(plan.records, output)
        for path, info in (old.files.items() if old else ()):
            if info.owner != BASE:
                remove_tree(output / path, plan.roots)
        remove_tree(output / RECORDS_DIR, plan.roots)
    else:
        remove_tree(plan.output, plan.roots)
    remove_tree(plan.records, plan.roots)


def _module_files(run: ModuleRun, old: Record | None, output: Path, policy: Policy) -> set[str]:
    """The files a module brings: its staged output (but build leftovers and what its
    `exclude` globs name), or (failed) what it had published."""
    if run.built:
        return {rel for rel, _entry in list_files(run.mount.staged)
                if not policy.left_out(run.mount.name, rel)}
    if old is None:
        return set()
    prefix = run.mount.destination.lstrip("/")
    return {path[len(prefix):] for path, info in old.files.items()
            if info.owner == run.mount.name and os.path.lexists(output / path)}


def _base_files(output: Path, old: Record | None) -> list[str]:
    """Files of the published tree that no module owns (all of it if fedbuild did not write it)."""
    if not output.is_dir():
        return []
    owned = {p for p, info in old.files.items() if info.owner != BASE} if old else set()
    return [rel for rel, _entry in list_files(output)
            if rel not in owned and rel.split("/", 1)[0] != RECORDS_DIR]


class _Assembler:
    """Writes the new tree: reused files as hard links, changed ones processed from staging."""

    def __init__(self, plan: FederationPlan, output: Path, new: Path, old: Record | None,
                 keys: dict[str, str], cancelled: Callable[[], bool], policy: Policy,
                 built: dict[str, BuiltFor]) -> None:
        self.plan, self.output, self.new, self.old = plan, output, new, old
        self.keys, self.cancelled = keys, cancelled
        self.policy, self.built = policy, built
        self.reused = self.processed = 0
        self.rewritten: Counter[str] = Counter()  # links rewritten per module (processed files)
        self._made: set[str] = {""}

    def assemble(self, owners: dict[str, str], runs: dict[str, ModuleRun],
                 sources: dict[str, set[str]]) -> dict[str, FileInfo]:
        files: dict[str, FileInfo] = {}
        rules = {name: self._rules(run, sources[name]) for name, run in runs.items()}
        for count, (path, owner) in enumerate(sorted(owners.items())):
            if count % _CHECK_EVERY == 0 and self.cancelled():
                raise Cancelled()
            self._folder(path)
            run = runs.get(owner)
            info = self._reuse(path, owner, fresh=run is not None and run.built)
            if info is None and run is not None and run.built:
                rel = path[len(run.mount.destination.lstrip("/")):]
                info = self._process(run.mount.staged / rel, path, owner, rules[owner])
                self.processed += 1
            elif info is None:  # kept from the old tree: already rewritten when published
                info = self._process(self.output / path, path, owner, None)
                self.processed += 1
            else:
                self.reused += 1
            files[path] = info
        return files

    def _rules(self, run: ModuleRun, own: set[str]) -> LinkRules:
        def owns(root_path: str) -> bool:
            rel = unquote(root_path).lstrip("/")
            return (rel in own or (rel.rstrip("/") + "/index.html").lstrip("/") in own)
        plain = LinkRules(prefix=run.mount.prefix, origin=self.plan.origin, owns=owns)
        built, facts = self.built.get(run.mount.name), self.policy.sites.get(run.mount.name)
        if built is None or facts is None or built.url == normal(facts.passed):
            return plain
        return _moved_rules(plain, built, self.plan, run.mount, facts.css_path_prefix)

    def _reuse(self, path: str, owner: str, fresh: bool) -> FileInfo | None:
        """The old tree's file, linked in, if it is still what the record says."""
        if self.old is None:
            return None
        info = self.old.files.get(path)
        if info is None or info.owner != owner:
            return None
        if fresh and self.old.modules.get(owner, {}).get("key") != self.keys[owner]:
            return None
        source, dest = self.output / path, self.new / path
        try:
            st = os.lstat(source)
        except OSError:
            return None
        if info.target is not None:
            if not stat.S_ISLNK(st.st_mode) or os.readlink(source) != info.target:
                return None
            os.symlink(info.target, dest)
            return info
        if st.st_size != info.size or st.st_mtime_ns != info.mtime_ns:
            return None  # edited in place since: process it again
        try:
            os.link(source, dest, follow_symlinks=False)
        except OSError:
            shutil.copy2(source, dest)
        return info

    def _process(self, source: Path, path: str, owner: str, rules: LinkRules | None) -> FileInfo:
        dest = self.new / path
        if source.is_symlink():
            target = os.readlink(source)
            os.symlink(target, dest)
            return FileInfo(owner, "", 0, 0, target=target)
        kind = os.path.splitext(path)[1].lower()
        if kind == ".xml" and path.rpartition("/")[2].startswith("sitemap"):
            kind = "sitemap"
        if kind in (".html", ".htm", ".css", "sitemap"):
            text = source.read_bytes().decode("utf-8", "surrogateescape")
            rules = rules or LinkRules("", self.plan.origin, lambda _p: False)
            rewrite = {".css": rewrite_css, "sitemap": rewrite_sitemap}.get(kind, rewrite_html)
            page = rewrite(text, rules)
            self.rewritten[owner] += page.rewritten
            data = page.text.encode("utf-8", "surrogateescape")
            with open(dest, "xb") as f:
                f.write(data)
            # A template a build script copied into its output is not a page: its links
            # are not checked.
            template = is_template(text)
            near, near_anchors = relative_targets(page.relative, self.plan.site_path + path)
            links = [] if template else sorted(set(page.links + near))
            ids = [] if template else sorted(set(page.ids))
            anchors = [] if template else sorted(set(page.anchors + near_anchors))
            digest = hashlib.sha256(data).hexdigest()
        else:
            digest, links, ids, anchors = _copy_hashing(source, dest), [], [], []
        mode = os.stat(source).st_mode
        if mode & 0o111:
            os.chmod(dest, 0o755)
        st = os.lstat(dest)
        return FileInfo(owner, digest, st.st_size, st.st_mtime_ns, links, None, ids, anchors)

    def _folder(self, path: str) -> None:
        parent = path.rpartition("/")[0]
        if parent not in self._made:
            (self.new / parent).mkdir(parents=True, exist_ok=True)
            self._made.add(parent)


def _built_for(run: ModuleRun, own: set[str], policy: Policy) -> BuiltFor:
    """What the module's staged output was built for: its config read, its pages asked."""
    facts = policy.sites[run.mount.name]
    return find_built_for(run.mount.staged, html_pages(own), facts.passed, facts.configured())


def _moved_rules(plain: LinkRules, built: BuiltFor, plan: FederationPlan, mount: Mount,
                 css_path_prefix: str) -> LinkRules:
    """Link rules for a module built for another base URL than the one fedbuild passed:
    every URL on that origin and below that folder moves to where the module is published."""
    published = plan.site_path + mount.destination.lstrip("/")
    prefix = moved_from = moved_to = ""
    if built.path == "/" and published != "/":
        prefix = css_path_prefix.rstrip("/") or published.rstrip("/")
    elif built.path != published:
        moved_from, moved_to = built.path, published
    foreign = built.origin != plan.origin
    return LinkRules(prefix=prefix, origin=plan.origin, owns=plain.owns, moved_from=moved_from,
                     moved_to=moved_to, foreign_origin=built.origin if foreign else "",
                     foreign_path=built.path, foreign_to=plan.origin + published)


def _sites(plan: FederationPlan, runs: list[ModuleRun], built: dict[str, BuiltFor],
           published: list[tuple[str, str]]) -> list[Site]:
    """The published modules, with the URL folder each was built for and is published at."""
    mounts = {run.mount.name: run.mount for run in runs}
    sites = []
    for name, destination in published:
        at = plan.site_path + destination.lstrip("/")
        found = built.get(name)
        sites.append(Site(name, destination, found.path if found is not None
                          else "/" if mounts[name].prefix else at, at))
    return sites


def _describe_urls(report: Report, plan: FederationPlan, built: dict[str, BuiltFor],
                   rewritten: Counter[str], old: Record | None) -> None:
    """Per module: what it was built for, where it is published, how many links moved (a
    module whose files were all reused keeps the count of when they were written)."""
    for module in report.modules:
        found = built.get(module.name)
        if found is None:
            continue
        module.built_for, module.evidence = found.url, found.evidence
        module.published_at = plan.origin + plan.site_path + module.destination.lstrip("/")
        before = ((old.modules.get(module.name) or {}).get("entry") or {}) if old else {}
        module.rewritten = rewritten[module.name] if module.name in rewritten else \
            (before.get("built_for") or {}).get("links_rewritten", 0)


def _copy_hashing(source: Path, dest: Path) -> str:
    h = hashlib.sha256()
    with open(source, "rb") as src, open(dest, "xb") as out:
        for block in iter(lambda: src.read(1 << 20), b""):
            h.update(block)
            out.write(block)
    return h.hexdigest()


def _resolve_symlink_digests(files: dict[str, FileInfo]) -> None:
    """A symlink to a file of the tree is listed with that file's digest (as sha256sum does)."""
    for path, info in files.items():
        if info.target is None or info.target.startswith("/"):
            continue
        target = os.path.normpath(os.path.join(os.path.dirname(path), info.target))
        linked = files.get(target)
        info.sha256 = linked.sha256 if linked is not None and linked.target is None else ""


def _summarize(report: Report, runs: list[ModuleRun], files: dict[str, FileInfo]) -> None:
    warned = Counter(p.module for p in report.warnings)
    per: dict[str, list[int]] = {}
    for info in files.values():
        counts = per.setdefault(info.owner, [0, 0])
        counts[0] += 1
        counts[1] += info.size
    for run in runs:
        count, size = per.get(run.mount.name, [0, 0])
        status = "published" if run.built else (
            "failed (stale)" if count else "failed (not published)")
        report.modules.append(ModuleReport(run.mount.name, run.mount.destination, status,
                                           count, size, warned[run.mount.name]))
    report.files, report.bytes = len(files), sum(info.size for info in files.values())


def _module_entries(plan: FederationPlan, runs: list[ModuleRun], files: dict[str, FileInfo],
                    old: Record | None, keys: dict[str, str],
                    published_at: str) -> list[dict[str, Any]]:
    entries = []
    for run in runs:
        name = run.mount.name
        owned = [info for info in files.values() if info.owner == name]
        previous = (old.modules.get(name) or {}) if old else {}
        before = previous.get("entry") or {}
        if not owned:
            status, since = "failed (not published)" if not run.built else "published", None
        elif run.built:
            unchanged = previous.get("key") == keys[name] and before.get("published_at")
            status, since = "published", before["published_at"] if unchanged else published_at
        else:
            status, since = "failed (stale)", before.get("published_at")
        # A stale module's files are those of its last good build: describe that build's inputs.
        shown = run if run.built else None
        entries.append({
            "name": name,
            "destination": run.mount.destination,
            "merge_strategy": run.mount.strategy,
            "path_prefix": run.mount.prefix,
            "source": {**run.mount.source, "commit": shown.commit if shown
                       else before.get("source", {}).get("commit")},
            "status": status,
            "build": run.build,
            "inputs_digest": shown.build.get("inputs_digest") if shown
            else before.get("inputs_digest"),
            "files": len(owned),
            "bytes": sum(info.size for info in owned),
            "published_at": since,
        })
    return entries


def _manifest(plan: FederationPlan, publish_id: str, entries: list[dict[str, Any]],
              collisions: list[Collision], published_at: str) -> dict[str, Any]:
    return {
        "id": publish_id,
        "federation": _federation(plan),
        "published_at": published_at,
        "modules": entries,
        "collisions": [{"path": c.path, "kept": c.kept, "dropped": c.dropped,
                        "reason": c.reason} for c in collisions],
    }


def _federation(plan: FederationPlan) -> dict[str, Any]:
    return {"name": plan.name, "baseURL": plan.base_url, "strategy": plan.strategy}
