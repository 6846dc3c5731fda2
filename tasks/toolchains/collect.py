"""Copy the top-level files of a build folder into a step's {out}.

A cargo profile folder (target/debug, target/release) holds the crate's binaries and
libraries at its top, beside deps/, build/, .fingerprint/ and the incremental state: those
stay in the work folder (large, and tied to this checkout), and only the artifacts go to
dist/<mode>/<module>/, where the action cache keeps them.

    python -S collect.py SRC DEST [--skip SUFFIX ...]

Folders, hidden files and names ending in a --skip suffix (.d: dependency lists naming this
checkout's paths) are left out; modes are kept. Standard library only: toolchain steps run it
as a file, from the module's folder, where fedbuild's packages need not be importable.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def collect(source: Path, dest: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """Copy the files at the top of `source` into `dest` (created); the names copied."""
    names = sorted(p.name for p in source.iterdir() if p.is_file() and not
                   p.name.startswith(".") and not p.name.endswith(skip))
    dest.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy2(source / name, dest / name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="copy a build folder's top-level files")
    parser.add_argument("source", type=Path)
    parser.add_argument("dest", type=Path)
    parser.add_argument("--skip", action="append", default=[], metavar="SUFFIX")
    args = parser.parse_args(argv)
    if not args.source.is_dir():
        print(f"collect: {args.source} is not a folder: the build made nothing there",
              file=sys.stderr)
        return 1
    names = collect(args.source, args.dest, tuple(args.skip))
    if not names:
        print(f"collect: no files at the top of {args.source}", file=sys.stderr)
        return 1
    print(f"collected {', '.join(names)} into {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
