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


def test_every_property_is_described() -> None:
    """Every property of modules.json has a description editors show on hover."""
    missing: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.get("properties", {}).items():
                if "description" not in value:
                    missing.append(f"{where}.{key}")
            for key, value in node.items():
                walk(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                walk(value, where)

    walk(schema(), "")
    assert missing == []


def test_step_names_offer_the_shipped_steps() -> None:
    """A step override's name completes to the shipped toolchains' steps."""
    import yaml

    shipped = sorted({step["name"] for p in (REPO / "tasks" / "toolchains").glob("*.yaml")
                      for step in yaml.safe_load(p.read_text()).get("steps", [])})
    name = schema()["$defs"]["StepOverride"]["properties"]["name"]
    assert name["anyOf"][0] == {"enum": shipped}
    assert {"build", "test", "install"} <= set(shipped)
