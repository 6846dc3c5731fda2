"""doit's loader `fedbuild`: fedbuild's dodo run on the repository doit starts in.

A repository selects it with `[tool.doit] loader = "fedbuild"` in its
pyproject.toml (or `loader = fedbuild` under `[GLOBAL]` in doit.cfg), and
needs no dodo.py and no copy of fedbuild's files: only a modules.json.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import sys
from pathlib import Path
from typing import Any

from doit.cmd_base import NamespaceTaskLoader, opt_cwd
from doit.exceptions import InvalidCommand

# fedbuild's table of contents, beside its packages (the checkout's own dodo.py, or the copy
# installed in fedbuild_doit/lib/).
DODO = Path(__file__).resolve().parents[2] / "dodo.py"
MODULE = "fedbuild_dodo"


class FedbuildLoader(NamespaceTaskLoader):
    """Load fedbuild's tasks for the repository in the current folder (or `-d FOLDER`)."""

    cmd_options = (opt_cwd,)

    def setup(self, opt_values: dict[str, Any]) -> None:
        """Move to the repository, then run fedbuild's dodo there (once per process)."""
        folder = opt_values.get("cwdPath")
        if folder:
            if not os.path.isdir(folder):
                raise InvalidCommand(f"-d {folder}: no such folder")
            os.chdir(folder)
        self.namespace = dict(inspect.getmembers(dodo_module()))


def dodo_module() -> Any:
    """fedbuild's dodo, imported by its path under its own name: never a `dodo` module of the
    repository, which stays off sys.path."""
    if MODULE in sys.modules:
        return sys.modules[MODULE]
    spec = importlib.util.spec_from_file_location(MODULE, DODO)
    assert spec is not None and spec.loader is not None, DODO
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[MODULE]
        raise
    return module
