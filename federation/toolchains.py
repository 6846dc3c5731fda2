"""Toolchain step definitions from YAML: the ones fedbuild ships, and a repository's own.

fedbuild's are in tasks/toolchains/<name>.yaml; a repository adds or replaces
toolchains with toolchains/<name>.yaml at its root. Each file is validated by
the same models as the manifest, so a mistake is one line naming the file and
the field.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from federation.errors import ManifestError
from federation.manifest import Toolchain, parse_toolchain, read_config

# libyaml's parser when PyYAML has it: every dodo load reads these files.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SHIPPED = Path(__file__).resolve().parent.parent / "tasks" / "toolchains"
REPOSITORY_DIR = "toolchains"


def load_toolchains(root: Path) -> dict[str, Toolchain]:
    """Every toolchain by name: shipped ones, then the repository's (which win)."""
    found: dict[str, Toolchain] = {}
    for folder in (SHIPPED, root / REPOSITORY_DIR):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.yaml")):
            found[path.name.removesuffix(".yaml")] = read_toolchain(path)
    return found


def read_toolchain(path: Path) -> Toolchain:
    """One toolchain file, validated (errors name that file)."""
    text, label = read_config(path)
    try:
        data = _parse(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ManifestError(label, where, f"invalid YAML: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ManifestError(label, "", "must be a mapping with steps:, not "
                            f"{type(data).__name__}")
    return parse_toolchain(data, label)


def _parse(text: str) -> object:
    try:
        return yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError:
        # Say it in the pure-Python parser's words, the same with or without libyaml.
        return yaml.safe_load(text)
