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


def test_one_worker_names_the_longest_chain(monorepo: Repo) -> None:
    repo = monorepo("statuses")
    edit_manifest(repo, chain_and_short)
    # doit's own order, serially: the quick test runs last, after waiting for the chain
    result = run_doit(repo, "order=doit", "build:app", "test:app", "test:stored")
    assert result.returncode == 0, result.stdout + result.stderr
    order = [m for m in re.findall(r"\] (\S+) started", result.stdout)]
    assert order == ["build:app", "test:app", "test:stored"], result.stdout
    line = next(ln for ln in result.stdout.splitlines() if ln.startswith("critical path: "))
    assert re.findall(r"(\S+:\S+) \d", line) == ["build:app", "test:app"], line
    assert "waited" not in line
