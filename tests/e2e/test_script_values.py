"""Values handed to a build script can never become code (issue 22 item 4).

Build scripts in the wild run their arguments through `eval`. The eval-script fixture's
build script does exactly that (and records each run in ran.txt): every value fedbuild would
pass it (URLs, the title, template, theme and component names, paths), holding shell code,
is refused when the manifest loads, one ERROR line naming the file and the field, exit 3,
and the script never runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_fixture, run_doit

ATTACK = "$(touch${IFS}%s)"


@dataclass(frozen=True)
class Case:
    name: str
    change: Callable[[Path, str], None]  # (repo, shell code) -> None
    file: str
    field: str


def manifest(change: Callable[[dict[str, Any], str], None]) -> Callable[[Path, str], None]:
    def apply(repo: Path, code: str) -> None:
        data = json.loads((repo / "modules.json").read_text())
        change(data, code)
        (repo / "modules.json").write_text(json.dumps(data, indent=2))
    return apply


def alpha(data: dict[str, Any]) -> dict[str, Any]:
    return data["modules"][0]


def module_json(field: str, make: Callable[[str], Any]) -> Callable[[Path, str], None]:
    def apply(repo: Path, code: str) -> None:
        path = repo / "modules/alpha/module.json"
        data = json.loads(path.read_text())
        data["hugo_config"][field] = make(code)
        path.write_text(json.dumps(data))
    return apply


def renamed_source(repo: Path, code: str) -> None:
    """The module's folder really has the hostile name (so only the value is wrong)."""
    code = code.replace("/", "_")  # one file name
    shutil.move(repo / "modules/alpha", repo / f"modules/alpha{code}")
    manifest(lambda d, c: alpha(d)["source"].update(path=f"modules/alpha{c}"))(repo, code)


def outside_source(repo: Path, code: str) -> None:
    """An absolute local_path (allowed outside the repository) with shell code in it."""
    code = code.replace("/", "_")
    folder = repo.parent / f"sites{code}"
    shutil.move(repo / "modules/alpha", folder)
    manifest(lambda d, c: alpha(d)["source"].update(local_path=str(folder), path="."))(
        repo, code)


def hostile_module_json(repo: Path, code: str) -> None:
    code = code.replace("/", "_")
    shutil.move(repo / "modules/alpha/module.json", repo / f"modules/alpha/m{code}.json")
    manifest(lambda d, c: alpha(d).update(module_json=f"m{c}.json"))(repo, code)


M = "modules.json"
CASES = [
    Case("federation-baseURL", manifest(lambda d, c: d["federation"].update(
        baseURL=f"http://host/{c}/")), M, "federation.baseURL"),
    Case("overrides-baseURL", manifest(lambda d, c: alpha(d).update(
        overrides={"baseURL": f"https://fixture.example.org/{c}"})), M,
        "modules[0].overrides.baseURL"),
    Case("baseURL-quote", manifest(lambda d, c: d["federation"].update(
        baseURL="https://host/it's/")), M, "federation.baseURL"),
    Case("baseURL-host", manifest(lambda d, c: d["federation"].update(
        baseURL=f"https://a{c}.org")), M, "federation.baseURL"),
    Case("title", manifest(lambda d, c: alpha(d).update(overrides={"title": f"Docs {c}"})),
         M, "modules[0].overrides.title"),
    Case("title-newline", manifest(lambda d, c: alpha(d).update(
        overrides={"title": "Docs\ntouch x"})), M, "modules[0].overrides.title"),
    Case("title-backtick", manifest(lambda d, c: alpha(d).update(
        overrides={"title": "Docs `id`"})), M, "modules[0].overrides.title"),
    Case("theme", manifest(lambda d, c: alpha(d).update(overrides={"theme": f"plain{c}"})),
         M, "modules[0].overrides.theme"),
    Case("template", manifest(lambda d, c: alpha(d).update(
        overrides={"template": "default;id"})), M, "modules[0].overrides.template"),
    Case("components", manifest(lambda d, c: alpha(d).update(
        overrides={"components": ["note|id"]})), M, "modules[0].overrides.components[0]"),
    Case("module-json-theme", module_json("theme", lambda c: f"plain{c}"),
         "modules/alpha/module.json", "hugo_config.theme"),
    Case("module-json-components", module_json("components", lambda c: ["note&id"]),
         "modules/alpha/module.json", "hugo_config.components[0]"),
    Case("source-path", renamed_source, M, "modules[0].source.path"),
    Case("local-path", outside_source, M, "modules[0].source.local_path"),
    Case("module-json-path", hostile_module_json, M, "modules[0].module_json"),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_shell_code_in_a_value_is_refused_before_the_script_runs(tmp_path: Path,
                                                                 case: Case) -> None:
    repo = copy_fixture("eval-script", tmp_path / "repo")
    pwned = tmp_path / "pwned"
    case.change(repo, ATTACK % pwned)
    result = run_doit(repo)
    assert result.returncode == 3, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stderr
    assert case.file in lines[0] and case.field in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr
    assert not (repo / "ran.txt").exists()
    assert not pwned.exists()


def test_the_fixture_script_runs_when_the_values_are_plain(tmp_path: Path) -> None:
    """The refusals above come from the values: as given, the script runs for each module."""
    repo = copy_fixture("eval-script", tmp_path / "repo")
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (repo / "ran.txt").read_text().count("ran") == 3
