"""The one error the hardware commands raise: its str() is one line a user can act on."""

from __future__ import annotations


class HardwareError(Exception):
    """A board, port, image or tool problem, said in one line (no traceback is shown)."""
