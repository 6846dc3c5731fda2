"""doit's way in to fedbuild's commands and reporter: installed as the module `fedbuild_doit`.

pyproject.toml registers `fedbuild_doit:HistoryCommand` and the others. doit
reads those registrations only from the pyproject.toml of the folder it
starts in, so that folder is a fedbuild checkout; its `tasks` package is
imported from there (it is never installed), and the `doit` console script,
unlike `python -m doit`, does not put the current folder on sys.path. This
module does, when doit first asks it for a class.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

EXPORTS = {
    "HistoryCommand": "tasks.commands.history",
    "StatsCommand": "tasks.commands.stats",
    "ExplainCommand": "tasks.commands.explain",
    "GraphCommand": "tasks.commands.graph",
    "CacheCommand": "tasks.commands.cache",
    "ServeCommand": "tasks.commands.serve",
    "FedbuildReporter": "tasks.reporter",
}
_MARKER = Path("tasks") / "commands" / "__init__.py"


def __getattr__(name: str) -> Any:
    """The class doit asks for, imported from the checkout in the current folder."""
    if name not in EXPORTS:
        raise AttributeError(f"module 'fedbuild_doit' has no attribute {name!r}")
    checkout = Path.cwd()
    if not (checkout / _MARKER).is_file():
        sys.stderr.write(f"ERROR: fedbuild's doit plugins need a fedbuild checkout in the "
                         f"current folder, but {checkout} has no {_MARKER}: run doit from "
                         "the checkout (with -d REPOSITORY for another repository)\n")
        raise SystemExit(3)
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    return getattr(importlib.import_module(EXPORTS[name]), name)
