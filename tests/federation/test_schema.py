"""modules.schema.json as editors use it: a stable $id, enums where values are a fixed set,
descriptions on the module fields."""

from __future__ import annotations

import json
from typing import Any

from federation.manifest import SCHEMA_ID
from tests.conftest import REPO


def schema() -> dict[str, Any]:
    """The committed schema (test_project keeps it equal to the models)."""
    return dict(json.loads((REPO / "modules.schema.json").read_text()))


def test_the_schema_has_a_stable_id() -> None:
    """$id names the schema whatever file holds it."""
    assert schema()["$id"] == SCHEMA_ID == \
        "https://fedbuild.example.org/schemas/modules/v1/modules.schema.json"


def test_toolchain_offers_every_shipped_toolchain() -> None:
    """Editors complete the shipped toolchains; a repository's own name stays valid."""
    shipped = sorted(p.name.removesuffix(".yaml")
                     for p in (REPO / "tasks" / "toolchains").glob("*.yaml"))
    toolchain = schema()["$defs"]["Module"]["properties"]["toolchain"]
    assert toolchain["anyOf"][0] == {"enum": shipped}
    assert toolchain["anyOf"][1]["type"] == "string"


def test_fixed_sets_are_enums() -> None:
    """Merge strategies, modes and chips are enums."""
    defs = schema()["$defs"]
    module = defs["Module"]["properties"]
    assert module["merge_strategy"]["enum"] == ["overwrite", "preserve", "merge", "error"]
    assert "esp32c3" in json.dumps(module["target"])
    assert '"enum": ["development", "production", "test"]' in json.dumps(defs)


def test_every_module_source_and_override_field_is_described() -> None:
    """What a modules.json author types most has a description on hover."""
    defs = schema()["$defs"]
    for name in ("Module", "Source", "Overrides"):
        missing = [k for k, v in defs[name]["properties"].items() if "description" not in v]
        assert missing == [], name
