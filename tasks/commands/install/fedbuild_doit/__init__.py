"""doit's way in to fedbuild: installed as the package `fedbuild_doit`.

doit finds fedbuild's loader, commands and reporter through this package's
entry points (groups doit.LOADER, doit.COMMAND, doit.REPORTER) or through the
`[tool.doit.plugins.*]` tables of fedbuild's own pyproject.toml. fedbuild's
packages have generic names (core, tasks, federation, hardware, service), so
they are never installed top-level, where they would shadow a repository's own
`tasks.py`: a wheel carries them as data in `fedbuild_doit/lib/`, and that
folder goes first on sys.path only inside the doit process, when doit first
asks this package for a class. In a fedbuild checkout (the current folder, or
the one this file lives in) the checkout's code is used instead.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Any

EXPORTS = {
    "FedbuildLoader": "tasks.commands.loader",
    "InitCommand": "tasks.commands.init",
    "RunCommand": "tasks.commands.run",
    "CleanCommand": "tasks.commands.clean",
    "HistoryCommand": "tasks.commands.history",
    "StatsCommand": "tasks.commands.stats",
    "ExplainCommand": "tasks.commands.explain",
    "PlanCommand": "tasks.commands.plan",
    "AffectedCommand": "tasks.commands.affected",
    "GraphCommand": "tasks.commands.graph",
    "CacheCommand": "tasks.commands.cache",
    "FixCommand": "tasks.commands.fix",
    "WatchCommand": "tasks.commands.watch",
    "PreviewCommand": "tasks.commands.watch",
    "ServeCommand": "service.command",
    "FedbuildReporter": "tasks.reporter",
}
# Only a fedbuild checkout has this file: it tells the checkout from a repository that merely
# has a tasks/ folder of its own.
_CHECKOUT_MARKER = Path("tasks") / "commands" / "install" / "fedbuild_doit" / "__init__.py"
_HERE = Path(__file__).resolve().parent
_OWN = ("core", "tasks", "federation", "hardware", "service")


def home() -> Path:
    """The folder holding fedbuild's packages: the checkout whose dodo.py doit was given with
    `-f`, else the checkout doit starts in, else the copy installed with this package, else
    the checkout this file lives in. The dodo's own checkout comes first: its tasks and the
    commands and reporter must be one code, or a run and `doit list` disagree."""
    checkouts = [p for p in (_dodo_folder(sys.argv[1:]), Path.cwd()) if p is not None]
    for folder in checkouts:
        if (folder / _CHECKOUT_MARKER).is_file():
            return folder
    for folder in (_HERE / "lib", _HERE.parents[3]):
        if (folder / "tasks" / "commands" / "__init__.py").is_file():
            return folder
    sys.stderr.write(f"ERROR: {_HERE}: fedbuild's packages are missing from this install "
                     "(no lib/tasks/commands/__init__.py); reinstall fedbuild with pip\n")
    raise SystemExit(3)


def _dodo_folder(argv: list[str]) -> Path | None:
    """The folder of the dodo file named on doit's command line (`-f FILE`, `--file FILE`,
    `--file=FILE`, `-fFILE`), if any."""
    for i, arg in enumerate(argv):
        if arg in ("-f", "--file") and i + 1 < len(argv):
            return Path(argv[i + 1]).resolve().parent
        if arg.startswith("--file="):
            return Path(arg.removeprefix("--file=")).resolve().parent
        if arg.startswith("-f") and len(arg) > 2 and not arg.startswith("--"):
            return Path(arg[2:]).resolve().parent
    return None


def use_fedbuild() -> Path:
    """Put fedbuild's packages first on this process's sys.path (once) and return their folder;
    one line and exit 3 when a package of the same name was already imported from elsewhere."""
    folder = home()
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    for name in _OWN:
        module = sys.modules.get(name)
        origin = getattr(module, "__file__", None) if module else None
        if origin and not Path(origin).resolve().is_relative_to(folder.resolve()):
            sys.stderr.write(f"ERROR: {origin} was imported as '{name}' before fedbuild's own "
                             f"'{name}' ({folder / name}); rename it or run doit without it\n")
            raise SystemExit(3)
    return folder


def __getattr__(name: str) -> Any:
    """The class doit asks for, imported from fedbuild's packages."""
    if name not in EXPORTS:
        raise AttributeError(f"module 'fedbuild_doit' has no attribute {name!r}")
    use_fedbuild()
    return getattr(importlib.import_module(EXPORTS[name]), name)
