"""A manifest error is one line whatever the values it quotes."""

from __future__ import annotations

import pytest

from core.errors import ManifestError, escape


@pytest.mark.parametrize(("value", "shown"), [
    ("x\nERROR: fake", "x\\nERROR: fake"),
    ("a\rb\tc", "a\\rb\\tc"),
    ("\x1b[2J\x00", "\\x1b[2J\\x00"),
    ("\x85 \u2028 \u2029", "\\x85 \\u2028 \\u2029"),  # lines to str.splitlines()
    ("\ud800", "\\ud800"),  # a lone surrogate cannot even be encoded
    ("\u202eevil", "\\u202eevil"),  # right-to-left override: reorders what the line shows
])
def test_unprintable_characters_are_escaped(value: str, shown: str) -> None:
    """Each character that would break, forge or disguise the line is written as its escape."""
    assert escape(value) == shown


def test_printable_text_is_unchanged() -> None:
    """Quotes, backslashes and letters of any script stay as they are."""
    text = "modules.json: modules[0].name: 'Grüße, 世界 \\ ok' is not valid"
    assert escape(text) == text


def test_the_error_line_is_one_line_and_encodable() -> None:
    """The file, the field and the message are all escaped, and the line encodes as UTF-8."""
    err = ManifestError("dir\n/modules.json", "a\u2028b", "x\nERROR: fake \ud800")
    assert err.line.splitlines() == [err.line]
    assert str(err) == err.line
    err.line.encode("utf-8")
    assert err.line == "dir\\n/modules.json: a\\u2028b: x\\nERROR: fake \\ud800"
