"""The cache a build uses: configured once when the dodo loads, opened on first use in the
process that runs actions (a thread or a forked `-P process` worker)."""

from __future__ import annotations

import threading

from tasks.cache.cache import Cache, CacheConfig, open_cache

_lock = threading.Lock()
_config: CacheConfig | None = None
_cache: Cache | None = None
_opened = False
_warnings: list[str] = []


def configure(config: CacheConfig | None) -> None:
    """The cache for this run's actions (None: no cache)."""
    global _config, _cache, _opened
    with _lock:
        _config, _cache, _opened = config, None, False


def current() -> Cache | None:
    """The cache, opened the first time an action asks (None when disabled)."""
    global _cache, _opened
    with _lock:
        if not _opened:
            _opened = True
            if _config is not None and _config.enabled:
                _cache = open_cache(_config, _warnings.append)
        return _cache


def take_warnings() -> tuple[str, ...]:
    """The warnings the cache gave since the last call (each said once per process)."""
    with _lock:
        taken = tuple(_warnings)
        _warnings.clear()
        return taken
