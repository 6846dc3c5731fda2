"""The plan of toolchain steps (federation/steps.py): overrides, placeholders, order, inputs,
skip_if. Pure code: each test writes a small repository to tmp_path, loads it and plans it
for a given mode and host, with no process run and nothing written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.errors import ManifestError
from core.state import State
from federation.loader import Project, load_project
from federation.manifest import Module, SkipIf, parse_toolchain
from federation.platforms import Host
from federation.steps import (
    StepPlan,
    StepsPlan,
    merged_steps,
    plan_steps,
    python_executable,
    skip_reason,
)
from federation.toolchains import load_toolchains

LINUX = Host("linux", "x64")
FEDERATION = {"name": "plan", "baseURL": "https://plan.example.org"}
CHAIN = """
description: a toolchain with three steps
inputs: ["src/**/*.c", "*.mk"]
modes:
  development: {flags: [], level: "0"}
  production: {flags: [-O2, -s], level: "2"}
steps:
  - name: configure
    argv: [conf, "{module_dir}"]
    outputs: ["{work}/config.h"]
  - name: build
    depends_on: [configure]
    commands:
      - [cc, "{flags}", "-O{level}"]
      - [install, --prefix, "{out}"]
    env: {CFLAGS: "-O{level}"}
    timeout: 60
  - name: test
    depends_on: [build]
    argv: [check]
    default: false
"""


def make_repo(root: Path, modules: list[dict[str, Any]], toolchains: dict[str, str] | None = None,
              files: dict[str, str] | None = None) -> Project:
    """Write modules.json (each module at m/<name> unless it says otherwise), toolchains/
    and files; load it."""
    for entry in modules:
        entry.setdefault("source", {"repository": "local", "path": f"m/{entry['name']}"})
        (root / entry["source"]["path"]).mkdir(parents=True, exist_ok=True)
    for name, text in (toolchains or {}).items():
        (root / "toolchains").mkdir(exist_ok=True)
        (root / "toolchains" / f"{name}.yaml").write_text(text)
    for rel, text in (files or {}).items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "modules.json").write_text(json.dumps({"federation": FEDERATION,
                                                   "modules": modules}))
    return load_project(root)


def plan(project: Project, mode: str = "development", host: Host = LINUX) -> StepsPlan:
    """The steps plan of a loaded repository."""
    return plan_steps(project, State(project.root), project.toolchains, mode, host)


def tasks(steps: StepsPlan) -> dict[str, StepPlan]:
    """The planned steps by task name."""
    return {s.task: s for s in steps.steps}


def chain_module(name: str = "m", **fields: Any) -> dict[str, Any]:
    """A module of the `tc` toolchain (CHAIN)."""
    return {"name": name, "toolchain": "tc", **fields}


# merged_steps: a module's overrides and own steps ----------------------------------------

def merged(steps: list[dict[str, Any]]) -> dict[str, Any]:
    """The module's merged steps, by name, as plain data."""
    module = Module.model_validate({"name": "m", "source": {"repository": "local"},
                                    "toolchain": "tc", "steps": steps})
    chain = parse_toolchain(yaml.safe_load(CHAIN), "toolchains/tc.yaml")
    return {s.name: s.model_dump() for s in merged_steps(module, chain, "modules.json", 0)}


def test_override_changes_only_the_fields_it_gives() -> None:
    """timeout and env given: the rest of the toolchain's build step stays."""
    steps = merged([{"name": "build", "timeout": 5, "env": {"CC": "clang"}}])
    assert steps["build"]["timeout"] == 5
    assert steps["build"]["env"] == {"CC": "clang"}  # a field is replaced whole, not merged
    assert steps["build"]["commands"] == [["cc", "{flags}", "-O{level}"],
                                          ["install", "--prefix", "{out}"]]
    assert steps["build"]["depends_on"] == ["configure"]
    assert steps["test"] == merged([])["test"]


def test_override_keeps_the_fedbuild_variables_of_a_shipped_step() -> None:
    """A shipped step may set FEDBUILD_* (a module may not): overriding its timeout keeps them."""
    module = Module.model_validate({"name": "m", "source": {"repository": "local"},
                                    "toolchain": "npm", "steps": [{"name": "build",
                                                                   "timeout": 5}]})
    chain = load_toolchains(Path("/nonexistent"))["npm"]
    steps = {s.name: s for s in merged_steps(module, chain, "modules.json", 0)}
    assert steps["build"].timeout == 5
    assert steps["build"].env["FEDBUILD_OUT"] == "{out}"


