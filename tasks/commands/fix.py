"""`doit fix [--list]`: apply the fixes the last `doit fix=auto` run proposed and proved
(tasks/fix.py), or list them.

The last run with proposed fixes is the newest folder under `.fedbuild/fixes/` (names
sort by start). Nothing is applied when a file a patch changes is no longer as it was
when the fix was proposed (its digest, kept in `<task>.json`), nor when `git apply
--check` refuses one of them: all of them apply, or none. An applied fix is marked
(`<task>.applied`), so a second `doit fix` applies nothing twice.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doit.exceptions import InvalidCommand

from core.digests import file_digest
from core.runner import Command, run
from core.state import STATE_DIR
from tasks.commands.base import FedbuildCommand
from tasks.fix import FIXES

opt_list = {
    "name": "show_list", "short": "", "long": "list", "type": bool, "default": False,
    "help": "list the last proposed fixes (task, what they change, applied or not)",
}
_APPLY_TIMEOUT = 120.0
_SAID = re.compile(r"fix:\S+: (.+) made \S+ pass \((.+?)\);")  # tasks/fix.py's line


@dataclass(frozen=True)
class Proposed:
    """One proven fix: its task, its patch, the line said, the apply command, the digests of
    the files it changes as they were, and whether it was applied."""

    task: str
    patch: Path
    line: str
    apply: tuple[str, ...]
    files: dict[str, str | None]
    applied: bool

    @property
    def marker(self) -> Path:
        """The file saying it was applied."""
        return self.patch.with_suffix(".applied")


def last_proposed(root: Path) -> list[Proposed]:
    """The fixes of the newest run that proposed any, by task name."""
    folder = root / STATE_DIR / FIXES
    runs = sorted((p for p in folder.iterdir() if p.is_dir() and any(p.glob("*.patch"))),
                  key=lambda p: p.name) if folder.is_dir() else []
    if not runs:
        return []
    return [_read(patch) for patch in sorted(runs[-1].glob("*.patch"))]


def _read(patch: Path) -> Proposed:
    """A proposed fix from its patch and the record beside it."""
    record: dict[str, Any] = {}
    with_record = patch.with_suffix(".json")
    if with_record.is_file():
        record = json.loads(with_record.read_text())
    shown = str(patch)
    return Proposed(task=patch.stem, patch=patch, line=str(record.get("line", "")),
                    apply=tuple(record.get("apply") or ("git", "apply", shown)),
                    files=dict(record.get("files") or {}),
                    applied=patch.with_suffix(".applied").exists())


def changed_since(fix: Proposed, root: Path) -> str | None:
    """The first file the patch changes that is no longer as it was when it was proposed."""
    for name, digest in fix.files.items():
        path = root / name
        now = file_digest(path) if path.is_file() else None
        if now != digest:
            return name
    return None


def apply_all(fixes: list[Proposed], root: Path) -> list[str]:
    """Apply every fix not applied yet, or none (one-line InvalidCommand saying why); the
    lines to print."""
    waiting = [fix for fix in fixes if not fix.applied]
    for fix in waiting:
        changed = changed_since(fix, root)
        if changed is not None:
            raise InvalidCommand(f"{changed} changed since the fix for {fix.task} was "
                                 f"proposed; nothing applied (run doit fix=auto again)")
    for fix in waiting:
        _git_apply(fix, root, check=True)
    lines = []
    for fix in waiting:
        _git_apply(fix, root, check=False)
        fix.marker.write_text(shlex.join(fix.apply) + "\n")
        lines.append(f"applied {_shown(fix.patch, root)} ({fix.task})")
    return lines + [f"{fix.task}: already applied" for fix in fixes if fix.applied]


def _git_apply(fix: Proposed, root: Path, check: bool) -> None:
    """`git apply` (with --check first) of one patch, from the repository's folder."""
    argv = list(fix.apply)
    if check:
        argv.insert(2, "--check")
    result = run(Command(argv=tuple(argv), cwd=root, log=fix.patch.with_suffix(".log"),
                         timeout=_APPLY_TIMEOUT))
    if not result.ok:
        said = [line for line in result.tail(5).splitlines() if not line.startswith("$ ")]
        why = said[0] if said else result.describe().splitlines()[0]
        after = "; nothing applied" if check else ""
        raise InvalidCommand(f"{shlex.join(argv)} failed for {fix.task}: {why}{after}")


def list_lines(fixes: list[Proposed], root: Path) -> list[str]:
    """One line per fix: task, what it does, its patch, applied or not."""
    width = max(len(fix.task) for fix in fixes)
    lines = []
    for fix in fixes:
        said = _SAID.match(fix.line)
        what = f"{said[2]} by {said[1]}" if said else "a fix"
        state = "applied" if fix.applied else "not applied"
        lines.append(f"{fix.task:<{width}} {what}  {_shown(fix.patch, root)} ({state})")
    return lines


def _shown(path: Path, root: Path) -> str:
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


class FixCommand(FedbuildCommand):
    """`doit fix`."""

    name = "fix"
    doc_purpose = "apply the fixes the last `doit fix=auto` run proposed (--list: show them)"
    doc_usage = "[--list]"
    doc_description = ("Applies, with git apply, every patch in the newest folder of "
                       ".fedbuild/fixes/ not applied yet: all of them or none, refusing when "
                       "a file a patch changes was edited since the fix was proposed.")
    cmd_options = (opt_list,)

    def _execute(self, show_list: bool = False) -> int:
        root = Path.cwd()  # doit has moved to the repository (-d) by now
        fixes = last_proposed(root)
        if not fixes:
            lines = ["no proposed fixes (doit fix=auto proposes them when a step with "
                     "fixers fails)"]
        elif show_list:
            lines = list_lines(fixes, root)
        else:
            lines = apply_all(fixes, root)
        self.outstream.write("\n".join(lines) + "\n")
        return 0
