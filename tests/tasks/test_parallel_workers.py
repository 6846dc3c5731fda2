"""tasks/config.py's parallel_workers: doit's workers when the command line gives no -n."""

from __future__ import annotations

from federation.manifest import BuildSettings
from tasks.config import parallel_workers


def test_parallel_uses_every_cpu_unless_capped() -> None:
    """parallel alone: the CPUs; with max_parallel_builds: at most that; without: serial."""
    assert parallel_workers(BuildSettings(parallel=True), 8) == 8
    assert parallel_workers(BuildSettings(parallel=True, max_parallel_builds=3), 8) == 3
    assert parallel_workers(BuildSettings(parallel=True, max_parallel_builds=3), 2) == 2
    assert parallel_workers(BuildSettings(), 8) == 0
    assert parallel_workers(BuildSettings(parallel=False, max_parallel_builds=4), 8) == 0
