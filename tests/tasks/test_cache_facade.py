"""The cache as task actions use it: store after a successful run, restore on a hit (outputs
and log), a remote hit copied into the local store, and every store failure a miss and one
warning line, never an exception.

The "remote" is a second real LocalStore; a store that is down is `Broken` below, a stand-in
for a server that refuses every request (the HTTP and Redis clients themselves are tested
against real servers with tasks/cache/remote.py).
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest

from core.digests import content_digest, file_digest
from core.errors import ManifestError, UsageError
from tasks.cache.backend import CacheError
from tasks.cache.cache import GB, Cache, CacheConfig, cache_config, open_cache, parse_size
from tasks.cache.local import LocalStore
from tasks.cache.record import ActionRecord

KEY = "1f" * 32
DAY = 86400.0


class Broken:
    """A store that fails every request, as a server that is down does (with a count)."""

    def __init__(self, name: str = "http://127.0.0.1:9/") -> None:
        self.name = name
        self.calls = 0

    def _fail(self, *_args: object) -> None:
        self.calls += 1
        raise CacheError("connection refused")

    def get_action(self, key: str) -> bytes | None:
        self._fail()
        return None

    def put_action(self, key: str, data: bytes) -> None:
        self._fail()

    def has_blob(self, digest: str) -> bool:
        self._fail()
        return False

    def get_blob(self, digest: str, dest: Path) -> bool:
        self._fail()
        return False

    def put_blob(self, digest: str, path: Path) -> None:
        self._fail()


class Warnings(list[str]):
    """Collects warning lines."""

    def __call__(self, line: str) -> None:
        self.append(line)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository root after a build: dist/web/ (a folder), dist/tool (a file), a log."""
    root = tmp_path / "repo"
    (root / "dist" / "web" / "img").mkdir(parents=True)
    (root / "dist" / "web" / "index.html").write_text("<p>built</p>")
    (root / "dist" / "web" / "img" / "a.png").write_bytes(os.urandom(5000))
    os.symlink("img/a.png", root / "dist" / "web" / "logo.png")
    (root / "dist" / "tool").write_bytes(b"\x7fELF tool")
    os.chmod(root / "dist" / "tool", 0o755)
    (root / ".fedbuild" / "logs" / "build").mkdir(parents=True)
    (root / ".fedbuild" / "logs" / "build" / "web.log").write_text("compiling\ndone\n")
    return root


OUTPUTS = [Path("dist/web"), Path("dist/tool")]


def log_of(root: Path) -> Path:
    """The task's log file."""
    return root / ".fedbuild" / "logs" / "build" / "web.log"


def wipe(root: Path) -> None:
    """Remove the outputs and change the log, as a fresh checkout would have them."""
    for path in sorted((root / "dist").rglob("*"), reverse=True):
        path.unlink() if path.is_symlink() or path.is_file() else path.rmdir()
    log_of(root).write_text("an older run's log\n")


def local(tmp_path: Path, name: str = "local") -> LocalStore:
    """A local store under tmp_path."""
    return LocalStore(tmp_path / name, 10**9, 7 * DAY)


def test_store_then_restore_from_the_local_store(repo: Path, tmp_path: Path) -> None:
    """A hit brings back byte-identical outputs and the log, and counts the time saved."""
    warn = Warnings()
    store = local(tmp_path)
    cache = Cache(store, None, False, warn)
    expected = content_digest(repo / "dist")
    cache.store(KEY, "build:web", "web", repo, OUTPUTS, log_of(repo), 12.5)
    wipe(repo)
    record = cache.restore(KEY, repo, log_of(repo), OUTPUTS)
    assert record is not None
    assert (record.task, record.module, record.duration) == ("build:web", "web", 12.5)
    assert content_digest(repo / "dist") == expected
    assert os.stat(repo / "dist" / "tool").st_mode & 0o777 == 0o755
    assert log_of(repo).read_text() == "compiling\ndone\n"
    assert cache.restore("00" * 32, repo, log_of(repo)) is None
    counters = store.counters()
    assert counters["store"] == (1, 0.0)
    assert counters["hit"] == (1, 12.5)
    assert counters["miss"] == (1, 0.0)
    assert warn == []
    assert [p.name for p in log_of(repo).parent.iterdir()] == ["web.log"]  # no temporaries


