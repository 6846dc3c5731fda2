"""The `federate` task: merge every site module's staged output into the published tree.

It runs after every build:<module> (even failed ones: their last published
files stay, marked stale) and does nothing when no module's output, the
manifest's federation settings or the published tree changed since it last
published.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from doit.exceptions import TaskFailed

from core.confine import OutsideRoots
from core.digests import remembered_fingerprint, stat_fingerprint
from core.outcome import Outcome, Status
from core.sizes import format_size
from federation.manifest import display_path
from federation.plan import FederationPlan, Mount
from federation.policy import Policy, worst_targets
from federation.publish import (
    PROCESSING_VERSION,
    Cancelled,
    ModuleRun,
    Report,
    clean_published,
    publish,
)
from federation.publish import published_files as module_files
from federation.records import now_iso
from tasks.clean import CLEAN, remove, shown
from tasks.doit_compat import AFTER_FAILURES
from tasks.returned import returned
from tasks.session import interrupted, interrupts_deferred
from tasks.signature import UptodateCheck

TaskDict = dict[str, Any]
RESULT = "result.json"  # the last federate's report, for the run summary
_SHOWN_PROBLEMS = 20


def federate_task(plan: FederationPlan, policy: Policy | None = None) -> TaskDict:
    """The doit task dict of `federate` (`policy`: the manifest's validation settings and
    exclusions, federation/policy.py's policy_of)."""
    output = _shown(plan.output)
    policy = policy or Policy()
    return {
        "basename": "federate",
        "doc": f"merge the site modules into {output}/ and publish it in one rename "
               f"(records in {output}/.federation/)",
        "actions": [(federate, [plan, policy])],
        "task_dep": [f"build:{mount.name}" for mount in plan.mounts],
        "uptodate": [PublishedCurrent(plan, policy)],
        "meta": {AFTER_FAILURES: True, CLEAN: True},
        "clean": [(clean_federation, [plan])],
    }


class PublishedCurrent(UptodateCheck):
    """Up to date while nothing that decides the published tree changed since it was published."""

    def __init__(self, plan: FederationPlan, policy: Policy | None = None) -> None:
        self.plan = plan
        self.policy = policy or Policy()

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        # the builds' checks just fingerprinted each staged output: reused unless rewritten since
        key = published_key(self.plan, self.policy, staged=remembered_fingerprint)
        return bool(values.get("key")) and values.get("key") == key


def published_key(plan: FederationPlan, policy: Policy | None = None,
                  staged: Callable[[Path], str | None] = stat_fingerprint) -> str:
    """A digest of the federation settings, each module's last build (`staged` fingerprints
    its output), the published tree and how files are processed (a fedbuild that reads pages
    differently publishes again)."""
    modules = []
    for mount in plan.mounts:
        outcome = Outcome.read(mount.outcome)
        modules.append([mount.name, outcome.status.value if outcome else None,
                        staged(mount.staged), _head(mount)])
    data = [plan.signature(), modules, stat_fingerprint(plan.output),
            (policy or Policy()).signature(), PROCESSING_VERSION]
    return hashlib.sha256(json.dumps(data, default=str).encode()).hexdigest()


def federate(plan: FederationPlan, policy: Policy | None = None) -> dict[str, Any] | TaskFailed:
    """Publish; keep the old tree and fail when the new one may not be published."""
    started = time.monotonic()
    runs = [module_run(mount) for mount in plan.mounts]
    state = "published"
    # Ctrl-C is taken between files and before the swap (publish polls for it), and
    # raised again once the records below are written.
    status = Status.FAILED
    with interrupts_deferred():
        try:
            if not any(run.built for run in runs):
                report, state, status = _nothing_built(plan)
            else:
                report = publish(plan, runs, cancelled=interrupted, policy=policy)
                if not report.published:
                    state = "kept old tree"
        except Cancelled:
            report, state = Report(published=False, reason="interrupted"), "kept old tree"
            status = Status.INTERRUPTED
        except (OSError, OutsideRoots) as err:
            report, state = Report(published=False, reason=f"{err}"), "failed"
        duration = time.monotonic() - started
        _write_log(plan, report, state)
        _write_result(plan, report, state)
        message = "" if report.published else _failure_message(plan, report, state)
        status = Status.BUILT if report.published else status
        outcome = Outcome(task=plan.task, status=status, duration=duration,
                          log=str(plan.log), message=message)
        outcome.write(plan.outcome)
    if status is Status.SKIPPED:  # not up to date next time: the next build may succeed
        return returned(outcome, None, {"skipped": message})
    return returned(outcome, None, {"key": published_key(plan, policy)} if report.published else {})


def _nothing_built(plan: FederationPlan) -> tuple[Report, str, Status]:
    """No site module built: publishing would only replace the tree by the same old files
    (or, with none, by an empty one). Nothing is published, and the task says so."""
    output = _shown(plan.output)
    if plan.output.is_dir():
        reason = "no site module built, nothing new to publish"
        return Report(published=False, reason=reason), "kept old tree", Status.SKIPPED
    reason = f"no site module built, so there is nothing to publish ({output}/ not created)"
    return Report(published=False, reason=reason), "not published", Status.SKIPPED


def clean_federation(plan: FederationPlan, dryrun: bool = False) -> None:
    """`doit clean federate`: remove the published tree (with preserve-base-site, only the
    modules' files in it) and fedbuild's records of it, saying what was removed."""
    root = plan.roots.writable[0]
    if not plan.preserve_base:
        remove([plan.output, plan.records], plan.roots, root, dryrun)
        return
    files = module_files(plan)
    size = sum(os.lstat(f).st_size for f in files if os.path.lexists(f))
    if not dryrun:
        clean_published(plan)
    if files:
        print(f"{'would remove' if dryrun else 'removed'} the modules' {len(files)} files from "
              f"{shown(plan.output, root)} ({format_size(size)}); the base site's stay")
    remove([plan.records], plan.roots, root, dryrun)


def module_run(mount: Mount) -> ModuleRun:
    """What the module's last build left, from its outcome record."""
    outcome = Outcome.read(mount.outcome)
    built = mount.staged.is_dir() and (outcome is None or outcome.status.succeeded)
    build: dict[str, Any] = {"status": "unknown"}
    if outcome is not None:
        build = {"status": outcome.status.value, "duration": round(outcome.duration, 3),
                 "finished_at": _mtime_iso(mount.outcome), "attempts": outcome.attempts,
                 "inputs_digest": outcome.inputs_digest or None,
                 "output_digest": outcome.output_digest or None}
    return ModuleRun(mount=mount, built=built, build=build, commit=_head(mount))


def summary_lines(state_dir: Path, ran: bool) -> list[str]:
    """The federation lines of the run's final table (from the last federate's result)."""
    try:
        result = json.loads((state_dir / "federate" / RESULT).read_text())
    except (OSError, ValueError):
        return []
    output = result.get("output", "public")
    state = result.get("state", "failed")
    if state == "published":
        head = (f"federation: {'published' if ran else 'up to date'} {output}/ "
                f"({result.get('files', 0)} files, {format_size(result.get('bytes', 0))}"
                f"{_count(result.get('collisions', 0), 'collision')})")
    else:
        head = f"federation: {state} {output}/: {result.get('reason', '')}"
    lines = ["", head]
    modules = result.get("modules", []) if state == "published" else []
    width = max([len(m["destination"]) for m in modules] + [0])
    name_width = max([len(m["name"]) for m in modules] + [0])
    for m in modules:
        warned = m.get("warnings", 0)
        own = f", {warned} broken link{'s' * (warned != 1)} of its own" if warned else ""
        lines.append(f"  {m['destination']:<{width}}  {m['name']:<{name_width}}  {m['status']}"
                     f" ({m['files']} files{own})")
    lines += [f"  {m['name']}: {moved_line(m)}" for m in modules if _moved(m)]
    search = result.get("search") if state == "published" else None
    if search:
        lines.append(f"  search: {output}/pagefind/ ({search['files']} files; Pagefind index "
                     f"built for {_names(search['indexed'])}, kept for {_names(search['kept'])})")
    worst = result.get("worst") or []
    if worst:
        lines.append("  most named missing targets: " + ", ".join(
            f"{w['target']} ({w['pages']} page{'s' * (w['pages'] != 1)})" for w in worst)
            + f" (all in {output}/.federation/links.json)")
    return lines


def _names(modules: list[str]) -> str:
    """Module names for a summary line: 'none' or 'a, b'."""
    return ", ".join(modules) or "none"


def _write_result(plan: FederationPlan, report: Report, state: str) -> None:
    data = {"state": state, "reason": report.reason, "output": _shown(plan.output),
            "at": now_iso(), "files": report.files, "bytes": report.bytes,
            "collisions": len(report.collisions), "problems": len(report.problems),
            "warnings": len(report.warnings), "worst": worst_targets(report.warnings),
            "search": {"indexed": report.search.built, "kept": report.search.reused,
                       "files": report.search.files,
                       "seconds": round(report.search.seconds, 3)} if report.search else None,
            "reused": report.reused, "processed": report.processed,
            "modules": [vars(m) for m in report.modules]}
    plan.records.mkdir(parents=True, exist_ok=True)
    tmp = plan.records / f".{RESULT}.tmp"
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(plan.records / RESULT)


def _write_log(plan: FederationPlan, report: Report, state: str) -> None:
    lines = [f"federate: {state} {_shown(plan.output)}/"
             + (f": {report.reason}" if report.reason else "")]
    lines += [f"  {m.destination}  {m.name}  {m.status}  {m.files} files, {m.bytes} bytes"
              for m in report.modules]
    lines += [f"{m.name}: {moved_line(vars(m))}" for m in report.modules if _moved(vars(m))]
    lines.append(f"files: {report.files} ({report.reused} reused from the published tree, "
                 f"{report.processed} written)")
    lines += [f"collision: {c.describe()}" for c in report.collisions]
    lines += [f"problem: {p.describe()}" for p in report.problems]
    lines += [f"warning: {p.describe()} ({p.kind} of {p.module or 'the existing site'})"
              for p in report.warnings]
    plan.log.parent.mkdir(parents=True, exist_ok=True)
    plan.log.write_text("\n".join(lines) + "\n")


def _failure_message(plan: FederationPlan, report: Report, state: str) -> str:
    output = _shown(plan.output)
    head = (f"federate failed, the published tree {output}/ was left as it was: {report.reason}"
            if state == "failed" else f"federate: {report.reason}" if state == "not published"
            else f"federate kept the published tree {output}/ as it was: {report.reason}")
    shown = [f"  {p.describe()}" for p in report.problems[:_SHOWN_PROBLEMS]]
    more = len(report.problems) - len(shown)
    if more > 0:
        shown.append(f"  ... and {more} more in {display_path(plan.log)}")
    return "\n".join([head, *shown])


def moved_line(module: dict[str, Any]) -> str:
    """`built for X (how it was found out), published at Y, N links rewritten`."""
    count = module.get("rewritten", 0)
    return (f"built for {module['built_for']} ({module['evidence']}), published at "
            f"{module['published_at']}, {count} link{'s' * (count != 1)} rewritten")


def _moved(module: dict[str, Any]) -> bool:
    """Whether a module was built for another URL than the one it is published at."""
    return bool(module.get("built_for")) and module.get("built_for") != module.get(
        "published_at")


def _head(mount: Mount) -> str | None:
    if mount.head_file is None:
        return None
    try:
        return mount.head_file.read_text().strip() or None
    except OSError:
        return None


def _mtime_iso(path: Path) -> str | None:
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(os.stat(path).st_mtime))
    except OSError:
        return None


def _shown(path: Path) -> str:
    return display_path(path)


def _count(n: int, word: str) -> str:
    return f"; {n} {word}{'s' if n != 1 else ''}" if n else ""
