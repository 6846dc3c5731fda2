"""What a cached action left behind: its outputs as entries (files by digest, folders, links),
packed from the working tree and unpacked back into it, never outside the declared outputs.

Small files and a small log travel inside the record (base64, as Bazel's ActionResult
inlines small outputs and stdout): a restore of many little files is then one request, not
one per file. Inline content is checked against its digest like any blob.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import os
import stat
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

from core.confine import remove_tree
from core.digests import file_digest
from core.staging import replace_dir
from core.state import State
from tasks.cache.backend import BadEntry, CacheError

SCHEMA = 2  # 2: inline content (data, log_data); schema 1 records are read as they were
SCHEMAS = (1, 2)
KINDS = ("file", "dir", "link")
INLINE_FILE = 16 * 1024  # files up to this size go inside the record...
INLINE_TOTAL = 256 * 1024  # ...while the record's inline content stays under this
INLINE_LOG = 64 * 1024  # a log up to this size goes inside the record
_HEX = frozenset("0123456789abcdef")

Fetch = Callable[[str, Path], None]  # fetch(digest, dest): write that blob to dest


def is_digest(value: object) -> bool:
    """Whether `value` is a SHA-256 in lowercase hex (the only names used in a store)."""
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


@dataclass(frozen=True)
class OutputEntry:
    """One file, folder or symlink of an output, by its '/'-separated path from the root."""

    path: str
    kind: str  # "file" | "dir" | "link"
    digest: str | None = None  # a file's SHA-256
    size: int = 0
    mode: int = 0o644  # permission bits
    target: str | None = None  # a link's target, as readlink gives it
    data: str | None = None  # a small file's content, base64 (else it is a blob)


@dataclass(frozen=True)
class ActionRecord:
    """An action's result as a store keeps it under the action's key."""

    key: str
    task: str  # build:clib
    module: str | None
    roots: tuple[str, ...]  # the declared outputs, relative to the repository root
    outputs: tuple[OutputEntry, ...]
    log_digest: str | None  # the captured log (a blob unless log_data holds it)
    duration: float  # seconds the action took: what a hit saves
    created: float  # epoch
    schema: int = SCHEMA
    log_data: str | None = None  # a small log, base64

    def blobs(self) -> set[str]:
        """Every blob the record needs: its files' contents and its log (not those inline)."""
        found = {e.digest for e in self.outputs if e.digest and e.data is None}
        return found | ({self.log_digest} if self.log_digest and self.log_data is None else set())

    def file_digests(self, root: Path) -> dict[str, str]:
        """The SHA-256 of each file the record restores under `root`, by path."""
        return {os.path.join(root, *e.path.split("/")): e.digest for e in self.outputs
                if e.kind == "file" and e.digest}

    def to_json(self) -> bytes:
        """The record as stored."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ActionRecord:
        """Parse a stored record; anything malformed raises CacheError (a miss, never a crash)."""
        try:
            raw = json.loads(data)
            if not isinstance(raw, dict) or raw.get("schema") not in SCHEMAS:
                raise ValueError(f"not a schema {' or '.join(map(str, SCHEMAS))} record")
            record = cls(key=_typed(raw, "key", str), task=_typed(raw, "task", str),
                         module=_typed(raw, "module", (str, type(None))),
                         roots=tuple(_strings(raw.get("roots"))),
                         outputs=tuple(_entry(e) for e in _typed(raw, "outputs", list)),
                         log_digest=_typed(raw, "log_digest", (str, type(None))),
                         duration=float(_typed(raw, "duration", (int, float))),
                         created=float(_typed(raw, "created", (int, float))),
                         schema=raw["schema"],
                         log_data=_base64(raw.get("log_data")))
        except (ValueError, TypeError, KeyError, RecursionError) as err:
            raise BadEntry(f"malformed action record: {err}") from err
        if not is_digest(record.key) or (record.log_digest and not is_digest(record.log_digest)):
            raise BadEntry("malformed action record: a key or digest is not a SHA-256")
        return record


def _typed(raw: dict[str, Any], name: str, types: type | tuple[type, ...]) -> Any:
    value = raw[name]
    if not isinstance(value, types) or isinstance(value, bool):
        raise ValueError(f"{name} has the wrong type")
    return value


def _strings(value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("roots must be a list of paths")
    return value


def _base64(value: object) -> str | None:
    """Inline content as stored: None, or base64 text (checked against its digest on use)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("inline content is not text")
    return value


