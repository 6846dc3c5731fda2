"""What a task's action does with the cache: compute its key, restore instead of running,
store after a success. Shared by site builds and toolchain steps."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.outcome import Outcome
from core.state import State
from tasks.cache import runtime
from tasks.cache.cache import Cache
from tasks.cache.keys import action_key
from tasks.cache.record import ActionRecord


@dataclass(frozen=True)
class Lookup:
    """One action's place in the cache."""

    cache: Cache
    key: str
    task: str
    module: str | None
    root: Path

    def restore(self, log: Path, outputs: Sequence[Path]) -> ActionRecord | None:
        """Its outputs and log, restored if the cache has them (None: build it). A record
        naming other outputs than the task's own is refused."""
        return self.cache.restore(self.key, self.root, log, outputs)

    def available(self, outputs: Sequence[Path]) -> bool:
        """Whether a restore is expected to find this action (a sound record is stored)."""
        return self.cache.has(self.key, self.root, outputs)

    def store(self, outputs: Sequence[Path], log: Path, duration: float) -> None:
        """Keep what a successful run made (never fails the build)."""
        self.cache.store(self.key, self.task, self.module, self.root, outputs, log, duration)


def lookup(task: str, module: str | None, fields: Any, root: Path, inputs: Iterable[str],
           deps: Iterable[str]) -> Lookup | None:
    """The action's place in the cache (`key`), or None when no cache is configured."""
    cache = runtime.current()
    if cache is None:
        return None
    return Lookup(cache, key(task, fields, root, inputs, deps), task, module, root)


def key(task: str, fields: Any, root: Path, inputs: Iterable[str], deps: Iterable[str]) -> str:
    """The action's cache key. It covers the task, its signature fields, its input files and
    what the tasks it depends on produced (their recorded output digests), so a changed
    dependency never restores a stale output. A dependency that records no output (npm's
    install, whether it ran or was not needed) adds nothing."""
    state = State(root)
    produced = {}
    for dep in sorted(deps):
        outcome = Outcome.read(state.outcome(dep))
        if outcome is not None and outcome.output_digest:
            produced[dep] = outcome.output_digest
    return action_key(task, {"fields": fields, "deps": produced}, root, inputs)


def warnings() -> tuple[str, ...]:
    """What the cache had to say since the last call (a server down, a corrupt entry)."""
    return runtime.take_warnings()