def test_override_argv_replaces_commands_and_commands_replace_argv() -> None:
    """A step has one command form: the override's wins."""
    steps = merged([{"name": "build", "argv": ["make"]},
                    {"name": "configure", "commands": [["a"], ["b"]]}])
    assert steps["build"]["argv"] == ["make"] and steps["build"]["commands"] is None
    assert steps["configure"]["commands"] == [["a"], ["b"]]
    assert steps["configure"]["argv"] is None
    assert steps["configure"]["outputs"] == ["{work}/config.h"]


def test_module_steps_of_its_own_come_after_the_toolchains() -> None:
    """A new name adds a step; defaults apply to what it does not say."""
    steps = merged([{"name": "lint", "argv": ["lint"], "depends_on": ["configure"]},
                    {"name": "test", "default": True}])
    assert list(steps) == ["configure", "build", "test", "lint"]
    assert steps["lint"]["default"] is True and steps["lint"]["timeout"] == 600
    assert steps["test"]["default"] is True and steps["test"]["argv"] == ["check"]


def test_new_step_without_a_command_is_one_error_line() -> None:
    """Not a step of the toolchain, and no argv: the line names the entry."""
    with pytest.raises(ManifestError) as err:
        merged([{"name": "build", "timeout": 1}, {"name": "lint", "timeout": 1}])
    assert err.value.line == ("modules.json: modules[0].steps[1]: step 'lint' is not a step "
                              "of toolchain 'tc'; give it argv or commands")


# Placeholders ------------------------------------------------------------------------------

STEP = {"name": "run", "argv": [
    "{python}", "{flags}", "-O{level}", "--flags={flags}", "{module_dir}", "{name}", "{mode}",
    "{platform}-{arch}", "{target_triple}", "{root}", "{work}", "{dist}", "{dist:other}",
    "--out={out}", "-j{jobs}"],
    "env": {"LEVEL": "{level}", "OUT": "{out}/x", "OTHER": "{dist:other}/lib"},
    "cwd": "{work}/build", "outputs": ["bin", "{work}/cache"]}
# The toolchain's build writes {out}; beside STEP (which does) it must install elsewhere.
BUILD_IN_WORK = {"name": "build", "commands": [["cc"], ["install", "--prefix", "{work}/p"]]}


@pytest.mark.parametrize(("mode", "flags", "level"), [
    ("development", [], "0"), ("production", ["-O2", "-s"], "2")])
def test_placeholders_expand_everywhere(tmp_path: Path, mode: str, flags: list[str],
                                        level: str) -> None:
    """Values of the run, the host and the toolchain's mode; a lone list placeholder
    becomes its items (or none), inside text it is joined with spaces."""
    project = make_repo(tmp_path, [chain_module(steps=[BUILD_IN_WORK, STEP]),
                                   {"name": "other", "toolchain": "command"}], {"tc": CHAIN})
    root, step = project.root, tasks(plan(project, mode))["run:m"]
    work, dist = root / ".fedbuild/work" / mode / "m", root / "dist" / mode / "m"
    assert step.commands == ((
        python_executable(), *flags, f"-O{level}", f"--flags={' '.join(flags)}", str(root / "m/m"),
        "m", mode, "linux-x64", "x86_64-unknown-linux-gnu", str(root), str(work), str(dist),
        str(root / "dist" / mode / "other"), "--out={out}", "-j{jobs}"),)
    assert step.env == {"LEVEL": level, "OUT": "{out}/x",
                        "OTHER": f"{root}/dist/{mode}/other/lib"}
    assert step.cwd == work / "build"
    assert step.outputs == (dist / "bin", work / "cache")
    assert step.uses_out and step.dist == dist and step.mode == mode


def test_two_steps_writing_out_is_one_error_line(tmp_path: Path) -> None:
    """{out} becomes the module's whole dist folder: only one step of a module may write it."""
    project = make_repo(tmp_path, [chain_module(steps=[STEP]),
                                   {"name": "other", "toolchain": "command"}], {"tc": CHAIN})
    with pytest.raises(ManifestError) as err:
        plan(project)
    assert err.value.line.endswith(
        "modules.json: modules[0].steps: steps 'build' and 'run' of 'm' both write {out}, "
        "which becomes the module's whole dist folder; let one of them write to {work} "
        "instead")


