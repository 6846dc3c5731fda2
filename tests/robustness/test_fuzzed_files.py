"""The campaign of issue 16 kept as a property: whatever a repository's configuration files
hold, `doit list` lists the tasks or ends with exit 3 and one line naming a file; never a
traceback, a signal or a hang.

Each example copies a small repository (site modules, a module of the repository's own
toolchain), mutates modules.json, a module.json or the toolchain's YAML, or plants
symlinks among the modules' files, and runs `doit list` on it: in a forked child (see
doit_list.py, the same DoitMain and dodo.py) for the many examples, as a real
subprocess for a few. The `ci` profile runs 200 examples; `--hypothesis-profile=long`
10,000, and `--hypothesis-show-statistics` counts the outcomes.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from tests.conftest import run_doit
from tests.robustness.doit_list import Listing, doit_list
from tests.robustness.mutations import base_repository, mutated_file, planted_links

pytestmark = pytest.mark.heavy(30)  # run early under -n (tests/conftest.py)

TIMEOUT = 30.0  # seconds for one `doit list`: the slowest legitimate example takes about 2


def hostile_repository(data: st.DataObject, tmp: Path) -> Path:
    """A fresh repository with one file mutated, symlinks planted, or both."""
    repo = base_repository(tmp / "repo")
    outside = tmp / "outside"  # what a link out of the repository leads to
    outside.mkdir()
    (outside / "file.txt").write_text("outside the repository\n")
    what = data.draw(st.sampled_from(["file", "file", "file", "links", "both"]), label="what")
    if what != "links":
        event(f"mutated: {mutated_file(data, repo)}")
    if what != "file":
        event(f"links planted: {len(planted_links(data, repo, outside))}")
    return repo


def check(listing: Listing) -> None:
    """Listed, or one `ERROR:` line naming a file of the repository, exit 3."""
    assert not listing.timed_out, f"doit list still running after {TIMEOUT} s"
    assert listing.signal is None, f"doit list killed by signal {listing.signal}"
    output = listing.stdout + listing.stderr
    assert "Traceback" not in output, listing.stderr[-4000:]
    assert listing.returncode in (0, 3), output[-4000:]
    if listing.returncode == 0:
        event("outcome: listed")
        assert listing.stderr == ""
        return
    lines = listing.stderr.splitlines()
    assert len(lines) == 1, listing.stderr[-4000:]
    assert lines[0].startswith("ERROR: "), lines[0]
    assert listing.stdout == ""
    file = lines[0].removeprefix("ERROR: ").split(": ", 1)[0]
    assert file and not Path(file).is_absolute() and not file.startswith(".."), lines[0]
    event(f"outcome: one line naming {file if '/' not in file else file.split('/')[0] + '/…'}")


def test_the_unmutated_repository_lists(tmp_path: Path) -> None:
    """The repository every example starts from is valid: mutations start from a listing."""
    listing = doit_list(base_repository(tmp_path / "repo"), TIMEOUT)
    assert (listing.returncode, listing.stderr) == (0, ""), listing.stderr
    assert "build:delta" in listing.stdout and "build:alpha" in listing.stdout


@given(st.data())
def test_any_mutation_is_listed_or_one_line(data: st.DataObject) -> None:
    """Through the same DoitMain and dodo.py as `doit list`, in a forked child."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = hostile_repository(data, Path(tmp))
        check(doit_list(repo, TIMEOUT))


@settings(max_examples=6)
@given(st.data())
def test_any_mutation_through_a_real_doit_process(data: st.DataObject) -> None:
    """A few examples as a real `python -m doit list` process (stdout a pipe)."""
    with tempfile.TemporaryDirectory() as tmp:
        repo = hostile_repository(data, Path(tmp))
        result = run_doit(repo, "list", timeout=TIMEOUT)
        signal = -result.returncode if result.returncode < 0 else None
        check(Listing(returncode=None if signal else result.returncode, signal=signal,
                      timed_out=False, stdout=result.stdout, stderr=result.stderr))
