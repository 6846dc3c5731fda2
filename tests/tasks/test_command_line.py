"""The checks of doit's command line: closest names for mistyped variables and tasks."""

from __future__ import annotations

import doit
import doit.doit_cmd
import pytest

from core.errors import ManifestError, UsageError
from tasks import shard
from tasks.command_line import VARIABLES, check_variables, closest, keeps_going, unknown_task
from tasks.config import run_mode
from tasks.session import lock_wait


def test_every_known_variable_passes() -> None:
    check_variables({name: "x" for name in VARIABLES})


def test_an_unknown_variable_names_the_closest() -> None:
    with pytest.raises(UsageError) as err:
        check_variables({"mode": "production", "ordr": "doit"})
    assert not isinstance(err.value, ManifestError)  # how it was called, not what it holds
    assert str(err.value).startswith("command line: ordr=: fedbuild reads no variable 'ordr'; "
                                     "did you mean order=?")


def test_closest_prefers_the_most_similar() -> None:
    assert closest("lockwait", VARIABLES) == "lock_wait"
    assert closest("biuld", ["build", "federate", "verify"]) == "build"


def test_unknown_subtask_is_compared_within_its_group() -> None:
    tasks = {"build": None, "build:docs": None, "test:nosuchx": None, "_regex_target": None}
    assert "did you mean build:docs?" in unknown_task("build:nosuch", tasks)


@pytest.mark.parametrize(("given", "env", "line"), [
    ({"mode": "prod"}, {}, "command line: mode: 'prod' is not a mode; use mode=development, "
                           "mode=production, mode=test"),
    ({"shard": "5/4"}, {}, "command line: shard: '5/4' is not a shard: use shard=K/N with "
                           "1 <= K <= N, e.g. shard=1/4"),
    ({"lock_wait": "soon"}, {}, "command line: lock_wait: 'soon' is not a number of seconds to "
                                "wait for another run's lock; use e.g. lock_wait=60 (0: do not "
                                "wait)"),
    ({"lock_wait": "-5"}, {}, "command line: lock_wait: '-5' is not a number of seconds"),
    ({"lock_wait": "nan"}, {}, "command line: lock_wait: 'nan' is not a number of seconds"),
    ({}, {"FEDBUILD_LOCK_WAIT": "1m"}, "environment: FEDBUILD_LOCK_WAIT: '1m' is not a number "
                                       "of seconds"),
])
def test_command_line_and_environment_mistakes_are_usage_errors(
        monkeypatch: pytest.MonkeyPatch, given: dict[str, str], env: dict[str, str],
        line: str) -> None:
    """Before: ManifestErrors (as if modules.json were wrong), and a lock_wait that was not a
    number silently meant 0 (no wait)."""
    monkeypatch.setattr(doit.doit_cmd, "_CMDLINE_VARS", given)
    monkeypatch.delenv("FEDBUILD_LOCK_WAIT", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(UsageError) as err:
        run_mode()
        shard.requested()
        lock_wait()
    assert str(err.value).startswith(line) and not isinstance(err.value, ManifestError)


def test_lock_wait_reads_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FEDBUILD_LOCK_WAIT", raising=False)
    monkeypatch.setattr(doit.doit_cmd, "_CMDLINE_VARS", {})
    assert lock_wait() == 0.0
    monkeypatch.setenv("FEDBUILD_LOCK_WAIT", "2.5")
    assert lock_wait() == 2.5
    monkeypatch.setattr(doit.doit_cmd, "_CMDLINE_VARS", {"lock_wait": "60"})
    assert lock_wait() == 60.0


@pytest.mark.parametrize(("given", "fail_fast", "keeps_on"), [
    ({}, False, True),
    ({}, True, False),
    ({"continue": "true"}, True, True),
    ({"continue": "false"}, False, False),
    ({"fail_fast": "true"}, False, False),
    ({"fail_fast": "false"}, True, True),
    ({"fail_fast": "yes", "continue": "no"}, False, False),
])
def test_continue_and_fail_fast_variables_override_the_manifest(
        given: dict[str, str], fail_fast: bool, keeps_on: bool) -> None:
    """`doit continue=true` / `doit fail_fast=true` win over build_settings.fail_fast."""
    assert keeps_going(fail_fast, given) is keeps_on


@pytest.mark.parametrize(("given", "line"), [
    ({"continue": "maybe"}, "command line: continue: 'maybe' is not true or false; use "
                            "continue=true or continue=false"),
    ({"fail_fast": ""}, "command line: fail_fast: '' is not true or false; use "
                        "fail_fast=true or fail_fast=false"),
    ({"continue": "true", "fail_fast": "true"},
     "command line: fail_fast: continue=true and fail_fast=true say opposite things; "
     "give one of them"),
])
def test_a_mistyped_switch_is_one_usage_error(given: dict[str, str], line: str) -> None:
    with pytest.raises(UsageError) as err:
        keeps_going(False, given)
    assert str(err.value) == line
