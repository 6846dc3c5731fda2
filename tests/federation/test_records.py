"""Publish records: checksums that sha256sum accepts, the private record, deployment.json."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from federation.records import (
    CHECKSUMS,
    DEPLOYMENT,
    FORMAT,
    MANIFEST,
    FileInfo,
    Record,
    checksums,
    deployment,
    now_iso,
    prune_records,
    published_id,
    write_published,
)

needs_sha256sum = pytest.mark.skipif(shutil.which("sha256sum") is None,
                                     reason="coreutils sha256sum is not installed")


def write_tree(root: Path, contents: dict[str, bytes]) -> dict[str, FileInfo]:
    """Write the files under `root` and return their records with real digests."""
    files = {}
    for path, data in contents.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        files[path] = FileInfo("m", hashlib.sha256(data).hexdigest(), len(data), 0)
    return files


def sha256sum_check(folder: Path, listing: str) -> subprocess.CompletedProcess[bytes]:
    """Run the real `sha256sum -c --strict` on `listing` inside `folder`."""
    (folder / "list.sha256").write_bytes(listing.encode("utf-8", "surrogateescape"))
    return subprocess.run(["sha256sum", "-c", "--strict", "list.sha256"], cwd=folder,
                          capture_output=True, timeout=30, check=False)


def publish_id_at(output: Path, publish_id: object) -> None:
    """Make `output` look like a tree fedbuild published with this id."""
    (output / ".federation").mkdir(parents=True, exist_ok=True)
    (output / ".federation" / DEPLOYMENT).write_text(json.dumps({"id": publish_id}))


FILES = {
    "index.html": FileInfo("root", "a" * 64, 120, 1_700_000_000_000_000_000,
                           ["/", "/docs/"]),
    "docs/index.html": FileInfo("docs", "b" * 64, 80, 1_700_000_000_000_000_001, ["/"]),
    "docs/latest": FileInfo("docs", "", 0, 0, [], "v2"),
    "caf\u00e9 menu.css": FileInfo("root", "c" * 64, 3, 5),
}


# --- checksums --------------------------------------------------------------------------------


@needs_sha256sum
def test_checksums_pass_sha256sum_check(tmp_path: Path) -> None:
    """The real `sha256sum -c` accepts every line, odd file names included."""
    files = write_tree(tmp_path, {
        "index.html": b"<p>hi</p>",
        "a b.html": b"space",
        "back\\slash.txt": b"backslash",
        "two\\\\slashes\\n.txt": b"literal backslash-n",
        "new\nline.txt": b"newline",
        "docs/sub dir/x.css": b"a{}",
        "caf\u00e9.html": b"utf-8 name",
        "empty": b"",
    })
    result = sha256sum_check(tmp_path, checksums(files))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(b": OK\n") == len(files)


@needs_sha256sum
def test_checksums_catch_a_changed_file(tmp_path: Path) -> None:
    """sha256sum -c fails on a file edited after the listing was written."""
    files = write_tree(tmp_path, {"back\\slash.txt": b"one", "a b.html": b"two"})
    listing = checksums(files)
    (tmp_path / "a b.html").write_bytes(b"changed")
    result = sha256sum_check(tmp_path, listing)
    assert result.returncode == 1
    assert b"a b.html: FAILED" in result.stdout


@needs_sha256sum
def test_checksums_match_sha256sum_own_output(tmp_path: Path) -> None:
    """The listing is byte-identical to what `sha256sum` prints for the same names."""
    names = ["a b.html", "back\\slash.txt", "index.html", "new\nline.txt"]
    files = write_tree(tmp_path, {name: name.encode() for name in names})
    result = subprocess.run(["sha256sum", "--", *sorted(names)], cwd=tmp_path,
                            capture_output=True, timeout=30, check=True)
    assert checksums(files).encode() == result.stdout


def test_checksums_format() -> None:
    """Sorted by path, two spaces, escaped names get a leading backslash, folders skipped."""
    files = {
        "z.html": FileInfo("m", "1" * 64, 1, 0),
        "a\\b.html": FileInfo("m", "2" * 64, 1, 0),
        "a b.html": FileInfo("m", "3" * 64, 1, 0),
        "dir-link": FileInfo("m", "", 0, 0, target="docs"),
        "file-link": FileInfo("m", "4" * 64, 0, 0, target="z.html"),
    }
    assert checksums(files) == ("3" * 64 + "  a b.html\n"
                                "\\" + "2" * 64 + "  a\\\\b.html\n"
                                + "4" * 64 + "  file-link\n"
                                + "1" * 64 + "  z.html\n")


def test_checksums_of_nothing_is_empty() -> None:
    """No files (or only folder links) give an empty listing."""
    assert checksums({}) == ""
    assert checksums({"d": FileInfo("m", "", 0, 0, target="x")}) == ""


# --- FileInfo and Record ----------------------------------------------------------------------


def test_file_info_json_round_trip() -> None:
    """from_json inverts to_json, through real JSON."""
    for file in FILES.values():
        assert FileInfo.from_json(json.loads(json.dumps(file.to_json()))) == file


def test_record_save_and_load_round_trip(tmp_path: Path) -> None:
    """A saved record loads back equal when the published tree carries its id."""
    records, output = tmp_path / "state" / "federate", tmp_path / "public"
    modules = {"root": {"key": "k1", "entry": {"name": "root", "files": 2}},
               "docs": {"key": "k2", "entry": {"name": "docs", "destination": "/docs/"}}}
    record = Record("abc123", modules, dict(FILES))
    path = record.save(records)
    assert path == records / "record-abc123.json"
    assert [p.name for p in records.iterdir()] == ["record-abc123.json"]  # no temp file left
    publish_id_at(output, "abc123")
    assert Record.load(records, output) == record


def test_record_load_follows_the_published_id(tmp_path: Path) -> None:
    """With several records saved, the one named by deployment.json's id is loaded."""
    records, output = tmp_path / "records", tmp_path / "public"
    Record("old1", {}, {"a.html": FILES["index.html"]}).save(records)
    Record("new2", {}, {"b.html": FILES["docs/index.html"]}).save(records)
    publish_id_at(output, "old1")
    loaded = Record.load(records, output)
    assert loaded is not None and loaded.id == "old1" and list(loaded.files) == ["a.html"]
    publish_id_at(output, "new2")
    loaded = Record.load(records, output)
    assert loaded is not None and loaded.id == "new2" and list(loaded.files) == ["b.html"]