def test_toolchain_steps_expand_for_each_module(tmp_path: Path) -> None:
    """The toolchain's env, commands and outputs, for the module and the host."""
    project = make_repo(tmp_path, [chain_module("a"), chain_module("b")], {"tc": CHAIN})
    steps = tasks(plan(project, "production", Host("darwin", "arm64")))
    build = steps["build:b"]
    assert build.commands == (("cc", "-O2", "-s", "-O2"), ("install", "--prefix", "{out}"))
    assert build.env == {"CFLAGS": "-O2"} and build.timeout == 60
    assert build.outputs == (project.root / "dist/production/b",)  # {out}, no outputs: dist
    assert steps["configure:a"].commands == (("conf", str(project.root / "m/a")),)
    assert not steps["configure:a"].uses_out
    assert build.host == "darwin-arm64"


def test_relative_cwd_is_relative_to_the_module(tmp_path: Path) -> None:
    """cwd "src" means the module's src/, as inputs and skip_if paths are relative to the
    module: never the folder doit happens to run in."""
    project = make_repo(tmp_path, [{"name": "m", "toolchain": "command", "steps": [
        {"name": "run", "argv": ["x"], "cwd": "src"}]}], files={"m/m/src/a.c": ""})
    assert tasks(plan(project))["run:m"].cwd == project.root / "m/m/src"


def test_out_in_outputs_means_the_dist_folder(tmp_path: Path) -> None:
    """outputs ["{out}/bin"]: {out} becomes dist/<mode>/<module>/, so the output is
    dist/<mode>/<module>/bin (rejecting it with one line would do too), never a path with
    a literal "{out}" folder that no step creates (so the step would never be up to date)."""
    project = make_repo(tmp_path, [{"name": "m", "toolchain": "command", "steps": [
        {"name": "run", "argv": ["x", "{out}"], "outputs": ["{out}/bin"]}]}])
    try:
        step = tasks(plan(project))["run:m"]
    except ManifestError:
        return
    assert step.outputs == (project.root / "dist/development/m/bin",)


def test_unknown_placeholder_is_one_error_line(tmp_path: Path) -> None:
    """The line names the module, the step and every placeholder there is."""
    project = make_repo(tmp_path, [chain_module(steps=[
        {"name": "run", "argv": ["x", "--src={srcdir}"]}])], {"tc": CHAIN})
    with pytest.raises(ManifestError) as err:
        plan(project)
    assert err.value.line == (
        f"{project.label}: modules[0]: step 'run' of module 'm': unknown placeholder "
        "{srcdir}; known: {arch}, {baud}, {budget_args}, {chip}, {dist}, {dist:NAME}, "
        "{fedbuild}, {flags}, {hardware_digest}, {jobs}, {level}, {mode}, {module_dir}, "
        "{name}, {out}, {platform}, {port}, {python}, {python_env_digest}, {root}, {scratch}, "
        "{target}, {target_triple}, {work}")


def test_placeholder_of_another_mode_is_unknown_in_this_one(tmp_path: Path) -> None:
    """A toolchain value given for production only does not exist in development."""
    chain = CHAIN.replace('production: {flags: [-O2, -s], level: "2"}',
                          'production: {flags: [-O2, -s], level: "2", strip: [-s]}')
    project = make_repo(tmp_path, [chain_module(steps=[{"name": "run",
                                                        "argv": ["x", "{strip}"]}])],
                        {"tc": chain})
    assert tasks(plan(project, "production"))["run:m"].commands == (("x", "-s"),)
    with pytest.raises(ManifestError, match=r"unknown placeholder \{strip\}"):
        plan(project, "development")


def test_dist_of_an_unknown_module_is_one_error_line(tmp_path: Path) -> None:
    """{dist:NAME} must name a module of modules.json."""
    project = make_repo(tmp_path, [{"name": "m", "toolchain": "command", "env": {
        "LIB": "{dist:nope}/lib"}, "steps": [{"name": "run", "argv": ["x"]}]}])
    with pytest.raises(ManifestError) as err:
        plan(project)
    assert err.value.line == (f"{project.label}: modules[0]: step 'run' of module 'm': "
                              "{dist:nope} names no module of modules.json")


