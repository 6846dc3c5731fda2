"""bench/kill_trials.py's plan and table (the trials themselves: tests/e2e/test_kill_trials.py)."""

from __future__ import annotations

import random

from bench.kill_trials import MODES, MOMENTS, SIGNALS, Result, Trial, plan, table


def test_plan_covers_every_mode_signal_and_moment_before_repeating() -> None:
    """The first 20 of 50 trials are the 20 combinations; swap gets no delay (it is a point)."""
    trials = plan(50, random.Random(1), jitter=0.3)
    assert len(trials) == 50
    first = {(t.mode, t.signal, t.moment) for t in trials[:20]}
    assert first == {(m, s, w) for m in MODES for s in SIGNALS for w in MOMENTS}
    assert all(t.jitter == 0 for t in trials if t.moment == "swap")
    assert all(0 <= t.jitter <= 0.3 for t in trials)


def test_table_has_a_row_per_trial_and_counts_failures() -> None:
    """A failed trial shows its first failure and is counted under its mode and signal."""
    results = [Result(Trial("thread", "SIGKILL", "swap"), stopped="new"),
               Result(Trial("process", "SIGINT", "built", 0.12), stopped="old",
                      failures=["next run exit 2: locked", "survivors"])]
    text = table(results)
    assert "next run exit 2: locked (+1 more)" in text
    assert "built+0.12s" in text
    assert "2 trials: 1 ok, 1 failed" in text
    assert "-P process SIGINT    1 trials, 1 failed" in text
