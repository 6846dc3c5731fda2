"""Let a task run after one of its task dependencies failed, when it asks to.

doit never runs a task whose task_dep failed: it reports UnmetDependency. The
`federate` task must run anyway: it publishes the modules that did build, and
the failed one keeps its last published files. A task opts in with
`meta={AFTER_FAILURES: True}`. The run still ends failed, because the
dependency did; with `fail_fast` doit starts nothing after the failure, so
nothing is published.

doit has no hook for this, so ExecNode.parent_status (where a dependency's
failure is recorded on the tasks waiting for it) is wrapped. The wrapper is
installed once, when the dodo loads, and changes nothing for other tasks.
"""

from __future__ import annotations

from typing import Any

from doit.control import ExecNode

AFTER_FAILURES = "fedbuild.after_failures"

_original = ExecNode.parent_status


def _parent_status(self: Any, parent_node: Any) -> None:
    if parent_node.run_status == "failure" and (self.task.meta or {}).get(AFTER_FAILURES):
        return
    _original(self, parent_node)


def install() -> None:
    """Make doit honour AFTER_FAILURES (idempotent)."""
    ExecNode.parent_status = _parent_status
