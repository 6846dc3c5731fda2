"""Paths into a build's temporary copy, shown as the source files they are copies of.

A site build runs in a temporary folder (`.fedbuild/tmp/<module>-…/`), where the build
script assembles the site from the module's content, the template, theme and components;
Hugo's errors then point there (`…/site/content/bad.md:5:1`), at a copy removed once the
build ends. Each such path is matched to the build's input whose path shares the longest
tail with it (the module's own files first): `modules/home/content/bad.md:5:1`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

LOG_LIMIT = 8 << 20  # a larger log is left as it is (the message is still mapped)
_PATH_END = r"[^\s\"'`:(),;<>\[\]]+"


class TempPaths:
    """Maps paths under one temporary folder to the inputs they copy."""

    def __init__(self, work: Path, root: Path, inputs: Iterable[str],
                 module_dir: Path | None = None) -> None:
        self.root = root
        shown = os.path.relpath(work, root)
        forms = sorted({str(work), shown}, key=len, reverse=True)
        self.pattern = re.compile("(?:" + "|".join(re.escape(f) for f in forms) + ")"
                                  + f"/{_PATH_END}")
        own = (f"{os.path.relpath(module_dir, root)}/", f"{module_dir}/") if module_dir else ()
        # The module's own files first: of two inputs sharing a tail, they are what it copies.
        self.inputs = sorted(inputs, key=lambda i: not i.startswith(own) if own else False)

    def source(self, temp: str) -> str | None:
        """The input (relative to the repository) that the temporary file `temp` copies."""
        parts = temp.split("/")
        for start in range(1, len(parts)):
            tail = "/".join(parts[start:])
            for name in self.inputs:
                if name == tail or name.endswith("/" + tail):
                    return name
        return None

    def map(self, text: str) -> str:
        """`text` with each path into the temporary folder that copies an input replaced by
        that input's path."""
        return self.pattern.sub(lambda m: self.source(m.group(0)) or m.group(0), text)

    def rewrite_log(self, log: Path) -> None:
        """Map the paths in a log file (in place; a log over LOG_LIMIT is left alone)."""
        try:
            if log.stat().st_size > LOG_LIMIT:
                return
            text = log.read_text(errors="replace")
            mapped = self.map(text)
            if mapped != text:
                tmp = log.with_name(f".{log.name}.{os.getpid()}")
                tmp.write_text(mapped)
                tmp.replace(log)
        except OSError:
            return
