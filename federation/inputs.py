"""Expand a module's inputs into the file list doit tracks (`file_dep`).

Symlinks in a module's files: one whose target lies inside the repository is an input
like any other (a file is tracked by its target's content; a folder is walked, once,
unless it holds the folder the link is in); one whose target lies outside the
repository is refused with one line: fedbuild never reads inputs from outside it.
A dangling link is nothing to read and is left out.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.errors import ManifestError

# Never inputs: version control, fedbuild's own state, caches and editor litter.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", ".fedbuild", "__pycache__", "node_modules",
                       ".mypy_cache", ".pytest_cache", ".ruff_cache"})
SKIP_FILES = frozenset({".DS_Store", ".hugo_build.lock"})


def real_path(path: str | os.PathLike[str], memo: dict[str, str]) -> str:
    """`os.path.realpath(path)`, remembering in `memo` every folder resolved on the way: a
    path below folders resolved before costs one lstat instead of one per component (a
    repository's module folders share all but their last names). A path with '..' is
    resolved by realpath itself ('..' after a symlink leads elsewhere than lexically)."""
    raw = os.fspath(path)
    if ".." in raw.split(os.sep):  # abspath would drop it lexically
        return os.path.realpath(raw)
    text = os.path.abspath(raw)
    known = memo.get(text)
    if known is not None:
        return known
    parent, name = os.path.split(text)
    if not name:
        return text
    full = os.path.join(real_path(parent, memo), name)
    try:
        link = stat.S_ISLNK(os.lstat(full).st_mode)
    except OSError:  # missing (resolved as written, as realpath does) or unreadable
        link = False
    memo[text] = found = os.path.realpath(full) if link else full
    return found


def files_under(folder: Path, root: Path, ignores: GitIgnores | None = None) -> list[str]:
    """Every file below `folder` that is not ignored (fedbuild's own list, the repository's
    .gitignore rules), as sorted POSIX paths relative to `root`."""
    prefix = _prefix(folder, root)
    ignores = GitIgnores() if ignores is None else ignores
    return sorted(_relative(path, prefix, root)
                  for path in walk_files(folder, root, ignores=ignores))


def walk_files(folder: Path, root: Path, skip_dirs: Sequence[str] = (),
               ignores: GitIgnores | None = None) -> Iterator[str]:
    """The path (below `folder`, as found) of every regular file there, following symlinks
    that stay in `root`; folders in SKIP_DIRS or matching a `skip_dirs` glob are left out, and
    what the .gitignore rules of `ignores` ignore (none given: none)."""
    ignores = NO_IGNORES if ignores is None else ignores
    inside = ignores.real(root)
    start = os.fspath(folder)
    followed = {ignores.real(start)}  # folders reached through a symlink, and the start
    stack = [(start, ignores.real(start), ignores.above(start))]
    while stack:
        current, real, rules = stack.pop()
        entries = ignores.listing(current)
        rules = ignores.within(current, entries, rules)
        for entry in entries:
            name = entry.name
            if not name.isascii():
                _check_name(entry.path)
            if entry.is_dir(follow_symlinks=False):
                if not (_skipped(name, skip_dirs) or (rules and ignored(rules, entry.path, True))):
                    stack.append((entry.path, os.path.join(real, name), rules))
            elif name in SKIP_FILES or _litter(name):
                continue
            elif entry.is_symlink():
                ignores.saw(entry.path)  # what it leads to now: nothing, a file, a folder
                target = _target(entry.path, inside)
                if target is None:
                    continue
                if not os.path.isdir(target):
                    if os.path.isfile(target) and not (
                            rules and ignored(rules, entry.path, False)):
                        yield entry.path
                elif not (_skipped(name, skip_dirs) or target in followed
                          or _contains(target, real) or (rules and
                          ignored(rules, entry.path, True))):
                    followed.add(target)
                    stack.append((entry.path, target, rules))
            elif entry.is_file(follow_symlinks=False) and not (  # not a FIFO, socket, device
                    rules and ignored(rules, entry.path, False)):
                yield entry.path


def glob_files(folder: Path, patterns: Iterable[str], root: Path) -> list[str]:
    """Files matching glob patterns (`**` allowed) relative to `folder`."""
    inside = os.path.realpath(root)
    found = set()
    for pattern in patterns:
        for path in folder.glob(pattern):
            if path.is_file() and _target(os.fspath(path), inside) is not None:
                found.add(os.path.relpath(path, root).replace(os.sep, "/"))
    return sorted(found)


def _entries(folder: str) -> list[os.DirEntry[str]]:
    """The entries of a folder; none when it is gone or is not a folder."""
    try:
        with os.scandir(folder) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []
    except OSError as err:
        raise ManifestError(_shown(folder), "", f"cannot be listed: {err.strerror}; fedbuild "
                            "reads it for the inputs of a build") from None


def _check_name(path: str) -> None:
    """Refuse a file name that is not UTF-8: it could not be written into a cache key, a
    log or a message (Python holds its bytes as lone surrogates)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise ManifestError(_shown(path), "", "its name is not UTF-8 text; rename it (the "
                            "inputs of a build are named in UTF-8)") from None


def _target(path: str, inside: str) -> str | None:
    """Where a path leads once symlinks are followed: None when nowhere (dangling, a loop);
    a ManifestError when outside the repository."""
    if not os.path.exists(path):
        return None
    target = os.path.realpath(path)
    if not _contains(inside, target):
        raise ManifestError(_shown(path), "", f"is a symlink to {target}, outside the "
                            "repository; fedbuild reads no inputs from there: copy what the "
                            "module needs into the repository, or link to a place inside it")
    return target


def _contains(folder: str, path: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _skipped(name: str, skip_dirs: Sequence[str]) -> bool:
    return name in SKIP_DIRS or any(fnmatch.fnmatchcase(name, p) for p in skip_dirs)


def _shown(path: str) -> str:
    """A path for a message: relative to the working folder when inside it, and never
    resolved (a symlink is named, not where it leads)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def _prefix(folder: Path, root: Path) -> str | None:
    """The text to cut off paths below `folder` to make them relative to `root`, if it can be."""
    base, below = os.fspath(root).rstrip(os.sep) + os.sep, os.fspath(folder)
    return base if (below + os.sep).startswith(base) else None


def _relative(path: str, prefix: str | None, root: Path) -> str:
    # Cutting a known prefix is much cheaper than os.path.relpath for every file.
    rel = path[len(prefix):] if prefix else os.path.relpath(path, root)
    return rel.replace(os.sep, "/")


def _litter(name: str) -> bool:
    return name.endswith(("~", ".swp", ".swo")) or name.startswith(".#")


# The repository's .gitignore rules -----------------------------------------------------------
# Where the repository is a git checkout, what its .gitignore files ignore is not an input (the
# committed files only: every clone then has the same inputs, and the same cache keys).


@dataclass(frozen=True)
class _Rules:
    """The patterns of one .gitignore file, which apply below its folder."""

    base: str  # the folder, with a trailing separator
    spec: Any  # a pathspec.GitIgnoreSpec
    any: re.Pattern[str] | None = None  # matches whatever one of its patterns matches


Rules = tuple[_Rules, ...]  # outermost folder first


class GitIgnores:
    """The .gitignore files of the git checkout holding the folders asked about (none outside
    a checkout), each read once; one instance serves one listing of a repository's modules,
    and remembers what that listing depends on (`seen`)."""

    def __init__(self) -> None:
        self._above: dict[str, Rules | None] = {}  # None: not in a git checkout
        self._files: dict[str, _Rules | None] = {}
        self._real: dict[str, str] = {}
        # What the listings depend on (tasks/snapshot.py keys a kept plan with it): the
        # folders listed, the .gitignore files read and the links met, followed (`seen`),
        # and the paths only looked up, .git and .gitignore above (`looked_up`).
        self.seen: list[str] = []
        self.looked_up: list[str] = []

    def saw(self, path: str) -> None:
        """Note a folder listed or a file read for the listing."""
        self.seen.append(path)

    def listing(self, folder: str) -> list[os.DirEntry[str]]:
        """The entries of `folder` (none when it is gone), noted as seen."""
        self.saw(folder)
        return _entries(folder)

    def real(self, path: str | os.PathLike[str]) -> str:
        """The path with symlinks followed; the folders above it resolved once per listing."""
        return real_path(path, self._real)

    def above(self, folder: str) -> Rules:
        """The rules holding in `folder` from .gitignore files of the folders above it, up to
        the checkout's top (its own .gitignore is read by `within`)."""
        return self._chain(os.path.dirname(os.path.normpath(folder)), folder) or ()

    def within(self, folder: str, entries: Sequence[os.DirEntry[str]], rules: Rules) -> Rules:
        """`rules` and those of `folder`'s own .gitignore, if it has one (in a checkout)."""
        if not any(e.name == ".gitignore" for e in entries):
            return rules
        if not rules and self._chain(folder, folder) is None:
            return rules  # not a git checkout: a .gitignore there means nothing
        own = self._file(folder)
        return (*rules, own) if own else rules

    def _chain(self, folder: str, asked: str) -> Rules | None:
        """The rules of `folder` and the folders above it; None when no .git is found above."""
        if folder in self._above:
            return self._above[folder]
        parent = os.path.dirname(folder)
        self.looked_up += [os.path.join(folder, ".git"), os.path.join(folder, ".gitignore")]
        if os.path.lexists(os.path.join(folder, ".git")):
            chain: Rules | None = ()
        elif parent == folder:
            chain = None
        else:
            chain = self._chain(parent, asked)
        if chain is not None and os.path.isfile(os.path.join(folder, ".gitignore")):
            own = self._file(folder)
            chain = (*chain, own) if own else chain
        self._above[folder] = chain
        return chain

    def _file(self, folder: str) -> _Rules | None:
        if folder not in self._files:
            self.saw(os.path.join(folder, ".gitignore"))
            self._files[folder] = _read_rules(folder)
        return self._files[folder]


class _NoIgnores(GitIgnores):
    """No .gitignore rules: every file counts (shared: nothing resolved is remembered)."""

    def real(self, path: str | os.PathLike[str]) -> str:
        """The path with symlinks followed."""
        return os.path.realpath(path)

    def saw(self, path: str) -> None:
        """Nothing is noted (this instance is shared)."""

    def above(self, folder: str) -> Rules:
        """No rules."""
        return ()

    def within(self, folder: str, entries: Sequence[os.DirEntry[str]], rules: Rules) -> Rules:
        """No rules."""
        return ()


NO_IGNORES = _NoIgnores()


def ignored(rules: Rules, path: str, is_dir: bool) -> bool:
    """Whether .gitignore `rules` ignore `path` (below their folders): the innermost file
    with a matching pattern decides, and within it the last matching pattern."""
    for rule in reversed(rules):
        rel = path[len(rule.base):].replace(os.sep, "/") + ("/" if is_dir else "")
        if rule.any is not None and not rule.any.search(rel):
            continue  # no pattern of this file matches: the common case, one regex
        include = rule.spec.check_file(rel).include
        if include is not None:
            return bool(include)
    return False


def _read_rules(folder: str) -> _Rules | None:
    try:
        with open(os.path.join(folder, ".gitignore"), encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    if not any(line.strip() and not line.startswith("#") for line in lines):
        return None
    import pathspec  # here: only a git checkout with .gitignore files needs it (10 ms)

    spec = pathspec.GitIgnoreSpec.from_lines(lines)
    return _Rules(folder.rstrip(os.sep) + os.sep, spec, _any_pattern(spec))


def _any_pattern(spec: Any) -> re.Pattern[str] | None:
    """One regex matching what any of the spec's patterns matches (their named groups made
    plain), to pass over the many paths none matches; None when it cannot be made."""
    try:
        parts = [re.sub(r"\(\?P<\w+>", "(?:", p.regex.pattern)
                 for p in spec.patterns if p.include is not None and p.regex is not None]
        return re.compile("|".join(f"(?:{part})" for part in parts)) if parts else None
    except (AttributeError, TypeError, re.error):
        return None