def decoded(data: str, digest: str | None, what: str) -> bytes:
    """Inline content as bytes, checked against its digest (BadEntry if it does not match)."""
    try:
        content = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as err:
        raise BadEntry(f"{what}: inline content is not base64") from err
    if hashlib.sha256(content).hexdigest() != digest:
        raise BadEntry(f"{what}: inline content is corrupt")
    return content


def inline(content: bytes) -> str:
    """Content as it goes inside a record."""
    return base64.b64encode(content).decode("ascii")


def _entry(raw: object) -> OutputEntry:
    if not isinstance(raw, dict):
        raise ValueError("an output entry is not an object")
    entry = OutputEntry(path=_typed(raw, "path", str), kind=_typed(raw, "kind", str),
                        digest=_typed(raw, "digest", (str, type(None))),
                        size=_typed(raw, "size", int), mode=_typed(raw, "mode", int),
                        target=_typed(raw, "target", (str, type(None))),
                        data=_base64(raw.get("data")))
    if entry.kind not in KINDS:
        raise ValueError(f"{entry.path}: unknown kind {entry.kind!r}")
    if entry.data is not None and entry.kind != "file":
        raise ValueError(f"{entry.path}: a {entry.kind} with content")
    if (entry.kind == "file") != is_digest(entry.digest) or (entry.kind == "link") != bool(
            entry.target):
        raise ValueError(f"{entry.path}: a {entry.kind} with the wrong fields")
    if not 0 <= entry.mode <= 0o7777 or entry.size < 0:
        raise ValueError(f"{entry.path}: bad mode or size")
    return entry


# Packing ------------------------------------------------------------------------------------

class Packed(NamedTuple):
    """The declared outputs, ready to be stored."""

    roots: tuple[str, ...]  # the outputs relative to the root ('/'-separated)
    entries: tuple[OutputEntry, ...]
    blobs: dict[str, Path]  # the files to store, by SHA-256 (not those inline)


def pack(root: Path, outputs: Sequence[Path], inline_total: int = INLINE_TOTAL) -> Packed:
    """The declared outputs under `root` as entries and the blobs to store; files up to
    INLINE_FILE go inside the entries while their sum stays within `inline_total`.

    Folders are walked, symlinks recorded and never followed. A missing output, one
    outside `root`, a link leaving its output or a special file raises CacheError:
    such a result is not stored.
    """
    roots = _roots(root, outputs)
    entries: list[OutputEntry] = []
    blobs: dict[str, Path] = {}
    inlined = 0
    for rel in roots:
        for path, entry in _walk(root / rel, rel):  # small files come with their content
            if entry.kind == "link":
                _check_link(entry, rel)
            if entry.data is not None and inlined + entry.size <= inline_total:
                inlined += entry.size
            elif entry.digest:
                blobs[entry.digest] = path
                entry = dataclasses.replace(entry, data=None)
            entries.append(entry)
    return Packed(roots, tuple(entries), blobs)


def _roots(root: Path, outputs: Iterable[Path]) -> tuple[str, ...]:
    base = os.path.abspath(root)
    relative = set()
    for output in outputs:
        rel = os.path.relpath(os.path.abspath(root / output), base)
        if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
            raise CacheError(f"output {output} is not inside {root}")
        if not os.path.lexists(root / rel):
            raise CacheError(f"output {rel} is missing")
        relative.add(rel.replace(os.sep, "/"))
    kept: list[str] = []
    for rel in sorted(relative):  # an output inside another declared one is packed with it
        if not any(rel.startswith(k + "/") for k in kept):
            kept.append(rel)
    return tuple(kept)


def _walk(path: Path, rel: str) -> Iterable[tuple[Path, OutputEntry]]:
    st = path.lstat()
    mode = stat.S_IMODE(st.st_mode)
    if stat.S_ISLNK(st.st_mode):
        yield path, OutputEntry(rel, "link", target=os.readlink(path), mode=0)
    elif stat.S_ISREG(st.st_mode) and st.st_size <= INLINE_FILE:  # read once, kept as is
        content = path.read_bytes()
        yield path, OutputEntry(rel, "file", hashlib.sha256(content).hexdigest(), len(content),
                                mode, data=inline(content))
    elif stat.S_ISREG(st.st_mode):
        yield path, OutputEntry(rel, "file", file_digest(path), st.st_size, mode)
    elif stat.S_ISDIR(st.st_mode):
        yield path, OutputEntry(rel, "dir", mode=mode)
        for name in sorted(os.listdir(path)):
            yield from _walk(path / name, f"{rel}/{name}")
    else:
        raise CacheError(f"{rel} is neither a file, a folder nor a symlink")


