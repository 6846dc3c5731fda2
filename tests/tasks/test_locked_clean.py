"""The wrapper around doit's clean command (tasks/locked_clean.py) fits the doit it wraps."""

from __future__ import annotations

import inspect

from doit.cmd_clean import Clean

from tasks import locked_clean


def test_wraps_the_clean_tasks_doit_has() -> None:
    """doit 0.37's Clean.clean_tasks(tasks, dryrun, cleanforget) is what the wrapper replaces;
    a doit that renames or reorders them must fail here, not skip the lock."""
    wrapped = inspect.signature(locked_clean._original)
    assert list(wrapped.parameters) == ["self", "tasks", "dryrun", "cleanforget"]
    assert list(inspect.signature(locked_clean._clean_tasks).parameters) == list(
        wrapped.parameters)
    locked_clean.install()
    assert Clean.clean_tasks is locked_clean._clean_tasks
    assert "self.clean_tasks(" in inspect.getsource(Clean._execute)  # still its one way in