# Order -------------------------------------------------------------------------------------

def test_step_cycle_is_one_error_line(tmp_path: Path) -> None:
    """a -> b -> c -> a, printed as the path around the cycle."""
    project = make_repo(tmp_path, [{"name": "m", "toolchain": "command", "steps": [
        {"name": "a", "argv": ["a"], "depends_on": ["b"]},
        {"name": "b", "argv": ["b"], "depends_on": ["c"]},
        {"name": "c", "argv": ["c"], "depends_on": ["a"]}]}])
    with pytest.raises(ManifestError) as err:
        plan(project)
    assert err.value.line == (f"{project.label}: modules[0].steps: the steps of 'm' depend on "
                              "each other in a cycle: a -> b -> c -> a")


def test_step_depending_on_an_unknown_step_is_one_error_line(tmp_path: Path) -> None:
    """The line lists the module's steps."""
    project = make_repo(tmp_path, [chain_module(steps=[
        {"name": "lint", "argv": ["lint"], "depends_on": ["format"]}])], {"tc": CHAIN})
    with pytest.raises(ManifestError) as err:
        plan(project)
    assert err.value.line == (f"{project.label}: modules[0].steps: step 'lint' of 'm' depends "
                              "on 'format', which is not one of its steps (build, configure, "
                              "lint, test)")


def test_module_dependency_waits_for_the_same_step_or_the_build(tmp_path: Path) -> None:
    """b depends on a: each b step waits for a's step of the same name, or a's build; d
    depends on c, which has neither, so d's steps wait for nothing of c; a site module's
    build counts."""
    site = {"name": "site", "toolchain": "build.sh", "destination": "/"}
    project = make_repo(tmp_path, [
        chain_module("a"),
        {"name": "b", "toolchain": "command", "depends_on": ["a", "site"], "steps": [
            {"name": "build", "argv": ["b"]}, {"name": "test", "argv": ["t"]},
            {"name": "lint", "argv": ["l"], "depends_on": ["build"]}]},
        {"name": "c", "toolchain": "command", "steps": [{"name": "check", "argv": ["c"]}]},
        {"name": "d", "toolchain": "command", "depends_on": ["c"], "steps": [
            {"name": "test", "argv": ["t"]}]},
        site], {"tc": CHAIN}, {"m/site/module.json": "{}", "scripts/build.sh": "#!/bin/sh\n"})
    deps = {task: step.deps for task, step in tasks(plan(project)).items()}
    assert deps["configure:a"] == ()
    assert deps["build:a"] == ("configure:a",)
    assert deps["test:a"] == ("build:a",)
    assert deps["build:b"] == ("build:a", "build:site")
    assert deps["test:b"] == ("test:a", "build:site")
    assert deps["lint:b"] == ("build:b", "build:a", "build:site")
    assert deps["test:d"] == ()
    # A site module's build is its toolchain's build step, planned here like every step.
    assert deps["build:site"] == ()
    assert tasks(plan(project))["build:site"].site is not None


# Inputs --------------------------------------------------------------------------------------

FILES = ["top.c", "README.md", "src/a.c", "src/a.h", "src/deep/b.c", "src/deep/er/c.c",
         "docs/x1.txt", "docs/x2.txt", "docs/xy.txt"]


@pytest.mark.parametrize(("pattern", "matches"), [
    ("*.c", ["top.c"]),
    ("src/*.c", ["src/a.c"]),
    ("src/**/*.c", ["src/a.c", "src/deep/b.c", "src/deep/er/c.c"]),
    ("**/*.c", ["src/a.c", "src/deep/b.c", "src/deep/er/c.c", "top.c"]),
    ("src/**", ["src/a.c", "src/a.h", "src/deep/b.c", "src/deep/er/c.c"]),
    ("**", sorted(FILES)),
    ("src/deep/**/c.c", ["src/deep/er/c.c"]),
    ("docs/x?.txt", ["docs/x1.txt", "docs/x2.txt", "docs/xy.txt"]),
    ("docs/x[0-9].txt", ["docs/x1.txt", "docs/x2.txt"]),
    ("docs/x[!0-9].txt", ["docs/xy.txt"]),
    ("src", []),  # a folder is not a file
    ("*.C", []),  # case counts
])
def test_input_globs(tmp_path: Path, pattern: str, matches: list[str]) -> None:
    """`*` and `?` stay within a folder, `**` spans folders (or none), `[...]` a class."""
    project = make_repo(tmp_path, [{"name": "m", "toolchain": "command", "steps": [
        {"name": "run", "argv": ["x"], "inputs": [pattern]}]}],
        files={f"m/m/{rel}": rel for rel in FILES})
    assert list(tasks(plan(project))["run:m"].inputs) == [f"m/m/{rel}" for rel in matches]