def test_a_remote_hit_is_copied_into_the_local_store(repo: Path, tmp_path: Path) -> None:
    """Another machine stored it in the shared store; here it is restored from there and kept
    locally, so the next restore needs no remote at all."""
    shared = local(tmp_path, "shared")
    Cache(local(tmp_path, "ci"), shared, False, Warnings()).store(
        KEY, "build:web", "web", repo, OUTPUTS, log_of(repo), 3.0)
    expected = content_digest(repo / "dist")
    wipe(repo)
    mine = local(tmp_path, "mine")
    warn = Warnings()
    assert Cache(mine, shared, False, warn).restore(KEY, repo, log_of(repo), OUTPUTS)
    assert content_digest(repo / "dist") == expected
    assert mine.usage() == shared.usage()
    wipe(repo)
    assert Cache(mine, None, False, warn).restore(KEY, repo, log_of(repo), OUTPUTS)
    assert content_digest(repo / "dist") == expected
    assert log_of(repo).read_text() == "compiling\ndone\n"
    assert mine.counters()["hit"] == (2, 6.0)
    assert warn == []


def test_a_store_that_is_down_is_a_miss_and_one_warning(repo: Path, tmp_path: Path) -> None:
    """Every request to a down server fails: the first is one warning line, later lookups and
    stores do not wait on it again, and the local store keeps working."""
    warn = Warnings()
    broken = Broken()
    mine = local(tmp_path)
    cache = Cache(mine, broken, False, warn)
    assert cache.restore(KEY, repo, log_of(repo)) is None
    cache.store(KEY, "build:web", "web", repo, OUTPUTS, log_of(repo), 1.0)
    assert cache.restore("22" * 32, repo, log_of(repo)) is None
    assert warn == ["fedbuild: cache http://127.0.0.1:9/ unavailable, building instead "
                    "(connection refused)"]
    assert broken.calls == 1
    assert cache.restore(KEY, repo, log_of(repo)) is not None  # stored locally all the same
    assert mine.counters()["error"] == (1, 0.0)
    assert mine.counters()["miss"] == (2, 0.0)


def test_a_corrupt_remote_blob_is_a_miss_and_the_old_output_stays(repo: Path, tmp_path: Path
                                                                   ) -> None:
    """A blob whose content does not match its digest is caught on the way in: a miss, the
    outputs as they were, nothing corrupt kept locally (stored with nothing inline: every
    file is a blob)."""
    shared = local(tmp_path, "shared")
    Cache(None, shared, False, Warnings(), inline=0).store(KEY, "build:web", "web", repo,
                                                           OUTPUTS, log_of(repo), 1.0)
    png = file_digest(repo / "dist" / "web" / "img" / "a.png")
    shared.blob_path(png).write_bytes(b"not the picture")
    (repo / "dist" / "web" / "index.html").write_text("<p>edited</p>")
    before = content_digest(repo / "dist")
    mine = local(tmp_path, "mine")
    warn = Warnings()
    assert Cache(mine, shared, False, warn).restore(KEY, repo, log_of(repo)) is None
    assert content_digest(repo / "dist") == before
    assert len(warn) == 1 and "corrupt" in warn[0] and str(shared.folder) in warn[0]
    assert not mine.has_blob(png)
    assert mine.get_action(KEY) is None
    assert sorted(p.name for p in (repo / "dist").iterdir()) == ["tool", "web"]


def test_without_a_local_store_remote_blobs_are_checked_too(repo: Path, tmp_path: Path) -> None:
    """With only a remote, a blob is checked against its digest before it is used."""

    class Lying(LocalStore):
        """A store whose blobs come back with other content (a stand-in for a faulty server
        that does not check what it sends)."""

        def get_blob(self, digest: str, dest: Path) -> bool:
            dest.write_bytes(b"whatever")
            return True

    shared = Lying(tmp_path / "shared", 10**9, DAY)
    warn = Warnings()
    cache = Cache(None, shared, False, warn, inline=0)
    cache.store(KEY, "build:web", "web", repo, OUTPUTS, log_of(repo), 1.0)
    before = content_digest(repo / "dist")
    assert cache.restore(KEY, repo, log_of(repo)) is None
    assert content_digest(repo / "dist") == before
    assert len(warn) == 1 and "corrupt" in warn[0]


def test_read_only_never_writes_the_remote(repo: Path, tmp_path: Path) -> None:
    """A read-only cache stores locally and reads the remote, never writes it."""
    shared = local(tmp_path, "shared")
    mine = local(tmp_path, "mine")
    Cache(mine, shared, True, Warnings()).store(KEY, "build:web", "web", repo, OUTPUTS,
                                                log_of(repo), 1.0)
    assert shared.usage() == (0, 0)
    assert mine.usage()[0] == 1


