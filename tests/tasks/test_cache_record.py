"""Action records: packing outputs into entries and blobs, unpacking them back byte for byte,
and refusing every record that would write outside its outputs."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from core.digests import content_digest, file_digest
from tasks.cache.backend import CacheError
from tasks.cache.record import INLINE_FILE, ActionRecord, Fetch, OutputEntry, pack, unpack

KEY = "ab" * 32


def blobs_of(folder: Path, blobs: dict[str, Path]) -> dict[str, Path]:
    """Copy the packed blobs into `folder` (a stand-in store) and return where they are."""
    folder.mkdir(exist_ok=True)
    kept = {}
    for digest, path in blobs.items():
        kept[digest] = folder / digest
        shutil.copyfile(path, kept[digest])
    return kept


def fetcher(store: dict[str, Path]) -> Fetch:
    """A fetch that copies from the stand-in store, as a backend's get_blob does."""
    def fetch(digest: str, dest: Path) -> None:
        if digest not in store:
            raise CacheError(f"blob {digest} missing")
        shutil.copyfile(store[digest], dest)
    return fetch


def modes(folder: Path) -> dict[str, int]:
    """Every path's permission bits under `folder` (links excluded)."""
    found = {".": stat.S_IMODE(folder.stat().st_mode)}
    for path in folder.rglob("*"):
        if not path.is_symlink():
            found[path.relative_to(folder).as_posix()] = stat.S_IMODE(path.stat().st_mode)
    return found


