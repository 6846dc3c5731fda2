"""The cache as task actions see it: restore an action's outputs and log, or store them.

Looks in the local store, then the remote one (a remote hit is copied into the
local store as it is fetched). Whatever goes wrong in a store is a miss and one
warning line for that store in this process: the build never fails because of
the cache. Everything a store returns is checked: records parsed strictly, blobs
against their digest, paths kept inside the declared outputs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from core.confine import remove_tree
from core.digests import file_digest
from core.errors import ENVIRONMENT, ManifestError, UsageError
from core.sizes import parse_size
from federation.loader import MANIFEST_FILE as MANIFEST
from tasks.cache.backend import Backend, BadEntry, CacheError
from tasks.cache.local import LocalStore
from tasks.cache.record import (
    INLINE_LOG,
    INLINE_TOTAL,
    ActionRecord,
    decoded,
    inline,
    pack,
    unpack,
)

Warn = Callable[[str], None]
GB = 1000**3
_OFF = frozenset({"0", "off", "false", "no"})
_ON = frozenset({"1", "on", "true", "yes"})


class _Failed(Exception):
    """A store failed and has been warned about: give up on this lookup or write."""


class Cache:
    """The local store and an optional remote one, behind restore and store."""

    def __init__(self, local: LocalStore | None, remote: Backend | None, read_only: bool,
                 warn: Warn, inline: int = INLINE_TOTAL) -> None:
        self.local = local
        self.remote = remote
        self.read_only = read_only
        self.inline = inline  # bytes of small outputs (and a small log) kept inside a record
        self._warn = warn
        self._warned: set[str] = set()
        self._down: set[str] = set()  # remote stores that failed once: not asked again
        self._corrupt: set[str] = set()  # blobs a store gave back corrupt: replaced on a store
        self._found: dict[tuple[str, str], bytes] = {}  # (store, key): a record has() fetched
        self._lock = threading.Lock()

    # Restoring -------------------------------------------------------------------------------

    def restore(self, key: str, root: Path, log: Path,
                outputs: Sequence[Path] | None = None) -> ActionRecord | None:
        """Restore the outputs and log stored under `key`; the record (its duration is the
        time saved), or None for a miss. With `outputs`, a record must name exactly those."""
        expected = None if outputs is None else _relative(root, outputs)
        for store in self._readers():
            record = self._restore_from(store, key, root, log, expected)
            if record is not None:
                self._count("hit", record.duration)
                return record
        self._count("miss")
        return None

    def has(self, key: str, root: Path, outputs: Sequence[Path] | None = None) -> bool:
        """Whether a store holds a sound record under `key` (its blobs are checked only when
        restoring). Not counted as a hit or a miss; a failing store is not asked again."""
        expected = None if outputs is None else _relative(root, outputs)
        for store in self._readers():
            try:
                data = self._call(store, store.get_action, key)
                if data is not None:
                    self._call(store, _parse, data, key, expected)
                    with self._lock:  # the restore that usually follows reads it from here
                        self._found[(store.name, key)] = data
                    return True
            except _Failed:
                continue
        return False

    def _readers(self) -> list[Backend]:
        stores: list[Backend] = [self.local] if self.local is not None else []
        if self.remote is not None and self.remote.name not in self._down:
            stores.append(self.remote)
        return stores

    def _restore_from(self, store: Backend, key: str, root: Path, log: Path,
                      expected: tuple[str, ...] | None) -> ActionRecord | None:
        try:
            with self._lock:
                data = self._found.pop((store.name, key), None)
            if data is None:
                data = self._call(store, store.get_action, key)
            if data is None:
                return None
            record = self._call(store, _parse, data, key, expected)
            self._call(store, self._unpack, store, record, root, log)
            if store is not self.local and self.local is not None:
                with contextlib.suppress(_Failed):  # restored all the same: still a hit
                    self._call(self.local, self.local.put_action, key, data)  # blobs are in
            return record
        except _Failed:
            return None

    def _unpack(self, store: Backend, record: ActionRecord, root: Path, log: Path) -> None:
        fetch = self._fetcher(store)
        with _temporary(log) as log_temp:  # fetched first: a failure leaves the old log too
            if record.log_data is not None:
                log_temp.write_bytes(decoded(record.log_data, record.log_digest, "the log"))
            elif record.log_digest:
                fetch(record.log_digest, log_temp)
            else:
                log_temp.write_bytes(b"")
            unpack(root, record.roots, record.outputs, fetch)
            os.replace(log_temp, log)

    def _fetcher(self, store: Backend) -> Callable[[str, Path], None]:
        local = self.local

        def fetch(digest: str, dest: Path) -> None:
            if local is not None and (store is local or local.has_blob(digest)):
                if not local.get_blob(digest, dest):  # checked against its digest
                    raise CacheError(f"blob {digest[:12]} is missing")
                return
            try:
                if not store.get_blob(digest, dest):
                    raise CacheError(f"blob {digest[:12]} is missing")
                # Checked here unless the store checked it as it came (HTTP, Redis: not
                # hashed twice).
                if not getattr(store, "checks_blobs", False) and file_digest(dest) != digest:
                    raise BadEntry(f"blob {digest[:12]} is corrupt")
            except BadEntry:
                with self._lock:
                    self._corrupt.add(digest)  # uploaded again by the next store that has it
                raise
            if local is not None:
                local.put_blob(digest, dest, checked=True)  # copied in
        return fetch

    # Storing ---------------------------------------------------------------------------------

    def store(self, key: str, task: str, module: str | None, root: Path,
              outputs: Sequence[Path], log: Path, duration: float) -> None:
        """Store a successful action's outputs and log under `key`; never raises."""
        try:
            packed = pack(root, outputs, self.inline)
            log_bytes, log_digest = None, None
            if log.is_file() and self.inline and log.stat().st_size <= INLINE_LOG:
                log_bytes = log.read_bytes()  # inside the record
                log_digest = hashlib.sha256(log_bytes).hexdigest()
            elif log.is_file():
                log_digest = file_digest(log)  # a blob
        except (CacheError, OSError) as err:
            self._warn(f"fedbuild: cache: {task} not stored ({err})")
            return
        blobs = dict(packed.blobs)
        if log_digest and log_bytes is None:
            blobs[log_digest] = log
        record = ActionRecord(key, task, module, packed.roots, packed.entries, log_digest,
                              duration, time.time(),
                              log_data=inline(log_bytes) if log_bytes is not None else None)
        data = record.to_json()
        checked = False  # whether the files to upload are known to match their digests
        if self.local is not None:
            with contextlib.suppress(_Failed):
                self._call(self.local, self._put, self.local, blobs, key, data, True)
                self._count("store")
                # Upload the local copies, checked as they were stored, rather than outputs
                # a later step may be changing.
                blobs, checked = {d: self.local.blob_path(d) for d in blobs}, True
        if self.remote is not None and not self.read_only and self.remote.name not in self._down:
            with contextlib.suppress(_Failed):
                self._call(self.remote, self._put, self.remote, blobs, key, data, checked)

    def _put(self, store: Backend, blobs: Mapping[str, Path], key: str, data: bytes,
             checked: bool) -> None:
        for digest, path in blobs.items():
            if store is self.local or digest in self._corrupt or not store.has_blob(digest):
                if not checked and file_digest(path) != digest:
                    raise CacheError(f"{path} changed while it was being stored")
                store.put_blob(digest, path)
        store.put_action(key, data)  # last: a reader never sees a record without its blobs

    # Failures and counters -------------------------------------------------------------------

    def _call(self, store: Backend, function: Callable[..., Any], *args: Any) -> Any:
        """Run one store operation; any failure is warned about once per store and counted."""
        try:
            return function(*args)
        except Exception as err:  # a broken store must never fail the build
            self._failed(store, err)
            raise _Failed from err

    def _failed(self, store: Backend, err: Exception) -> None:
        why = str(err) if isinstance(err, (CacheError, OSError)) else f"{type(err).__name__}: {err}"
        if isinstance(err, BadEntry):  # one entry, not the store: the others are still used
            self._warn_once(f"{store.name} corrupt", f"fedbuild: cache {store.name}: a corrupt "
                            f"entry was skipped, building instead ({why})")
        else:
            if store is not self.local:
                with self._lock:  # a slow or broken server: stop paying its timeouts
                    self._down.add(store.name)
            self._warn_once(store.name, _full_line(store.name, why) if _full(err) else
                            f"fedbuild: cache {store.name} unavailable, building instead ({why})")
        self._count("error")

    def _warn_once(self, key: str, line: str) -> bool:
        """Say `line` unless something was said under `key` already in this process."""
        with self._lock:
            first = key not in self._warned
            self._warned.add(key)
        if first:
            self._warn(line)
        return first

    def _count(self, event: str, seconds: float = 0.0) -> None:
        if self.local is None:
            return
        try:
            self.local.count(event, seconds)
        except CacheError as err:
            # A full disk fails the counters and the store alike: one line for both, under the
            # store's name; nothing more about counters once the store itself was warned of.
            with self._lock:
                said = self.local.name in self._warned
            if said:
                return
            if _full(err):
                self._warn_once(self.local.name, _full_line(self.local.name, str(err)))
            else:
                self._warn_once("counters", f"fedbuild: cache counters not kept ({err})")


