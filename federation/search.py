"""One search across all modules: a Pagefind index per module, merged in the browser.

With `federation.search: true`, each publish gives every site module with pages its own
Pagefind bundle (`pip install 'pagefind[extended]'`: the PyPI package ships the binary),
published in `pagefind/modules/<module>/`, and Pagefind's UI files in `pagefind/`.
`pagefind/federation.json` (and `federation.js`, which sets `window.fedbuildSearch`) hold
the options that search them all as one: the first module's bundle as the primary, the
others merged with Pagefind's `mergeIndex`, so a template writes
`new PagefindUI({element: "#search", ...window.fedbuildSearch})`.

A module's bundle is kept in the state folder under the digest of its published pages
(paths and contents) and the Pagefind version: a publish indexes only the modules whose
pages changed and links the others' bundles in as they were.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from core.confine import Roots, remove_tree
from core.runner import Command, run
from federation.records import FileInfo
from federation.sitemaps import GENERATED, write_file

FOLDER = "pagefind"
BUNDLES = "modules"  # pagefind/modules/<module>/: one module's bundle
CONFIG = "federation.json"
SCRIPT = "federation.js"
# Pagefind's UI, the same in every bundle: published once at pagefind/ for templates.
UI_FILES = ("pagefind-ui.js", "pagefind-ui.css", "pagefind-modular-ui.js",
            "pagefind-modular-ui.css", "pagefind-component-ui.js", "pagefind-component-ui.css",
            "pagefind-highlight.js")
TIMEOUT = 600.0
_BINARIES = (("pagefind_bin_extended", "pagefind_extended"), ("pagefind_bin", "pagefind"))
_FORMAT = 1  # of the kept bundles: bump to index every module again


class SearchError(Exception):
    """An index could not be built: the publish keeps the old tree."""


@dataclass
class Indexed:
    """What the search step of one publish did."""

    built: list[str] = field(default_factory=list)  # modules indexed by this publish
    reused: list[str] = field(default_factory=list)  # modules whose kept bundle was linked in
    keys: dict[str, str] = field(default_factory=dict)  # module -> its bundle's key
    files: int = 0  # files of pagefind/ in the tree
    seconds: float = 0.0  # the search step's wall time


def index_modules(tree: Path, files: dict[str, FileInfo], modules: list[str], kept: Path,
                  log: Path, site_path: str,
                  cancelled: Callable[[], bool] = lambda: False) -> Indexed:
    """Give each of `modules` (in manifest order) with pages its bundle in tree/pagefind/,
    built or taken from `kept`, and list every file written in `files`."""
    started = time.monotonic()
    binary, version = _binary()
    _check_free(files)
    pages = {name: _pages(files, name) for name in modules}
    indexed = Indexed()
    for name in (n for n in modules if pages[n]):
        if cancelled():
            break
        key = _key(version, pages[name])
        entry = kept / name / key
        listing = _listing(entry)
        if listing is None:
            listing = _build(binary, tree, pages[name], entry, log, append=bool(indexed.built))
            indexed.built.append(name)
        else:
            indexed.reused.append(name)
        indexed.keys[name] = key
        indexed.files += _link(entry, listing, tree, f"{FOLDER}/{BUNDLES}/{name}", files)
    if indexed.keys:
        indexed.files += _publish_ui(tree, files, kept, indexed.keys, site_path)
    indexed.seconds = time.monotonic() - started
    return indexed


def prune_kept(kept: Path, keys: dict[str, str], roots: Roots) -> None:
    """Remove kept bundles the published tree no longer uses (after a publish succeeded)."""
    if not kept.is_dir():
        return
    for module in kept.iterdir():
        for entry in (module.iterdir() if module.is_dir() else ()):
            if entry.name not in (keys.get(module.name), f"{keys.get(module.name)}.json"):
                remove_tree(entry, roots)
        if module.is_dir() and not any(module.iterdir()):
            remove_tree(module, roots)


def _binary() -> tuple[str, str]:
    """The Pagefind binary a PyPI package ships, and that package's version."""
    for package, executable in _BINARIES:
        spec = importlib.util.find_spec(package)
        for folder in (spec.submodule_search_locations or []) if spec else []:
            if (Path(folder) / executable).is_file():
                return str(Path(folder) / executable), importlib.metadata.version(package)
    raise SearchError("federation.search needs Pagefind: pip install 'pagefind[extended]'")


def _check_free(files: dict[str, FileInfo]) -> None:
    """pagefind/ at the root of the tree is the search's: no module may publish there."""
    taken = sorted(p for p, info in files.items()
                   if p.split("/", 1)[0] == FOLDER and info.owner != GENERATED)
    if taken:
        raise SearchError(f"{taken[0]} is a module's file, but {FOLDER}/ at the root of the "
                          "published tree holds the search index; move it or turn search off")


