"""Path safety: every manifest, toolchain and module.json field that names a path, given an
absolute path, a `..` climb and a symlink out of the repository, is refused when the
manifest loads (one ERROR line naming the file and the field, exit 3), and neither `doit
clean` nor `doit` changes anything outside the test's repository.

The repository is the `basic` fixture (three site modules) plus one `command` module
(`tool`) whose steps come from a toolchain file of the repository (toolchains/local.yaml)
and from the manifest itself. Outside it, beside it in tmp_path, a sentinel folder holds
files a careless or hostile manifest would point at; its whole tree (names, kinds,
contents, link targets) is compared before and after each case.

The first case of each kind of field runs real `doit` processes; the others run the same
DoitMain and dodo.py in a forked child of the test process (tests/robustness/doit_list.py),
which skips an interpreter's start and imports: the refusal happens when dodo.py loads,
in both alike.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import copy_fixture, run_doit
from tests.robustness.doit_list import doit_forked

Change = Callable[[Path, Path], None]  # (repo, sentinel)

TOOLCHAIN = """\
description: a toolchain of the test repository
inputs: ["src/*.txt"]
steps:
  - name: build
    argv: ["{python}", "-c", "print('built')"]
    outputs: ["{work}/tool.txt"]
"""


def tool_repo(root: Path) -> Path:
    """The basic fixture plus the `tool` module and its toolchain file."""
    repo = copy_fixture("basic", root)
    (repo / "modules/tool/src").mkdir(parents=True)
    (repo / "modules/tool/src/a.txt").write_text("a\n")
    (repo / "toolchains").mkdir()
    (repo / "toolchains/local.yaml").write_text(TOOLCHAIN)
    data = json.loads((repo / "modules.json").read_text())
    data["modules"].append({"name": "tool", "toolchain": "local",
                            "source": {"repository": "local", "path": "modules/tool"},
                            "steps": [{"name": "pack", "argv": ["{python}", "-c", "pass"]}]})
    (repo / "modules.json").write_text(json.dumps(data, indent=2))
    return repo


def make_sentinel(folder: Path) -> Path:
    """Files outside the repository that nothing may touch."""
    (folder / "sub").mkdir(parents=True)
    (folder / "precious.txt").write_text("precious\n")
    (folder / "sub/deep.txt").write_text("deep\n")
    (folder / "build.sh").write_text("#!/bin/sh\necho pwned > \"$0.ran\"\n")
    os.chmod(folder / "build.sh", 0o755)
    (folder / "module.json").write_text(json.dumps({"name": "x", "hugo_config": {
        "template": "default", "theme": "plain"}}))
    for part in ("templates/default", "themes/plain", "components/note"):
        (folder / part).mkdir(parents=True)
        (folder / part / "file.txt").write_text(part + "\n")
    return folder


def snapshot(folder: Path) -> dict[str, str]:
    """Every entry under `folder`: a file's content, a link's target, or 'dir'."""
    found: dict[str, str] = {}
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(parent) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                found[rel] = "-> " + os.readlink(path)
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = path.read_text(errors="replace")
    return found


# The changes: one field each, in one of three forms --------------------------------------

def manifest(change: Callable[[dict[str, Any]], None]) -> Change:
    def apply(repo: Path, sentinel: Path) -> None:
        data = json.loads((repo / "modules.json").read_text())
        change(data)
        (repo / "modules.json").write_text(json.dumps(data, indent=2))
    return apply


def module(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in data["modules"] if m["name"] == name)


def own_step(**fields: Any) -> Change:
    """The manifest's own step `pack` of `tool` gets `fields`."""
    return manifest(lambda data: module(data, "tool")["steps"][0].update(fields))


def chain_step(**fields: Any) -> Change:
    """The toolchain file's step `build` gets `fields`."""
    def apply(repo: Path, sentinel: Path) -> None:
        lines = [f"    {key}: {json.dumps(value)}" for key, value in fields.items()]
        text = (repo / "toolchains/local.yaml").read_text()
        (repo / "toolchains/local.yaml").write_text(text + "\n".join(lines) + "\n")
    return apply


def chain_inputs(patterns: list[str]) -> Change:
    def apply(repo: Path, sentinel: Path) -> None:
        text = (repo / "toolchains/local.yaml").read_text()
        (repo / "toolchains/local.yaml").write_text(
            text.replace('inputs: ["src/*.txt"]', f"inputs: {json.dumps(patterns)}"))
    return apply