def _full(err: BaseException) -> bool:
    """Whether a failure is a full disk (or quota), however wrapped."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if "disk is full" in str(seen) or "No space left on device" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _full_line(name: str, why: str) -> str:
    return (f"fedbuild: cache {name} is full, building without it ({why}); free space or "
            "lower federation.cache.max_size")


def _parse(data: bytes, key: str, expected: tuple[str, ...] | None) -> ActionRecord:
    record = ActionRecord.from_json(data)
    if record.key != key:
        raise BadEntry(f"the record stored under {key[:12]} is for {record.key[:12]}")
    if expected is not None and tuple(sorted(record.roots)) != expected:
        raise BadEntry(f"the record stored under {key[:12]} names other outputs "
                         f"({', '.join(record.roots)})")
    return record


def _relative(root: Path, outputs: Sequence[Path]) -> tuple[str, ...]:
    base = os.path.abspath(root)
    found = {os.path.relpath(os.path.abspath(root / o), base).replace(os.sep, "/")
             for o in outputs}
    kept: list[str] = []
    for rel in sorted(found):  # as pack() records them: nested outputs go with their parent
        if not any(rel.startswith(k + "/") for k in kept):
            kept.append(rel)
    return tuple(kept)


@contextlib.contextmanager
def _temporary(beside: Path) -> Iterator[Path]:
    """A temporary file name beside `beside`, removed afterwards unless renamed away."""
    beside.parent.mkdir(parents=True, exist_ok=True)
    temp = beside.with_name(f".{beside.name}.restore-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield temp
    finally:
        if os.path.lexists(temp):
            remove_tree(temp, beside.parent)


# Configuration -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CacheConfig:
    """Where and how to cache, resolved from the manifest's `cache` settings and the env."""

    enabled: bool
    dir: Path
    max_size: int = 5 * GB
    max_age_days: float = 7.0
    remote_url: str | None = None
    token: str | None = None  # from FEDBUILD_CACHE_TOKEN only, never the manifest
    read_only: bool = False
    connect_timeout: float = 2.0
    timeout: float = 10.0


