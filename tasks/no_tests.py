"""Whether a test step's runner found no test to run, from its log (and exit code).

A test step that ran nothing passes silently on every runner (ctest prints "No tests were
found!!!" and exits 0; cargo runs each test binary's zero tests): a typo in a test path, a
test target not built, or a filter matching nothing then looks like a green suite. The
toolchain's `no_tests:` says how its runner shows it; the step then fails as `no tests`,
unless the module says `allow_no_tests: true`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from federation.manifest import NoTests

LOG_LIMIT = 8 << 20  # bytes of a log's end read: a test runner's summary is at the end


def ran_no_tests(rule: NoTests, log: Path, exit_code: int | None) -> str | None:
    """What showed that no test ran (to quote to the user), or None if tests ran or it
    cannot tell."""
    if rule.exit_code is not None and exit_code == rule.exit_code:
        return f"the test runner exited with {exit_code}, its code for 'no tests'"
    text = _tail(log)
    for line in rule.lines:
        if line in text:
            return f"its log says {line.strip()!r}"
    if rule.count is not None:
        found = list(re.finditer(rule.count, text, re.MULTILINE))
        if found and all(int(m.group(1)) == 0 for m in found):
            shown = found[0].group(0).strip()
            where = "" if len(found) == 1 else f" ({len(found)} times, never more)"
            return f"its log says {shown!r}{where}"
    return None


def _tail(log: Path) -> str:
    try:
        with log.open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - LOG_LIMIT))
            return f.read().decode(errors="replace")
    except OSError:
        return ""
