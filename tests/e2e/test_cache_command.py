"""`doit cache stats | clear [MODULE] | gc` after real runs of doit that stored and restored
results in the local cache of a fixture copy."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tasks.cache.record import ActionRecord
from tests.conftest import REPO, run_command, run_doit

Repo = Callable[[str], Path]
# The checkout's own fedbuild_doit, whatever copy is installed: it must export CacheCommand.
SHIM = {"PYTHONPATH": str(REPO / "tasks" / "commands" / "install")}


def cache(repo: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    """The lines `doit cache ...` prints; it must succeed without a traceback."""
    result = run_command(repo, "cache", *args, env={**SHIM, **(env or {})})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout.splitlines()


def records(folder: Path) -> dict[str, ActionRecord]:
    """The records in a cache folder, by key."""
    found = {}
    for path in (folder / "ac").iterdir() if (folder / "ac").exists() else ():
        found[path.name] = ActionRecord.from_json(path.read_bytes())
    return found


def rebuild_from_scratch(repo: Path) -> None:
    """Forget the outputs and doit's state (as a fresh clone would), keep the cache."""
    shutil.rmtree(repo / "dist", ignore_errors=True)
    for db in (repo / ".fedbuild").glob("doit*.sqlite3*"):
        db.unlink()
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture
def cached(monorepo: Repo) -> Path:
    """The steps fixture after a first run (everything built and stored) and a run from
    scratch (everything restored)."""
    repo = monorepo("steps")
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    rebuild_from_scratch(repo)
    return repo


def test_stats_after_a_build_and_a_restore(cached: Path) -> None:
    """Entries and their size, as many hits as stores, the time saved, no warnings."""
    folder = cached / ".fedbuild" / "cache"
    stored = records(folder)
    n = len(stored)
    size = sum(p.stat().st_size for sub in ("ac", "cas") for p in (folder / sub).rglob("*")
               if p.is_file())
    assert n and 1000 <= size < 100_000
    lines = cache(cached, "stats")
    assert lines[0] == "local cache: .fedbuild/cache"
    assert lines[1].startswith(f"  entries: {n}, {size / 1000:.1f} KB (at most 5.0 GB; ")
    assert lines[1].endswith("unused for 7 days expire)")
    assert lines[2] == f"  lookups: {2 * n}: {n} hits, {n} misses (hit rate 50.0%)"
    assert lines[3] == f"  stored: {n}"
    saved = sum(r.duration for r in stored.values())
    assert lines[4].startswith("  time saved: ")
    shown = lines[4].split(": ")[1]
    assert shown == (f"{saved:.2f}s" if saved < 1 else f"{saved:.1f}s")
    assert lines[5].startswith("  warnings: 0 ")
    assert len(lines) == 6


def test_clear_one_module_then_everything(cached: Path) -> None:
    """clear MODULE removes that module's entries only; clear removes all and resets the
    counters; the next run builds again."""
    folder = cached / ".fedbuild" / "cache"
    before = records(folder)
    of_lib = [k for k, r in before.items() if r.module == "lib"]
    assert of_lib and len(of_lib) < len(before)
    line = cache(cached, "clear", "lib")[0]
    assert line.startswith(f"removed {len(of_lib)} entries of module lib and ")
    assert set(records(folder)) == set(before) - set(of_lib)
    assert cache(cached, "clear")[0].startswith(
        f"removed {len(before) - len(of_lib)} entries and ")
    assert records(folder) == {}
    assert not [p for p in (folder / "cas").rglob("*") if p.is_file()]
    lines = cache(cached, "stats")
    assert lines[1].startswith("  entries: 0, 0 B")
    assert lines[2] == "  lookups: 0: 0 hits, 0 misses (hit rate -)"


def test_gc_expires_old_entries_then_fits_the_size(cached: Path) -> None:
    """Entries unused for longer than max_age_days go; then, with a tiny max_size in the
    manifest, the least recently used go until the cache fits."""
    folder = cached / ".fedbuild" / "cache"
    before = records(folder)
    old = sorted(before)[0]
    then = time.time() - 8 * 86400
    os.utime(folder / "ac" / old, (then, then))
    line = cache(cached, "gc")[0]
    assert line.startswith("removed 1 entries unused for 7 days, 0 least recently used to fit "
                           "5.0 GB, ")
    assert set(records(folder)) == set(before) - {old}
    manifest = json.loads((cached / "modules.json").read_text())
    manifest["federation"]["cache"] = {"max_size": "1KB"}
    (cached / "modules.json").write_text(json.dumps(manifest))
    line = cache(cached, "gc")[0]
    evicted = int(line.split("days, ")[1].split()[0])
    assert line.split("days, ")[1].startswith(f"{evicted} least recently used to fit 1.0 KB, ")
    left = records(folder)
    assert len(left) == len(before) - 1 - evicted
    size = sum(p.stat().st_size for sub in ("ac", "cas") for p in (folder / sub).rglob("*")
               if p.is_file())
    assert size <= 1000
    assert line.endswith(f"left: {len(left)} entries, {size} B")


def test_the_cache_folder_and_server_from_the_environment(cached: Path, tmp_path: Path) -> None:
    """FEDBUILD_CACHE_DIR moves the folder; the server URL is shown without its password;
    FEDBUILD_CACHE=0 shows the cache as disabled."""
    elsewhere = tmp_path / "shared-cache"
    env = {"FEDBUILD_CACHE_DIR": str(elsewhere),
           "FEDBUILD_CACHE_URL": "http://ci:s3cret@127.0.0.1:9/cache",
           "FEDBUILD_CACHE_READ_ONLY": "1"}
    lines = cache(cached, "stats", env=env)
    assert lines[0] == f"local cache: {elsewhere}"
    assert lines[1].startswith("  entries: 0, 0 B")
    assert lines[-1] == "remote cache: http://ci:***@127.0.0.1:9/cache, read-only"
    assert "s3cret" not in "\n".join(lines)
    assert not elsewhere.exists()  # looking creates nothing
    lines = cache(cached, "stats", env={"FEDBUILD_CACHE": "0"})
    assert lines[0] == "local cache: .fedbuild/cache (disabled: FEDBUILD_CACHE or " \
                       "build_settings.cache_enabled)"


def test_usage_errors_are_one_line(cached: Path) -> None:
    """An unknown action or module: one ERROR line, exit code 3."""
    for args, message in [(("bogus",), "ERROR: `doit cache` takes stats, clear [MODULE] or gc "
                                       "(got bogus)"),
                          (("gc", "extra"), "ERROR: `doit cache` takes stats, clear [MODULE] or "
                                            "gc (got gc extra)")]:
        result = run_command(cached, "cache", *args, env=SHIM)
        assert (result.returncode, result.stderr.strip()) == (3, message)
    result = run_command(cached, "cache", "clear", "nope", env=SHIM)
    assert result.returncode == 3
    assert result.stderr.strip().startswith("ERROR: 'nope' is not a module (modules.json lists "
                                            "lib, app, ")
