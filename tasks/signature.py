"""A task's signature: what decides its result besides its input files, kept field by field.

doit's own `config_changed` keeps only a digest, so nothing can say later *what*
changed. `Signature` keeps the fields themselves in the task's saved values, so
`doit explain` can say "env.GREETING changed from "hello" to "bye"", and it
notices when something the task made at its last success is gone.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

KEY = "signature"  # the fields, in the task's saved values
PRESENT = "present"  # the outputs that existed at the last success
_MISSING = object()


@dataclass(frozen=True)
class FieldChange:
    """One signature field that differs from the last success (`old`/`new` absent: _MISSING)."""

    field: str
    old: Any
    new: Any

    @property
    def added(self) -> bool:
        """The field did not exist at the last success."""
        return self.old is _MISSING

    @property
    def removed(self) -> bool:
        """The field no longer exists."""
        return self.new is _MISSING


def _parameters(*names: str) -> inspect.Signature:
    return inspect.Signature([inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                              for name in names])


class UptodateCheck:
    """Base of an uptodate callable whose `__call__` takes `(task, values)`. doit asks every
    uptodate callable for its parameters on every check (`inspect.signature`, tens of
    microseconds for an object with `__call__`); stating them here answers at once."""

    __signature__ = _parameters("task", "values")


class Signature(UptodateCheck):
    """Up to date while the fields are what they were at the task's last success, and what
    it made then (any of `outputs` that existed) is still there."""

    def __init__(self, fields: Callable[[], Mapping[str, Any]], outputs: Iterable[Path] = ()
                 ) -> None:
        self.fields = fields
        self.outputs = tuple(outputs)
        self._current: dict[str, Any] | None = None

    def configure_task(self, task: Any) -> None:
        """Save the fields with the task's success (as doit's config_changed saves a digest)."""
        task.value_savers.append(self.saved)

    def saved(self) -> dict[str, Any]:
        """What goes into the task's values after a success."""
        return {KEY: self.current(), PRESENT: [str(p) for p in self.outputs if p.exists()]}

    def current(self) -> dict[str, Any]:
        """The fields now, as JSON would give them back (tuples as lists, keys sorted)."""
        if self._current is None:
            self._current = json.loads(json.dumps(dict(self.fields()), sort_keys=True,
                                                  default=str))
        return self._current

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        self._current = None  # computed afresh for each check
        return values.get(KEY) == self.current() and not self.gone(values)

    def changes(self, values: Mapping[str, Any]) -> list[FieldChange]:
        """The fields that differ from the last success, most specific first."""
        old = values.get(KEY)
        if not isinstance(old, dict):
            return []
        return list(_diff("", old, self.current()))

    def gone(self, values: Mapping[str, Any]) -> list[str]:
        """Outputs that existed at the last success and do not now."""
        return [p for p in values.get(PRESENT, []) if not Path(p).exists()]


def _diff(prefix: str, old: Any, new: Any) -> Iterator[FieldChange]:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            name = f"{prefix}.{key}" if prefix else str(key)
            yield from _diff(name, old.get(key, _MISSING), new.get(key, _MISSING))
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _diff(f"{prefix}[{i}]", a, b)
    elif old != new:
        yield FieldChange(prefix, old, new)