def link(where: str, to: str) -> Change:
    """Make `where` (in the repository) a symlink to `to` (in the sentinel), replacing it."""
    def apply(repo: Path, sentinel: Path) -> None:
        path = repo / where
        if path.is_dir() and not path.is_symlink():
            for parent, _dirs, files in os.walk(path, topdown=False):
                for name in files:
                    os.unlink(os.path.join(parent, name))
                os.rmdir(parent)
        elif path.exists() or path.is_symlink():
            path.unlink()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(sentinel / to)
    return apply


def both(*changes: Change) -> Change:
    def apply(repo: Path, sentinel: Path) -> None:
        for change in changes:
            change(repo, sentinel)
    return apply


def absolute(make: Callable[[str], Change], rel: str = "") -> Change:
    """The field given the sentinel's absolute path."""
    def apply(repo: Path, sentinel: Path) -> None:
        make(str(sentinel / rel) if rel else str(sentinel))(repo, sentinel)
    return apply


def climbing(make: Callable[[str], Change], rel: str = "") -> Change:
    """The field given a `..` path from the repository to the sentinel (it sits beside it)."""
    def apply(repo: Path, sentinel: Path) -> None:
        make(f"{{root}}/../{sentinel.name}" + (f"/{rel}" if rel else ""))(repo, sentinel)
    return apply


def climbing_rel(make: Callable[[str], Change], depth: int, rel: str = "") -> Change:
    """A `..` path relative to a folder `depth` levels below the repository."""
    def apply(repo: Path, sentinel: Path) -> None:
        make("../" * (depth + 1) + sentinel.name + (f"/{rel}" if rel else ""))(repo, sentinel)
    return apply


@dataclass(frozen=True)
class Case:
    name: str
    change: Change
    file: str  # the file the error names
    field: str  # the field it names


CHAIN = "toolchains/local.yaml"


def step_cases() -> list[Case]:
    """outputs, clean, cwd and inputs of a step: set in the manifest and in a toolchain file."""
    cases = []
    for origin, make_step, file, where in [
            ("manifest", own_step, "modules.json", "modules[3].steps[0]"),
            ("toolchain", chain_step, CHAIN, "steps[0]")]:
        def listed(field: str, fn: Callable[..., Change] = make_step) -> Callable[[str], Change]:
            return lambda value: fn(**{field: [value]})
        def single(field: str, fn: Callable[..., Change] = make_step) -> Callable[[str], Change]:
            return lambda value: fn(**{field: value})
        for field, make, item in [("outputs", listed("outputs"), "[0]"),
                                  ("clean", listed("clean"), "[0]"),
                                  ("cwd", single("cwd"), "")]:
            cases += [
                Case(f"{origin}-{field}-absolute", absolute(make, "precious.txt" if
                     field != "cwd" else ""), file, f"{where}.{field}{item}"),
                Case(f"{origin}-{field}-dotdot", climbing(make, "precious.txt" if
                     field != "cwd" else ""), file, f"{where}.{field}{item}"),
                Case(f"{origin}-{field}-symlink", both(link("escape", "."), make(
                     "{root}/escape" + ("/precious.txt" if field != "cwd" else ""))),
                     file, f"{where}.{field}{item}"),
            ]
        inputs = listed("inputs")
        cases += [
            Case(f"{origin}-inputs-absolute", absolute(inputs, "precious.txt"), file,
                 f"{where}.inputs[0]"),
            Case(f"{origin}-inputs-dotdot", climbing_rel(inputs, 2, "*.txt"), file,
                 f"{where}.inputs[0]"),
            Case(f"{origin}-inputs-symlink", both(link("modules/tool/src/leak.txt",
                                                       "precious.txt"), inputs("src/*.txt")),
                 "modules/tool/src/leak.txt", "outside the repository"),
        ]
    cases += [
        Case("toolchain-default-inputs-absolute", absolute(lambda v: chain_inputs([v]),
             "precious.txt"), CHAIN, "inputs[0]"),
        Case("toolchain-default-inputs-dotdot", climbing_rel(lambda v: chain_inputs([v]), 2,
             "*.txt"), CHAIN, "inputs[0]"),
        Case("toolchain-default-inputs-symlink", link("modules/tool/src/leak.txt",
             "precious.txt"), "modules/tool/src/leak.txt", "outside the repository"),
    ]
    return cases


def artifact(value: str) -> Change:
    return manifest(lambda data: module(data, "tool").update(outputs=[value]))


