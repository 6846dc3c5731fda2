"""An action's cache key: SHA-256 of its task name, its signature fields and the content of
its input files.

Paths are written as placeholders: the repository's as `{root}`, fedbuild's own folder as
`{fedbuild}` and the Python that runs fedbuild as `{python}`. Two clones at different
places, on machines with fedbuild and Python installed at different places (a laptop, a CI
machine), compute the same key for the same work. Where a step runs something from
fedbuild's folder (a toolchain's helper script), the content of that folder's toolchains is
in the key instead of its place; the Python's version is in the key as the tool version of
the steps that run it."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from core.digests import files_digest
from federation.steps import FEDBUILD, folder_digest, python_executable
from federation.toolchains import SHIPPED

KEY_SCHEMA = 2  # raised when what goes into a key changes: old entries then simply miss
ROOT = "{root}"
FEDBUILD_DIR = "{fedbuild}"
PYTHON = "{python}"
TOOLCHAINS = SHIPPED.relative_to(FEDBUILD)  # fedbuild's toolchains and their helpers


def action_key(task: str, fields: Any, root: Path, inputs: Iterable[str],
               fedbuild: Path = FEDBUILD, python: str | None = None) -> str:
    """The key of `task` with these signature fields and these input files (relative to
    `root`); `fedbuild` and `python` are where this machine has them."""
    places = {str(fedbuild): FEDBUILD_DIR, python or python_executable(): PYTHON,
              str(root): ROOT}  # last: the repository's place wins where fedbuild is in it
    relative = relative_to(fields, places)
    signature = {"schema": KEY_SCHEMA, "task": task, "fields": relative}
    if FEDBUILD_DIR in json.dumps(relative):
        signature["fedbuild"] = folder_digest(fedbuild / TOOLCHAINS)
    return files_digest(root, inputs, signature)


def relative_to(value: Any, places: dict[str, str]) -> Any:
    """`value` (JSON-like) with every occurrence of each path in `places` written as its
    placeholder, the longest path first (a virtualenv inside the repository is `{python}`)."""
    order = sorted(places.items(), key=lambda item: -len(item[0]))
    return _replaced(value, order)


def _replaced(value: Any, order: list[tuple[str, str]]) -> Any:
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, str):
        for path, placeholder in order:
            value = value.replace(path, placeholder)
        return value
    if isinstance(value, dict):
        return {_replaced(str(k), order): _replaced(v, order) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_replaced(v, order) for v in value]
    return value
