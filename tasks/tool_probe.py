"""A tool's version line as a step's cache key records it. The client asks it here
(tasks/steps.py) and a Dask worker for itself (tasks/remote_worker.py), through this one
function, so the same program gives the same line on both and a task runs only where it
matches its key."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from core.runner import Command, run
from federation.steps import ToolPlan

VERSION_TIMEOUT = 60.0  # seconds for a `--version`
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def version_line(tool: ToolPlan, cwd: Path, log: Path) -> str | None:
    """The tool's version line (the one its `line` regex picks, else the first), or None
    when its version command cannot be run or fails."""
    result = run(Command(argv=tool.version, cwd=cwd, log=log, timeout=VERSION_TIMEOUT))
    text = _ANSI.sub("", log.read_text(errors="replace")).splitlines()
    lines = [line for line in text if not line.startswith("$ ")]
    if tool.line:  # the line it names, or the whole output when none matches
        pattern = re.compile(tool.line)
        lines = [line for line in lines if pattern.search(line)] or [" ".join(lines)]
    return lines[0].strip() if result.ok and lines else None


def joined(tool: ToolPlan, lines: Sequence[str | None]) -> str | None:
    """The key's version of `tool` from the lines of its probes (tool.probes(), in order):
    its own line, with those of the other programs it names joined by " | "."""
    if not tool.also:
        return lines[0]
    return " | ".join(line or "none" for line in lines)