def test_a_store_that_fails_never_raises(repo: Path, tmp_path: Path) -> None:
    """A missing output, a remote that fails and a local folder that cannot be written: each
    a warning, no exception, nothing half-stored."""
    warn = Warnings()
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache folder should be")
    broken = Broken()
    cache = Cache(LocalStore(blocked, 10**9, DAY), broken, False, warn)
    cache.store(KEY, "build:web", "web", repo, [*OUTPUTS, Path("dist/missing")], log_of(repo), 1)
    assert warn == ["fedbuild: cache: build:web not stored (output dist/missing is missing)"]
    assert broken.calls == 0
    cache.store(KEY, "build:web", "web", repo, OUTPUTS, log_of(repo), 1.0)
    cache.store(KEY, "build:web", "web", repo, OUTPUTS, log_of(repo), 1.0)
    assert warn[1].startswith(f"fedbuild: cache local cache {blocked} unavailable, building "
                              "instead (")
    # Its counters fail too (the same folder): not a second line about the same store.
    assert warn[2:] == ["fedbuild: cache http://127.0.0.1:9/ unavailable, building instead "
                        "(connection refused)"]
    assert broken.calls == 1  # tried once (the local copy failed: straight from the outputs)
    assert blocked.read_text() == "a file where the cache folder should be"


def test_a_record_for_other_outputs_is_refused(repo: Path, tmp_path: Path) -> None:
    """Given the task's declared outputs, a record naming others is a miss (a wrong or hostile
    record cannot write over files the task does not own)."""
    warn = Warnings()
    cache = Cache(local(tmp_path), None, False, warn)
    cache.store(KEY, "build:web", "web", repo, [Path("dist/tool")], log_of(repo), 1.0)
    assert cache.restore(KEY, repo, log_of(repo), [Path("dist/web")]) is None
    assert len(warn) == 1 and "names other outputs (dist/tool)" in warn[0]
    assert cache.restore(KEY, repo, log_of(repo), [repo / "dist" / "tool"]) is not None


def test_a_record_under_the_wrong_key_is_refused(repo: Path, tmp_path: Path) -> None:
    """A record copied under another key is not trusted."""
    warn = Warnings()
    store = local(tmp_path)
    cache = Cache(store, None, False, warn)
    cache.store(KEY, "build:web", "web", repo, OUTPUTS, log_of(repo), 1.0)
    store.put_action("33" * 32, store.get_action(KEY) or b"")
    assert cache.restore("33" * 32, repo, log_of(repo)) is None
    assert "is for 1f1f1f1f1f1f" in warn[0]


def test_a_record_with_no_log_empties_the_log(repo: Path, tmp_path: Path) -> None:
    """The replayed log is the stored one: none stored means an empty log, not a stale one."""
    cache = Cache(local(tmp_path), None, False, Warnings())
    log_of(repo).unlink()
    cache.store(KEY, "build:web", "web", repo, OUTPUTS, log_of(repo), 1.0)
    log_of(repo).write_text("stale")
    record = cache.restore(KEY, repo, log_of(repo))
    assert record is not None and record.log_digest is None
    assert log_of(repo).read_text() == ""


def test_the_stored_record_lists_what_was_built(repo: Path, tmp_path: Path) -> None:
    """The record names the task, module, outputs (relative), log and duration."""
    store = local(tmp_path)
    before = time.time()
    Cache(store, None, False, Warnings()).store(KEY, "build:web", "web", repo, OUTPUTS,
                                                log_of(repo), 4.0)
    record = ActionRecord.from_json(store.get_action(KEY) or b"")
    assert record.roots == ("dist/tool", "dist/web")
    assert record.log_digest == file_digest(log_of(repo))
    assert {e.path for e in record.outputs} == {"dist/tool", "dist/web", "dist/web/index.html",
                                                "dist/web/img", "dist/web/img/a.png",
                                                "dist/web/logo.png"}
    assert before <= record.created <= time.time()


# Configuration -------------------------------------------------------------------------------

def test_config_defaults(tmp_path: Path) -> None:
    """Nothing set: enabled, <state>/cache, 5 GB, 7 days, no remote."""
    state = tmp_path / ".fedbuild"
    expected = CacheConfig(True, state / "cache", 5 * GB, 7.0)
    assert cache_config(None, tmp_path, state, {}) == expected


