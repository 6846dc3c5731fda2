"""Parallel builds under doit -n with threads and processes, and the manifest's defaults."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_doit

Repo = Callable[[str], Path]


def slow_repo(monorepo: Repo, seconds: float = 1.5) -> Path:
    """The basic fixture with every module's build taking `seconds`."""
    repo = monorepo("basic")
    manifest = json.loads((repo / "modules.json").read_text())
    for module in manifest["modules"]:
        module["env"] = {"BEHAVIOR": "slow", "SLOW_SECONDS": str(seconds)}
    (repo / "modules.json").write_text(json.dumps(manifest, indent=2))
    return repo


def meeting_repo(monorepo: Repo, count: int, seconds: float = 0) -> Path:
    """The basic fixture with every module's build waiting until `count` builds have
    started, then taking `seconds`: they only all succeed when `count` run at once."""
    repo = monorepo("basic")
    set_behavior(repo, "meet", MEET_COUNT=str(count), SLOW_SECONDS=str(seconds))
    return repo


def set_behavior(repo: Path, behavior: str, **env: str) -> None:
    """Every module's build behaves as `behavior` (the fixture's build.sh), with `env`."""
    manifest = json.loads((repo / "modules.json").read_text())
    for module in manifest["modules"]:
        module["env"] = {"BEHAVIOR": behavior, **env}
    (repo / "modules.json").write_text(json.dumps(manifest, indent=2))


def intervals(runs: Path) -> dict[str, tuple[float, float]]:
    """Start and end time of each module's build.sh, from the fixture's runs log."""
    start: dict[str, float] = {}
    spans: dict[str, tuple[float, float]] = {}
    for line in runs.read_text().splitlines():
        name, event, stamp = line.split()
        if event == "start":
            start[name] = float(stamp)
        else:
            spans[name] = (start[name], float(stamp))
    return spans


def max_overlap(spans: dict[str, tuple[float, float]]) -> int:
    """The most builds that were running at one moment."""
    events = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    return peak


@pytest.mark.parametrize("par_type", ["thread", "process"])
def test_n2_runs_two_builds_at_once(monorepo: Repo, par_type: str) -> None:
    """`doit -n 2 -P <type>` overlaps builds, never more than two, and all succeed."""
    repo = meeting_repo(monorepo, 2)
    runs = repo / "runs.log"
    result = run_doit(repo, "-n", "2", "-P", par_type, env={"RUNS_LOG": str(runs)})
    assert result.returncode == 0, result.stdout + result.stderr
    spans = intervals(runs)
    assert sorted(spans) == ["alpha", "beta", "gamma"]
    assert max_overlap(spans) == 2
    for line in result.stdout.splitlines():  # whole lines only: no interleaving mid-line
        assert line == "" or line.startswith(("[", "task", "build", "federate", "4 tasks",
                                              "critical path: ", "parallelism: ",
                                              "run files: ", "federation: published",
                                              "  /")), line


def test_serial_without_n_when_manifest_says_not_parallel(monorepo: Repo) -> None:
    """build_settings.parallel false: one build at a time."""
    repo = slow_repo(monorepo, 0.5)
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["federation"]["build_settings"] = {"parallel": False}
    (repo / "modules.json").write_text(json.dumps(manifest))
    runs = repo / "runs.log"
    assert run_doit(repo, env={"RUNS_LOG": str(runs)}).returncode == 0
    assert max_overlap(intervals(runs)) == 1


def test_as_many_builds_at_once_as_cpus_by_default(monorepo: Repo) -> None:
    """No build_settings at all (a new repository): as many builds at once as there are CPUs
    (the fixture has three), as `doit -n <CPUs>` would run them."""
    at_once = min(os.cpu_count() or 1, 3)
    repo = meeting_repo(monorepo, at_once)
    manifest = json.loads((repo / "modules.json").read_text())
    assert "build_settings" not in manifest["federation"]
    runs = repo / "runs.log"
    result = run_doit(repo, env={"RUNS_LOG": str(runs)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert max_overlap(intervals(runs)) == at_once


def test_manifest_parallel_settings_are_the_default(monorepo: Repo) -> None:
    """build_settings.parallel with max_parallel_builds 3 runs as many at once as there are
    CPUs, at most three, without -n; -n 1 on the command line runs one at a time."""
    at_once = min(os.cpu_count() or 1, 3)
    repo = meeting_repo(monorepo, at_once)
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["federation"]["build_settings"] = {"parallel": True, "max_parallel_builds": 3}
    (repo / "modules.json").write_text(json.dumps(manifest))
    runs = repo / "runs.log"
    assert run_doit(repo, env={"RUNS_LOG": str(runs)}).returncode == 0
    assert max_overlap(intervals(runs)) == at_once
    runs.unlink()
    set_behavior(repo, "slow", SLOW_SECONDS="0.5")
    assert run_doit(repo, "-n", "1", env={"RUNS_LOG": str(runs)}).returncode == 0
    assert max_overlap(intervals(runs)) == 1  # the command line wins


def test_exclusive_step_never_runs_beside_a_site_build(monorepo: Repo) -> None:
    """An exclusive step of a toolchain module waits for site builds, and they for it."""
    repo = meeting_repo(monorepo, 2, seconds=0.8)
    (repo / "modules/solo").mkdir()
    manifest = json.loads((repo / "modules.json").read_text())
    log = ("import sys, time; "
           "open(sys.argv[1], 'a').write('solo %s %s\\n' % (sys.argv[2], time.time()))")
    manifest["modules"].append({
        "name": "solo", "source": {"repository": "local", "path": "modules/solo"},
        "toolchain": "command", "steps": [{
            "name": "build", "exclusive": True, "commands": [
                ["python3", "-c", log, "{root}/runs.log", "start"],
                ["python3", "-c", "import time; time.sleep(0.8)"],
                ["python3", "-c", log, "{root}/runs.log", "end"]]}]})
    (repo / "modules.json").write_text(json.dumps(manifest, indent=2))
    runs = repo / "runs.log"
    result = run_doit(repo, "-n", "3", env={"RUNS_LOG": str(runs)})
    assert result.returncode == 0, result.stdout + result.stderr
    spans = intervals(runs)
    assert sorted(spans) == ["alpha", "beta", "gamma", "solo"]
    solo = spans.pop("solo")
    for name, (start, end) in spans.items():
        assert end <= solo[0] or start >= solo[1], (name, spans, solo)
    assert max_overlap(spans) >= 2  # the site builds still ran side by side
