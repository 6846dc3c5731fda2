"""Tool version probes: the first ask starts the probe of every tool the run's tasks use, so
the probes run side by side. Real processes: each fake tool waits until the other has
started, which only probes started together can do."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from federation.steps import ToolPlan
from tasks import planned, steps

WAIT_FOR_OTHER = """
import pathlib, sys, time
here, other, version = sys.argv[1:]
pathlib.Path(here).touch()
deadline = time.monotonic() + 20
while not pathlib.Path(other).exists():
    if time.monotonic() > deadline:
        sys.exit("the other probe never started")
    time.sleep(0.01)
print(version)
"""


@pytest.fixture
def fresh_probes(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(steps, "_steps", {})
    monkeypatch.setattr(steps, "_versions", {})
    yield
    planned.end()


def tool(tmp_path: Path, name: str, other: str, version: str) -> ToolPlan:
    script = tmp_path / "probe.py"
    script.write_text(WAIT_FOR_OTHER)
    argv = (sys.executable, str(script), str(tmp_path / name), str(tmp_path / other), version)
    return ToolPlan(command=name, version=argv, install="")


def plan_with(tasks: dict[str, ToolPlan], forks: bool = False) -> None:
    doit_tasks: dict[str, Any] = {}
    for name, probe in tasks.items():
        steps._steps[name] = SimpleNamespace(tool=probe, skip=None)  # type: ignore[assignment]
        doit_tasks[name] = SimpleNamespace(actions=[object()], task_dep=[], setup_tasks=[])
    planned.begin(doit_tasks, list(tasks), list(tasks), forks=forks)


def test_the_first_ask_starts_every_planned_tools_probe(tmp_path: Path, fresh_probes: None
                                                        ) -> None:
    left = tool(tmp_path, "left", "right", "left 1.0")
    right = tool(tmp_path, "right", "left", "right 2.0")
    plan_with({"build:a": left, "build:b": right})
    (tmp_path / ".fedbuild").mkdir()  # as in a run (before any, the logs go elsewhere)

    assert steps.tool_version(left, tmp_path) == "left 1.0"  # right's probe ran meanwhile
    assert steps.tool_version(right, tmp_path) == "right 2.0"
    logs = sorted(p.name for p in (tmp_path / ".fedbuild/logs/tools").iterdir())
    assert len(logs) == 2 and all(name.startswith("python") for name in logs)


def test_before_any_run_a_probe_writes_nothing_in_the_repository(tmp_path: Path,
                                                                  fresh_probes: None) -> None:
    """`doit info` on a fresh checkout asks tool versions: their logs go to a temporary
    folder, so it creates nothing on disk."""
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    only = ToolPlan("only", (sys.executable, str(script), "0", "only 1"), "")
    plan_with({"build:a": only})
    before = sorted(tmp_path.rglob("*"))

    assert steps.tool_version(only, tmp_path) == "only 1"
    assert sorted(tmp_path.rglob("*")) == before


def test_without_a_plan_only_the_asked_tool_is_probed(tmp_path: Path, fresh_probes: None
                                                      ) -> None:
    planned.end()
    alone = tool(tmp_path, "alone", "alone", "alone 3.0")  # waits for itself: starts at once
    never = tool(tmp_path, "never", "alone", "never")

    assert steps.tool_version(alone, tmp_path) == "alone 3.0"
    assert never.version not in steps._versions
    assert steps.tool_version(None, tmp_path) is None


SLOW = """
import sys, time
time.sleep(float(sys.argv[1]))
print(sys.argv[2])
"""


def test_a_forked_worker_probes_again_what_its_parent_was_still_probing(
        tmp_path: Path, fresh_probes: None) -> None:
    """A `-P process` worker is forked while the parent's probes may still run: it must not
    wait for a probe whose thread stayed in the parent (it would wait forever), but ask
    again itself."""
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    fast = ToolPlan("fast", (sys.executable, str(script), "0", "fast 1.0"), "")
    slow = ToolPlan("slow", (sys.executable, str(script), "1.5", "slow 2.0"), "")
    plan_with({"build:a": fast, "build:b": slow})
    assert steps.tool_version(fast, tmp_path) == "fast 1.0"  # slow's probe still runs
    answer = tmp_path / "answer"
    pid = os.fork()
    if pid == 0:  # the worker
        try:
            answer.write_text(steps.tool_version(slow, tmp_path) or "none")
        finally:
            os._exit(0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and os.waitpid(pid, os.WNOHANG) == (0, 0):
        time.sleep(0.05)
    if not answer.exists():
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    assert answer.read_text() == "slow 2.0"
    assert steps.tool_version(slow, tmp_path) == "slow 2.0"  # the parent's own probe


def test_where_doit_forks_workers_each_probe_runs_alone(tmp_path: Path, fresh_probes: None
                                                        ) -> None:
    """With `-P process` no probe is started beside the one asked for: a process starting
    while doit forks a worker can hang."""
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    first = ToolPlan("first", (sys.executable, str(script), "0", "first 1"), "")
    second = ToolPlan("second", (sys.executable, str(script), "0", "second 1"), "")
    plan_with({"build:a": first, "build:b": second}, forks=True)
    assert steps.tool_version(first, tmp_path) == "first 1"
    assert second.version not in steps._versions


def test_a_tool_with_other_programs_joins_their_version_lines(tmp_path: Path,
                                                              fresh_probes: None) -> None:
    """cmake's steps also run the C and C++ compilers: their versions join cmake's (and all
    start together: each fake compiler waits for the other); one that cannot be run is
    "none"."""
    cc = tool(tmp_path, "cc", "cxx", "cc 12.2")
    cxx = tool(tmp_path, "cxx", "cc", "c++ 12.2")
    script = tmp_path / "slow.py"
    script.write_text(SLOW)
    cmake = ToolPlan("cmake", (sys.executable, str(script), "0", "cmake 3.25"), "",
                     also=(cc.version, cxx.version))
    assert steps.tool_version(cmake, tmp_path) == "cmake 3.25 | cc 12.2 | c++ 12.2"
    broken = ToolPlan("cmake", cmake.version, "", also=((str(tmp_path / "no-such-cc"), "-v"),))
    assert steps.tool_version(broken, tmp_path) == "cmake 3.25 | none"
