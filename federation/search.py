"""One search across all modules: a Pagefind index over the published tree.

With `federation.search: true`, each publish runs Pagefind (`pip install
'pagefind[extended]'`: the PyPI package ships the binary) over the new tree
before it is swapped in; the index and Pagefind's UI land in `pagefind/` at the
root of the tree, so a module's template includes `/pagefind/pagefind-ui.js`
and `/pagefind/pagefind-ui.css` (or the component UI) to search every module.
The index is rebuilt whenever the federation publishes (a publish happens only
when some module changed); Pagefind indexes a 4,000-page tree in seconds.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

from core.runner import Command, run
from federation.records import FileInfo
from federation.sitemaps import GENERATED

FOLDER = "pagefind"
TIMEOUT = 600.0
_BINARIES = ("pagefind_bin_extended", "pagefind_bin")


class SearchError(Exception):
    """The index could not be built: the publish keeps the old tree."""


def index_tree(tree: Path, files: dict[str, FileInfo], log: Path) -> int:
    """Build the Pagefind index of `tree` into tree/pagefind/ and list its files in `files`;
    the number of files it wrote."""
    if not any(importlib.util.find_spec(name) for name in _BINARIES):
        raise SearchError("federation.search needs Pagefind: pip install 'pagefind[extended]'")
    taken = sorted(p for p, info in files.items()
                   if p.split("/", 1)[0] == FOLDER and info.owner != GENERATED)
    if taken:
        raise SearchError(f"{taken[0]} is a module's file, but {FOLDER}/ at the root of the "
                          "published tree holds the search index; move it or turn search off")
    result = run(Command(argv=(sys.executable, "-m", "pagefind", "--site", str(tree),
                               "--output-subdir", FOLDER, "--silent"),
                         cwd=tree, log=log, timeout=TIMEOUT))
    if not result.ok:
        raise SearchError(f"Pagefind failed: {result.describe().splitlines()[0]} (see {log})")
    return _record(tree, files)


def _record(tree: Path, files: dict[str, FileInfo]) -> int:
    """List the index's files as the publish's own, with their digests."""
    count = 0
    for folder, _dirs, names in os.walk(tree / FOLDER):
        for name in names:
            path = Path(folder) / name
            data = path.read_bytes()
            st = os.lstat(path)
            files[path.relative_to(tree).as_posix()] = FileInfo(
                GENERATED, hashlib.sha256(data).hexdigest(), st.st_size, st.st_mtime_ns)
            count += 1
    return count