def test_inputs_default_to_the_toolchains_and_module_inputs_add(tmp_path: Path) -> None:
    """A step's own inputs replace the toolchain's (even an empty list); the module's
    `inputs` are added to every step's."""
    project = make_repo(tmp_path, [chain_module(inputs=["README.md"], steps=[
        {"name": "configure", "inputs": []}, {"name": "test", "inputs": ["docs/*"]}])],
        {"tc": CHAIN}, {**{f"m/m/{rel}": rel for rel in FILES}, "m/m/rules.mk": ""})
    steps = tasks(plan(project))
    assert steps["build:m"].inputs == ("m/m/README.md", "m/m/rules.mk", "m/m/src/a.c",
                                       "m/m/src/deep/b.c", "m/m/src/deep/er/c.c")
    assert steps["configure:m"].inputs == ("m/m/README.md",)
    assert steps["test:m"].inputs == ("m/m/README.md", "m/m/docs/x1.txt", "m/m/docs/x2.txt",
                                      "m/m/docs/xy.txt")


def test_skipped_folders_and_files_are_never_inputs(tmp_path: Path) -> None:
    """The toolchain's skip_dirs (names or globs, at any depth) and fedbuild's own list
    (node_modules, .git, __pycache__, .fedbuild, ...) are not read; .DS_Store never counts."""
    chain = 'inputs: ["**"]\nskip_dirs: [target, "*.egg-info"]\nsteps:\n' \
            '  - {name: build, argv: [x]}\n'
    files = ["src/a.c", "target/x.c", "src/target/y.c", "node_modules/z/z.c",
             "pkg.egg-info/PKG-INFO", ".git/HEAD", "src/__pycache__/a.pyc", ".DS_Store",
             "src/.DS_Store", "targets/kept.c", "src/node_modules.c"]
    project = make_repo(tmp_path, [{"name": "m", "toolchain": "skippy"},
                                   {"name": "plain", "toolchain": "command", "steps": [
                                       {"name": "build", "argv": ["x"], "inputs": ["**"]}]}],
                        {"skippy": chain},
                        {**{f"m/m/{rel}": rel for rel in files},
                         **{f"m/plain/{rel}": rel for rel in files}})
    steps = tasks(plan(project))
    assert steps["build:m"].inputs == ("m/m/src/a.c", "m/m/src/node_modules.c",
                                       "m/m/targets/kept.c")
    # Without the toolchain's skip_dirs, target/ and *.egg-info are inputs like any folder.
    assert steps["build:plain"].inputs == tuple(f"m/plain/{rel}" for rel in [
        "pkg.egg-info/PKG-INFO", "src/a.c", "src/node_modules.c", "src/target/y.c",
        "target/x.c", "targets/kept.c"])


# skip_if and platforms -----------------------------------------------------------------------

