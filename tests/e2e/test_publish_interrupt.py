"""SIGKILL and SIGINT while federate publishes: the published tree is always one whole tree.

docs gets enough pages that a publish takes a measurable time; each round
writes a new version into every page, starts `doit`, waits until federate has
begun assembling the new tree beside the old one, and stops the run at a
different moment of the publish (before, around and after the swap). Whatever
the moment, public/ must be exactly one published version: its checksums verify,
they list every file on disk, and every page carries the same version.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import doit_argv, eventually, run_doit

Repo = Callable[[str], Path]
PAGES = 1200
# Moments to stop at, as fractions of one measured publish after assembly began.
MOMENTS = (0.0, 0.3, 0.6, 0.8, 0.9, 1.0, 1.1, 1.3, 3.0)


def write_version(repo: Path, version: int) -> None:
    """Every docs page (built for the root, so rewritten) says `version`."""
    pages = repo / "modules/docs/pages"
    for i in range(PAGES):
        folder = pages / f"p{i:04d}"
        folder.mkdir(parents=True, exist_ok=True)
        links = "".join(f'<a href="/p{(i + k) % PAGES:04d}/">next {k}</a>\n' for k in range(1, 9))
        (folder / "index.html").write_text(
            f'<!DOCTYPE html><html><head><link rel="stylesheet" href="/css/site.css"></head>'
            f'<body><h1>page {i} version {version}</h1>\n<img src="/img/logo.png">\n{links}'
            f'<p>{"lorem ipsum " * 150}</p></body></html>\n')
    (pages / "index.html").write_text(
        f'<!DOCTYPE html><html><body><h1>docs version {version}</h1>'
        f'<a href="/p0000/">first</a></body></html>\n')


def published_versions(public: Path) -> set[str]:
    """The versions the published docs pages carry (one, if the tree is whole)."""
    versions = set()
    for page in (public / "docs").glob("p*/index.html"):
        text = page.read_text()
        versions.add(text.split(" version ", 1)[1].split("<", 1)[0])
    return versions


def assert_whole(public: Path) -> str:
    """public/ is one published tree; return its version."""
    check = subprocess.run(["sha256sum", "--strict", "--quiet", "-c",
                            ".federation/checksums.sha256"],
                           cwd=public, capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout[:2000] + check.stderr[:2000]
    listed = {line.split("  ", 1)[1] for line in
              (public / ".federation/checksums.sha256").read_text().splitlines()}
    on_disk = {str(p.relative_to(public)) for p in public.rglob("*")
               if p.is_file() and ".federation" not in p.parts}
    assert listed == on_disk
    versions = published_versions(public)
    assert len(versions) == 1 and len(list((public / "docs").glob("p*/index.html"))) == PAGES
    return versions.pop()


def publish_seconds(repo: Path) -> float:
    """How long the last federate took, from its outcome record."""
    data = json.loads((repo / ".fedbuild/logs/federate/federate.json").read_text())
    return float(data["duration"])


@pytest.fixture
def repo(monorepo: Repo) -> Path:
    """The pages fixture with a large docs module, published at version -1, then 0."""
    path = monorepo("pages")
    for version in (-1, 0):
        write_version(path, version)
        result = run_doit(path)
        assert result.returncode == 0, result.stdout + result.stderr
    assert assert_whole(path / "public") == "0"
    return path


def stop_during_publish(repo: Path, sig: signal.Signals, delay: float) -> subprocess.Popen[str]:
    """Start `doit`, wait until federate assembles its new tree, wait `delay`, send `sig`."""
    leftovers = set(repo.glob(".public.new-*"))  # a killed run's, swept by this one
    proc = subprocess.Popen(doit_argv(repo), cwd=repo, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "NO_COLOR": "1"})
    started = eventually(lambda: bool(set(repo.glob(".public.new-*")) - leftovers) or
                         proc.poll() is not None, timeout=60)
    assert started
    time.sleep(delay)
    proc.send_signal(sig)
    return proc


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_stopping_a_publish_at_any_moment_leaves_one_whole_tree(repo: Path,
                                                                sig: signal.Signals) -> None:
    """Kill or interrupt at several moments: public/ is always the old or the new tree."""
    seconds = publish_seconds(repo)  # of a publish replacing a tree of the same size
    seen, outcomes = {"0"}, set()
    for version, moment in enumerate(MOMENTS, start=1):
        write_version(repo, version)
        proc = stop_during_publish(repo, sig, moment * seconds)
        out, _ = proc.communicate(timeout=60)
        # A SIGINT that lands after the run's summary (while the process exits) stops
        # nothing left to report; one that stops the run says so.
        if sig is signal.SIGINT and proc.returncode != 0 and "federation: published" not in out:
            assert "interrupted" in out
        found = assert_whole(repo / "public")
        assert found in (str(version - 1), str(version)) or found in seen, (moment, found)
        seen.add(found)
        outcomes.add("new" if found == str(version) else "old")
        if sig is signal.SIGINT:  # the run cleaned up after itself
            assert not list(repo.glob(".public.*")), moment
    # The moments spanned the publish: some stops came before the swap, some after it.
    assert outcomes == {"old", "new"}
    # The next run finishes the job and sweeps whatever a killed run left.
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert assert_whole(repo / "public") == str(len(MOMENTS))
    assert not list(repo.glob(".public.*"))
