"""CI sharding: `doit shard=K/N` runs the K-th of N deterministic parts of the default tasks.

Tasks are dealt longest first (by their recorded durations) to the part with the least work
so far; tasks never timed go by a stable hash of their name. A part also runs what its tasks
need (doit follows dependencies): with a shared cache, what another part built is restored,
not rebuilt. Running all N parts, in any order or at once, then a plain `doit`, gives the
whole build with the expensive tasks restored from the cache.
"""

from __future__ import annotations

import hashlib
import re

import doit

from core.errors import COMMAND_LINE, UsageError

_SHARD = re.compile(r"([1-9]\d*)/([1-9]\d*)")


def requested() -> tuple[int, int] | None:
    """(K, N) from `doit shard=K/N`, or None; a malformed value is a one-line error."""
    value = doit.get_var("shard", None)
    if value is None:
        return None
    match = _SHARD.fullmatch(value)
    if not match or int(match[1]) > int(match[2]):
        raise UsageError(COMMAND_LINE, "shard", f"{value!r} is not a shard: use "
                         "shard=K/N with 1 <= K <= N, e.g. shard=1/4")
    return int(match[1]), int(match[2])


def assign(names: list[str], estimates: dict[str, float], count: int) -> dict[str, int]:
    """Each task's part, 1..count: longest recorded first onto the least loaded part; tasks
    without a recorded duration by a stable hash."""
    load = [0.0] * count
    parts: dict[str, int] = {}
    timed = sorted((n for n in names if n in estimates), key=lambda n: (-estimates[n], n))
    for name in timed:
        part = min(range(count), key=lambda i: (load[i], i))
        load[part] += estimates[name]
        parts[name] = part + 1
    for name in names:
        if name not in parts:
            digest = hashlib.sha256(name.encode()).digest()
            parts[name] = int.from_bytes(digest[:8], "big") % count + 1
    return parts


def part(names: list[str], estimates: dict[str, float], shard: tuple[int, int]) -> list[str]:
    """The names in part K of N, in their given order."""
    parts = assign(names, estimates, shard[1])
    return [n for n in names if parts[n] == shard[0]]