def module_inputs(value: str) -> Change:
    return manifest(lambda data: module(data, "alpha").update(inputs=[value]))


def source(name: str, **fields: str) -> Change:
    return manifest(lambda data: module(data, name)["source"].update(fields))


def federation(**fields: str) -> Change:
    return manifest(lambda data: data["federation"].update(fields))


def overrides(**fields: Any) -> Change:
    return manifest(lambda data: module(data, "alpha")["overrides"].update(fields)
                    if "overrides" in module(data, "alpha")
                    else module(data, "alpha").update(overrides=fields))


def module_json(**fields: Any) -> Change:
    def apply(repo: Path, sentinel: Path) -> None:
        path = repo / "modules/alpha/module.json"
        data = json.loads(path.read_text())
        data["hugo_config"].update(fields)
        path.write_text(json.dumps(data))
    return apply


M = "modules.json"
ALPHA_JSON = "modules/alpha/module.json"


def module_cases() -> list[Case]:
    """Module and federation fields of modules.json, and the names module.json gives."""
    return [
        Case("artifact-absolute", absolute(artifact, "precious.txt"), M, "modules[3].outputs[0]"),
        Case("artifact-dotdot", climbing(artifact, "precious.txt"), M, "modules[3].outputs[0]"),
        Case("artifact-symlink", both(link("escape", "."), artifact("{root}/escape/precious.txt")),
             M, "modules[3].outputs[0]"),
        Case("module-inputs-absolute", absolute(module_inputs, "*.txt"), M, "modules[0].inputs"),
        Case("module-inputs-dotdot", climbing_rel(module_inputs, 2, "*.txt"), M,
             "modules[0].inputs"),
        Case("module-inputs-symlink", both(link("modules/alpha/ext", "sub"),
                                           module_inputs("ext/*.txt")), "modules/alpha/ext",
             "outside the repository"),
        Case("source-path-absolute", absolute(lambda v: source("alpha", path=v)), M,
             "modules[0].source.path"),
        Case("source-path-dotdot", climbing_rel(lambda v: source("alpha", path=v), 0), M,
             "modules[0].source.path"),
        Case("source-path-symlink", both(link("escape", "."), source("alpha", path="escape")),
             M, "modules[0].source.path"),
        Case("local-path-dotdot", climbing_rel(lambda v: source("alpha", local_path=v), 0), M,
             "modules[0].source.local_path"),
        Case("local-path-symlink", both(link("escape", "."), source("alpha", local_path="escape",
                                                                     path=".")),
             M, "modules[0].source.local_path"),
        Case("module-json-absolute", absolute(lambda v: manifest(
            lambda d: module(d, "alpha").update(module_json=v)), "module.json"), M,
             "modules[0].module_json"),
        Case("module-json-dotdot", climbing_rel(lambda v: manifest(
            lambda d: module(d, "alpha").update(module_json=v)), 2, "module.json"), M,
             "modules[0].module_json"),
        Case("module-json-symlink", link(ALPHA_JSON, "module.json"), M,
             "modules[0].module_json"),
        Case("output-dir-absolute", absolute(lambda v: federation(output_dir=v)), M,
             "federation.output_dir"),
        Case("output-dir-dotdot", climbing_rel(lambda v: federation(output_dir=v), 0), M,
             "federation.output_dir"),
        Case("output-dir-symlink", link("public", "."), M, "federation.output_dir"),
        Case("build-script-absolute", absolute(lambda v: federation(build_script=v),
                                               "build.sh"), M, "federation.build_script"),
        Case("build-script-dotdot", climbing_rel(lambda v: federation(build_script=v), 0,
                                                 "build.sh"), M, "federation.build_script"),
        Case("build-script-symlink", link("scripts/build.sh", "build.sh"), M,
             "federation.build_script"),
        Case("assets-dir-absolute", absolute(lambda v: federation(assets_dir=v)), M,
             "federation.assets_dir"),
        Case("assets-dir-dotdot", climbing_rel(lambda v: federation(assets_dir=v), 0), M,
             "federation.assets_dir"),
        Case("assets-dir-symlink", link("site", "."), M, "federation.assets_dir"),
        *name_cases(),
    ]


def naming(make: Callable[..., Change], field: str, value: Callable[[Path], str]) -> Change:
    """`field` (template, theme or components) set by `make` to `value(sentinel)`."""
    def apply(repo: Path, sentinel: Path) -> None:
        text = value(sentinel)
        make(**{field: [text] if field == "components" else text})(repo, sentinel)
    return apply


