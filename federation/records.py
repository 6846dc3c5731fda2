"""What a publish leaves behind: the records in `<output>/.federation/` and fedbuild's own.

Published, for people and deploy tools:
- `checksums.sha256`: one line per file, `cd public && sha256sum -c .federation/checksums.sha256`;
- `federation-manifest.json`: per module its destination, source, status, build, files, bytes;
- `deployment.json`: file counts and bytes by type, totals, the federation's name and baseURL.

Private, under the state folder: for every published file its owner, digest, size,
mtime and links, so the next publish reuses unchanged modules' files (hard links,
no re-reading) and re-validates links without parsing every page again. It is
named after the publish id that `deployment.json` carries, so a record never
describes a tree other than the one published.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.confine import remove_tree
from federation.compose import RECORDS_DIR

CHECKSUMS = "checksums.sha256"
MANIFEST = "federation-manifest.json"
DEPLOYMENT = "deployment.json"
FORMAT = 2  # 2: a page's ids and fragment links


@dataclass
class FileInfo:
    """One file of a published tree."""

    owner: str
    sha256: str  # for a symlink: of the file it points to ("" for a folder)
    size: int
    mtime_ns: int
    links: list[str] = field(default_factory=list)  # internal paths a page or stylesheet names
    target: str | None = None  # a symlink's target, as written
    ids: list[str] = field(default_factory=list)  # a page's element ids (anchor targets)
    anchors: list[str] = field(default_factory=list)  # its fragment links: "/x/#id", "#id"

    def to_json(self) -> list[Any]:
        """A compact row."""
        return [self.owner, self.sha256, self.size, self.mtime_ns, self.links, self.target,
                self.ids, self.anchors]

    @classmethod
    def from_json(cls, row: list[Any]) -> FileInfo:
        """The inverse of to_json."""
        owner, sha256, size, mtime_ns, links, target, ids, anchors = row
        return cls(owner, sha256, size, mtime_ns, list(links), target, list(ids), list(anchors))


@dataclass
class Record:
    """fedbuild's private record of one published tree."""

    id: str
    modules: dict[str, dict[str, Any]]  # name -> {"key": ..., "entry": manifest entry}
    files: dict[str, FileInfo]

    def save(self, folder: Path) -> Path:
        """Write atomically as record-<id>.json."""
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"record-{self.id}.json"
        tmp = path.with_name(f".{path.name}.tmp")
        data = {"format": FORMAT, "id": self.id, "modules": self.modules,
                "files": {p: info.to_json() for p, info in self.files.items()}}
        tmp.write_text(json.dumps(data, separators=(",", ":")))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, folder: Path, output: Path) -> Record | None:
        """The record of the tree published at `output`, if fedbuild published it."""
        publish_id = published_id(output)
        if publish_id is None:
            return None
        try:
            data = json.loads((folder / f"record-{publish_id}.json").read_text())
            if data.get("format") != FORMAT:
                return None
            files = {p: FileInfo.from_json(row) for p, row in data["files"].items()}
            return cls(data["id"], data["modules"], files)
        except (OSError, ValueError, KeyError, TypeError):
            return None


def prune_records(folder: Path, keep: str) -> None:
    """Remove the records of trees that are no longer published."""
    for path in folder.glob("record-*.json"):
        if path.name != f"record-{keep}.json":
            remove_tree(path, folder)


def published_id(output: Path) -> str | None:
    """The publish id in `<output>/.federation/deployment.json`, if any."""
    try:
        value = json.loads((output / RECORDS_DIR / DEPLOYMENT).read_text()).get("id")
    except (OSError, ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value.isalnum() else None


def write_published(tree: Path, files: dict[str, FileInfo], manifest: dict[str, Any],
                    deployment: dict[str, Any]) -> None:
    """Write the three published records into `<tree>/.federation/`."""
    folder = tree / RECORDS_DIR
    folder.mkdir(exist_ok=True)  # the redirects' nginx map may be there already
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    (folder / DEPLOYMENT).write_text(json.dumps(deployment, indent=2) + "\n")
    (folder / CHECKSUMS).write_text(checksums(files))


def checksums(files: dict[str, FileInfo]) -> str:
    """sha256sum's format, names escaped as coreutils does (a leading backslash)."""
    lines = []
    for path in sorted(files):
        digest = files[path].sha256
        if not digest:
            continue
        if "\\" in path or "\n" in path:
            escaped = path.replace("\\", "\\\\").replace("\n", "\\n")
            lines.append(f"\\{digest}  {escaped}\n")
        else:
            lines.append(f"{digest}  {path}\n")
    return "".join(lines)


def deployment(publish_id: str, fed: dict[str, Any], files: dict[str, FileInfo],
               statuses: Counter[str], collisions: int, published_at: str) -> dict[str, Any]:
    """deployment.json: what the tree holds, by type and in total."""
    by_type: dict[str, dict[str, int]] = {}
    for path, info in sorted(files.items()):
        if info.target is not None:
            continue
        kind = os.path.splitext(path)[1].lstrip(".").lower() or "(none)"
        entry = by_type.setdefault(kind, {"files": 0, "bytes": 0})
        entry["files"] += 1
        entry["bytes"] += info.size
    return {
        "id": publish_id,
        "federation": fed["name"],
        "baseURL": fed["baseURL"],
        "strategy": fed["strategy"],
        "published_at": published_at,
        "totals": {"files": sum(e["files"] for e in by_type.values()),
                   "bytes": sum(e["bytes"] for e in by_type.values()),
                   "symlinks": sum(1 for info in files.values() if info.target is not None)},
        "by_type": dict(sorted(by_type.items())),
        "modules": dict(sorted(statuses.items())),
        "collisions": collisions,
    }


def now_iso() -> str:
    """The current UTC time as the records write it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
