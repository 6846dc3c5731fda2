"""What may name a commit or a branch on its way into the build queue, whichever door
(REST, webhook, retry) it came through: one check, one one-line reason."""

from __future__ import annotations

import re

# A full object id: SHA-1 (40 hex) or SHA-256 (64 hex) repositories.
_FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# What the API accepts before resolving it in the repository: an abbreviated id too.
_SHORT_SHA = re.compile(r"^[0-9a-f]{7,64}$")
# Characters a branch may use here: git allows more, but nothing of this set can be markup,
# an option (no leading '-') or need quoting anywhere it is shown.
_BRANCH_CHARS = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./@+-]*$")
MAX_BRANCH = 250


class RefError(ValueError):
    """A commit or branch that cannot enter the queue; str() is the one-line reason."""


def full_commit(value: str) -> str:
    """The commit id, lower-cased, if it is 40 or 64 hex digits; RefError otherwise."""
    sha = value.strip().lower()
    if not _FULL_SHA.match(sha):
        raise RefError(f"commit {value[:80]!r} is not a full commit id (40 or 64 hex digits)")
    return sha


def commit_id(value: str) -> str:
    """An abbreviated or full commit id (7-64 hex digits), lower-cased; RefError otherwise."""
    sha = value.strip().lower()
    if not _SHORT_SHA.match(sha):
        raise RefError(f"commit {value[:80]!r} is not a commit id (7 to 64 hex digits)")
    return sha


def branch_name(value: str) -> str:
    """The branch name if git's `check-ref-format --branch` would take it and it uses only
    letters, digits and `_./@+-`; RefError otherwise."""
    problem = _branch_problem(value)
    if problem:
        raise RefError(f"branch {value[:80]!r} {problem}")
    return value


def _branch_problem(name: str) -> str | None:
    if not name or len(name) > MAX_BRANCH:
        return f"must be 1 to {MAX_BRANCH} characters"
    if not _BRANCH_CHARS.match(name):
        return "may use only letters, digits and _./@+- (and not start with one of ./@+-)"
    if name.startswith("/") or name.endswith(("/", ".")) or "//" in name or ".." in name:
        return "breaks git's ref rules (no leading or trailing '/', '//', '..' or final '.')"
    if "@{" in name or name == "@":
        return "breaks git's ref rules ('@' alone or '@{')"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "breaks git's ref rules (a part starts with '.' or ends with '.lock')"
    return None