def test_config_from_settings_then_env(tmp_path: Path) -> None:
    """The manifest's settings, relative folders from the root, then the env on top; the token
    only from the env."""
    state = tmp_path / ".fedbuild"
    settings = {"enabled": True, "dir": "build-cache", "max_size": "500MB", "max_age_days": 3,
                "remote": {"url": "http://cache:8080/", "read_only": True, "timeout": 30,
                           "connect_timeout": None}, "token": "ignored"}
    config = cache_config(settings, tmp_path, state, {})
    assert config == CacheConfig(True, tmp_path / "build-cache", 500 * 1000**2, 3.0,
                                 "http://cache:8080/", None, True, 2.0, 30.0)
    env = {"FEDBUILD_CACHE_DIR": "/var/cache/fb", "FEDBUILD_CACHE_URL": "redis://r:6379/0",
           "FEDBUILD_CACHE_TOKEN": "s3cret", "FEDBUILD_CACHE_READ_ONLY": "0"}
    config = cache_config(settings, tmp_path, state, env)
    assert (config.dir, config.remote_url, config.token, config.read_only) == (
        Path("/var/cache/fb"), "redis://r:6379/0", "s3cret", False)
    assert not cache_config(settings, tmp_path, state, {"FEDBUILD_CACHE": "off"}).enabled
    assert not cache_config({"enabled": False}, tmp_path, state, {}).enabled
    assert cache_config({"enabled": False}, tmp_path, state,
                        {"FEDBUILD_CACHE": "1"}).enabled


def test_config_errors_are_one_line(tmp_path: Path) -> None:
    """A bad size is a ManifestError, a bad switch in the environment a UsageError, each
    naming where it came from."""
    with pytest.raises(ManifestError) as err:
        cache_config({"max_size": "lots"}, tmp_path, tmp_path, {})
    assert str(err.value).startswith("modules.json: federation.cache.max_size: 'lots' is not")
    with pytest.raises(UsageError) as err:
        cache_config(None, tmp_path, tmp_path, {"FEDBUILD_CACHE": "maybe"})
    assert str(err.value) == ("environment: FEDBUILD_CACHE: 'maybe' is not a switch: use 1, on, "
                              "true, yes or 0, off, false, no")


def test_sizes() -> None:
    """Bytes, decimal and binary units."""
    assert parse_size(1234) == 1234
    assert parse_size("10GB") == 10 * 1000**3
    assert parse_size("1.5 MiB") == 1572864
    assert parse_size("500mb") == 500 * 1000**2
    with pytest.raises(ValueError):
        parse_size("-5")
    with pytest.raises(ValueError):
        parse_size("5 parsecs")


def test_open_cache(tmp_path: Path) -> None:
    """Disabled: no cache. Enabled: a local store with the configured bounds. A remote that
    cannot be set up is one warning and the local store alone."""
    assert open_cache(CacheConfig(False, tmp_path / "c"), Warnings()) is None
    warn = Warnings()
    cache = open_cache(CacheConfig(True, tmp_path / "c", 1000, 2.0), warn)
    assert cache is not None and cache.local is not None and cache.remote is None
    assert (cache.local.folder, cache.local.max_bytes, cache.local.max_age) == (
        tmp_path / "c", 1000, 2 * DAY)
    assert warn == []
    url = "gopher://me:s3cret@nowhere:70/"
    cache = open_cache(CacheConfig(True, tmp_path / "c", remote_url=url), warn)
    assert cache is not None and cache.remote is None and cache.local is not None
    assert len(warn) == 1
    assert warn[0].startswith("fedbuild: cache gopher://me:***@nowhere:70/ unavailable, "
                              "building instead (")
    assert "s3cret" not in warn[0]


def test_a_store_that_does_not_check_its_blobs_is_checked_with_a_local_store_too(
        repo: Path, tmp_path: Path) -> None:
    """A remote blob copied into the local store is hashed there, unless the store says it
    checked it (HTTP and Redis do, as they download): nothing corrupt is kept or used."""

    class Lying(LocalStore):
        def get_blob(self, digest: str, dest: Path) -> bool:
            dest.write_bytes(b"whatever")
            return True

    shared = Lying(tmp_path / "shared", 10**9, DAY)
    Cache(None, shared, False, Warnings(), inline=0).store(KEY, "build:web", "web", repo,
                                                           OUTPUTS, log_of(repo), 1.0)
    local = LocalStore(tmp_path / "local", 10**9, DAY)
    warn = Warnings()
    before = content_digest(repo / "dist")
    assert Cache(local, shared, False, warn).restore(KEY, repo, log_of(repo)) is None
    assert content_digest(repo / "dist") == before
    assert local.get_action(KEY) is None
    assert not [p for p in (tmp_path / "local" / "cas").rglob("*") if p.is_file()]
    assert len(warn) == 1 and "corrupt" in warn[0]