def _pages(files: dict[str, FileInfo], module: str) -> list[tuple[str, str]]:
    """A module's pages Pagefind reads (its .html files, not links): (path, sha256)."""
    return sorted((path, info.sha256) for path, info in files.items()
                  if info.owner == module and info.target is None and path.endswith(".html"))


def _key(version: str, pages: list[tuple[str, str]]) -> str:
    """The kept bundle's name: what Pagefind would read, and which Pagefind."""
    return hashlib.sha256(json.dumps([_FORMAT, version, pages]).encode()).hexdigest()


def _listing(entry: Path) -> dict[str, list[str | int]] | None:
    """A kept bundle's files (relative path -> [sha256, size]) if it is whole, else None."""
    try:
        listing = json.loads(entry.with_name(f"{entry.name}.json").read_text())
        if all(os.lstat(entry / rel).st_size == row[1] for rel, row in listing.items()):
            return dict(listing)
    except (OSError, ValueError, TypeError, AttributeError, IndexError):
        pass
    return None


def _build(binary: str, tree: Path, pages: list[tuple[str, str]], entry: Path, log: Path,
           append: bool) -> dict[str, list[str | int]]:
    """Run Pagefind over a module's pages (hard links of the tree's, at their tree paths,
    so each is indexed under its published URL) and keep the bundle in `entry`."""
    work, output = entry.with_name(f".{entry.name}.pages"), entry.with_name(f".{entry.name}.new")
    entry.parent.mkdir(parents=True, exist_ok=True)
    for folder in (work, output, entry):
        remove_tree(folder, entry.parent.parent)
    try:
        for path, _digest in pages:
            (work / path).parent.mkdir(parents=True, exist_ok=True)
            os.link(tree / path, work / path)
        result = run(Command(argv=(binary, "--site", str(work), "--output-path", str(output),
                                   "--silent"), cwd=work, log=log, timeout=TIMEOUT,
                             append=append))
        if not result.ok:
            raise SearchError(f"Pagefind failed: {result.describe().splitlines()[0]} "
                              f"(see {log})")
        listing = _hash_folder(output)
        output.rename(entry)
        _write_json(entry.with_name(f"{entry.name}.json"), listing)
        return listing
    finally:
        remove_tree(work, entry.parent.parent)
        remove_tree(output, entry.parent.parent)


def _hash_folder(folder: Path) -> dict[str, list[str | int]]:
    """Every file below `folder`: relative path -> [sha256, size]."""
    listing: dict[str, list[str | int]] = {}
    for parent, _dirs, names in os.walk(folder):
        for name in names:
            data = (Path(parent) / name).read_bytes()
            rel = (Path(parent) / name).relative_to(folder).as_posix()
            listing[rel] = [hashlib.sha256(data).hexdigest(), len(data)]
    return listing


def _link(entry: Path, listing: dict[str, list[str | int]], tree: Path, at: str,
          files: dict[str, FileInfo], only: tuple[str, ...] | None = None) -> int:
    """Hard-link a kept bundle's files (or `only` those) into tree/at/; how many."""
    count = 0
    for rel, (digest, _size) in sorted(listing.items()):
        if only is not None and rel not in only:
            continue
        dest = tree / at / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(entry / rel, dest)
        except OSError:
            shutil.copy2(entry / rel, dest)
        st = os.lstat(dest)
        files[f"{at}/{rel}"] = FileInfo(GENERATED, str(digest), st.st_size, st.st_mtime_ns)
        count += 1
    return count


def _publish_ui(tree: Path, files: dict[str, FileInfo], kept: Path, keys: dict[str, str],
                site_path: str) -> int:
    """Pagefind's UI in pagefind/ (from the first bundle) and the options that merge every
    module's bundle into one search."""
    first = next(iter(keys))
    entry = kept / first / keys[first]
    count = _link(entry, _listing(entry) or {}, tree, FOLDER, files, only=UI_FILES)
    bundles = [{"bundlePath": f"{site_path}{FOLDER}/{BUNDLES}/{name}/", "baseUrl": site_path}
               for name in keys]
    options = {**bundles[0], "mergeIndex": bundles[1:]}
    text = json.dumps(options, indent=2)
    write_file(tree, files, f"{FOLDER}/{CONFIG}", text + "\n")
    write_file(tree, files, f"{FOLDER}/{SCRIPT}",
               "// Written by fedbuild: search every module of the federation as one.\n"
               f"// new PagefindUI({{element: \"#search\", ...window.fedbuildSearch}})\n"
               f"window.fedbuildSearch = {text};\n")
    return count + 2


def _write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, separators=(",", ":")))
    tmp.replace(path)
