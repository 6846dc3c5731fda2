"""fedpy: clib's fedmath shared library, through ctypes."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

__all__ = ["ENV_VAR", "FedMath", "FedMathNotFound", "load"]
__version__ = "0.1.0"

ENV_VAR = "FEDMATH_LIB"


class FedMathNotFound(RuntimeError):
    """libfedmath.so could not be located or loaded."""


class FedMath:
    """The functions of one loaded libfedmath.so."""

    def __init__(self, library: ctypes.CDLL, path: Path) -> None:
        self.path = path
        self._add = library.fm_add
        self._add.argtypes = [ctypes.c_int, ctypes.c_int]
        self._add.restype = ctypes.c_int
        self._checksum = library.fm_checksum
        self._checksum.argtypes = [ctypes.c_char_p]
        self._checksum.restype = ctypes.c_uint

    def add(self, a: int, b: int) -> int:
        """a + b as C ints (wrapping like fm_add)."""
        return int(self._add(a, b))

    def checksum(self, text: str | bytes) -> int:
        """The 32-bit FNV-1a checksum of text (UTF-8 encoded when a str)."""
        data = text.encode("utf-8") if isinstance(text, str) else text
        return int(self._checksum(data))


def load(path: str | os.PathLike[str] | None = None) -> FedMath:
    """Load libfedmath.so from path, else from $FEDMATH_LIB."""
    chosen = path if path is not None else os.environ.get(ENV_VAR)
    if not chosen:
        raise FedMathNotFound(
            f"{ENV_VAR} is not set: point it at libfedmath.so (built by modules/clib, "
            f"e.g. dist/<mode>/clib/lib/libfedmath.so) or pass load(path)"
        )
    library_path = Path(chosen).expanduser().resolve()
    if not library_path.is_file():
        raise FedMathNotFound(f"{library_path} does not exist; build modules/clib first")
    try:
        library = ctypes.CDLL(str(library_path))
    except OSError as error:
        raise FedMathNotFound(f"cannot load {library_path}: {error}") from error
    return FedMath(library, library_path)