def test_record_save_replaces_same_id(tmp_path: Path) -> None:
    """Saving a record again under the same id replaces it."""
    output = tmp_path / "public"
    Record("same", {}, {"a.html": FILES["index.html"]}).save(tmp_path)
    Record("same", {"m": {"key": "k"}}, {}).save(tmp_path)
    publish_id_at(output, "same")
    assert Record.load(tmp_path, output) == Record("same", {"m": {"key": "k"}}, {})


def test_record_load_none_when_id_does_not_match(tmp_path: Path) -> None:
    """A tree published under another id (someone else's publish) has no record."""
    output = tmp_path / "public"
    Record("abc123", {}, dict(FILES)).save(tmp_path / "records")
    publish_id_at(output, "def456")
    assert Record.load(tmp_path / "records", output) is None


@pytest.mark.parametrize("deployment_text", [
    None,  # no deployment.json at all
    "not json",
    "[1, 2]",
    '{"no_id": "abc123"}',
    '{"id": 123}',
    '{"id": ""}',
    '{"id": "../record-abc123"}',
    '{"id": "abc 123"}',
])
def test_record_load_none_without_a_usable_id(tmp_path: Path,
                                              deployment_text: str | None) -> None:
    """Missing, corrupt or non-alphanumeric ids load no record (and never escape the folder)."""
    records, output = tmp_path / "records", tmp_path / "public"
    Record("abc123", {}, dict(FILES)).save(records)
    output.mkdir()
    if deployment_text is not None:
        (output / ".federation").mkdir()
        (output / ".federation" / DEPLOYMENT).write_text(deployment_text)
    assert Record.load(records, output) is None


def test_record_load_none_when_output_or_records_missing(tmp_path: Path) -> None:
    """No published tree, or no records folder, gives None rather than an error."""
    assert Record.load(tmp_path / "records", tmp_path / "public") is None
    publish_id_at(tmp_path / "public", "abc123")
    assert Record.load(tmp_path / "records", tmp_path / "public") is None


@pytest.mark.parametrize("record_text", [
    "{broken",
    json.dumps({"format": FORMAT + 1, "id": "abc123", "modules": {}, "files": {}}),
    json.dumps({"id": "abc123", "modules": {}, "files": {}}),
    json.dumps({"format": FORMAT, "id": "abc123", "modules": {}}),
    json.dumps({"format": FORMAT, "id": "abc123", "modules": {}, "files": {"a": [1, 2]}}),
    json.dumps({"format": FORMAT, "id": "abc123", "modules": {}, "files": {"a": None}}),
])
def test_record_load_none_for_unreadable_record(tmp_path: Path, record_text: str) -> None:
    """A corrupt record, or one written in another format, is ignored."""
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "record-abc123.json").write_text(record_text)
    publish_id_at(tmp_path / "public", "abc123")
    assert Record.load(tmp_path / "records", tmp_path / "public") is None


