"""Copy a module's source folder into a step's {scratch} folder, to build it there.

A build backend that writes into the tree it builds (setuptools: build/, *.egg-info) then
leaves the module's own folder, and so `git status`, untouched; {scratch} is fresh for
each run of the step and removed after it.

    python -S copy_source.py SRC DEST [--exclude GLOB ...]

Folders and files whose name matches an --exclude glob are left out (build outputs, virtual
environments); symlinks are copied as links. Standard library only: steps run it as a file.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def copy_source(source: Path, dest: Path, exclude: tuple[str, ...] = ()) -> None:
    """Copy `source` to `dest` (which must not exist), leaving out names matching `exclude`."""
    shutil.copytree(source, dest, symlinks=True, ignore=shutil.ignore_patterns(*exclude))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="copy a module's source folder to build it")
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--exclude", action="append", default=[], metavar="GLOB")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"copy_source: {args.source} is not a folder", file=sys.stderr)
        return 1
    copy_source(args.source, args.dest, tuple(args.exclude))
    return 0


if __name__ == "__main__":
    sys.exit(main())
