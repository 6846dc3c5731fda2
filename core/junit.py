"""What the JUnit XML files fedbuild writes share (a run's junit.xml, a Unity test's report)."""

from __future__ import annotations

import re

LOG_BYTES = 64 * 1024  # of a test's log in <system-out>: its end
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """`text` without the characters XML 1.0 cannot carry (the rest is escaped on writing)."""
    return _NOT_XML.sub("", text)