def test_published_id(tmp_path: Path) -> None:
    """published_id reads `<output>/.federation/deployment.json`'s id."""
    assert published_id(tmp_path) is None
    publish_id_at(tmp_path, "0f3a9c")
    assert published_id(tmp_path) == "0f3a9c"


def test_prune_records_keeps_only_the_published_one(tmp_path: Path) -> None:
    """Records of other ids go; the kept one and unrelated files stay."""
    for publish_id in ("keep1", "old1", "old2"):
        Record(publish_id, {}, {}).save(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "record-keep1.json.bak").write_text("not a record")
    prune_records(tmp_path, "keep1")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "notes.txt", "record-keep1.json", "record-keep1.json.bak"]


def test_prune_records_on_missing_folder_or_unknown_id(tmp_path: Path) -> None:
    """A missing folder is fine; an id with no record removes all records."""
    prune_records(tmp_path / "none", "x")
    Record("a1", {}, {}).save(tmp_path)
    prune_records(tmp_path, "zz")
    assert list(tmp_path.iterdir()) == []


# --- published records ------------------------------------------------------------------------


FED = {"name": "Fed", "baseURL": "https://ex.org/", "strategy": "incremental"}


def test_deployment_counts_by_type() -> None:
    """Files are counted and sized per lower-cased extension; symlinks only in the totals."""
    files = {
        "index.html": FileInfo("r", "1" * 64, 100, 0),
        "docs/index.HTML": FileInfo("d", "2" * 64, 50, 0),
        "css/site.css": FileInfo("r", "3" * 64, 7, 0),
        "archive.tar.gz": FileInfo("r", "4" * 64, 1000, 0),
        "CNAME": FileInfo("r", "5" * 64, 10, 0),
        ".nojekyll": FileInfo("r", "6" * 64, 0, 0),
        "docs.v2/README": FileInfo("d", "7" * 64, 3, 0),
        "latest": FileInfo("d", "", 0, 0, target="docs"),
        "home.html": FileInfo("d", "1" * 64, 0, 0, target="index.html"),
    }
    statuses = Counter({"built": 2, "reused": 1, "failed": 0})
    result = deployment("abc123", FED, files, statuses, 3, "2024-01-02T03:04:05Z")
    assert result == {
        "id": "abc123",
        "federation": "Fed",
        "baseURL": "https://ex.org/",
        "strategy": "incremental",
        "published_at": "2024-01-02T03:04:05Z",
        "totals": {"files": 7, "bytes": 1170, "symlinks": 2},
        "by_type": {"(none)": {"files": 3, "bytes": 13},
                    "css": {"files": 1, "bytes": 7},
                    "gz": {"files": 1, "bytes": 1000},
                    "html": {"files": 2, "bytes": 150}},
        "modules": {"built": 2, "failed": 0, "reused": 1},
        "collisions": 3,
    }
    assert list(result["by_type"]) == sorted(result["by_type"])


def test_deployment_of_empty_tree() -> None:
    """An empty tree has zero totals and no types."""
    result = deployment("x1", FED, {}, Counter(), 0, "t")
    assert result["totals"] == {"files": 0, "bytes": 0, "symlinks": 0}
    assert result["by_type"] == {} and result["modules"] == {}


def test_write_published_writes_the_three_records(tmp_path: Path) -> None:
    """manifest, deployment and checksums land in `.federation/`; the id is readable back."""
    files = {"index.html": FileInfo("r", "a" * 64, 1, 0)}
    manifest = {"federation": "Fed", "modules": []}
    record = deployment("ab12", FED, files, Counter({"built": 1}), 0, now_iso())
    write_published(tmp_path, files, manifest, record)
    folder = tmp_path / ".federation"
    assert sorted(p.name for p in folder.iterdir()) == sorted([CHECKSUMS, DEPLOYMENT, MANIFEST])
    assert json.loads((folder / MANIFEST).read_text()) == manifest
    assert json.loads((folder / DEPLOYMENT).read_text()) == record
    assert (folder / CHECKSUMS).read_text() == "a" * 64 + "  index.html\n"
    assert published_id(tmp_path) == "ab12"


def test_now_iso_format() -> None:
    """UTC, second precision, Z suffix."""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now_iso())
