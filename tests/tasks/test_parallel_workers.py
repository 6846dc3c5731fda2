"""tasks/config.py's parallel_workers: doit's workers when the command line gives no -n."""

from __future__ import annotations

from federation.manifest import BuildSettings
from tasks.config import parallel_workers


def test_every_cpu_by_default_unless_capped() -> None:
    """No build_settings: the CPUs (as `doit -n` sized by hand); with max_parallel_builds: at
    most that; one CPU (or a cap of one) runs one task at a time, as doit does without -n."""
    assert parallel_workers(BuildSettings(), 8) == 8
    assert parallel_workers(BuildSettings(parallel=True), 8) == 8
    assert parallel_workers(BuildSettings(max_parallel_builds=3), 8) == 3
    assert parallel_workers(BuildSettings(parallel=True, max_parallel_builds=3), 2) == 2
    assert parallel_workers(BuildSettings(), 1) == 0
    assert parallel_workers(BuildSettings(max_parallel_builds=1), 8) == 0


def test_parallel_false_runs_one_task_at_a_time() -> None:
    """parallel false (or the older parallel_builds false): serial, whatever the cap."""
    assert parallel_workers(BuildSettings(parallel=False), 8) == 0
    assert parallel_workers(BuildSettings(parallel=False, max_parallel_builds=4), 8) == 0
    assert parallel_workers(BuildSettings.model_validate({"parallel_builds": False}), 8) == 0
