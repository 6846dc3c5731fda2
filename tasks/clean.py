"""`doit clean`, said in fedbuild's words, and the outputs of modules no longer in the manifest.

A fedbuild task's clean actions (tasks marked with CLEAN in their meta) say what
they removed, one line a path (`removed dist/development/web/ (3.1 MB)`), instead
of doit's `build:web - executing 'Python: function remove_tree'`; and `doit clean`
without task names cleans every task (doit's `--clean-all`), not only the default
ones: a step outside `doit`'s defaults has outputs too. doit has no hook for
either, so `Task.clean` and `Clean._execute` are wrapped (installed once when the
dodo loads, as tasks/after_failures.py does); other tasks' clean is unchanged.

Every removal goes through federation/confine.py's remove_tree.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TextIO

import doit
from doit.cmd_clean import Clean
from doit.task import Task

from federation.confine import Roots, remove_tree
from federation.manifest import MODES
from federation.state import State

CLEAN = "fedbuild.clean"  # meta flag: the task's clean actions say what they remove

_original = Task.clean
_original_execute = Clean._execute


def _clean(self: Any, outstream: TextIO, dryrun: bool) -> None:
    if not (self.meta or {}).get(CLEAN):
        _original(self, outstream, dryrun)
        return
    self.init_options()
    for action in self.clean_actions:  # each takes `dryrun` and prints what it removes
        action.kwargs["dryrun"] = dryrun
        action.execute(out=outstream)


def _execute(self: Any, dryrun: bool, cleandep: bool, cleanall: bool, cleanforget: bool,
             pos_args: list[str] | None = None) -> Any:
    return _original_execute(self, dryrun, cleandep, cleanall or not pos_args, cleanforget,
                             pos_args)


def install() -> None:
    """Make `doit clean` clean every task when none is named, and fedbuild's tasks print
    fedbuild's lines (idempotent)."""
    Task.clean = _clean
    Clean._execute = _execute


def cleaned_modes(mode: str) -> tuple[str, ...]:
    """The modes `doit clean` removes outputs of: the one given (`doit clean mode=production`),
    else every mode."""
    return (mode,) if doit.get_var("mode", None) else MODES


def remove(paths: Iterable[Path], roots: Roots, root: Path, dryrun: bool = False) -> list[str]:
    """Remove each path that exists; a line for each (`removed dist/development/web/ (3.1
    MB)`), printed and returned. With `dryrun`, nothing is removed: `would remove ...`."""
    lines = []
    for path in paths:
        if not os.path.lexists(path):
            continue
        line = f"{'would remove' if dryrun else 'removed'} {shown(path, root)} " \
               f"({size_text(tree_size(path))})"
        if not dryrun:
            remove_tree(path, roots)
        print(line)
        lines.append(line)
    return lines


def clean_paths(paths: list[Path], root: Path, dryrun: bool = False) -> None:
    """A clean action: remove `paths` (inside the repository at `root`), saying so."""
    remove(paths, State(root).roots, root, dryrun)


def removed_modules(state: State, modules: Iterable[str], dryrun: bool = False) -> list[str]:
    """Remove the outputs of modules no longer in the manifest: dist/<mode>/<m>/,
    .fedbuild/work/<mode>/<m>/, .fedbuild/staging/<m>/, .fedbuild/sources/<m>/ (and its
    head stamp), for names fedbuild ran a task of (it keeps an outcome under .fedbuild/logs/):
    a folder of dist/ fedbuild never wrote is left alone. One line per module."""
    current = set(modules)
    lines = []
    for name in sorted(_former_modules(state) - current):
        paths = [state.root / "dist" / mode / name for mode in MODES]
        paths += [state.dir / "work" / mode / name for mode in MODES]
        paths += [state.staged(name), state.clone(name), state.head(name)]
        found = [p for p in paths if os.path.lexists(p)]
        if not found:
            continue
        shown_paths = ", ".join(f"{shown(p, state.root)} ({size_text(tree_size(p))})"
                                for p in found)
        if not dryrun:
            for path in found:
                remove_tree(path, state.roots)
        lines.append(f"fedbuild: removed the outputs of {name}, no longer in modules.json: "
                     f"{shown_paths}")
    return lines


def _former_modules(state: State) -> set[str]:
    """Names fedbuild ran a task of: their outcomes are .fedbuild/logs/<step>/<name>.json."""
    names: set[str] = set()
    logs = state.dir / "logs"
    try:
        steps = [e for e in os.scandir(logs) if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return names
    for step in steps:
        if step.name == "tools":
            continue
        names.update(e.name[:-5] for e in os.scandir(step.path)
                     if e.name.endswith(".json") and e.is_file(follow_symlinks=False))
    names.discard("")
    return names


def shown(path: Path, root: Path) -> str:
    """A path relative to the repository, a folder with a trailing '/'."""
    try:
        text = os.path.relpath(path, root)
    except ValueError:
        text = str(path)
    if text.startswith(".."):
        text = str(path)
    return text + "/" if path.is_dir() and not path.is_symlink() else text


def tree_size(path: Path) -> int:
    """Bytes of the files under `path` (a file's own size; links not followed)."""
    if path.is_symlink() or not path.is_dir():
        try:
            return path.lstat().st_size
        except OSError:
            return 0
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def size_text(size: int) -> str:
    """512 B, 1.5 KB, 3.4 MB, 5.0 GB (powers of 1000, as in the cache settings)."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 999.95:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"
