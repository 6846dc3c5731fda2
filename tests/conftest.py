"""Shared helpers: fixture monorepos copied to tmp_path and real doit runs against them."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
DODO = REPO / "dodo.py"


# A suite started in the background of a non-interactive shell (`pytest ... &`) inherits
# SIGINT ignored, and so would every doit it starts: the tests that interrupt a run would
# then test nothing. A handled signal is reset to its default in a started program.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


EXAMPLE_PARTS = ("modules.json", "modules.schema.json", "modules", "site", "scripts")


def copy_example(dest: Path) -> Path:
    """Copy this repository's own example monorepo to dest (a fresh folder) and return it."""
    dest.mkdir()
    for part in EXAMPLE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, dest / part)
        else:
            shutil.copy(source, dest / part)
    return dest


def copy_fixture(name: str, dest: Path) -> Path:
    """Copy tests/fixtures/<name> to dest (a fresh folder) and return it."""
    shutil.copytree(FIXTURES / name, dest, symlinks=True)
    return dest


COMMANDS = {"run", "list", "info", "clean", "forget", "ignore", "dumpdb", "strace", "help",
            "reset-dep", "tabcompletion"}


def doit_argv(repo: Path, *args: str) -> list[str]:
    """The command line that runs fedbuild's dodo.py against the monorepo at `repo`."""
    if not args or args[0] not in COMMANDS:
        args = ("run", *args)
    return [sys.executable, "-m", "doit", args[0], "-f", str(DODO), "-d", str(repo), *args[1:]]


def run_doit(repo: Path, *args: str, env: dict[str, str] | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `doit <args>` on the monorepo for real and capture its output."""
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(doit_argv(repo, *args), cwd=repo, env=full_env, text=True,
                          capture_output=True, timeout=timeout, check=False)


def set_module(repo: Path, name: str, **fields: object) -> None:
    """Update one module's entry in modules.json."""
    manifest = json.loads((repo / "modules.json").read_text())
    for module in manifest["modules"]:
        if module["name"] == name:
            module.update(fields)
    (repo / "modules.json").write_text(json.dumps(manifest, indent=2))


def edit_manifest(repo: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply a change to modules.json."""
    data = json.loads((repo / "modules.json").read_text())
    change(data)
    (repo / "modules.json").write_text(json.dumps(data, indent=2))


def module(data: dict[str, Any], name: str) -> dict[str, Any]:
    """A module's entry in the manifest data."""
    return next(m for m in data["modules"] if m["name"] == name)


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll `condition` until it holds or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(scope="session", autouse=True)
def _own_port_locks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Serial-port locks in this session's own folder, not the machine-wide one: boards here
    are mock ones on free loopback ports, and another session's locks are no concern."""
    from hardware.portlock import ENV_LOCK_DIR

    before = os.environ.get(ENV_LOCK_DIR)
    os.environ[ENV_LOCK_DIR] = str(tmp_path_factory.mktemp("port-locks"))
    yield
    if before is None:
        os.environ.pop(ENV_LOCK_DIR, None)
    else:
        os.environ[ENV_LOCK_DIR] = before


@pytest.fixture
def monorepo(tmp_path: Path) -> Callable[[str], Path]:
    """Factory: copy a fixture monorepo into tmp_path."""
    def make(name: str = "basic") -> Path:
        return copy_fixture(name, tmp_path / name)
    return make


def run_command(repo: Path, *args: str, env: dict[str, str] | None = None,
                timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run one of fedbuild's own doit commands (`doit history`, `explain`, ...) on the monorepo
    at `repo`. doit reads command plugins from the pyproject.toml of the folder it starts in,
    so it starts in this checkout and is sent to the monorepo with -d."""
    command, *rest = args
    argv = [sys.executable, "-m", "doit", command, "-f", str(DODO), "-d", str(repo), *rest]
    full_env = {**os.environ, "NO_COLOR": "1", **(env or {})}
    return subprocess.run(argv, cwd=REPO, env=full_env, text=True, capture_output=True,
                          timeout=timeout, check=False)


# Under `-n 2 --dist loadfile` each file runs whole on one worker, handed out in collection
# order as a worker runs short of tests (xdist's own reordering, by number of tests, is off in
# pyproject.toml: it sent the few-test but long files, a cold build of the example or mypy,
# last, and one worker then ran one of them alone at the end). Files marked
# `pytestmark = pytest.mark.heavy` go first, the heaviest first; the many short files then
# even out the two workers' ends.


def pytest_configure(config: pytest.Config) -> None:
    """Register the `heavy` mark."""
    config.addinivalue_line("markers", "heavy(seconds): a file that takes long (its rough wall "
                            "time on 2 idle cores, in seconds): run it early under -n")


def _heaviness(item: pytest.Item) -> float:
    mark = item.get_closest_marker("heavy")
    return float(mark.args[0]) if mark is not None else 0.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Heavy files first, heaviest first; then the other files, those with more tests first
    (xdist's order); each file's tests in their own order."""
    files: dict[str, list[pytest.Item]] = {}
    for item in items:
        files.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    order = sorted(files.values(), key=lambda tests: (-max(map(_heaviness, tests)),
                                                      -len(tests)))
    items[:] = [item for tests in order for item in tests]


# Profiles of the hypothesis tests (tests/robustness/): registered here, before pytest reads
# --hypothesis-profile. `ci` (the default) runs a few hundred fuzzed files;
# `python3 -m pytest tests/robustness --hypothesis-profile=long` runs 10,000.
settings.register_profile("ci", max_examples=200, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.data_too_large])
settings.register_profile("long", settings.get_profile("ci"), max_examples=10_000)
settings.load_profile("ci")


# `--cpu-durations=N`: the N tests that cost the most CPU (this process and the child
# processes it waited for: doit runs, compilers, QEMU; not a server still running, such as
# the service tests' shared one). On a loaded machine wall times (--durations) mostly
# measure the other load; CPU seconds say what a test costs.
_CPU_COST: dict[str, float] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add --cpu-durations."""
    parser.addoption("--cpu-durations", type=int, default=None, metavar="N",
                     help="show the N tests using the most CPU time (with waited children; "
                          "counted in one process: run without -n)")


def _cpu_seconds() -> float:
    own, children = (resource.getrusage(who) for who in
                     (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    """Measure each test's CPU time (setup, call and teardown) when asked to."""
    if item.config.getoption("cpu_durations") is None:
        yield
        return
    before = _cpu_seconds()
    yield
    _CPU_COST[item.nodeid] = _cpu_seconds() - before


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Print the costliest tests by CPU time, and the total."""
    count = config.getoption("cpu_durations")
    if count is None or not _CPU_COST:
        return
    terminalreporter.write_sep("=", f"{count or 'all'} tests using the most CPU time")
    ranked = sorted(_CPU_COST.items(), key=lambda item: -item[1])
    for nodeid, seconds in ranked[:count or None]:
        terminalreporter.write_line(f"{seconds:8.2f}s cpu  {nodeid}")
    terminalreporter.write_line(f"{sum(_CPU_COST.values()):8.2f}s cpu  in all "
                                f"({len(_CPU_COST)} tests)")
