"""fedbuild's doit commands: `doit history`, `doit stats`, `doit explain`, `doit graph`.

Registered in pyproject.toml ([tool.doit.plugins.command]) through the small
installed module `fedbuild_doit` (tasks/commands/install/), which finds this
checkout; doit reads those registrations from the pyproject.toml of the
folder it starts in.
"""

from __future__ import annotations

from tasks.commands.explain import ExplainCommand
from tasks.commands.graph import GraphCommand
from tasks.commands.history import HistoryCommand
from tasks.commands.stats import StatsCommand

__all__ = ["ExplainCommand", "GraphCommand", "HistoryCommand", "StatsCommand"]
