"""files_digest reads a file once per process while stat says it is unchanged, and always
reads a file written since the process began."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core import digests
from core.digests import file_digest, files_digest

OLD = 1_500_000_000 * 10**9  # 2017: long before this process


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files file_digest actually reads (the memo empty at the start)."""
    seen: list[Path] = []
    monkeypatch.setattr(digests, "_digests", {})

    def counting(path: Path) -> str:
        seen.append(path)
        return file_digest(path)
    monkeypatch.setattr(digests, "file_digest", counting)
    return seen


def test_a_settled_file_is_read_once_until_it_changes(tmp_path: Path, reads: list[Path]
                                                      ) -> None:
    (tmp_path / "a.txt").write_text("one")
    os.utime(tmp_path / "a.txt", ns=(OLD, OLD))
    first = files_digest(tmp_path, ["a.txt", "gone.txt"], {"x": 1})
    assert files_digest(tmp_path, ["a.txt", "gone.txt"], {"x": 1}) == first
    assert files_digest(tmp_path, ["a.txt"], {"x": 2}) != first
    assert reads == [tmp_path / "a.txt"]

    (tmp_path / "a.txt").write_text("two")  # same size, a new modification time
    os.utime(tmp_path / "a.txt", ns=(OLD + 1, OLD + 1))
    changed = files_digest(tmp_path, ["a.txt", "gone.txt"], {"x": 1})
    assert changed != first and len(reads) == 2


def test_a_file_written_during_the_run_is_read_every_time(tmp_path: Path, reads: list[Path]
                                                          ) -> None:
    (tmp_path / "new.txt").write_text("fresh")
    first = files_digest(tmp_path, ["new.txt"], None)
    (tmp_path / "new.txt").write_text("fresh")
    assert files_digest(tmp_path, ["new.txt"], None) == first
    assert len(reads) == 2
    (tmp_path / "new.txt").write_text("FRESH")  # may keep its size and mtime tick
    assert files_digest(tmp_path, ["new.txt"], None) != first


def test_content_digest_takes_known_digests_instead_of_reading(tmp_path: Path,
                                                               reads: list[Path]) -> None:
    """A restore knows its files' digests: the folder's digest is the same without reading
    them again."""
    (tmp_path / "out/sub").mkdir(parents=True)
    (tmp_path / "out/a.txt").write_text("a")
    (tmp_path / "out/sub/b.txt").write_text("b")
    os.symlink("a.txt", tmp_path / "out/link")
    plain = digests.content_digest(tmp_path / "out")
    assert len(reads) == 2
    known = {str(tmp_path / "out/a.txt"): file_digest(tmp_path / "out/a.txt"),
             str(tmp_path / "out/sub/b.txt"): file_digest(tmp_path / "out/sub/b.txt")}
    reads.clear()
    assert digests.content_digest(tmp_path / "out", known) == plain
    assert reads == []