@pytest.fixture
def built(tmp_path: Path) -> Path:
    """A repository root with a built folder (files, modes, a nested link, an empty folder)
    and a built file beside it."""
    root = tmp_path / "repo"
    site = root / "dist" / "site"
    (site / "css").mkdir(parents=True)
    (site / "empty").mkdir()
    (site / "index.html").write_text("<h1>hello</h1>\n")
    (site / "css" / "main.css").write_bytes(b"body{}\n" * 1000)
    (site / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(site / "run.sh", 0o755)
    (site / "copy.html").write_text("<h1>hello</h1>\n")  # same content: one blob
    os.symlink("../index.html", site / "css" / "home.html")
    os.symlink("css", site / "styles")
    (root / "dist" / "app.bin").write_bytes(bytes(range(256)) * 64)
    os.chmod(root / "dist" / "app.bin", 0o600)
    return root


def test_pack_then_unpack_gives_byte_identical_outputs(built: Path, tmp_path: Path) -> None:
    """A round trip into another root: same bytes, same modes, same links, same empty folder."""
    outputs = [built / "dist" / "site", Path("dist/app.bin")]
    packed = pack(built, outputs, inline_total=0)  # every file a blob
    assert packed.roots == ("dist/app.bin", "dist/site")
    assert len(packed.blobs) == 4  # index.html and copy.html share one
    by_path = {e.path: e for e in packed.entries}
    assert by_path["dist/site/css/home.html"] == OutputEntry(
        "dist/site/css/home.html", "link", target="../index.html", mode=0)
    assert by_path["dist/site/run.sh"].mode == 0o755
    assert by_path["dist/app.bin"].digest == file_digest(built / "dist" / "app.bin")
    assert by_path["dist/app.bin"].size == 256 * 64

    store = blobs_of(tmp_path / "store", packed.blobs)
    other = tmp_path / "other"
    unpack(other, packed.roots, packed.entries, fetcher(store))
    assert content_digest(other / "dist" / "site") == content_digest(built / "dist" / "site")
    assert modes(other / "dist" / "site") == modes(built / "dist" / "site")
    assert (other / "dist" / "app.bin").read_bytes() == (built / "dist" / "app.bin").read_bytes()
    assert stat.S_IMODE((other / "dist" / "app.bin").stat().st_mode) == 0o600
    assert os.readlink(other / "dist" / "site" / "styles") == "css"
    assert (other / "dist" / "site" / "styles" / "home.html").read_text() == "<h1>hello</h1>\n"
    assert (other / "dist" / "site" / "empty").is_dir()
    assert sorted(p.name for p in (other / "dist").iterdir()) == ["app.bin", "site"]


def test_unpack_replaces_what_is_there(built: Path, tmp_path: Path) -> None:
    """Restoring over an edited output puts the built one back whole: stray files go."""
    packed = pack(built, [Path("dist/site")])
    store = blobs_of(tmp_path / "store", packed.blobs)
    expected = content_digest(built / "dist" / "site")
    (built / "dist" / "site" / "stray.txt").write_text("left over")
    (built / "dist" / "site" / "index.html").write_text("edited")
    unpack(built, packed.roots, packed.entries, fetcher(store))
    assert content_digest(built / "dist" / "site") == expected
    assert sorted(p.name for p in (built / "dist").iterdir()) == ["app.bin", "site"]


def test_a_read_only_folder_is_restored_with_its_mode(tmp_path: Path) -> None:
    """Folder modes are set after their files are in: a 0o555 folder still gets its files."""
    root = tmp_path / "repo"
    (root / "out" / "ro").mkdir(parents=True)
    (root / "out" / "ro" / "f.txt").write_text("x")
    os.chmod(root / "out" / "ro", 0o555)
    packed = pack(root, [Path("out")])
    os.chmod(root / "out" / "ro", 0o755)
    store = blobs_of(tmp_path / "store", packed.blobs)
    unpack(tmp_path / "copy", packed.roots, packed.entries, fetcher(store))
    assert (tmp_path / "copy" / "out" / "ro" / "f.txt").read_text() == "x"
    assert stat.S_IMODE((tmp_path / "copy" / "out" / "ro").stat().st_mode) == 0o555
    os.chmod(tmp_path / "copy" / "out" / "ro", 0o755)


def test_pack_refuses_missing_outside_and_escaping_outputs(built: Path, tmp_path: Path) -> None:
    """Nothing is stored for a missing output, one outside the root or a link leaving it."""
    with pytest.raises(CacheError, match="missing"):
        pack(built, [Path("dist/nothing")])
    with pytest.raises(CacheError, match="not inside"):
        pack(built, [tmp_path])
    os.symlink("../../app.bin", built / "dist" / "site" / "css" / "app")
    with pytest.raises(CacheError, match="leaves the output dist/site"):
        pack(built, [Path("dist/site")])
    assert pack(built, [Path("dist")]).roots == ("dist",)  # inside dist/, that link is fine


def test_nested_outputs_are_packed_once(built: Path) -> None:
    """An output inside another declared output is packed with it, not twice."""
    packed = pack(built, [Path("dist"), Path("dist/site/index.html"), Path("dist")])
    assert packed.roots == ("dist",)
    paths = [e.path for e in packed.entries]
    assert len(paths) == len(set(paths))


def test_record_json_round_trip(built: Path) -> None:
    """to_json and from_json give back the same record; its blobs include the log."""
    packed = pack(built, [Path("dist")])
    record = ActionRecord(KEY, "build:site", "site", packed.roots, packed.entries, "cd" * 32,
                          1.5, 1700000000.0)
    again = ActionRecord.from_json(record.to_json())
    assert again == record
    assert again.blobs() == set(packed.blobs) | {"cd" * 32}


@pytest.mark.parametrize("mangle", [
    lambda r: b"not json",
    lambda r: b"[]",
    lambda r: json.dumps({**r, "schema": 99}).encode(),
    lambda r: json.dumps({k: v for k, v in r.items() if k != "task"}).encode(),
    lambda r: json.dumps({**r, "duration": "long"}).encode(),
    lambda r: json.dumps({**r, "key": "../../etc/passwd"}).encode(),
    lambda r: json.dumps({**r, "outputs": [{"path": "a", "kind": "fifo", "digest": None,
                                             "size": 0, "mode": 0, "target": None}]}).encode(),
    lambda r: json.dumps({**r, "outputs": [{"path": "a", "kind": "file", "digest": "../x",
                                             "size": 0, "mode": 420, "target": None}]}).encode(),
    lambda r: json.dumps({**r, "outputs": [{"path": "a", "kind": "file", "digest": "ab" * 32,
                                             "size": 0, "mode": 0o70000, "target": None}]}
                         ).encode(),
    lambda r: b'{"schema": 1, "roots": ' + b"[" * 100000 + b"]" * 100000 + b"}",
])
def test_a_malformed_record_is_a_cache_error(mangle: Callable[[dict[str, Any]], bytes]
                                            ) -> None:
    """Whatever a store hands back, a bad record raises CacheError (a miss), nothing else."""
    good = json.loads(ActionRecord(KEY, "build:x", None, ("out",),
                                   (OutputEntry("out", "dir", mode=0o755),), None, 1.0,
                                   2.0).to_json())
    with pytest.raises(CacheError):
        ActionRecord.from_json(mangle(good))


# Refusals -----------------------------------------------------------------------------------

def file_entry(path: str, store: dict[str, Path], tmp_path: Path, content: bytes = b"x"
               ) -> OutputEntry:
    """An entry for a file with `content`, its blob put in the stand-in store."""
    blob = tmp_path / "blob-source"
    blob.write_bytes(content)
    digest = file_digest(blob)
    store.update(blobs_of(tmp_path / "store", {digest: blob}))
    return OutputEntry(path, "file", digest, len(content), 0o644)


@pytest.mark.parametrize(("roots", "paths", "message"), [
    (("/etc",), ["/etc"], "absolute"),
    (("out",), ["out", "out/../../evil"], "'..'"),
    (("out",), ["out", "out//evil"], "empty parts"),
    (("out",), ["out", "out/./evil"], "empty parts"),
    (("..",), [".."], "'..'"),
    (("out",), ["out", "elsewhere/evil"], "outside its outputs"),
    (("out",), ["out", "out/sub/evil"], "not inside a folder it lists"),
    (("out", "out/in"), ["out", "out/in"], "overlap"),
])
def test_unpack_refuses_paths_outside_the_outputs(tmp_path: Path, roots: tuple[str, ...],
                                                  paths: list[str], message: str) -> None:
    """Absolute paths, `..`, empty parts, strays: refused before anything is written."""
    store: dict[str, Path] = {}
    entries = [OutputEntry(p, "dir", mode=0o755) if i == 0 else file_entry(p, store, tmp_path)
               for i, p in enumerate(paths)]
    root = tmp_path / "repo"
    root.mkdir()
    with pytest.raises(CacheError, match=message):
        unpack(root, roots, entries, fetcher(store))
    assert list(root.iterdir()) == []
    assert not (tmp_path / "evil").exists() and not Path("/etc/evil").exists()


@pytest.mark.parametrize(("link", "target"), [
    ("out/l", "/etc/passwd"),
    ("out/l", "../outside"),
    ("out/d/l", "../../outside"),
    ("out/l", "d/../../outside"),  # `..` after a name: could climb through another link
    ("out/l", "d/./../x"),
])
def test_unpack_refuses_links_leaving_their_output(tmp_path: Path, link: str, target: str
                                                   ) -> None:
    """A link whose target leaves the output it belongs to is refused; the old output stays."""
    root = tmp_path / "repo"
    (root / "out").mkdir(parents=True)
    (root / "out" / "old.txt").write_text("old")
    entries = [OutputEntry("out", "dir", mode=0o755), OutputEntry("out/d", "dir", mode=0o755),
               OutputEntry(link, "link", target=target, mode=0)]
    with pytest.raises(CacheError, match="unsafe link"):
        unpack(root, ("out",), entries, fetcher({}))
    assert sorted(p.name for p in root.iterdir()) == ["out"]
    assert [p.name for p in (root / "out").iterdir()] == ["old.txt"]


def test_a_link_climbing_within_its_output_is_restored(tmp_path: Path) -> None:
    """`../x` from a sub-folder stays inside the output: allowed."""
    entries = [OutputEntry("out", "dir", mode=0o755), OutputEntry("out/d", "dir", mode=0o755),
               OutputEntry("out/d/l", "link", target="../x", mode=0)]
    unpack(tmp_path, ("out",), entries, fetcher({}))
    assert os.readlink(tmp_path / "out" / "d" / "l") == "../x"


def test_a_bad_blob_part_way_keeps_every_old_output(built: Path, tmp_path: Path) -> None:
    """A blob with the wrong content (the fetch refuses it) half-way through the second output:
    both old outputs stay as they were and no temporary is left beside them."""
    packed = pack(built, [Path("dist/app.bin"), Path("dist/site")], inline_total=0)
    store = blobs_of(tmp_path / "store", packed.blobs)
    (built / "dist" / "app.bin").write_text("old app")
    before = content_digest(built / "dist")
    main_css = next(e.digest for e in packed.entries if e.path.endswith("main.css"))
    assert main_css is not None
    store[main_css].write_bytes(b"tampered")

    def checked(digest: str, dest: Path) -> None:
        fetcher(store)(digest, dest)
        if file_digest(dest) != digest:
            dest.unlink()
            raise CacheError(f"blob {digest[:12]} is corrupt")

    with pytest.raises(CacheError, match="corrupt"):
        unpack(built, packed.roots, packed.entries, checked)
    assert content_digest(built / "dist") == before
    assert (built / "dist" / "app.bin").read_text() == "old app"
    assert sorted(p.name for p in (built / "dist").iterdir()) == ["app.bin", "site"]


def test_a_missing_blob_leaves_no_output_where_there_was_none(built: Path, tmp_path: Path
                                                              ) -> None:
    """Restoring into an empty root with a blob missing writes nothing but the parent folder."""
    packed = pack(built, [Path("dist/site")], inline_total=0)
    store = blobs_of(tmp_path / "store", packed.blobs)
    store.pop(next(iter(store)))
    other = tmp_path / "other"
    with pytest.raises(CacheError, match="missing"):
        unpack(other, packed.roots, packed.entries, fetcher(store))
    assert list((other / "dist").iterdir()) == []


def test_an_output_replaced_by_another_kind(built: Path, tmp_path: Path) -> None:
    """A file where a folder was built, or a dangling link there: replaced all the same."""
    packed = pack(built, [Path("dist/site"), Path("dist/app.bin")])
    store = blobs_of(tmp_path / "store", packed.blobs)
    expected = content_digest(built / "dist")
    shutil.rmtree(built / "dist" / "site")
    (built / "dist" / "site").write_text("a file now")
    (built / "dist" / "app.bin").unlink()
    os.symlink("nowhere", built / "dist" / "app.bin")
    unpack(built, packed.roots, packed.entries, fetcher(store))
    assert content_digest(built / "dist") == expected


def test_entries_listed_twice_are_refused(tmp_path: Path) -> None:
    """The same path twice in a record is refused."""
    store: dict[str, Path] = {}
    entries = [OutputEntry("out", "dir", mode=0o755), file_entry("out/a", store, tmp_path),
               file_entry("out/b", store, tmp_path), file_entry("out/a", store, tmp_path)]
    with pytest.raises(CacheError, match="listed twice"):
        unpack(tmp_path / "repo", ("out",), entries, fetcher(store))


def test_a_record_must_carry_each_output_entry(tmp_path: Path) -> None:
    """A root with no entry of its own is refused (nothing would say what it is)."""
    entry = OutputEntry("out", "dir", mode=0o755)
    with pytest.raises(CacheError, match="no entry of its own"):
        unpack(tmp_path, ("out", "other"), [entry], fetcher({}))
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_itself_a_link_is_not_cached(tmp_path: Path) -> None:
    """A declared output that is a symlink points outside itself by definition: pack refuses
    it (nothing stored) and unpack refuses a record holding one."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "real").write_text("x")
    os.symlink("real", root / "latest")
    with pytest.raises(CacheError, match="unsafe link"):
        pack(root, [Path("latest")])
    with pytest.raises(CacheError, match="unsafe link"):
        unpack(root, ("latest",), [OutputEntry("latest", "link", target="/etc", mode=0)],
               fetcher({}))
    assert os.readlink(root / "latest") == "real"


# Inline content -----------------------------------------------------------------------------

def test_small_files_travel_inside_the_record(built: Path, tmp_path: Path) -> None:
    """Files up to INLINE_FILE go inside the record, bigger ones are blobs; through JSON and
    back, the restore is byte-identical with no blob fetched for the small ones."""
    (built / "dist" / "big.bin").write_bytes(os.urandom(INLINE_FILE + 1))
    packed = pack(built, [Path("dist")])
    big = file_digest(built / "dist" / "big.bin")
    assert set(packed.blobs) == {big}
    inline_paths = {e.path for e in packed.entries if e.data is not None}
    assert {"dist/app.bin", "dist/site/index.html", "dist/site/css/main.css"} <= inline_paths
    record = ActionRecord(KEY, "build:x", None, packed.roots, packed.entries, None, 1.0, 2.0)
    again = ActionRecord.from_json(record.to_json())
    assert again.blobs() == {big}
    fetched: list[str] = []

    def fetch(digest: str, dest: Path) -> None:
        fetched.append(digest)
        fetcher(blobs_of(tmp_path / "store", packed.blobs))(digest, dest)

    unpack(tmp_path / "other", again.roots, again.outputs, fetch)
    assert fetched == [big]
    assert content_digest(tmp_path / "other" / "dist") == content_digest(built / "dist")
    assert modes(tmp_path / "other" / "dist") == modes(built / "dist")


def test_inline_content_is_bounded_per_record(tmp_path: Path) -> None:
    """Past `inline_total` bytes, small files are blobs again: a record stays small."""
    root = tmp_path / "repo"
    (root / "out").mkdir(parents=True)
    for i in range(10):
        (root / "out" / f"{i}.txt").write_bytes(bytes([i]) * 1000)
    packed = pack(root, [Path("out")], inline_total=3500)
    assert sum(e.data is not None for e in packed.entries) == 3
    assert len(packed.blobs) == 7


@pytest.mark.parametrize(("data", "message"), [
    (base64.b64encode(b"other content").decode(), "corrupt"),
    ("not base64!", "not base64"),
])
def test_bad_inline_content_keeps_the_old_output(built: Path, data: str, message: str) -> None:
    """Inline content is checked against its digest like a blob: a mismatch or garbage is a
    CacheError and the old output stays whole."""
    packed = pack(built, [Path("dist/site")])
    entries = [dataclasses.replace(e, data=data) if e.path == "dist/site/index.html" else e
               for e in packed.entries]
    before = content_digest(built / "dist")
    with pytest.raises(CacheError, match=message):
        unpack(built, packed.roots, entries, fetcher({}))
    assert content_digest(built / "dist") == before


def test_content_on_a_folder_and_schema_1_records(built: Path) -> None:
    """Only a file may carry content; a record of schema 1 (no inline content) still reads."""
    folder = {"path": "out", "kind": "dir", "digest": None, "size": 0, "mode": 0o755,
              "target": None}
    good = json.loads(ActionRecord(KEY, "build:x", None, ("out",), (OutputEntry(
        "out", "dir", mode=0o755),), None, 1.0, 2.0).to_json())
    with pytest.raises(CacheError, match="a dir with content"):
        ActionRecord.from_json(json.dumps({**good, "outputs": [{**folder, "data": "eA=="}]}
                                          ).encode())
    old = {k: v for k, v in good.items() if k != "log_data"} | {"schema": 1}
    old["outputs"] = [folder]
    assert ActionRecord.from_json(json.dumps(old).encode()).schema == 1
