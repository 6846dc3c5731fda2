"""fedbuild as a repository's one-line dodo.py: `from fedbuild_doit.dodo import *`.

For a repository that keeps doit's default loader (or wants its own tasks beside
fedbuild's): the tasks and DOIT_CONFIG of fedbuild's dodo, built on the current folder.
"""

from __future__ import annotations

from fedbuild_doit import use_fedbuild

use_fedbuild()

# fedbuild's packages are on sys.path now.
from tasks.commands.loader import dodo_module

_DODO = dodo_module()
__all__ = [name for name in vars(_DODO) if name.startswith("task_") or name == "DOIT_CONFIG"]
globals().update({name: getattr(_DODO, name) for name in __all__})
