"""The error types a user sees for a mistake they can fix: one line, exit code 3.

`ManifestError` is a mistake in modules.json or a file it names (a module's module.json,
a toolchain's YAML); `UsageError` a mistake on doit's command line (`mode=`, `shard=`,
`order=`, `lock_wait=`, an unknown variable) or in a FEDBUILD_* environment variable.
Both print the same way; they are apart so that code asking "is this repository
buildable?" (the service's check) never mistakes how it was called for what it holds.
"""

from __future__ import annotations

from doit.exceptions import InvalidDodoFile


class OneLineError(InvalidDodoFile):
    """A mistake printed by doit as one `ERROR:` line, exit code 3, no traceback.

    Subclassing InvalidDodoFile is what makes doit print only the message when
    it is raised while dodo.py loads.
    """

    def __init__(self, file: str, where: str, message: str) -> None:
        self.file = file
        self.where = where
        self.message = message
        super().__init__(self.line)

    @property
    def line(self) -> str:
        """The whole error as the single line the user reads, whatever the values it quotes."""
        parts = [self.file, self.where, self.message]
        return escape(": ".join(part for part in parts if part))

    def __str__(self) -> str:
        return self.line


class ManifestError(OneLineError):
    """A mistake in modules.json or a file it names: `file: json.path: what is valid`."""


class UsageError(OneLineError):
    """A mistake in how fedbuild was called: `command line: mode: ...` or
    `environment: FEDBUILD_CACHE: ...` (the file is where the value came from)."""


COMMAND_LINE = "command line"
ENVIRONMENT = "environment"


def escape(text: str) -> str:
    """`text` with every unprintable character written as its escape (\\n, \\x1b, \\ud800).

    A value quoted in a message may hold a newline, a terminal control sequence or a
    lone surrogate: printed as is, it would add a forged line, repaint the terminal or
    fail to encode. Escaped here, once, every message stays the one line it was.
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


def _escape_char(char: str) -> str:
    code = ord(char)
    if char in "\n\r\t":
        return repr(char)[1:-1]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


class HardwareError(Exception):
    """A board, port, image or tool problem, said in one line (no traceback is shown)."""
