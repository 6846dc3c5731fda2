"""The one error type a user sees for a mistake in modules.json or a file it names."""

from __future__ import annotations

from doit.exceptions import InvalidDodoFile


class ManifestError(InvalidDodoFile):
    """A manifest mistake: printed by doit as one `ERROR:` line, exit code 3, no traceback.

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
        """The whole error as the single line the user reads."""
        parts = [self.file, self.where, self.message]
        return ": ".join(part for part in parts if part)

    def __str__(self) -> str:
        return self.line
