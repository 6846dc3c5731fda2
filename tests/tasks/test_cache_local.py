"""The local cache folder: records and blobs written whole, checked when read, bounded by
age and size (least recently used go first), cleared per module, shared by two processes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.cache.backend import CacheError
from tasks.cache.local import ORPHAN_GRACE, LocalStore
from tasks.cache.record import ActionRecord, OutputEntry
from tests.conftest import REPO

DAY = 86400.0


def sha(data: bytes) -> str:
    """The SHA-256 of some bytes."""
    return hashlib.sha256(data).hexdigest()


def put(store: LocalStore, tmp_path: Path, name: str, content: bytes, module: str | None = None,
        shared: bytes | None = None) -> ActionRecord:
    """Store a record for one output file (and a log shared with others, if given)."""
    source = tmp_path / f"src-{name}"
    source.write_bytes(content)
    log_digest = None
    if shared is not None:
        (tmp_path / "log").write_bytes(shared)
        log_digest = sha(shared)
        store.put_blob(log_digest, tmp_path / "log")
    store.put_blob(sha(content), source)
    record = ActionRecord(sha(name.encode()), f"build:{module or name}", module, (name,),
                          (OutputEntry(name, "file", sha(content), len(content), 0o644),),
                          log_digest, 2.0, time.time())
    store.put_action(record.key, record.to_json())
    return record


def age(store: LocalStore, record: ActionRecord, seconds: float) -> None:
    """Make a record look last used `seconds` ago (its blobs stay fresh: gc takes a removed
    record's blobs however recent they are)."""
    then = time.time() - seconds
    os.utime(store.folder / "ac" / record.key, (then, then))


def keys(store: LocalStore) -> set[str]:
    """The keys of the stored records."""
    folder = store.folder / "ac"
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    """An empty store with roomy bounds."""
    return LocalStore(tmp_path / "cache", max_bytes=10**9, max_age=7 * DAY)


def test_the_layout_on_disk(store: LocalStore, tmp_path: Path) -> None:
    """ac/<key> for records, cas/<aa>/<sha256> for blobs, nothing left in tmp/."""
    record = put(store, tmp_path, "out.txt", b"built")
    digest = sha(b"built")
    assert (store.folder / "ac" / record.key).read_bytes() == record.to_json()
    assert (store.folder / "cas" / digest[:2] / digest).read_bytes() == b"built"
    assert list((store.folder / "tmp").iterdir()) == []
    assert store.name == f"local cache {store.folder}"
    assert store.get_action(record.key) == record.to_json()
    assert store.get_action("00" * 32) is None
    assert store.usage() == (1, len(record.to_json()) + len(b"built"))


def test_blobs_are_checked_when_read(store: LocalStore, tmp_path: Path) -> None:
    """A good blob is copied out; a corrupted one raises, is deleted and leaves no dest."""
    put(store, tmp_path, "out.txt", b"built")
    digest = sha(b"built")
    assert store.get_blob(digest, tmp_path / "copy") is True
    assert (tmp_path / "copy").read_bytes() == b"built"
    assert store.get_blob(sha(b"other"), tmp_path / "none") is False
    assert not (tmp_path / "none").exists()
    store.blob_path(digest).write_bytes(b"bit rot")
    with pytest.raises(CacheError, match="corrupt"):
        store.get_blob(digest, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()
    assert not store.has_blob(digest)


def test_a_blob_must_match_its_digest_when_stored(store: LocalStore, tmp_path: Path) -> None:
    """A file that changed since it was hashed is refused, and nothing is kept."""
    (tmp_path / "f").write_bytes(b"new content")
    with pytest.raises(CacheError, match="changed"):
        store.put_blob(sha(b"old content"), tmp_path / "f")
    assert store.usage() == (0, 0)
    assert list((store.folder / "tmp").iterdir()) == []


def test_names_must_be_sha256(store: LocalStore, tmp_path: Path) -> None:
    """A key or digest from a record becomes a file name: only SHA-256 hex is accepted."""
    with pytest.raises(CacheError):
        store.get_action("../../etc/passwd")
    with pytest.raises(CacheError):
        store.put_action("../evil", b"{}")
    with pytest.raises(CacheError):
        store.get_blob("../" + "a" * 61, tmp_path / "x")
    assert not (tmp_path / "evil").exists()


def test_reading_a_record_counts_as_use(store: LocalStore, tmp_path: Path) -> None:
    """get_action moves a record's last use to now."""
    record = put(store, tmp_path, "a", b"a")
    age(store, record, 3 * DAY)
    store.get_action(record.key)
    assert time.time() - (store.folder / "ac" / record.key).stat().st_mtime < 60


def test_gc_expires_records_unused_for_too_long(tmp_path: Path) -> None:
    """Records unused for longer than max_age go, with their blobs; recently read ones stay."""
    store = LocalStore(tmp_path / "cache", max_bytes=10**9, max_age=7 * DAY)
    old = put(store, tmp_path, "old", b"old output")
    read = put(store, tmp_path, "read", b"read output")
    new = put(store, tmp_path, "new", b"new output")
    age(store, old, 8 * DAY)
    age(store, read, 8 * DAY)
    store.get_action(read.key)  # used today
    result = store.gc()
    assert (result.expired, result.evicted, result.blobs) == (1, 0, 1)
    assert result.freed == len(old.to_json()) + len(b"old output")
    assert keys(store) == {read.key, new.key}
    assert not store.has_blob(sha(b"old output"))
    assert store.has_blob(sha(b"read output"))


def test_gc_evicts_least_recently_used_to_fit_the_size(tmp_path: Path) -> None:
    """Over max_bytes, the least recently used records go first until the store fits; a blob
    another record still needs stays."""
    store = LocalStore(tmp_path / "cache", max_bytes=10**9, max_age=7 * DAY)
    shared = b"L" * 1000
    records = [put(store, tmp_path, f"r{i}", bytes([i]) * 4000, shared=shared)
               for i in range(4)]
    for i, record in enumerate(records):  # r0 least recently used ... r3 most
        age(store, record, 3600.0 * (10 - i))
    store.get_action(records[0].key)  # r0 is now the most recently used
    _entries, total = store.usage()
    store.max_bytes = total - 1  # one record must go
    result = store.gc()
    assert (result.expired, result.evicted, result.blobs) == (0, 1, 1)
    assert keys(store) == {records[0].key, records[2].key, records[3].key}
    assert store.has_blob(sha(shared))
    store.max_bytes = 4000 + 1000 + 1000  # room for about one record and the log
    result = store.gc()
    assert result.evicted == 2
    assert keys(store) == {records[0].key}
    assert store.usage()[1] <= store.max_bytes


def test_gc_removes_orphan_blobs_but_not_fresh_ones(store: LocalStore, tmp_path: Path) -> None:
    """A blob no record needs goes once it is older than the grace period; a fresh one may
    belong to a record being stored right now, so it stays."""
    kept = put(store, tmp_path, "kept", b"kept")
    (tmp_path / "o1").write_bytes(b"orphan, old")
    (tmp_path / "o2").write_bytes(b"orphan, fresh")
    store.put_blob(sha(b"orphan, old"), tmp_path / "o1")
    store.put_blob(sha(b"orphan, fresh"), tmp_path / "o2")
    then = time.time() - ORPHAN_GRACE - 60
    os.utime(store.blob_path(sha(b"orphan, old")), (then, then))
    result = store.gc()
    assert (result.expired, result.evicted, result.blobs) == (0, 0, 1)
    assert result.freed == len(b"orphan, old")
    assert not store.has_blob(sha(b"orphan, old"))
    assert store.has_blob(sha(b"orphan, fresh"))
    assert store.has_blob(sha(b"kept")) and keys(store) == {kept.key}


def test_gc_removes_corrupt_records(store: LocalStore, tmp_path: Path) -> None:
    """A record that does not parse is useless: gc removes it."""
    good = put(store, tmp_path, "good", b"good")
    (store.folder / "ac" / ("ee" * 32)).write_bytes(b"{broken")
    assert store.gc().expired == 1
    assert keys(store) == {good.key}


def test_clear_one_module_then_all(store: LocalStore, tmp_path: Path) -> None:
    """clear(module) removes that module's records and the blobs only they needed."""
    shared = b"shared log"
    a = put(store, tmp_path, "a", b"a out", module="clib", shared=shared)
    b = put(store, tmp_path, "b", b"b out", module="web", shared=shared)
    result = store.clear("clib")
    assert (result.evicted, result.blobs) == (1, 1)
    assert keys(store) == {b.key}
    assert not store.has_blob(sha(b"a out"))
    assert store.has_blob(sha(shared)) and store.has_blob(sha(b"b out"))
    assert store.clear("nothing-of-that-name").evicted == 0
    result = store.clear()
    assert (result.evicted, result.blobs) == (1, 2)
    assert store.usage() == (0, 0)
    assert a.key not in keys(store)


def test_counters(store: LocalStore) -> None:
    """Events and their seconds add up; an unknown event is a programming error."""
    assert store.counters() == {"hit": (0, 0.0), "miss": (0, 0.0), "store": (0, 0.0),
                                "error": (0, 0.0)}
    assert not (store.folder / "stats.sqlite3").exists()  # reading creates nothing
    store.count("hit", 1.5)
    store.count("hit", 2.0)
    store.count("miss")
    counters = store.counters()
    assert counters["hit"] == (2, 3.5) and counters["miss"] == (1, 0.0)
    other = LocalStore(store.folder, 1, 1.0)  # another process's view
    assert other.counters()["hit"] == (2, 3.5)
    with pytest.raises(ValueError):
        store.count("bogus")
    store.reset_counters()
    assert store.counters()["hit"] == (0, 0.0)


WRITER = """
import hashlib, sys, time
from pathlib import Path
from tasks.cache.local import LocalStore
from tasks.cache.record import ActionRecord, OutputEntry

folder, who, count = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
store = LocalStore(folder, 10**9, 86400.0)
work = folder.parent / f"work-{who}"
work.mkdir()
for i in range(count):
    shared = f"shared {i}".encode() * 1000   # both processes store this blob
    own = f"{who} {i}".encode() * 1000
    for name, data in (("shared", shared), ("own", own)):
        (work / name).write_bytes(data)
        store.put_blob(hashlib.sha256(data).hexdigest(), work / name)
    key = hashlib.sha256(f"key {i}".encode()).hexdigest()  # both store this key too
    entries = (OutputEntry("s", "file", hashlib.sha256(shared).hexdigest(), len(shared), 420),
               OutputEntry("o", "file", hashlib.sha256(own).hexdigest(), len(own), 420))
    record = ActionRecord(key, "build:x", "x", ("s", "o"), entries, None, 0.1, time.time())
    store.put_action(key, record.to_json())
    store.count("store")
    store.get_action(key)
    store.count("hit", 0.5)
"""


def test_two_processes_write_the_store_at_once(tmp_path: Path) -> None:
    """Two writers storing the same keys and blobs at once: every record parses, every blob
    matches its digest, nothing is left in tmp/ and every counted event is there."""
    folder = tmp_path / "cache"
    count = 60
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(folder), who, str(count)],
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                              stderr=subprocess.PIPE, text=True) for who in ("one", "two")]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    store = LocalStore(folder, 10**9, DAY)
    entries, _size = store.usage()
    assert entries == count
    for key in keys(store):
        record = ActionRecord.from_json(store.get_action(key) or b"")
        for digest in record.blobs():
            assert store.get_blob(digest, tmp_path / "check")
    assert len(list((folder / "cas").rglob("*/*"))) == 3 * count
    assert list((folder / "tmp").iterdir()) == []
    assert store.counters()["store"] == (2 * count, 0.0)
    assert store.counters()["hit"] == (2 * count, 2 * count * 0.5)
