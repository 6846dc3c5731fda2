"""Toolchain step definitions from YAML: the ones fedbuild ships, and a repository's own.

fedbuild's are in tasks/toolchains/<name>.yaml; a repository adds or replaces
toolchains with toolchains/<name>.yaml at its root. Each file is validated by
the same models as the manifest, so a mistake is one line naming the file and
the field.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import Any

from core.confine import remove_tree, resolved, write_whole
from core.errors import ManifestError
from federation.manifest import (
    MAX_DEPTH,
    Toolchain,
    check_text,
    display_path,
    parse_toolchain,
    read_config,
)

SHIPPED = Path(__file__).resolve().parent.parent / "tasks" / "toolchains"
REPOSITORY_DIR = "toolchains"
# What the shipped files parse to, as JSON named by their content's digest (like Python's
# bytecode beside its source): every dodo load reads them, and importing PyYAML alone costs
# 10 ms of each run's start.
PARSED = SHIPPED / "__pycache__"
# Nodes a YAML file may stand for once its aliases are expanded: ten lines of anchors each
# naming the one before ten times make 10^10 (validating them would never end).
MAX_NODES = 1_000_000
# A plain scalar PyYAML reads as an integer Python refuses to convert (over 4300 digits).
_LONG_INTEGER = re.compile(r"[-+]?(?:_*[0-9]){4301,}_*")


def load_toolchains(root: Path) -> dict[str, Toolchain]:
    """Every toolchain by name: shipped ones, then the repository's (which win)."""
    found: dict[str, Toolchain] = {}
    for folder in (SHIPPED, root / REPOSITORY_DIR):
        if not os.path.isdir(folder):
            continue
        for path in sorted(folder.glob("*.yaml")):
            if folder != SHIPPED:
                _check_inside(path, root)
            found[path.name.removesuffix(".yaml")] = read_toolchain(path)
    return found


def _check_inside(path: Path, root: Path) -> None:
    """A repository's toolchain file is read only where it resolves inside the repository."""
    real = resolved(path)
    if not real.is_relative_to(resolved(root)):
        raise ManifestError(display_path(path), "", f"is a link to {real}, outside the "
                            "repository; copy the file into toolchains/ instead of linking it")


def read_toolchain(path: Path) -> Toolchain:
    """One toolchain file, validated (errors name that file)."""
    text, label = read_config(path)
    if path.parent == SHIPPED:
        data = _parsed_shipped(path.name, text, label)
    else:
        data = _parse(text, label)
    if data is None:
        data = {}
    check_text(data, label)
    if not isinstance(data, dict):
        raise ManifestError(label, "", "must be a mapping with steps:, not "
                            f"{type(data).__name__}")
    return parse_toolchain(data, label, shipped=path.parent == SHIPPED)


def _parsed_shipped(name: str, text: str, label: str) -> Any:
    """A shipped file's data: from its JSON copy when one matches its content, else parsed
    (and the copy written, when fedbuild's folder is writable and the data is plain JSON)."""
    memo = PARSED / f"{name}.{hashlib.sha256(text.encode()).hexdigest()[:16]}.json"
    try:
        return json.loads(memo.read_bytes())
    except (OSError, ValueError):
        pass
    data = _parse(text, label)
    try:
        encoded = json.dumps(data)
    except (TypeError, ValueError):  # a YAML-only value (a date, a set): not kept
        return data
    if json.loads(encoded) != data:  # a number as a key, say: not kept either
        return data
    try:
        write_whole(memo, encoded.encode())
        for older in PARSED.glob(f"{name}.*.json"):  # an earlier content's copy
            if older != memo:
                remove_tree(older, PARSED)
    except OSError:  # a read-only install parses every time
        pass
    return data


def _parse(text: str, label: str) -> Any:
    """The YAML's data; a syntax error is one ManifestError line naming line and column."""
    import yaml  # here: a build whose toolchains are all shipped ones never needs it

    try:
        _check_shape(text, label)
        # libyaml's parser when PyYAML has it.
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        pass
    except (ValueError, OverflowError) as err:  # a value no Python type holds: a 13th month
        raise ManifestError(label, "", f"invalid YAML value: {_first_line(err)}") from None
    try:
        # Say it in the pure-Python parser's words, the same with or without libyaml.
        return yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ManifestError(label, where, f"invalid YAML: {problem}") from None


def _check_shape(text: str, label: str) -> None:
    """Refuse YAML nested deeper than MAX_DEPTH, expanding (through aliases) to more than
    MAX_NODES values, or holding itself, read from its event stream before it is composed:
    libyaml's parser keeps its own stack, but composing recurses on the C stack (50,000 '['
    end the interpreter with a segfault)."""
    import yaml

    open_: list[tuple[str | None, list[int]]] = []  # anchor and size of each open collection
    sizes: dict[str, int] = {}  # of each anchor seen whole
    total = 0
    for event in yaml.parse(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
        if isinstance(event, yaml.CollectionStartEvent):
            if len(open_) >= MAX_DEPTH:
                raise ManifestError(label, _where(event), f"nested more than {MAX_DEPTH} "
                                    "levels deep; flatten it")
            open_.append((event.anchor, [1]))
            size = 1
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, (size,) = open_.pop()
            if anchor is not None:
                sizes[anchor] = size
            if open_:
                open_[-1][1][0] += size
            continue
        elif isinstance(event, yaml.AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_):
                raise ManifestError(label, _where(event), f"*{event.anchor} is inside the value "
                                    f"it names (&{event.anchor}); a value cannot hold itself")
            size = sizes.get(event.anchor or "", 1)
        elif isinstance(event, yaml.ScalarEvent):
            size = 1
            if event.anchor is not None:
                sizes[event.anchor] = 1
            if not event.style and _LONG_INTEGER.fullmatch(event.value):
                raise ManifestError(label, _where(event), "a number of more than 4300 digits; "
                                    "quote it if it is text")
        else:
            continue
        total += size
        if total > MAX_NODES:
            raise ManifestError(label, _where(event), f"stands for more than {MAX_NODES:,} "
                                "values once its aliases are expanded; write them out")
        if open_ and not isinstance(event, yaml.CollectionStartEvent):
            open_[-1][1][0] += size


def _where(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f"line {mark.line + 1} column {mark.column + 1}" if mark else ""


def _first_line(err: BaseException) -> str:
    return (str(err).splitlines() or [type(err).__name__])[0]
