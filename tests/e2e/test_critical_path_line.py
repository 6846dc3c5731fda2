"""The summary's critical path through real doit, with one worker: the chain of dependent
tasks with the longest total duration, not the task that happened to end last."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import edit_manifest, module, run_doit

Repo = Callable[[str], Path]


def chain_and_short(data: dict[str, Any]) -> None:
    """app: build (0.6 s) -> test (0.6 s); stored: a test of its own, quick."""
    app = module(data, "app")
    step = ["{python}", "{root}/tools/check.py"]
    app["steps"] = [
        {"name": "build", "argv": [*step, "build:{name}", "--sleep", "0.6"]},
        {"name": "test", "depends_on": ["build"],
         "argv": [*step, "test:{name}", "--sleep", "0.6"]}]
    data["modules"] = [app, module(data, "stored")]


def one_at_a_time(data: dict[str, Any]) -> None:
    """One worker whatever the CPUs (build_settings.parallel false)."""
    data["federation"].setdefault("build_settings", {})["parallel"] = False


def test_one_worker_names_the_longest_chain(monorepo: Repo) -> None:
    repo = monorepo("statuses")
    edit_manifest(repo, chain_and_short)
    edit_manifest(repo, one_at_a_time)
    # doit's own order, serially: the quick test runs last, after waiting for the chain
    result = run_doit(repo, "order=doit", "build:app", "test:app", "test:stored")
    assert result.returncode == 0, result.stdout + result.stderr
    order = [m for m in re.findall(r"\] (\S+) started", result.stdout)]
    assert order == ["build:app", "test:app", "test:stored"], result.stdout
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("critical path: "))
    assert re.findall(r"(\S+:\S+) \d", line) == ["build:app", "test:app"], line
    assert "waited" not in line


def test_performance_tracking_adds_the_slowest_tasks_to_the_summary(monorepo: Repo) -> None:
    """build_settings.performance_tracking was accepted and ignored; now it shows the slowest
    tasks with their peak memory and CPU time (off: no such lines)."""
    repo = monorepo("statuses")
    edit_manifest(repo, chain_and_short)
    result = run_doit(repo, "build:app")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "performance:" not in result.stdout

    def track(data: dict[str, Any]) -> None:
        data["federation"].setdefault("build_settings", {})["performance_tracking"] = True

    edit_manifest(repo, track)
    result = run_doit(repo, "--always-execute", "build:app", "test:app")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    head = lines.index("performance (build_settings.performance_tracking), slowest first:")
    shown = {ln.split()[0]: ln for ln in lines[head + 1:head + 3]}
    assert sorted(shown) == ["build:app", "test:app"], result.stdout
    # test:app ran its command (build:app may come from the cache: nothing measured)
    assert re.search(r"peak memory \d+\.\d [KMG]B, CPU \d", shown["test:app"]), result.stdout
