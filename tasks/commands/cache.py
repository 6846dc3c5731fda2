"""`doit cache stats | clear [MODULE] | gc`: the local action cache's figures and upkeep.

The figures come from the cache folder itself (its records and blobs) and the
counters every run adds to (stats.sqlite3 there). clear and gc work on the local
folder only: a shared remote cache is looked after by its own server.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from doit.exceptions import InvalidCommand

from core.sizes import format_size
from core.state import State
from federation.loader import Project, load_project
from tasks.cache.backend import CacheError
from tasks.cache.cache import CacheConfig, cache_config, redacted
from tasks.cache.local import GcResult, LocalStore
from tasks.commands.base import FedbuildCommand
from tasks.commands.layout import duration, percent, shown_path

ACTIONS = ("stats", "clear", "gc")


def repository_cache(project: Project) -> tuple[CacheConfig, LocalStore]:
    """The cache configuration of a repository (manifest, then FEDBUILD_CACHE* variables) and
    its local store."""
    federation = project.manifest.federation
    settings = getattr(federation, "cache", None)
    dumped = settings.model_dump() if settings is not None else None
    config = cache_config(dumped, project.root, State(project.root).dir, os.environ)
    if not federation.build_settings.cache_enabled:
        config = replace(config, enabled=False)
    return config, LocalStore(config.dir, config.max_size, config.max_age_days * 86400)


def stats_lines(config: CacheConfig, store: LocalStore, root: Path) -> list[str]:
    """What the cache holds, how often it served, the time it saved."""
    entries, size = store.usage()
    counters = store.counters()
    hits, saved = counters["hit"]
    misses = counters["miss"][0]
    state = "" if config.enabled else " (disabled: FEDBUILD_CACHE or build_settings.cache_enabled)"
    lines = [f"local cache: {shown_path(str(config.dir), root)}{state}",
             f"  entries: {entries}, {format_size(size)} (at most {format_size(config.max_size)}; "
             f"unused for {_days(config.max_age_days)} expire)",
             f"  lookups: {hits + misses}: {hits} hits, {misses} misses "
             f"(hit rate {percent(hits, hits + misses)})",
             f"  stored: {counters['store'][0]}",
             f"  time saved: {duration(saved)}",
             f"  warnings: {counters['error'][0]} (a store unavailable or refusing data: a miss)"]
    if config.remote_url:
        mode = ", read-only" if config.read_only else ""
        lines.append(f"remote cache: {redacted(config.remote_url)}{mode}")
    return lines


def gc_line(result: GcResult, store: LocalStore, config: CacheConfig) -> str:
    """What `doit cache gc` removed, and what is left."""
    entries, size = store.usage()
    return (f"removed {result.expired} entries unused for {_days(config.max_age_days)}, "
            f"{result.evicted} least recently used to fit {format_size(config.max_size)}, "
            f"{result.blobs} blobs no entry needed: {format_size(result.freed)} freed; "
            f"left: {entries} entries, {format_size(size)}")


def clear_line(result: GcResult, module: str | None) -> str:
    """What `doit cache clear` removed."""
    whose = f" of module {module}" if module else ""
    line = (f"removed {result.evicted} entries{whose} and {result.blobs} blobs "
            f"({format_size(result.freed)})")
    return line if module else line + "; counters reset"


def _days(days: float) -> str:
    return f"{days:g} day" + ("" if days == 1 else "s")


class CacheCommand(FedbuildCommand):
    """`doit cache`."""

    name = "cache"
    doc_purpose = "show the action cache's figures, clear it (or one module's entries), or gc it"
    doc_usage = "stats | clear [MODULE] | gc"
    doc_description = ("stats: entries, size, hits, misses, hit rate, warnings and the time "
                       "saved. clear [MODULE]: remove every entry (or one module's) from the "
                       "local cache. gc: remove entries unused for longer than the maximum "
                       "age, then the least recently used until the cache fits its size.")

    def _execute(self, pos_args: list[str]) -> int:
        action, *rest = pos_args or ["stats"]
        if action not in ACTIONS or len(rest) > (1 if action == "clear" else 0):
            raise InvalidCommand(f"`doit cache` takes stats, clear [MODULE] or gc "
                                 f"(got {' '.join(pos_args)})")
        root = Path.cwd()  # doit has moved to the repository (-d) by now
        project = load_project(root)
        config, store = repository_cache(project)
        try:
            if action == "stats":
                lines = stats_lines(config, store, root)
            elif action == "gc":
                lines = [gc_line(store.gc(), store, config)]
            else:
                lines = [self._clear(project, store, rest[0] if rest else None)]
        except CacheError as err:  # the counters' database is damaged or locked for too long
            raise InvalidCommand(f"{store.name}: {err}") from None
        finally:
            store.close()
        self.outstream.write("\n".join(lines) + "\n")
        return 0

    def _clear(self, project: Project, store: LocalStore, module: str | None) -> str:
        result = store.clear(module)
        names = [m.name for m in project.manifest.modules]
        if module is not None and not result.evicted and module not in names:
            raise InvalidCommand(f"'{module}' is not a module ({project.label} lists "
                                 f"{', '.join(names)}) and the cache holds nothing of it")
        if module is None:
            store.reset_counters()
        return clear_line(result, module)