def cache_config(settings: Mapping[str, Any] | None, root: Path, state_dir: Path,
                 env: Mapping[str, str]) -> CacheConfig:
    """The cache settings: FEDBUILD_CACHE* variables win over the manifest's `cache` object
    (a dumped model or None), which wins over the defaults. Relative folders are from the
    repository `root`; the default folder is `<state_dir>/cache`."""
    top = dict(_given(settings))
    remote = dict(_given(top.get("remote")))
    folder = env.get("FEDBUILD_CACHE_DIR") or top.get("dir")
    try:
        size = parse_size(top.get("max_size", 5 * GB))
    except ValueError as err:
        raise ManifestError(MANIFEST, "federation.cache.max_size", str(err)) from None
    return CacheConfig(
        enabled=_flag(env, "FEDBUILD_CACHE", top.get("enabled", True)),
        dir=root / Path(folder).expanduser() if folder else state_dir / "cache",
        max_size=size,
        max_age_days=float(top.get("max_age_days", 7.0)),
        remote_url=env.get("FEDBUILD_CACHE_URL") or remote.get("url") or None,
        token=env.get("FEDBUILD_CACHE_TOKEN") or None,
        read_only=_flag(env, "FEDBUILD_CACHE_READ_ONLY", remote.get("read_only", False)),
        connect_timeout=float(remote.get("connect_timeout", top.get("connect_timeout", 2.0))),
        timeout=float(remote.get("timeout", top.get("timeout", 10.0))))


def _given(settings: Mapping[str, Any] | None) -> Iterator[tuple[str, Any]]:
    """The settings that were set (a dumped model lists unset ones as None)."""
    for name, value in (settings or {}).items():
        if value is not None:
            yield name, value


def _flag(env: Mapping[str, str], name: str, default: object) -> bool:
    value = env.get(name, "").strip().lower()
    if value in _OFF:
        return False
    if value in _ON:
        return True
    if value:
        raise UsageError(ENVIRONMENT, name, f"{env[name]!r} is not a switch: use 1, on, "
                         "true, yes or 0, off, false, no")
    return bool(default)


def open_cache(config: CacheConfig, warn: Warn) -> Cache | None:
    """The cache the configuration describes (None when disabled); a remote that cannot be
    set up is a warning, and the local store is used alone."""
    if not config.enabled:
        return None
    local = LocalStore(config.dir, config.max_size, config.max_age_days * 86400)
    remote: Backend | None = None
    if config.remote_url:
        try:
            from tasks.cache.remote import remote_backend  # its clients load only when asked

            remote = remote_backend(config.remote_url, token=config.token,
                                    read_only=config.read_only,
                                    connect_timeout=config.connect_timeout,
                                    timeout=config.timeout)
        except Exception as err:  # no remote is a warning, never a failure
            warn(f"fedbuild: cache {redacted(config.remote_url)} unavailable, building instead "
                 f"({err})")
    return Cache(local, remote, config.read_only, warn)


def redacted(url: str) -> str:
    """A URL without the password it may carry, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.netloc.rpartition('@')[2]}"
    return urlunsplit(parts._replace(netloc=netloc))
