"""What fedbuild's commands share beyond doit's DoitCmdBase."""

from __future__ import annotations

from typing import Any

from doit.cmd_base import DoitCmdBase

from tasks import doit_compat


class FedbuildCommand(DoitCmdBase):
    """A doit command that also takes its options after a task name
    (`doit graph build:web --format mermaid`); doit's parser stops at the first one."""

    def parse_execute(self, in_args: list[str]) -> Any:
        """Parse the options wherever they are, then load the dodo file and run."""
        return doit_compat.parse_anywhere(self, in_args)
