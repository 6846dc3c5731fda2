"""Check the repository in the current folder before a build (run by service.projects).

It runs in its own process, in the repository, so that its one-line error names files
exactly as `doit` run there prints them (paths are shown relative to the working folder).
Exit 0 when the manifest loads and every ESP-IDF module is a buildable project; otherwise
print the error's one line and exit 3, like `doit` does.
"""

from __future__ import annotations

import sys
from pathlib import Path

from federation.errors import ManifestError
from federation.loader import load_project
from hardware.errors import HardwareError
from hardware.idf import check_project

FAILED = 3


def check(root: Path) -> None:
    """Raise ManifestError or HardwareError if the repository at root cannot be built."""
    project = load_project(root)
    for module in project.manifest.modules:
        # load_project checked the chip and CMakeLists.txt; this looks inside the project.
        if module.toolchain == "esp-idf" and module.source.is_local and module.target:
            check_project(project.local_dir(module), module.target)


def main() -> int:
    """Check the current folder; print the problem's one line."""
    try:
        check(Path.cwd())
    except (ManifestError, HardwareError) as err:
        print(str(err), flush=True)
        return FAILED
    return 0


if __name__ == "__main__":
    sys.exit(main())
