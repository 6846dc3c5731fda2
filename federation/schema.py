"""Write modules.schema.json, the JSON Schema editors use for modules.json.

Run `python -m federation.schema` after changing the models; a test fails
while the committed file and the models disagree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from federation.manifest import SCHEMA_FILE, json_schema


def render() -> str:
    """The schema file's exact text."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """Write the schema beside modules.json (or into the folder given)."""
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    (folder / SCHEMA_FILE).write_text(render())
    print(f"wrote {folder / SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