@pytest.mark.parametrize(("cond", "mode", "host", "present", "reason"), [
    (None, "production", LINUX, False, None),
    ({"mode": ["production"]}, "development", LINUX, False, None),
    ({"mode": ["production"]}, "production", LINUX, False, "the mode is production"),
    ({"mode_not": ["production"]}, "development", LINUX, False, "the mode is development"),
    ({"mode_not": ["production", "test"]}, "test", LINUX, False, None),
    ({"platform": ["linux"]}, "development", LINUX, False, "the host is linux-x64"),
    ({"platform": ["linux-arm64"]}, "development", LINUX, False, None),
    ({"platform_not": ["darwin"]}, "development", LINUX, False, "the host is linux-x64"),
    ({"platform_not": ["linux-x64"]}, "development", LINUX, False, None),
    ({"exists": "x.cfg"}, "development", LINUX, True, "x.cfg exists"),
    ({"exists": "x.cfg"}, "development", LINUX, False, None),
    ({"missing": "x.cfg"}, "development", LINUX, False, "x.cfg is missing"),
    ({"missing": "x.cfg"}, "development", LINUX, True, None),
    # Every condition given must hold.
    ({"mode": ["production"], "missing": "x.cfg"}, "production", LINUX, False,
     "the mode is production, x.cfg is missing"),
    ({"mode": ["production"], "missing": "x.cfg"}, "production", LINUX, True, None),
    ({"mode": ["production"], "missing": "x.cfg"}, "development", LINUX, False, None),
    ({"platform": ["darwin"], "mode": ["test"]}, "test", Host("darwin", "arm64"), False,
     "the mode is test, the host is darwin-arm64"),
])
def test_skip_if(tmp_path: Path, cond: dict[str, Any] | None, mode: str, host: Host,
                 present: bool, reason: str | None) -> None:
    """Why skip_if skips, or None when one of its conditions does not hold."""
    if present:
        (tmp_path / "x.cfg").write_text("")
    skip = SkipIf.model_validate(cond) if cond is not None else None
    expected = f"skip_if: {reason}" if reason else None
    assert skip_reason(skip, mode, host, tmp_path) == expected


def test_platforms_of_the_module_skip_every_step_first(tmp_path: Path) -> None:
    """A module for other hosts is skipped whatever its skip_if says; `linux` matches any
    linux host."""
    project = make_repo(tmp_path, [
        chain_module("mac", platforms=["darwin-arm64", "darwin-x64"], steps=[
            {"name": "test", "skip_if": {"mode": ["development"]}}]),
        chain_module("any", platforms=["linux"])], {"tc": CHAIN})
    steps = tasks(plan(project))
    reason = "mac builds only on darwin-arm64, darwin-x64; this host is linux-x64"
    assert {steps[f"{s}:mac"].skip for s in ("configure", "build", "test")} == {reason}
    assert steps["build:any"].skip is None
    assert tasks(plan(project, host=Host("darwin", "x64")))["test:mac"].skip == \
        "skip_if: the mode is development"


# The rest of a step's plan -------------------------------------------------------------------

def test_retries_default_to_the_modules_and_defaults_follow_the_step(tmp_path: Path) -> None:
    """A step's own retries win; otherwise the module's."""
    project = make_repo(tmp_path, [chain_module(retries=3, steps=[
        {"name": "build", "retries": 1}])], {"tc": CHAIN})
    steps = tasks(plan(project))
    assert steps["configure:m"].retries == 3 and steps["build:m"].retries == 1
    assert [s.default for s in steps.values()] == [True, True, False]


def test_verify_plan_checks_declared_artifacts_after_default_steps(tmp_path: Path) -> None:
    """Artifacts relative to dist/<mode>/<module>/ (or placeholders), with budgets; a
    module without outputs has no verify task."""
    project = make_repo(tmp_path, [
        chain_module("a", outputs=["lib/liba.so", {"path": "{work}/a.map", "max_bytes": 9}]),
        chain_module("b")], {"tc": CHAIN})
    verifies = plan(project, "production").verifies
    assert [v.task for v in verifies] == ["verify:a"]
    root = project.root
    assert verifies[0].artifacts == (
        (root / "dist/production/a/lib/liba.so", None),
        (root / ".fedbuild/work/production/a/a.map", 9))
    assert verifies[0].deps == ("configure:a", "build:a")  # not test:a (default false)


def test_signature_follows_what_decides_the_result(tmp_path: Path) -> None:
    """Mode and env change a step's signature; the module folder's files do not."""
    project = make_repo(tmp_path, [chain_module()], {"tc": CHAIN})
    development = tasks(plan(project))["build:m"].signature()
    assert tasks(plan(project))["build:m"].signature() == development
    assert tasks(plan(project, "production"))["build:m"].signature() != development
    (project.root / "m/m/new.c").write_text("")
    assert tasks(plan(project))["build:m"].signature() == development