def test_a_small_log_and_small_files_come_inside_the_record(repo: Path, tmp_path: Path) -> None:
    """A small log and small files are restored from the record alone (no blob is stored for
    them); a record whose inline log was tampered with is a miss that leaves the log alone."""
    shared = local(tmp_path, "shared")
    Cache(None, shared, False, Warnings()).store(KEY, "build:web", "web", repo, OUTPUTS,
                                                  log_of(repo), 1.0)
    assert not [p for p in (tmp_path / "shared" / "cas").rglob("*") if p.is_file()]
    log = log_of(repo).read_bytes()
    log_of(repo).write_text("a later run's log\n")
    built = content_digest(repo / "dist")
    (repo / "dist" / "web" / "index.html").write_text("<p>edited</p>")
    assert Cache(None, shared, False, Warnings()).restore(KEY, repo, log_of(repo), OUTPUTS)
    assert content_digest(repo / "dist") == built and log_of(repo).read_bytes() == log

    record = json.loads(shared.get_action(KEY) or b"")
    record["log_data"] = base64.b64encode(b"forged log\n").decode()
    shared.put_action(KEY, json.dumps(record).encode())
    log_of(repo).write_text("kept\n")
    warn = Warnings()
    assert Cache(None, shared, False, warn).restore(KEY, repo, log_of(repo), OUTPUTS) is None
    assert log_of(repo).read_text() == "kept\n"
    assert len(warn) == 1 and "corrupt" in warn[0]


class CountingReads(LocalStore):
    """A real store that counts the action records asked of it."""

    reads = 0

    def get_action(self, key: str) -> bytes | None:
        self.reads += 1
        return super().get_action(key)


def test_a_restore_after_has_reads_the_record_once(repo: Path, tmp_path: Path) -> None:
    """A lazy step asks has() for its dependents, which are then restored: the record found
    is not fetched twice (one request fewer per task from a server)."""
    shared = CountingReads(tmp_path / "shared", 10**9, 7 * DAY)
    Cache(None, shared, False, Warnings()).store(KEY, "build:web", "web", repo, OUTPUTS,
                                                   log_of(repo), 3.0)
    expected = content_digest(repo / "dist")
    wipe(repo)
    cache = Cache(local(tmp_path, "mine"), shared, False, Warnings())
    shared.reads = 0
    assert cache.has(KEY, repo, OUTPUTS)
    assert cache.restore(KEY, repo, log_of(repo), OUTPUTS) is not None
    assert shared.reads == 1
    assert content_digest(repo / "dist") == expected
    assert cache.restore(KEY, repo, log_of(repo), OUTPUTS) is not None  # now from the local one
    assert shared.reads == 1


def test_one_corrupt_local_entry_is_not_the_whole_cache_unavailable(repo: Path,
                                                                      tmp_path: Path) -> None:
    """A record spoiled on disk is skipped with one line that says so; the other entries are
    still restored, and the store is still written to (a later failure of the store itself
    is still said)."""
    warn = Warnings()
    store = local(tmp_path)
    cache = Cache(store, None, False, warn)
    other = "2e" * 32
    cache.store(KEY, "build:web", "web", repo, OUTPUTS, log_of(repo), 1.0)
    cache.store(other, "build:web", "web", repo, OUTPUTS, log_of(repo), 2.0)
    (tmp_path / "local" / "ac" / KEY).write_text("{ not json")
    wipe(repo)
    assert cache.restore(KEY, repo, log_of(repo), OUTPUTS) is None
    assert len(warn) == 1 and "corrupt" in warn[0] and "unavailable" not in warn[0], warn
    record = cache.restore(other, repo, log_of(repo), OUTPUTS)
    assert record is not None and record.duration == 2.0
    assert len(warn) == 1
    (tmp_path / "local" / "ac" / other).write_text("{ not json either")
    assert cache.restore(other, repo, log_of(repo), OUTPUTS) is None
    assert len(warn) == 1  # once per store and process, like every cache warning
