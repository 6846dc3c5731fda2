"""One size rule: K/M/G/T and KiB/MiB/GiB/TiB are powers of 1024, KB/MB/GB/TB of 1000."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.errors import ManifestError
from core.sizes import format_size, parse_size
from federation.manifest import parse_manifest
from hardware.size import parse_size as budget_size
from tasks.cache.cache import cache_config


@pytest.mark.parametrize(("text", "value"), [
    (65536, 65536), ("65536", 65536), ("0x10000", 65536), (" 2K ", 2048),
    ("64K", 65536), ("64k", 65536), ("64KiB", 65536), ("64 kib", 65536),
    ("64KB", 64000), ("64kb", 64000), ("1M", 1 << 20), ("1.5M", 1572864),
    ("1.5MB", 1_500_000), ("5GB", 5 * 1000**3), ("5G", 5 << 30), ("2GiB", 2 << 30),
    ("1T", 1 << 40), ("4.1TB", 4_100_000_000_000), ("10B", 10), ("0.5K", 512)])
def test_parse_size(text: int | str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "K", "64Q", "-1", "0", "0K", "0xZZ", "5 parsecs",
                                  "1.2.3K", True, None, 1.5, float("inf"), [64]])
def test_parse_size_refuses_with_the_rule(text: object) -> None:
    with pytest.raises(ValueError, match="is not a size") as err:
        parse_size(text)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_format_size_uses_the_units_as_the_rule_reads_them() -> None:
    assert [format_size(n) for n in (512, 64000, 1_500_000, 5 * 1000**3)] == [
        "512 B", "64.0 KB", "1.5 MB", "5.0 GB"]
    assert parse_size(format_size(64000).replace(" ", "")) == 64000


def _manifest(size: str) -> str:
    return json.dumps({
        "federation": {"name": "x", "baseURL": "https://x.org", "cache": {"max_size": size}},
        "modules": [{"name": "fw", "source": {"repository": "local"}, "toolchain": "esp-idf",
                     "target": "esp32c3", "budget": {"flash": size},
                     "outputs": [{"path": "fw.bin", "max_bytes": size}]}]})


@pytest.mark.parametrize(("size", "value"), [("64KB", 64000), ("64K", 65536), ("64KiB", 65536)])
def test_every_size_in_the_manifest_means_the_same(tmp_path: Path, size: str,
                                                   value: int) -> None:
    """Before: "64KB" was 64,000 bytes as a cache size and 65,536 as a memory budget, and
    "64K" 64,000 as a cache size; max_bytes took no unit at all."""
    manifest = parse_manifest(_manifest(size), "m.json")
    cache = manifest.federation.cache.model_dump()
    module = manifest.modules[0]
    assert module.budget is not None and not isinstance(module.outputs[0], str)
    assert cache_config(cache, tmp_path, tmp_path, {}).max_size == value
    assert module.budget.flash == value
    assert module.outputs[0].max_bytes == value
    assert budget_size(size) == value  # `python -m hardware size --flash-budget`


def test_a_bad_size_is_one_line_naming_the_field() -> None:
    with pytest.raises(ManifestError) as err:
        parse_manifest(_manifest("64Q"), "m.json")
    assert str(err.value).startswith("m.json: federation.cache.max_size: '64Q' is not a size: "
                                     "use a number of bytes")