def test_planning_runs_and_writes_nothing(tmp_path: Path) -> None:
    """plan_steps only reads: no dist/, no .fedbuild/, no file changed."""
    project = make_repo(tmp_path, [chain_module(steps=[BUILD_IN_WORK, STEP]),
                                   {"name": "other", "toolchain": "command"}], {"tc": CHAIN})
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    plan(project)
    plan(project, "production")
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_python_is_one_name_whichever_link_started_it(tmp_path: Path) -> None:
    """bin/python and bin/python3 (links to python3.11 in the same folder) are one
    interpreter; a virtualenv's python, a link to another folder, stays the virtualenv's."""
    base = tmp_path / "base" / "bin"
    base.mkdir(parents=True)
    (base / "python3.11").write_text("")
    (base / "python3").symlink_to("python3.11")
    (base / "python").symlink_to("python3")
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(base / "python3.11")
    (venv / "python3").symlink_to("python")

    assert python_executable(str(base / "python")) == str(base / "python3.11")
    assert python_executable(str(base / "python3")) == str(base / "python3.11")
    assert python_executable(str(venv / "python3")) == str(venv / "python")
    assert python_executable(str(venv / "python")) == str(venv / "python")


def test_a_tools_other_programs_expand_like_its_version(tmp_path: Path) -> None:
    """`also` (the compilers under cmake) takes placeholders and a list placeholder splices,
    as `version` does; the shipped cmake toolchain names cc and c++."""
    chain = CHAIN.replace("steps:", 'tool: {command: cc, version: [cc, --version], install: x, '
                          'also: [["{module_dir}/ld", "-v"], [cxx, "{flags}"]]}\nsteps:', 1)
    project = make_repo(tmp_path, [chain_module()], {"tc": chain})
    tool = tasks(plan(project, "production"))["build:m"].tool
    assert tool is not None
    assert tool.also == ((str(tmp_path / "m/m/ld"), "-v"), ("cxx", "-O2", "-s"))
    assert [p.version for p in tool.probes()] == [("cc", "--version"), *tool.also]
    cmake = make_repo(tmp_path / "c", [{"name": "lib", "toolchain": "cmake"}],
                      files={"m/lib/CMakeLists.txt": ""})
    clib = tasks(plan(cmake))["build:lib"].tool
    assert clib is not None and clib.also == (("cc", "--version"), ("c++", "--version"))


def test_a_pattern_with_an_exclamation_mark_leaves_files_out(tmp_path: Path) -> None:
    """`!pattern` removes what it matches from what the other patterns give."""
    project = make_repo(tmp_path, [{"name": "m", "toolchain": "command", "steps": [
        {"name": "run", "argv": ["x"], "inputs": ["**", "!docs/**", "!**/*.c"]}]}],
        files={f"m/m/{rel}": rel for rel in FILES})
    assert tasks(plan(project))["run:m"].inputs == ("m/m/README.md", "m/m/src/a.h")


