"""A site build is the build.sh toolchain's build step: its YAML says what the build runs,
and a change to it is a change to every site build, as a toolchain step's is."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tests.conftest import run_doit

Repo = Callable[[str], Path]
SHIPPED = Path(__file__).parents[2] / "tasks/toolchains/build.sh.yaml"


def wrapped(log: Path) -> list[str]:
    """The site builds the wrapper ran (not the --help fedbuild asks it once)."""
    lines = log.read_text().splitlines() if log.exists() else []
    return [line for line in lines if "--config" in line]


def test_the_build_sh_yaml_is_what_a_site_build_runs(monorepo: Repo, tmp_path: Path) -> None:
    """A repository's own build.sh.yaml whose build step runs the script through a wrapper:
    the built site build is due again (its command changed), runs the wrapper with the
    module's options after the YAML's argv, and is up to date the run after."""
    repo = monorepo("basic")
    first = run_doit(repo, "build:alpha")
    assert first.returncode == 0, first.stdout + first.stderr
    log = tmp_path / "wrapped.txt"
    (repo / "tools").mkdir()
    (repo / "tools/wrap.sh").write_text(f'#!/bin/sh\necho "$*" >> {log}\nexec "$@"\n')
    (repo / "toolchains").mkdir()
    (repo / "toolchains/build.sh.yaml").write_text(SHIPPED.read_text().replace(
        'argv: ["{build_script}"]', 'argv: ["sh", "{root}/tools/wrap.sh", "{build_script}"]'))
    second = run_doit(repo, "build:alpha")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "build:alpha up to date" not in second.stdout
    runs = wrapped(log)
    assert len(runs) == 1 and runs[0].startswith(  # run in the repository
        "scripts/build.sh --config modules/alpha/module.json --output "), runs
    assert (repo / ".fedbuild/staging/alpha/index.html").is_file()
    third = run_doit(repo, "build:alpha")
    assert "build:alpha up to date" in third.stdout, third.stdout
    assert len(wrapped(log)) == 1
