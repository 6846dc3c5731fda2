"""The Python toolchain's steps carry a digest of the distributions installed for fedbuild's
Python in their env: another build backend, pytest or plugin changes every Python step's
fingerprint and cache key, as another interpreter version does."""

from __future__ import annotations

from pathlib import Path

from core.state import State
from federation.loader import load_project
from federation.platforms import host
from federation.steps import plan_steps, python_env_digest
from tests.conftest import copy_example


def test_the_python_env_digest_follows_the_installed_distributions(tmp_path: Path) -> None:
    """The Python toolchain's steps build with the installed backend and test with the
    installed pytest (and its plugins): installing or upgrading one changes the digest;
    folders that are not site-packages (the repository on sys.path) do not count."""
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "setuptools-80.0.dist-info").mkdir(parents=True)
    (site / "setuptools").mkdir()
    repo = tmp_path / "repo"
    (repo / "mine.egg-info").mkdir(parents=True)
    path = (str(repo), str(site), str(tmp_path / "missing" / "site-packages"))
    before = python_env_digest.__wrapped__(path)
    assert len(before) == 16 and python_env_digest.__wrapped__((str(site),)) == before
    (site / "pytest-9.0.dist-info").mkdir()
    added = python_env_digest.__wrapped__(path)
    (site / "setuptools-80.0.dist-info").rename(site / "setuptools-81.0.dist-info")
    assert len({before, added, python_env_digest.__wrapped__(path)}) == 3


def test_every_python_step_carries_it_in_its_env(tmp_path: Path) -> None:
    repo = copy_example(tmp_path / "example")
    project = load_project(repo)
    steps = plan_steps(project, State(repo), project.toolchains, "development", host())
    python = [s for s in steps.steps if s.module == "pyproj"]
    assert {s.step for s in python} == {"build", "test", "lint"}
    assert all(s.env["FEDBUILD_PYTHON_ENV"] == python_env_digest() for s in python)
