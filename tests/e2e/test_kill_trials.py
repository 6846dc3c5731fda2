"""Kill trials in CI: a handful of bench/kill_trials.py's trials (run 50 with
`python bench/kill_trials.py`), each a property of any stop, at any moment.

SIGKILL or SIGINT reaches `doit -n 2` under -P thread or -P process at a moment polled
from the run's own files: holding the lock, building, a build done, federate assembling,
and the publish swap. After each: public/ is one whole tree (`sha256sum -c`), the next run
succeeds, no process of the stopped run survives it, and a no-op then does nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.kill_trials import Monorepo, Trial, run_trial

pytestmark = pytest.mark.heavy(22)  # run early under -n (tests/conftest.py)

TRIALS = [
    Trial("process", "SIGKILL", "building"),
    Trial("thread", "SIGKILL", "swap"),
    Trial("process", "SIGINT", "swap"),
    Trial("process", "SIGKILL", "swap"),
    Trial("thread", "SIGINT", "built"),
    Trial("process", "SIGINT", "locked"),
]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Monorepo:
    """The trials' monorepo, built once; each trial publishes the next version."""
    return Monorepo.create(tmp_path_factory.mktemp("kill-trials"), pages=150)


@pytest.mark.parametrize("trial", TRIALS, ids=lambda t: f"{t.mode}-{t.signal}-{t.moment}")
def test_a_stopped_run_leaves_one_whole_tree_and_nothing_running(
        repo: Monorepo, trial: Trial, tmp_path: Path) -> None:
    """Stopped at its moment, the run leaves public/ whole; the next run cleans up after it."""
    result = run_trial(repo, trial, tmp_path / "stopped-run.out")
    assert result.reached, "the run ended before its moment: the trial tested nothing"
    assert result.stopped in ("old", "new")
    assert result.ok, "; ".join(result.failures)
