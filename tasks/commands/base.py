"""What fedbuild's commands share beyond doit's DoitCmdBase."""

from __future__ import annotations

from typing import Any

from doit.cmd_base import DoitCmdBase


class FedbuildCommand(DoitCmdBase):
    """A doit command that also takes its options after a task name
    (`doit graph build:web --format mermaid`); doit's parser stops at the first one."""

    def parse_execute(self, in_args: list[str]) -> Any:
        """Parse the options wherever they are, then load the dodo file and run."""
        params, args = self.cmdparser.parse(in_args)
        while any(arg.startswith("-") for arg in args):
            at = next(i for i, arg in enumerate(args) if arg.startswith("-"))
            params, rest = self.cmdparser.parse_only(args[at:], params)
            args = args[:at] + rest
        self.pdb = params.get("pdb", False)
        params.update(self.opt_vals)
        return self.execute(params, args)
