"""The local cache: a folder of action records and blobs, bounded by size and age.

    <folder>/ac/<key>              action records (JSON); the mtime is the last use
    <folder>/cas/<aa>/<sha256>     blobs, checked against their name when read
    <folder>/tmp/                  files being written (renamed into place whole)
    <folder>/stats.sqlite3         hit, miss, store and error counters

Every write is a rename, so concurrent runs sharing the folder see a whole
file or none. Records are written after their blobs and removed before them.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from core.confine import remove_tree
from tasks.cache.backend import BadEntry, CacheError
from tasks.cache.record import ActionRecord, is_digest
from tasks.history import wal_mode

EVENTS = ("hit", "miss", "store", "error")
STATS_FILE = "stats.sqlite3"
# A blob no record names yet may belong to a record being stored right now: gc leaves it
# alone for a while. (clear takes no such care: it is asked for.)
ORPHAN_GRACE = 600.0
_CHUNK = 1 << 20


@dataclass(frozen=True)
class GcResult:
    """What a collection removed."""

    expired: int = 0  # records unused for longer than the maximum age
    evicted: int = 0  # records removed, least recently used first, to fit the size bound
    blobs: int = 0  # blobs no remaining record needed
    freed: int = 0  # bytes


@dataclass(frozen=True)
class _Entry:
    key: str
    path: Path
    used: float  # mtime: the last time it was stored or read
    size: int
    blobs: frozenset[str]
    module: str | None
    corrupt: bool


class LocalStore:
    """A cache folder on this machine (the Backend protocol, plus gc, clear and counters)."""

    def __init__(self, folder: Path, max_bytes: int, max_age: float) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.max_age = max_age
        self.name = f"local cache {folder}"
        self._db: sqlite3.Connection | None = None
        self._db_pid = 0
        self._lock = threading.Lock()

    # Backend ---------------------------------------------------------------------------------

    def get_action(self, key: str) -> bytes | None:
        """The record stored under `key`, marked as used now (None: a miss)."""
        path = self._action(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as err:
            raise CacheError(f"cannot read {path}: {err}") from err
        with contextlib.suppress(OSError):  # a folder shared read-only: still a hit
            os.utime(path)  # the last use, for gc
        return data

    def put_action(self, key: str, data: bytes) -> None:
        """Store a record (whole, by rename)."""
        path = self._action(key)
        temp = None
        try:
            fd, temp = self._temp()
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            _replace(temp, path)
        except OSError as err:
            if temp is not None:
                remove_tree(temp, self.folder)
            raise CacheError(f"cannot write {path}: {err}") from err

    def has_blob(self, digest: str) -> bool:
        """Whether the blob is stored."""
        return self.blob_path(digest).is_file()

    def get_blob(self, digest: str, dest: Path) -> bool:
        """Copy the blob to `dest`, checking its digest; a corrupt blob is deleted and raises."""
        source = self.blob_path(digest)
        try:
            with open(source, "rb") as src, open(dest, "wb") as out:
                actual = _copy(src, out)
        except FileNotFoundError as err:
            if err.filename == str(source):
                return False
            raise CacheError(f"cannot write {dest}: {err}") from err
        except OSError as err:
            remove_tree(dest, dest.parent)
            raise CacheError(f"cannot copy blob {digest[:12]} to {dest}: {err}") from err
        if actual != digest:
            remove_tree(dest, dest.parent)
            remove_tree(source, self.folder)
            raise BadEntry(f"blob {digest[:12]} is corrupt (removed)")
        return True

    def put_blob(self, digest: str, path: Path, checked: bool = False) -> None:
        """Store the file at `path` as blob `digest`, checking that it still has that content
        (unless `checked`: a download just verified, that nothing else can have touched)."""
        dest = self.blob_path(digest)
        if dest.is_file():
            with contextlib.suppress(OSError):
                os.utime(dest)  # needed again: not an orphan for gc to take
            return
        temp = None
        try:
            fd, temp = self._temp()
            with open(path, "rb") as src, os.fdopen(fd, "wb") as out:
                if checked:
                    shutil.copyfileobj(src, out, _CHUNK)
                    actual = digest
                else:
                    actual = _copy(src, out)
            if actual != digest:
                raise CacheError(f"{path} changed while it was being stored")
            _replace(temp, dest)
            temp = None
        except OSError as err:
            raise CacheError(f"cannot store {path}: {err}") from err
        finally:
            if temp is not None:
                remove_tree(temp, self.folder)

    # Layout ----------------------------------------------------------------------------------

    def blob_path(self, digest: str) -> Path:
        """Where a blob is kept (the digest is checked: it becomes a file name)."""
        if not is_digest(digest):
            raise CacheError(f"{digest!r} is not a SHA-256")
        return self.folder / "cas" / digest[:2] / digest

    def _action(self, key: str) -> Path:
        if not is_digest(key):
            raise CacheError(f"{key!r} is not a SHA-256")
        return self.folder / "ac" / key

    def _temp(self) -> tuple[int, str]:
        try:
            return tempfile.mkstemp(dir=self.folder / "tmp")
        except FileNotFoundError:  # a new (or cleared) cache: made once, not for every write
            for sub in ("tmp", "ac", "cas"):
                (self.folder / sub).mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(dir=self.folder / "tmp")

    # Size, age, clearing ---------------------------------------------------------------------

    def usage(self) -> tuple[int, int]:
        """(records, bytes of records and blobs)."""
        records = list(_files(self.folder / "ac"))
        size = sum(_size(p) for p in records) + sum(_size(p) for p in _files(self.folder / "cas"))
        return len(records), size

    def gc(self) -> GcResult:
        """Remove records unused for max_age, then the least recently used until the store
        fits max_bytes, then the blobs no remaining record needs."""
        now = time.time()
        entries = sorted(self._entries(), key=lambda e: e.used)
        sizes = {p.name: _size(p) for p in _files(self.folder / "cas")}
        expired = [e for e in entries if e.corrupt or now - e.used > self.max_age]
        kept = [e for e in entries if not (e.corrupt or now - e.used > self.max_age)]
        total = sum(e.size for e in kept) + sum(sizes.get(d, 0) for d in _needed(kept))
        refs = {d: 0 for d in sizes}
        for entry in kept:
            for digest in entry.blobs:
                refs[digest] = refs.get(digest, 0) + 1
        evicted = []
        while kept and total > self.max_bytes:
            entry = kept.pop(0)
            evicted.append(entry)
            total -= entry.size
            for digest in entry.blobs:
                refs[digest] -= 1
                total -= sizes.get(digest, 0) if refs[digest] == 0 else 0
        freed = sum(self._remove(e) for e in expired + evicted)
        released = _needed(expired + evicted)
        blobs, blob_bytes = self._remove_orphans(_needed(kept), released, now)
        return GcResult(len(expired), len(evicted), blobs, freed + blob_bytes)

    def clear(self, module: str | None = None) -> GcResult:
        """Remove every record (or those of one module), then the blobs left unneeded."""
        entries = list(self._entries())
        gone = [e for e in entries if module is None or e.module == module]
        kept = [e for e in entries if not (module is None or e.module == module)]
        freed = sum(self._remove(e) for e in gone)
        blobs, blob_bytes = self._remove_orphans(_needed(kept), set(), float("inf"))
        if module is None:
            for leftover in _files(self.folder / "tmp"):
                remove_tree(leftover, self.folder)
        return GcResult(evicted=len(gone), blobs=blobs, freed=freed + blob_bytes)

    def _entries(self) -> Iterator[_Entry]:
        for path in _files(self.folder / "ac"):
            try:
                st = path.stat()
                record = ActionRecord.from_json(path.read_bytes())
            except FileNotFoundError:
                continue  # removed by a concurrent gc
            except CacheError:
                yield _Entry(path.name, path, 0.0, _size(path), frozenset(), None, True)
                continue
            yield _Entry(path.name, path, st.st_mtime, st.st_size, frozenset(record.blobs()),
                         record.module, False)

    def _remove(self, entry: _Entry) -> int:
        try:
            remove_tree(entry.path, self.folder, missing_ok=False)
        except FileNotFoundError:
            return 0
        return entry.size

    def _remove_orphans(self, needed: set[str], released: set[str], start: float
                        ) -> tuple[int, int]:
        """Remove the blobs not `needed`: those of records just removed unless stored again
        since `start`; others once older than the grace period."""
        count = freed = 0
        for path in _files(self.folder / "cas"):
            try:
                st = path.stat()
                cutoff = start if path.name in released else start - ORPHAN_GRACE
                if path.name in needed or st.st_mtime > cutoff:
                    continue
                remove_tree(path, self.folder, missing_ok=False)
            except FileNotFoundError:
                continue
            count, freed = count + 1, freed + st.st_size
        for leftover in _files(self.folder / "tmp"):  # from a writer that died
            if _mtime(leftover) < time.time() - ORPHAN_GRACE:
                remove_tree(leftover, self.folder)
        return count, freed

    # Counters --------------------------------------------------------------------------------

    def count(self, event: str, seconds: float = 0.0) -> None:
        """Add one `event` (hit, miss, store, error) and its seconds (a hit: the time saved)."""
        if event not in EVENTS:
            raise ValueError(f"unknown cache event {event!r}")
        with self._lock:
            try:
                self._connect().execute(  # autocommit: one statement, one transaction
                    "INSERT INTO counters VALUES (?, 1, ?) ON CONFLICT(event) DO "
                    "UPDATE SET n = n + 1, seconds = seconds + excluded.seconds", (event, seconds))
            except (sqlite3.Error, OSError) as err:
                raise CacheError(f"cannot count in {self.folder / STATS_FILE}: {err}") from err

    def counters(self) -> dict[str, tuple[int, float]]:
        """{event: (how many, seconds)} for every event, zero when never counted."""
        found = {event: (0, 0.0) for event in EVENTS}
        with self._lock:
            if not self._counted():
                return found
            try:
                for event, n, seconds in self._connect().execute(
                        "SELECT event, n, seconds FROM counters"):
                    found[event] = (int(n), float(seconds))
            except sqlite3.Error as err:
                raise CacheError(f"cannot read {self.folder / STATS_FILE}: {err}") from err
        return found

    def reset_counters(self) -> None:
        """Forget every counted event."""
        with self._lock:
            if self._counted():
                self._connect().execute("DELETE FROM counters")

    def close(self) -> None:
        """Close the counters' database."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _counted(self) -> bool:
        return self._db is not None or (self.folder / STATS_FILE).exists()

    def _connect(self) -> sqlite3.Connection:
        if self._db is not None and self._db_pid == os.getpid():
            return self._db
        path = self.folder / STATS_FILE
        self.folder.mkdir(parents=True, exist_ok=True)
        # One connection per process, shared by doit's threads under self._lock.
        db = sqlite3.connect(path, timeout=5.0, check_same_thread=False, isolation_level=None)
        wal_mode(db)  # retried while another process is creating the file
        db.execute("PRAGMA synchronous=NORMAL")  # counters: losing the last one on a crash is fine
        db.execute("CREATE TABLE IF NOT EXISTS counters (event TEXT PRIMARY KEY, "
                   "n INTEGER NOT NULL, seconds REAL NOT NULL)")
        self._db, self._db_pid = db, os.getpid()
        return db


def _replace(temp: str, dest: Path) -> None:
    """Rename `temp` to `dest`, making dest's folder the first time it is needed."""
    try:
        os.replace(temp, dest)
    except FileNotFoundError:
        if not os.path.exists(temp):
            raise
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(temp, dest)


def _copy(src: IO[bytes], out: IO[bytes]) -> str:
    """Copy one open file to another; the SHA-256 of what was copied."""
    h = hashlib.sha256()
    for block in iter(lambda: src.read(_CHUNK), b""):
        h.update(block)
        out.write(block)
    return h.hexdigest()


def _needed(entries: list[_Entry]) -> set[str]:
    return set().union(*(e.blobs for e in entries))


def _files(folder: Path) -> Iterator[Path]:
    """Every file under `folder` (none when it does not exist)."""
    for parent, _dirs, names in os.walk(folder):
        for name in names:
            yield Path(parent) / name


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")
