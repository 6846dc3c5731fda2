"""fedbuild's `doit clean`: doit's clean holding the repository lock, as a run does.

Without task names it cleans every task (doit's `--clean-all`), not only the default ones:
a step outside `doit`'s defaults has outputs too. fedbuild's tasks say what they removed
(tasks/clean.py). fedbuild_doit's entry points (pyproject.toml) register CleanCommand as
doit's `clean`, so doit finds it wherever it starts.
"""

from __future__ import annotations

from typing import Any

from doit.task import Task

from tasks import clean
from tasks.doit_compat import FedbuildClean


class CleanCommand(FedbuildClean):
    """doit's `clean`, in fedbuild's words (see the module's docstring)."""

    name = "clean"

    def _execute(self, dryrun: bool, cleandep: bool, cleanall: bool, cleanforget: bool,
                 pos_args: list[str] | None = None) -> Any:
        """doit's clean (same options); every task when none is named."""
        return super()._execute(dryrun, cleandep,
                                clean.clean_all_unless_named(cleanall, pos_args),
                                cleanforget, pos_args)

    def clean_tasks(self, tasks: list[Task], dryrun: bool, cleanforget: bool) -> None:
        """doit's clean of `tasks`, holding the repository lock (not for a dry run)."""
        clean.clean_locked(super().clean_tasks, tasks, dryrun, cleanforget, self.outstream)

    def clean_task(self, task: Task, dryrun: bool) -> None:
        """One task's clean: fedbuild's lines for fedbuild's tasks, doit's for others."""
        clean.clean_task(task, self.outstream, dryrun)
