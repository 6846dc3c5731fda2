"""fedpy against the real libfedmath.so named by $FEDMATH_LIB (never a fallback)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Runs from the source tree without installing the wheel.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

import fedpy


@pytest.fixture(scope="module")
def fedmath() -> fedpy.FedMath:
    """The library, loaded the way users load it."""
    if not os.environ.get(fedpy.ENV_VAR):
        pytest.fail(
            f"{fedpy.ENV_VAR} is not set: build modules/clib and set it to the path "
            "of its libfedmath.so (e.g. dist/development/clib/lib/libfedmath.so)",
            pytrace=False,
        )
    return fedpy.load()


def test_loads_the_library_named_by_the_environment(fedmath: fedpy.FedMath) -> None:
    assert fedmath.path == Path(os.environ[fedpy.ENV_VAR]).resolve()
    assert fedmath.path.name.startswith("libfedmath")


def test_add(fedmath: fedpy.FedMath) -> None:
    assert fedmath.add(2, 3) == 5
    assert fedmath.add(-7, 7) == 0
    assert fedmath.add(2**31 - 1, 1) == -(2**31)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("", 0x811C9DC5), ("a", 0xE40C292C), ("foobar", 0xBF9CF968), ("fedbuild", 0x2554BA30)],
    ids=["empty", "a", "foobar", "fedbuild"],
)
def test_checksum_matches_fnv1a(fedmath: fedpy.FedMath, text: str, expected: int) -> None:
    assert fedmath.checksum(text) == expected
    assert fedmath.checksum(text.encode()) == expected


def test_missing_library_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(fedpy.FedMathNotFound, match="does not exist"):
        fedpy.load(tmp_path / "libfedmath.so")
