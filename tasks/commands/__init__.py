"""fedbuild's doit commands: `doit history`, `doit stats`, `doit explain`, `doit graph`.

Registered as doit entry points of the installed package `fedbuild_doit`
(tasks/commands/install/), which puts fedbuild's packages on sys.path when doit
first asks it for a class; in this checkout also by pyproject.toml's
[tool.doit.plugins.command]. The loader `fedbuild` (loader.py) builds a
repository with no dodo.py.
"""

from __future__ import annotations

from tasks.commands.explain import ExplainCommand
from tasks.commands.graph import GraphCommand
from tasks.commands.history import HistoryCommand
from tasks.commands.stats import StatsCommand

__all__ = ["ExplainCommand", "GraphCommand", "HistoryCommand", "StatsCommand"]
