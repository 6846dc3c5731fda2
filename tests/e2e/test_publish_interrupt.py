"""SIGKILL and SIGINT while federate publishes: the published tree is always one whole tree.

docs gets enough pages that assembling its tree takes a while (300 pages: about 1 s on 2
busy cores, far longer than the 2 ms poll). Each round writes a new version into every page,
starts `doit` and watches the publish on disk: the new tree being
assembled beside the old one, its checksums written, public/ exchanged for it. At the
round's chosen state the whole run is frozen (SIGSTOP), what public/ holds at that moment
is noted, and the run is then stopped (SIGKILL or SIGINT) and let go. public/ must then be
exactly one published version, and the one the moment dictates: the old tree when the run
was stopped before the exchange (a SIGINT before the new tree is complete cancels the
publish), the new one once public/ had been exchanged. No clock decides anything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import doit_argv, run_doit

pytestmark = pytest.mark.heavy(17)  # run early under -n (tests/conftest.py)

Repo = Callable[[str], Path]
PAGES = 300
# The states of a publish, in the order it passes them.
ASSEMBLING, WRITTEN, SWAPPED, EXITED = "assembling", "written", "swapped", "exited"
ORDER = (ASSEMBLING, WRITTEN, SWAPPED, EXITED)


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


def page_version(page: Path) -> str:
    return page.read_text().split(" version ", 1)[1].split("<", 1)[0]


def published_versions(public: Path) -> set[str]:
    """The versions the published docs pages carry (one, if the tree is whole)."""
    return {page_version(page) for page in (public / "docs").glob("p*/index.html")}


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


@pytest.fixture
def repo(monorepo: Repo) -> Path:
    """The pages fixture with a large docs module, published at version 0."""
    path = monorepo("pages")
    write_version(path, 0)
    result = run_doit(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert assert_whole(path / "public") == "0"
    return path


class Publish:
    """A `doit` run in its own process group, and the state of its publish on disk."""

    def __init__(self, repo: Path, *args: str) -> None:
        self.repo = repo
        self.old = published_versions(repo / "public")
        self.leftovers = set(repo.glob(".public.new-*"))  # a killed run's, swept by this one
        self.proc = subprocess.Popen(doit_argv(repo, *args), cwd=repo, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env={**os.environ, "NO_COLOR": "1"},
                                     start_new_session=True)

    def __enter__(self) -> Publish:
        return self

    def __exit__(self, *_: object) -> None:
        # A failed round must not leave a frozen or running doit behind.
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.communicate(timeout=60)

    def state(self) -> str | None:
        """How far the publish got: None before its new tree exists."""
        if self.proc.poll() is not None:
            return EXITED
        with contextlib.suppress(OSError, IndexError):  # public/ read mid-exchange
            if page_version(self.repo / "public/docs/p0000/index.html") not in self.old:
                return SWAPPED
        new = set(self.repo.glob(".public.new-*")) - self.leftovers
        if not new:
            return None
        if any((folder / ".federation/checksums.sha256").exists() for folder in new):
            return WRITTEN
        return ASSEMBLING

    def stop_at(self, target: str, sig: signal.Signals, timeout: float = 120) -> str:
        """Once the publish reaches `target` (or a later state), freeze the run, send `sig`
        to doit, let the run go on; return the state the run was frozen in."""
        deadline = time.monotonic() + timeout
        while (state := self.state()) is None or ORDER.index(state) < ORDER.index(target):
            assert time.monotonic() < deadline, f"the publish never reached {target}"
            time.sleep(0.002)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGSTOP)
        frozen = self.state()  # the state at the stop: the run cannot move on from it
        assert frozen is not None
        if frozen != EXITED:
            self.proc.send_signal(sig)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGCONT)
        return frozen

    def finish(self) -> str:
        """The run's output, once it ended."""
        out, _ = self.proc.communicate(timeout=120)
        return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["SIGKILL", "SIGINT"])
def test_stopping_a_publish_at_any_moment_leaves_one_whole_tree(repo: Path,
                                                                sig: signal.Signals) -> None:
    """Kill or interrupt at each state of a publish: public/ is the old tree if the stop came
    before the exchange, the new one after it; always whole, never a mix."""
    frozen_in, published = [], "0"
    for version, target in enumerate((ASSEMBLING, WRITTEN, SWAPPED), start=1):
        write_version(repo, version)
        with Publish(repo) as run:
            frozen = run.stop_at(target, sig)
            out = run.finish()
        frozen_in.append(frozen)
        found = assert_whole(repo / "public")
        if frozen == ASSEMBLING or (frozen == WRITTEN and sig is signal.SIGKILL):
            assert found == published, (target, frozen, out)
        elif frozen in (SWAPPED, EXITED):
            assert found == str(version), (target, frozen, out)
        else:  # SIGINT once the tree is written: the publish may pass its last check first
            assert found in (published, str(version)), (target, frozen, out)
        published = found
        if sig is signal.SIGINT:  # the run cleaned up after itself, and said so
            if frozen == ASSEMBLING:
                assert run.proc.returncode == 130, out
                assert "federation: kept old tree public/: interrupted" in out, out
            elif run.proc.returncode != 0 and "federation: published" not in out:
                assert "interrupted" in out, out
            assert not list(repo.glob(".public.*")), frozen
    # The publish is watched closely enough that the first stop lands while it assembles.
    assert frozen_in[0] == ASSEMBLING, frozen_in
    # The next run finishes the job and sweeps whatever a killed run left.
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert assert_whole(repo / "public") == "3"
    assert not list(repo.glob(".public.*"))