def inside(kind: str) -> Callable[[Path], str]:
    return lambda sentinel: str(sentinel / kind)


def climb_to(kind: str) -> Callable[[Path], str]:
    """From site/templates (or themes, components) up to the sentinel beside the repo."""
    return lambda sentinel: f"../../../{sentinel.name}/{kind}"


def name_cases() -> list[Case]:
    """template, theme and components: module.json's and the manifest's overrides."""
    cases = []
    for field, kind in (("template", "templates/default"), ("theme", "themes/plain"),
                        ("components", "components/note")):
        for origin, make, file, where in [
                ("module-json", module_json, ALPHA_JSON, f"hugo_config.{field}"),
                ("overrides", overrides, M, f"modules[0].overrides.{field}")]:
            cases += [
                Case(f"{origin}-{field}-absolute", naming(make, field, inside(kind)), file,
                     where),
                Case(f"{origin}-{field}-dotdot", naming(make, field, climb_to(kind)), file,
                     where),
            ]
        # A symlinked asset folder is refused whoever names it, naming the link.
        cases.append(Case(f"asset-{field}-symlink", link(f"site/{kind}", kind),
                          f"site/{kind}", "a link to"))
    return cases


CASES = step_cases() + module_cases()


def test_the_family_covers_every_path_field() -> None:
    """The count the issue asks for, and no case named twice. An absolute source.local_path
    is not among them: it is the one path read outside the repository (issue 22: the
    reference format requires it), tested below to be read and never written."""
    assert len({c.name for c in CASES}) == len(CASES) == 65


# The cases run as real processes: the first of each kind of field (manifest-, module-, ...).
REAL = {next(c.name for c in CASES if c.name.split("-")[0] == kind)
        for kind in {c.name.split("-")[0] for c in CASES}}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_a_path_out_of_the_repository_is_refused(tmp_path: Path, case: Case) -> None:
    repo = tool_repo(tmp_path / "repo")
    sentinel = make_sentinel(tmp_path / "sentinel")
    case.change(repo, sentinel)
    before = snapshot(sentinel)
    real = case.name in REAL
    for args in (("clean",), ("run",)):
        result = run_doit(repo, *args) if real else doit_forked(repo, args[0], timeout=120)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stderr
        assert case.file in lines[0] and case.field in lines[0], lines[0]
        assert "Traceback" not in result.stdout + result.stderr
    assert snapshot(sentinel) == before


def test_the_repository_as_given_builds(tmp_path: Path) -> None:
    """The cases' starting point is sound: each refusal comes from its one change."""
    repo = tool_repo(tmp_path / "repo")
    sentinel = make_sentinel(tmp_path / "sentinel")
    before = snapshot(sentinel)
    result = run_doit(repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert run_doit(repo, "clean").returncode == 0
    assert snapshot(sentinel) == before


def test_publishing_never_replaces_a_folder_a_link_made_since_the_load_points_to(
        tmp_path: Path) -> None:
    """public/ becomes a link out of the repository while the build runs (after the manifest
    was checked): publishing refuses it, and the folder it points to keeps its files."""
    repo = tool_repo(tmp_path / "repo")
    sentinel = make_sentinel(tmp_path / "sentinel")
    before = snapshot(sentinel)
    # The first build script run swaps public/ for the link; the publish comes after.
    script = repo / "scripts/build.sh"
    script.write_text(script.read_text().replace(
        "#!/usr/bin/env bash\n", f"#!/usr/bin/env bash\nln -sfn {sentinel} {repo}/public\n", 1))
    result = run_doit(repo)
    assert result.returncode != 0, result.stdout
    assert "outside the repository" in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert snapshot(sentinel) == before


def test_an_absolute_local_path_out_of_the_repository_is_only_read(tmp_path: Path) -> None:
    """The one exception: a site's source named by an absolute local_path is read (built and
    published), and neither `doit` nor `doit clean` writes or deletes anything there."""
    repo = tool_repo(tmp_path / "repo")
    sentinel = make_sentinel(tmp_path / "sentinel")
    shutil.copytree(repo / "modules/alpha", sentinel / "alpha")
    source("alpha", local_path=str(sentinel), path="alpha")(repo, sentinel)
    before = snapshot(sentinel)
    for args in (("run",), ("clean",), ("run",)):
        result = run_doit(repo, *args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
    assert "<article>" in (repo / "public/index.html").read_text()
    assert snapshot(sentinel) == before