# Unpacking ----------------------------------------------------------------------------------

Groups = dict[str, list[OutputEntry]]


def check_entries(roots: Sequence[str], entries: Sequence[OutputEntry]) -> Groups:
    """The entries grouped by their root, after refusing (CacheError) any that could write
    outside them: absolute paths, `..` or empty parts, an entry whose folder is not a folder
    entry, links whose target leaves their output."""
    for rel in roots:
        _check_path(rel)
    overlap = any(a != b and a.startswith(b + "/") for a in roots for b in roots)
    if overlap or len(set(roots)) != len(roots):
        raise BadEntry("unsafe record: its outputs overlap")
    groups: Groups = {rel: [] for rel in roots}
    folders: set[str] = set()
    seen: set[str] = set()
    for entry in entries:
        _check_path(entry.path)
        owner = next((r for r in roots if entry.path == r or entry.path.startswith(r + "/")),
                     None)
        if owner is None:
            raise BadEntry(f"unsafe record: {entry.path} is outside its outputs")
        parent = entry.path.rpartition("/")[0]
        if entry.path != owner and parent not in folders:
            raise BadEntry(f"unsafe record: {entry.path} is not inside a folder it lists")
        if entry.path in seen:
            raise BadEntry(f"unsafe record: {entry.path} is listed twice")
        seen.add(entry.path)
        if entry.kind == "dir":
            folders.add(entry.path)
        elif entry.kind == "link":
            _check_link(entry, owner)
        groups[owner].append(entry)
    if any(not group or group[0].path != rel for rel, group in groups.items()):
        raise BadEntry("unsafe record: an output has no entry of its own")
    return groups


def _check_path(rel: str) -> None:
    parts = rel.split("/")
    if rel.startswith("/") or "\0" in rel or "\\" in rel or any(
            p in ("", ".", "..") for p in parts):
        raise BadEntry(f"unsafe record: path {rel!r} is absolute or has '..' or empty parts")


def _check_link(entry: OutputEntry, owner: str) -> None:
    """A link may climb (leading `..`) only through real folders of its own output, then
    descend; a `..` after a name could climb out through another link, so it is refused."""
    target = entry.target or ""
    parts = [p for p in target.split("/") if p not in ("", ".")]
    ups = 0
    while ups < len(parts) and parts[ups] == "..":
        ups += 1
    depth = entry.path.count("/") - owner.count("/")  # folders between the link and its output
    if target.startswith("/") or "\0" in target or ".." in parts[ups:] or ups > depth - 1 or (
            entry.path == owner):
        raise BadEntry(f"unsafe link: {entry.path} -> {target} leaves the output {owner}")


def unpack(root: Path, roots: Sequence[str], entries: Sequence[OutputEntry],
           fetch: Fetch) -> None:
    """Restore the outputs under `root`, each built beside its place and swapped in whole.

    Every output is built (blobs fetched, modes set) before any is replaced, so a refused
    record or a failed fetch leaves every old output as it was, and no temporaries.
    """
    groups = check_entries(roots, entries)
    within = State(root).roots
    built: list[tuple[Path, Path]] = []
    try:
        for rel, group in groups.items():
            dest = root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            temp = dest.with_name(f".{dest.name}.restore-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            built.append((temp, dest))
            _build(temp, rel, group, fetch)
        for temp, dest in built:
            if os.path.islink(dest) and not dest.exists():
                remove_tree(dest, within)  # dangling: replace_dir would rename onto it
            replace_dir(temp, dest, within)
    finally:
        for temp, _dest in built:
            if os.path.lexists(temp):
                remove_tree(temp, within)


def _build(temp: Path, rel: str, group: Sequence[OutputEntry], fetch: Fetch) -> None:
    folders: list[tuple[Path, int]] = []
    for entry in group:
        path = temp / entry.path[len(rel) + 1:] if entry.path != rel else temp
        if entry.kind == "dir":
            path.mkdir(mode=0o700)
            folders.append((path, entry.mode))
        elif entry.kind == "link":
            os.symlink(entry.target or "", path)
        elif entry.data is not None:
            path.write_bytes(decoded(entry.data, entry.digest, entry.path))
            os.chmod(path, entry.mode)
        else:
            fetch(entry.digest or "", path)
            os.chmod(path, entry.mode)
    for folder, mode in reversed(folders):  # deepest first: a read-only folder is filled already
        os.chmod(folder, mode)