# Each shipped toolchain's default inputs in a realistic layout: (toolchain, extra module
# fields, files, {task: files that are its inputs}); every other file is an input of no step.
SHIPPED_LAYOUTS = [
    ("npm", {}, ["package.json", "package-lock.json", "next.config.js", "app/page.tsx",
                 "app/layout.tsx", "components/button.js", "pages/about.js",
                 "styles/site.css", "public/logo.svg", "assets/font.woff2", "lib/util.ts",
                 "test/button.test.js", "tests/e2e.js", "node_modules/react/index.js",
                 ".next/cache/x", "dist/app.js", "coverage/lcov.info"],
     {"install:m": ["package-lock.json", "package.json"],
      "build:m": ["app/layout.tsx", "app/page.tsx", "assets/font.woff2",
                  "components/button.js", "lib/util.ts", "next.config.js",
                  "package-lock.json", "package.json", "pages/about.js", "public/logo.svg",
                  "styles/site.css"],
      "test:m": ["app/layout.tsx", "app/page.tsx", "assets/font.woff2",
                 "components/button.js", "lib/util.ts", "next.config.js", "package-lock.json",
                 "package.json", "pages/about.js", "public/logo.svg", "styles/site.css",
                 "test/button.test.js", "tests/e2e.js"]}),
    ("python", {}, ["pyproject.toml", "src/pkg/__init__.py", "src/pkg/data/table.json",
                    "src/pkg/templates/page.html", "tests/test_pkg.py", "build/lib/x.py",
                    "src/pkg.egg-info/PKG-INFO", "src/pkg/__pycache__/x.pyc", ".venv/bin/py"],
     {"build:m": ["pyproject.toml", "src/pkg/__init__.py", "src/pkg/data/table.json",
                  "src/pkg/templates/page.html"],
      "test:m": ["pyproject.toml", "src/pkg/__init__.py", "src/pkg/data/table.json",
                 "src/pkg/templates/page.html", "tests/test_pkg.py"]}),
    ("cargo", {}, ["Cargo.toml", "Cargo.lock", "build.rs", "src/lib.rs", "src/schema.sql",
                   "tests/api.rs", "benches/b.rs", "target/debug/x"],
     {"check:m": ["Cargo.lock", "Cargo.toml", "build.rs", "src/lib.rs", "src/schema.sql"],
      "build:m": ["Cargo.lock", "Cargo.toml", "build.rs", "src/lib.rs", "src/schema.sql"],
      "test:m": ["Cargo.lock", "Cargo.toml", "benches/b.rs", "build.rs", "src/lib.rs",
                 "src/schema.sql", "tests/api.rs"]}),
    ("cmake", {}, ["CMakeLists.txt", "cmake/warnings.cmake", "include/m.h", "src/m.c",
                   "src/config.h.in", "tests/t.c", "build/CMakeCache.txt",
                   "cmake-build-debug/x.o"],
     {"build:m": ["CMakeLists.txt", "cmake/warnings.cmake", "include/m.h", "src/config.h.in",
                  "src/m.c", "tests/t.c"],
      "test:m": ["CMakeLists.txt", "cmake/warnings.cmake", "include/m.h", "src/config.h.in",
                 "src/m.c", "tests/t.c"]}),
    ("esp-idf", {"target": "esp32c3"},
     ["CMakeLists.txt", "sdkconfig", "sdkconfig.old", "main/main.c", "main/Kconfig",
      "components/drv/drv.c", "partitions.csv", "build/x.bin",
      "managed_components/y/z.c"],
     {"build:m": ["CMakeLists.txt", "components/drv/drv.c", "main/Kconfig", "main/main.c",
                  "partitions.csv", "sdkconfig"]}),
    ("esp-baremetal", {"target": "esp32c3"},
     ["src/main.c", "include/m.h", "src/linker.ld", "test/test_m.c", "build/x.o"],
     {"build:m": ["include/m.h", "src/linker.ld", "src/main.c"],
      "qemu:m": ["include/m.h", "src/linker.ld", "src/main.c", "test/test_m.c"]}),
]


@pytest.mark.parametrize(("toolchain", "fields", "files", "expected"), SHIPPED_LAYOUTS,
                         ids=[layout[0] for layout in SHIPPED_LAYOUTS])
def test_shipped_toolchains_take_every_file_of_the_module_but_outputs_and_tests(
        tmp_path: Path, toolchain: str, fields: dict[str, Any], files: list[str],
        expected: dict[str, list[str]]) -> None:
    """Every source folder counts (Next.js's app/, components/, pages/, styles/; package
    data; build.rs; cmake/*.cmake), outputs, dependencies and caches never do, and tests are
    inputs of the test steps only."""
    project = make_repo(tmp_path, [{"name": "m", "toolchain": toolchain, **fields}],
                        files={f"m/m/{rel}": rel for rel in files})
    steps = tasks(plan(project))
    for task, inputs in expected.items():
        assert list(steps[task].inputs) == [f"m/m/{rel}" for rel in inputs], task


def test_module_inputs_add_files_gitignore_leaves_out_and_narrow_with_an_exclamation_mark(
        tmp_path: Path) -> None:
    """In a git checkout, .gitignore'd files are no inputs unless the module's `inputs` name
    them; the module's `!glob` leaves files out of every step."""
    (tmp_path / ".git").mkdir()
    (tmp_path / ".gitignore").write_text("*.gen\n")
    project = make_repo(tmp_path, [{"name": "m", "toolchain": "cmake",
                                    "inputs": ["schema.gen", "!docs/**"]}],
                        files={f"m/m/{rel}": rel for rel in
                               ["CMakeLists.txt", "schema.gen", "other.gen", "docs/a.md"]})
    steps = tasks(plan(project))
    for task in ("build:m", "test:m"):
        assert steps[task].inputs == ("m/m/CMakeLists.txt", "m/m/schema.gen"), task
