"""`doit clean`, said in fedbuild's words, and the outputs of modules no longer in the manifest.

A fedbuild task's clean actions (tasks marked with CLEAN in their meta) say what
they removed, one line a path (`removed dist/development/web/ (3.1 MB)`), instead
of doit's `build:web - executing 'Python: function remove_tree'`; and `doit clean`
without task names cleans every task (doit's `--clean-all`), not only the default
ones: a step outside `doit`'s defaults has outputs too. fedbuild's clean command
(tasks/commands/clean.py) calls `clean_task`, `clean_locked` and `clean_all_unless_named`
here; other tasks' clean is unchanged.

Every removal goes through core/confine.py's remove_tree.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TextIO

import doit

from core.confine import Roots, remove_tree
from core.lock import LockHeld
from core.sizes import format_size
from core.state import State
from federation.manifest import MODES
from tasks.session import LOCKED_OUT, Session, lock_wait

CLEAN = "fedbuild.clean"  # meta flag: the task's clean actions say what they remove

def clean_task(task: Any, outstream: TextIO, dryrun: bool) -> None:
    """A task's clean: fedbuild's tasks print fedbuild's lines; others clean as doit does."""
    if not (task.meta or {}).get(CLEAN):
        task.clean(outstream, dryrun)
        return
    task.init_options()
    for action in task.clean_actions:  # each takes `dryrun` and prints what it removes
        action.kwargs["dryrun"] = dryrun
        action.execute(out=outstream)


def clean_locked(clean: Callable[..., None], tasks: list[Any], dryrun: bool,
                 cleanforget: bool, outstream: TextIO) -> None:
    """doit's `clean_tasks` (`clean`) holding the repository lock, as a run does; one line
    and exit code 2 when another run holds it. `doit clean -n` only prints: no lock."""
    if dryrun:
        clean(tasks, dryrun, cleanforget)
        return
    session = Session(State(Path.cwd()))
    try:
        session.begin(wait=lock_wait())
    except LockHeld as err:
        sys.stderr.write(f"ERROR: {err}\n")
        raise SystemExit(LOCKED_OUT) from None
    try:
        if session.stale is not None:
            outstream.write(f"fedbuild: the previous run ({session.stale.describe()}) "
                            "ended without releasing the lock; its leftovers were removed\n")
        clean(tasks, dryrun, cleanforget)
    finally:
        session.end()


def clean_all_unless_named(cleanall: bool, pos_args: list[str] | None) -> bool:
    """`doit clean` without task names cleans every task (doit's `--clean-all`)."""
    return cleanall or not pos_args


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
               f"({format_size(tree_size(path))})"
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
        shown_paths = ", ".join(f"{shown(p, state.root)} ({format_size(tree_size(p))})"
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
