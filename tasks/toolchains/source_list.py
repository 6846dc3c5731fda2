"""Write the list of a module's C and C++ files, one a line, for `clang-format --files=LIST`.

clang-format takes no folder, and a step's argv cannot name files found at run time: the
cmake toolchain's format step (and its fixer) write the list first.

    python -S source_list.py FOLDER LIST

The names are relative to FOLDER, sorted; build folders (build, out, dist, cmake-build-*)
and hidden folders are left out. Standard library only: steps run it as a file.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import sys
from pathlib import Path

SUFFIXES = (".c", ".h", ".cc", ".cpp", ".cxx", ".hh", ".hpp", ".hxx")
SKIPPED = ("build", "out", "dist", "node_modules", "cmake-build-*", ".*")


def sources(folder: Path) -> list[str]:
    """The C and C++ files under `folder`, relative to it, sorted."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not any(fnmatch.fnmatch(d, s) for s in SKIPPED)]
        rel = Path(top).relative_to(folder)
        found += [(rel / name).as_posix() for name in files if name.endswith(SUFFIXES)]
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="list a module's C and C++ files")
    parser.add_argument("folder", type=Path)
    parser.add_argument("list", type=Path)
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        print(f"source_list: {args.folder} is not a folder", file=sys.stderr)
        return 1
    args.list.parent.mkdir(parents=True, exist_ok=True)
    args.list.write_text("".join(name + "\n" for name in sources(args.folder)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
