"""An action's cache key: SHA-256 of its task name, its signature fields and the content of
its input files. Paths inside the repository are written relative to it, so two clones at
different places (a laptop, a CI machine) compute the same key for the same work."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from federation.digests import files_digest

KEY_SCHEMA = 1  # raised when what goes into a key changes: old entries then simply miss
ROOT = "{root}"


def action_key(task: str, fields: Any, root: Path, inputs: Iterable[str]) -> str:
    """The key of `task` with these signature fields and these input files (relative to
    `root`)."""
    signature = {"schema": KEY_SCHEMA, "task": task, "fields": relative_to(fields, str(root))}
    return files_digest(root, inputs, signature)


def relative_to(value: Any, root: str) -> Any:
    """`value` (JSON-like) with every occurrence of the repository's path written `{root}`."""
    if isinstance(value, str):
        return value.replace(root, ROOT)
    if isinstance(value, dict):
        return {relative_to(str(k), root): relative_to(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [relative_to(v, root) for v in value]
    if isinstance(value, Path):
        return str(value).replace(root, ROOT)
    return value
