"""The esp-baremetal toolchain's version line: the cross compiler's version and a digest of
fedbuild's firmware runtime (hardware/firmware/), so that a new compiler or an edited
startup file, linker script or Unity rebuilds every firmware module (the version line is
part of each step's fingerprint).

Run as a file (`python hardware/toolchain_version.py`), not as `-m hardware`: fedbuild asks
tool versions from the repository's folder, where its packages may not be importable.
Standard library only.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

GCC = "riscv64-unknown-elf-gcc"
RUNTIME = Path(__file__).resolve().parent / "firmware"


def runtime_digest(folder: Path = RUNTIME) -> str:
    """SHA-256 over the runtime's files, names and contents (first 12 hex digits)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and
                       "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def main() -> int:
    """Print the line; exit 1 (no version) when the compiler is missing."""
    try:
        done = subprocess.run([GCC, "-dumpfullversion"], capture_output=True, text=True,
                              timeout=30, check=False)
    except OSError:
        print(f"{GCC} is not installed")
        return 1
    print(f"{GCC} {done.stdout.strip() or '?'}, fedbuild runtime {runtime_digest()}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
