"""The checks of doit's command line: closest names for mistyped variables and tasks."""

from __future__ import annotations

import pytest

from federation.errors import ManifestError
from tasks.command_line import VARIABLES, check_variables, closest, unknown_task


def test_every_known_variable_passes() -> None:
    check_variables({name: "x" for name in VARIABLES})


def test_an_unknown_variable_names_the_closest() -> None:
    with pytest.raises(ManifestError) as err:
        check_variables({"mode": "production", "ordr": "doit"})
    assert str(err.value).startswith("command line: ordr=: fedbuild reads no variable 'ordr'; "
                                     "did you mean order=?")


def test_closest_prefers_the_most_similar() -> None:
    assert closest("lockwait", VARIABLES) == "lock_wait"
    assert closest("biuld", ["build", "federate", "verify"]) == "build"


def test_unknown_subtask_is_compared_within_its_group() -> None:
    tasks = {"build": None, "build:docs": None, "test:nosuchx": None, "_regex_target": None}
    assert "did you mean build:docs?" in unknown_task("build:nosuch", tasks)
