"""Byte sizes, read and written one way everywhere fedbuild takes or shows one.

The rule (README, "Sizes"): a bare number is bytes (`65536`, or hex `0x10000`); a
single letter or an IEC unit is a power of 1024 (`K` = `KiB` = 1024, `M` = `MiB`,
`G` = `GiB`, `T` = `TiB`); an SI unit is a power of 1000 (`KB` = 1000, `MB`, `GB`,
`TB`). Letters are read in any case, a fraction is allowed (`1.5M`) and rounds
down to whole bytes. So `64K` and `64KiB` are 65,536 bytes and `64KB` is 64,000,
whether the size is the cache's `max_size`, a firmware budget or an artifact's
`max_bytes`. This module imports nothing of fedbuild: every layer may use it.
"""

from __future__ import annotations

import re

_BINARY = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
           "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}
_DECIMAL = {"KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
UNITS = {**_BINARY, **_DECIMAL}
_SIZE = re.compile(r"(\d+(?:\.\d+)?|\.\d+)\s*([a-zA-Z]*)")
_HEX = re.compile(r"0[xX][0-9a-fA-F]+")
RULE = ("a number of bytes (65536, 0x10000) or a number with K, M, G, T or KiB, MiB, GiB, "
        "TiB (powers of 1024: 64K = 65536) or KB, MB, GB, TB (powers of 1000: 64KB = 64000)")


def parse_size(value: int | float | str) -> int:
    """Bytes from 65536, "0x10000", "64K", "64KiB", "64KB", "1.5M" or "5GB" (see the rule
    above); a ValueError naming the rule for anything else, zero or a negative size."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(f"{value!r} is not a size: use {RULE}")
    if isinstance(value, (int, float)):
        size = int(value)
    elif isinstance(value, str):
        size = _from_text(value.strip())
    else:
        raise ValueError(f"{value!r} is not a size: use {RULE}")
    if size <= 0:
        raise ValueError(f"{value!r} is not a size: give more than 0 bytes")
    return size


def _from_text(text: str) -> int:
    if _HEX.fullmatch(text):
        return int(text, 16)
    found = _SIZE.fullmatch(text)
    unit = found[2].upper() if found else ""
    if not found or unit not in UNITS:
        raise ValueError(f"{text!r} is not a size: use {RULE}")
    number, scale = found[1], UNITS[unit]
    whole, _, fraction = number.partition(".")
    # Exact integer arithmetic: float("4.1") * 1000**4 would round off bytes.
    return (int(whole or "0") * scale
            + (int(fraction) * scale // 10 ** len(fraction) if fraction else 0))


def format_size(size: int) -> str:
    """512 B, 1.5 KB, 3.4 MB, 5.0 GB: powers of 1000, the units' meaning in the rule."""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1000
        if value < 999.95:
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"
