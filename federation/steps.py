"""The plan of toolchain steps: every `<step>:<module>` with its commands, inputs and order.

Pure: it reads the manifest, the toolchain definitions and module folders, and
runs nothing. A toolchain's steps, overridden or extended by the module's own
`steps`, are expanded for the run's mode and host: placeholders filled in,
input globs matched against the module's files, outputs made absolute, and
dependencies turned into task names (a module's `depends_on` makes each of
its steps wait for the same step of those modules, or their build).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import importlib.metadata
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.confine import resolved
from core.errors import ManifestError
from core.state import State
from federation.graph import find_cycle
from federation.inputs import GitIgnores, files_under, walk_files
from federation.loader import Project
from federation.manifest import (
    SHIPPED,
    Artifact,
    FixSettings,
    Module,
    NoTests,
    SkipIf,
    Step,
    Tool,
    Toolchain,
    display_path,
)
from federation.platforms import Host
from federation.sites import (
    SITE_STEP,
    SITE_TOOLCHAIN,
    ResolvedSite,
    Site,
    Walk,
    check_site_paths,
    resolve_site,
    site_of,
)
from federation.toolchains import REPOSITORY_DIR
from federation.toolchains import SHIPPED as SHIPPED_DIR

# Filled in when the step runs, never part of its fingerprint: {out}, {scratch} (a fresh
# folder beside {out}, not created, removed after the step: to build a copy of the sources
# there) and {jobs} by fedbuild, the board options from the command line (`doit flash:fw
# port=/dev/ttyUSB0`, or the task's own `--port`): empty when not given.
BOARD_OPTIONS = ("port", "baud", "chip")
RUNTIME = ("out", "scratch", "jobs", *BOARD_OPTIONS)
# Where fedbuild itself lives: `{python} -m hardware` runs with it on PYTHONPATH.
FEDBUILD = Path(__file__).resolve().parent.parent
PLACEHOLDER = re.compile(r"\{([a-z_]+(?::[A-Za-z0-9_.-]+)?)\}")
DIST = "dist"


@dataclass(frozen=True)
class ToolPlan:
    """The program a step runs: fingerprinted by its version, named when missing."""

    command: str
    version: tuple[str, ...]
    install: str
    also: tuple[tuple[str, ...], ...] = ()  # versions of other programs its steps run
    line: str = ""  # a regex picking the version line of the output ("": the first line)

    def probes(self) -> tuple[ToolPlan, ...]:
        """The version commands to run: the tool's, then each of `also` (as tools of their
        own, named by their first argument)."""
        return (self, *(ToolPlan(argv[0], argv, self.install) for argv in self.also))


def tool_plan(tool: Tool, expand: Callable[[list[str]], tuple[str, ...]]) -> ToolPlan:
    """A toolchain's tool with its placeholders filled in by `expand` (argv to argv)."""
    return ToolPlan(" ".join(expand([tool.command])), expand(tool.version), tool.install,
                    tuple(expand(a) for a in tool.also), tool.line or "")


@dataclass(frozen=True)
class StepPlan:
    """One action: a `<step>:<module>` task or a site's `build:<module>`, fully expanded
    except {out} and {jobs} (tasks/steps.py `execute` runs every kind the same way)."""

    module: str
    step: str
    toolchain: str
    description: str
    commands: tuple[tuple[str, ...], ...]
    cwd: Path
    env: dict[str, str]
    inputs: tuple[str, ...]  # files, relative to the repository
    outputs: tuple[Path, ...]
    clean: tuple[Path, ...]  # removed by `doit clean` besides the outputs
    dist: Path  # dist/<mode>/<module>: where {out} lands
    uses_out: bool
    deps: tuple[str, ...]  # task names that run first
    exclusive: bool
    skip: str | None  # why the step does not run here, if it does not
    retries: int
    timeout: float
    default: bool
    mode: str
    host: str
    tool: ToolPlan | None
    log: Path
    outcome: Path
    tmp: Path
    root: Path
    cache: bool = True  # its outputs may be restored from, and stored in, the action cache
    always_run: bool = False  # never up to date (flashing, on-device tests)
    lazy: bool = False  # not run when every task needing it is restored from the cache
    board_options: tuple[str, ...] = ()  # the BOARD_OPTIONS its commands use
    no_tests: NoTests | None = None  # how its log shows that no test ran (a test step)
    allow_no_tests: bool = False  # the module accepts a test step that ran no test
    tolerated: bool = False  # a failure is recorded and the run goes on (skip_on_error)
    # What decides its result besides the input files, when not signature() and the tool's
    # version (a site build: its manifest entry and the argv read from its module.json).
    fields: Any = None
    own_tmp: bool = False  # TMPDIR is a fresh folder of its own, removed after it
    creates_out: bool = False  # its command creates {out} itself: exiting 0 without it fails
    sources: Path | None = None  # what its temporary copies copy (None: its cwd)
    fix: tuple[tuple[str, ...], ...] = ()  # fixers tried on failure under fix=auto
    module_dir: Path | None = None  # the module's folder (what a fixer's scratch copy holds)
    resources: tuple[tuple[str, float], ...] = ()  # executor=dask: what a worker must have
    fixing: FixSettings = field(default_factory=FixSettings)  # fix=auto: attempts, model
    # A site module's build (the build.sh toolchain's build step): what its module.json adds
    # to the argv and inputs when it runs (federation/sites.py); None for every other step.
    site: Site | None = None

    @property
    def task(self) -> str:
        """The doit task name."""
        return f"{self.step}:{self.module}"

    def signature(self) -> dict[str, Any]:
        """What decides the step's result besides its input files (the tool version is added
        when the run first needs it)."""
        if self.site is not None:  # its argv and inputs come from its module.json
            return self.site.signature(self.env, self.commands[0])
        fields: dict[str, Any] = {"commands": self.commands, "env": self.env, "cwd": str(self.cwd),
                                  "mode": self.mode, "platform": self.host,
                                  "skip": self.skip, "outputs": [str(o) for o in self.outputs]}
        if self.no_tests is not None:  # whether running no test passes decides the result
            fields["no_tests"] = [self.no_tests.model_dump(), self.allow_no_tests]
        return fields


@dataclass(frozen=True)
class VerifyPlan:
    """`verify:<module>`: the declared artifacts, checked after the module's steps."""

    module: str
    artifacts: tuple[tuple[Path, int | None], ...]
    deps: tuple[str, ...]
    outcome: Path
    log: Path
    root: Path
    skip: str | None = None

    @property
    def task(self) -> str:
        """The doit task name."""
        return f"verify:{self.module}"


@dataclass
class StepsPlan:
    """Every step and verify task of the run, and the names of the default tasks."""

    steps: list[StepPlan] = field(default_factory=list)
    verifies: list[VerifyPlan] = field(default_factory=list)


def plan_steps(project: Project, state: State, toolchains: dict[str, Toolchain], mode: str,
               host: Host) -> StepsPlan:
    """Expand every module's steps for `mode` on `host`: a site module's build step (the
    build.sh toolchain's) first, highest build priority first, then the others."""
    plan = StepsPlan()
    ignores = GitIgnores()  # each .gitignore read once for every module
    modules = {m.name: m for m in project.manifest.modules}
    step_names = {m.name: _step_names(m, toolchains) for m in project.manifest.modules}
    sites: list[StepPlan] = []
    for index, module in enumerate(project.manifest.modules):
        site = site_of(project, state, module, index) \
            if module.toolchain == SITE_TOOLCHAIN else None
        if site is not None and module.steps and not module.source.is_local:
            raise ManifestError(project.label, f"modules[{index}].steps", "steps of a site "
                                "module need a local source; this one comes from git")
        chain = toolchains[module.toolchain]
        merged = merged_steps(module, chain, project.label, index)
        _check_step_order(module, merged, project.label, index)
        ctx = _Context(project, state, module, chain, mode, host, modules)
        walk = _ModuleFiles(ctx.module_dir, project.root, chain.skip_dirs, ignores)
        built: list[StepPlan] = []
        for step in merged:
            deps = [f"{d}:{module.name}" for d in step.depends_on]
            for other in module.depends_on:
                if step.name in step_names[other]:
                    deps.append(f"{step.name}:{other}")
                elif "build" in step_names[other]:
                    deps.append(f"build:{other}")
            if site is not None and step.name == SITE_STEP:
                sites.append(ctx.site_build(step, deps, site))
                continue
            planned = ctx.step(step, deps, walk)
            writer = next((b for b in built if b.uses_out), None)
            if planned.uses_out and writer is not None:
                raise ManifestError(project.label, f"modules[{index}].steps",
                                    f"steps {writer.step!r} and {step.name!r} of "
                                    f"{module.name!r} both write {{out}}, which becomes the "
                                    "module's whole dist folder; let one of them write to "
                                    "{work} instead")
            plan.steps.append(planned)
            built.append(planned)
        if site is not None and not any(s.name == SITE_STEP for s in merged):
            raise _no_site_step()
        artifacts = [_artifact(a, ctx, index, k) for k, a in enumerate(module.outputs)]
        if artifacts:
            plan.verifies.append(VerifyPlan(
                module=module.name, artifacts=tuple(artifacts),
                deps=tuple(s.task for s in built if s.default), outcome=state.outcome(
                    f"verify:{module.name}"), log=state.log(f"verify:{module.name}"),
                root=project.root, skip=ctx.platform_skip()))
    if sites:
        check_site_paths(project, state)
    plan.steps[:0] = sorted(sites, key=lambda s: -s.site.priority if s.site else 0)
    return plan


def _no_site_step() -> ManifestError:
    """The build.sh toolchain without the step that builds a site."""
    return ManifestError(f"the {SITE_TOOLCHAIN} toolchain", "steps", "needs one step "
                         f"named {SITE_STEP!r} with one argv: the site build")


def merged_steps(module: Module, chain: Toolchain, label: str, index: int) -> list[Step]:
    """The toolchain's steps with the module's overrides applied, then the module's own."""
    steps = {step.name: step for step in chain.steps}
    for j, override in enumerate(module.steps):
        given = override.model_dump(exclude_none=True)
        base = steps.get(override.name)
        data = {**(base.model_dump(exclude_none=True) if base else {}), **given}
        if "argv" in given:
            data.pop("commands", None)
        if "commands" in given:
            data.pop("argv", None)
        if "argv" not in data and "commands" not in data:
            raise ManifestError(label, f"modules[{index}].steps[{j}]",
                                f"step {override.name!r} is not a step of toolchain "
                                f"{module.toolchain!r}; give it argv or commands")
        # Both halves were validated where they were declared (a shipped step may set
        # FEDBUILD_* variables, a module's override may not): this only merges them.
        steps[override.name] = Step.model_validate(data, context={SHIPPED: True})
    return list(steps.values())


def _step_names(module: Module, toolchains: dict[str, Toolchain]) -> set[str]:
    chain = toolchains.get(module.toolchain)
    names = {s.name for s in chain.steps} if chain else set()
    return names | {s.name for s in module.steps}


def _check_step_order(module: Module, steps: list[Step], label: str, index: int) -> None:
    names = {s.name for s in steps}
    for step in steps:
        for dep in step.depends_on:
            if dep not in names:
                raise ManifestError(label, f"modules[{index}].steps",
                                    f"step {step.name!r} of {module.name!r} depends on "
                                    f"{dep!r}, which is not one of its steps "
                                    f"({', '.join(sorted(names))})")
    cycle = find_cycle({s.name: list(s.depends_on) for s in steps})
    if cycle:
        raise ManifestError(label, f"modules[{index}].steps",
                            f"the steps of {module.name!r} depend on each other in a cycle: "
                            + " -> ".join(cycle))


@functools.cache
def hardware_digest() -> str:
    """A digest (16 hex digits) of fedbuild's firmware tooling and runtime: hardware/'s
    Python, hardware/firmware/ (startup code, linker scripts, Unity) and the version of
    esptool that makes the images (elf2image, merge_bin). The firmware toolchains put it in
    their steps' env, so changing any of it rebuilds firmware modules and misses their cache
    entries, as a new compiler does."""
    try:
        esptool = importlib.metadata.version("esptool")
    except importlib.metadata.PackageNotFoundError:
        esptool = "not installed"
    text = f"{folder_digest(FEDBUILD / 'hardware')} esptool {esptool}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def python_env_digest(path: tuple[str, ...] | None = None) -> str:
    """A digest (16 hex digits) of the distributions installed for fedbuild's Python: the
    name-version folders (`*.dist-info`, `*.egg-info`) in the site-packages folders of
    sys.path (or `path`). The Python toolchain puts it in its steps' env: `pip wheel
    --no-build-isolation` builds with the installed backend and `pytest` runs with the
    installed packages, so installing or upgrading any of them rebuilds Python modules and
    misses their cache entries, as a new interpreter does."""
    names: list[str] = []
    for folder in sys.path if path is None else path:
        if os.path.basename(folder.rstrip(os.sep)) not in ("site-packages", "dist-packages"):
            continue
        try:
            names += [e for e in os.listdir(folder) if e.endswith((".dist-info", ".egg-info"))]
        except OSError:
            continue
    return hashlib.sha256("\n".join(sorted(names)).encode()).hexdigest()[:16]


# Placeholders whose value is a digest of what this machine has, computed once per process.
DIGESTS: dict[str, Callable[[], str]] = {"hardware_digest": hardware_digest,
                                         "python_env_digest": python_env_digest}


@functools.cache
def folder_digest(folder: Path) -> str:
    """A digest (16 hex digits) of the names and contents of the files under `folder`
    (compiled Python left out), computed once per process."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and
                       "__pycache__" not in p.parts):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


class _Context:
    """Placeholder values and paths for one module in one mode."""

    def __init__(self, project: Project, state: State, module: Module, chain: Toolchain,
                 mode: str, host: Host, modules: dict[str, Module]) -> None:
        self.project, self.state, self.module, self.chain = project, state, module, chain
        self.mode, self.host = mode, host
        self.module_dir = project.local_dir(module)
        self.dist = project.root / DIST / mode / module.name
        self.values: dict[str, str | list[str]] = {
            "root": str(project.root), "module_dir": str(self.module_dir), "name": module.name,
            "dist": str(self.dist), "work": str(state.dir / "work" / mode / module.name),
            "mode": mode, "platform": host.platform, "arch": host.arch,
            "target_triple": host.target_triple, "python": python_executable(),
            "fedbuild": str(FEDBUILD), "target": module.target or "",
            "budget_args": _budget_args(module),
            **chain.modes.get(mode, {})}  # type: ignore[call-overload]
        if module.toolchain == SITE_TOOLCHAIN:  # the site build's script
            self.values["build_script"] = project.manifest.federation.build_script
        self.modules = modules

    def expand(self, text: str, where: str) -> str | list[str]:
        """One value with its placeholders filled in (a lone list placeholder stays a list)."""
        lone = PLACEHOLDER.fullmatch(text)
        if lone:
            value = self._value(lone.group(1), where)
            return list(value) if isinstance(value, list) else value
        return PLACEHOLDER.sub(lambda m: self._text(m.group(1), where), text)

    def argv(self, argv: list[str], where: str) -> tuple[str, ...]:
        """An argv with list placeholders spliced in."""
        out: list[str] = []
        for arg in argv:
            value = self.expand(arg, where)
            out.extend(value if isinstance(value, list) else [value])
        return tuple(out)

    def _text(self, name: str, where: str) -> str:
        value = self._value(name, where)
        return " ".join(value) if isinstance(value, list) else value

    def _value(self, name: str, where: str) -> str | list[str]:
        if name in RUNTIME:
            return "{" + name + "}"
        if name in DIGESTS:
            return DIGESTS[name]()
        if name.startswith("dist:"):
            other = name.partition(":")[2]
            if other not in self.modules:
                raise self._error(where, f"{{{name}}} names no module of modules.json")
            return str(self.project.root / DIST / self.mode / other)
        if name not in self.values:
            known = ", ".join(f"{{{k}}}" for k in sorted([*self.values, *RUNTIME, "dist:NAME",
                                                          *DIGESTS]))
            raise self._error(where, f"unknown placeholder {{{name}}}; known: {known}")
        return self.values[name]

    def _error(self, where: str, message: str) -> ManifestError:
        index = next(i for i, m in enumerate(self.project.manifest.modules)
                     if m.name == self.module.name)
        return ManifestError(self.project.label, f"modules[{index}]",
                             f"{where} of module {self.module.name!r}: {message}")

    def site_build(self, step: Step, deps: list[str], site: Site) -> StepPlan:
        """A site module's build step: the YAML's argv (the build script) run in the
        repository, its module.json's options and files added when it runs (`site_step`: a
        git source's is read once fetched), its output staged at .fedbuild/staging/<module>/
        for `federate` (not dist/), with the module's build_timeout and skip_on_error."""
        if len(step.command_list) != 1:
            raise _no_site_step()
        planned = self.step(step, deps, None)
        staged = self.state.staged(self.module.name)
        options = self.module.build_options
        return dataclasses.replace(
            planned, cwd=self.project.root, outputs=(staged,), dist=staged, uses_out=True,
            creates_out=True, own_tmp=True, sources=site.folder, mode="", host="", skip=None,
            timeout=float(options.build_timeout), tolerated=options.skip_on_error, site=site)

    def step(self, step: Step, deps: list[str], walk: _ModuleFiles | None) -> StepPlan:
        """Expand one step (its inputs and cwd unchecked without `walk`: a site build's are
        its module.json's)."""
        where = f"step {step.name!r}"
        commands = tuple(self.argv(argv, where) for argv in step.command_list)
        declared = {**self.chain.env, **self.module.env, **step.env}
        env = {k: self._text_of(v, where) for k, v in declared.items()}
        uses_out = any("{out}" in a for c in commands for a in c) or \
            any("{out}" in v for v in env.values())
        outputs = tuple(self._written(step, "outputs", k, o) for k, o in enumerate(step.outputs))
        if uses_out and not step.outputs:
            outputs = (self.dist,)
        patterns = step.inputs if step.inputs is not None else self.chain.inputs
        self._check_patterns(step)
        cwd = self.module_dir / self._text_of(step.cwd, where)
        if walk is not None and not self.state.roots.may_read(cwd):
            raise self._outside(step, "cwd", 0, step.cwd, cwd,
                                "give a folder of the module, relative to it")
        inputs = tuple(walk.matching(patterns, self.module.inputs)) if walk else ()
        tool = self.chain.tool
        task = f"{step.name}:{self.module.name}"
        return StepPlan(
            module=self.module.name, step=step.name, toolchain=self.module.toolchain,
            description=step.description or " ".join(commands[0]),
            commands=commands, cwd=cwd, env=env, inputs=inputs, outputs=outputs,
            clean=tuple(self._written(step, "clean", k, c) for k, c in enumerate(step.clean)),
            dist=self.dist,
            uses_out=uses_out, deps=tuple(deps), exclusive=step.exclusive,
            skip=self._skip(step), retries=step.retries or self.module.retries,
            timeout=step.timeout,
            default=step.default, mode=self.mode, host=self.host.name,
            tool=tool_plan(tool, lambda argv: self.argv(argv, where)) if tool else None,
            log=self.state.log(task), outcome=self.state.outcome(task), tmp=self.state.tmp,
            root=self.project.root,
            cache=step.cache and self.module.build_options.cache_enabled
            and self.project.manifest.federation.build_settings.cache_enabled,
            always_run=step.always_run, lazy=step.lazy,
            board_options=tuple(o for o in BOARD_OPTIONS if any(
                f"{{{o}}}" in a for c in commands for a in c)),
            no_tests=step.no_tests, allow_no_tests=self.module.allow_no_tests,
            fix=tuple(self.argv(argv, where) for argv in step.fix),
            module_dir=self.module_dir, resources=tuple(sorted(self.module.resources.items())),
            fixing=self.project.manifest.federation.fix)

    # Confinement: what a step writes, deletes, runs in or reads lies inside the repository
    # (or fedbuild's state folder), symlinks followed (core/confine.py).

    def _written(self, step: Step, field: str, k: int, text: str) -> Path:
        """An output or clean path, expanded; refused when it resolves outside the roots."""
        path = self._output(text, f"step {step.name!r}")
        if not self.state.roots.may_write(path):
            raise self._outside(step, field, k, text, path, "give a path inside the repository: "
                                "relative to the module's dist folder, or under {work} or "
                                "{module_dir}")
        return path

    def _check_patterns(self, step: Step) -> None:
        """The step's own globs (the module's `inputs` are checked as the manifest loads)."""
        for k, pattern in enumerate(step.inputs if step.inputs is not None else self.chain.inputs):
            if pattern.startswith("/") or ".." in pattern.replace("\\", "/").split("/"):
                raise self._outside(step, "inputs", k, pattern, None, "give globs relative to "
                                    "the module, without '..' or a leading '/'")

    def _outside(self, step: Step, field: str, k: int, value: str, path: Path | None,
                 fix: str) -> ManifestError:
        """The one-line error for a step field naming a path outside the repository, naming
        the file that sets it: the manifest (a module's own step) or the toolchain file."""
        label, where = self._origin(step.name, field, k)
        found = "" if path is None else f" resolves to {resolved(path)}, which is"
        return ManifestError(label, where, f"{value!r}{found} outside the repository "
                             f"{self.project.root}; {fix}")

    def _origin(self, name: str, field: str, k: int) -> tuple[str, str]:
        """(file, field) of the value: a module's own step in the manifest, else a step of the
        toolchain file, else (inputs) the toolchain's default inputs."""
        item = "" if field == "cwd" else f"[{k}]"
        index = self.project.manifest.modules.index(self.module)
        for j, override in enumerate(self.module.steps):
            if override.name == name and getattr(override, field, None) is not None:
                return self.project.label, f"modules[{index}].steps[{j}].{field}{item}"
        own = self.project.root / REPOSITORY_DIR / f"{self.module.toolchain}.yaml"
        file = display_path(own if own.is_file() else
                            SHIPPED_DIR / f"{self.module.toolchain}.yaml")
        for j, step in enumerate(self.chain.steps):
            if step.name == name and (field != "inputs" or step.inputs is not None):
                return file, f"steps[{j}].{field}{item}"
        return file, f"{field}{item}"

    def _text_of(self, text: str, where: str) -> str:
        value = self.expand(text, where)
        return " ".join(value) if isinstance(value, list) else value

    def _output(self, text: str, where: str) -> Path:
        # What a step writes to {out} ends up in the module's dist folder.
        text = text.replace("{out}", str(self.dist))
        path = Path(self._text_of(text, where))
        return path if path.is_absolute() else self.dist / path

    def platform_skip(self) -> str | None:
        """Why the module is not built on this host, if it is not."""
        if self.host.matches(list(self.module.platforms)):
            return None
        return (f"{self.module.name} builds only on {', '.join(self.module.platforms)}; "
                f"this host is {self.host.name}")

    def _skip(self, step: Step) -> str | None:
        return self.platform_skip() or skip_reason(step.skip_if, self.mode, self.host,
                                                   self.module_dir)


def python_executable(path: str = sys.executable) -> str:
    """This interpreter as one name: `doit` runs as .../bin/python3 and `python -m doit` as
    .../bin/python, both links to .../bin/python3.11; a step's fingerprint must not change
    between them. Links are followed only within their folder, so a virtualenv's python
    (a link to the base interpreter elsewhere) stays the virtualenv's."""
    current = path
    for _ in range(8):
        if not os.path.islink(current):
            break
        target = os.path.join(os.path.dirname(current), os.readlink(current))
        if os.path.dirname(os.path.normpath(target)) != os.path.dirname(current):
            break
        current = os.path.normpath(target)
    return current


def resolve_step(step: StepPlan, walk: Walk = files_under) -> ResolvedSite:
    """A site build's module.json read: the step's argv with the module's options, and the
    files it reads (`walk` lists a folder's files)."""
    assert step.site is not None
    return resolve_site(step.site, step.commands[0], walk)


def site_step(step: StepPlan, resolved: ResolvedSite, fields: Any) -> StepPlan:
    """A site build's step once its module.json is read: the argv with the module's options
    (the build script run by its path in the repository), the files it reads, and what
    its cache key covers besides them (`fields`)."""
    assert step.site is not None
    first = resolved.argv[0]  # the federation's build script, run by its path
    argv = (str(step.root / first) if first == step.site.script else first,
            *resolved.argv[1:])
    copy = (os.path.relpath(resolved.config[0], step.root),) if resolved.config else ()
    return dataclasses.replace(step, commands=(argv,), inputs=resolved.inputs + copy,
                               fields=fields, env={**step.env, "FEDBUILD_MODULE": step.module})


def _budget_args(module: Module) -> list[str]:
    """`{budget_args}`: the module's size budgets as options of `python -m hardware size`."""
    args: list[str] = []
    budget = module.budget
    for name in ("flash", "dram", "iram"):
        value = getattr(budget, name) if budget else None
        if value is not None:
            args += [f"--{name}-budget", str(value)]
    return args


def skip_reason(cond: SkipIf | None, mode: str, host: Host, module_dir: Path) -> str | None:
    """Why `skip_if` skips the step (every condition given holds), or None."""
    if cond is None:
        return None
    reasons = []
    checks = [
        (cond.mode, lambda v: mode in v, f"the mode is {mode}"),
        (cond.mode_not, lambda v: mode not in v, f"the mode is {mode}"),
        (cond.platform, lambda v: host.matches(v), f"the host is {host.name}"),
        (cond.platform_not, lambda v: not host.matches(v), f"the host is {host.name}"),
        (cond.exists, lambda v: (module_dir / v).exists(), f"{cond.exists} exists"),
        (cond.missing, lambda v: not (module_dir / v).exists(), f"{cond.missing} is missing"),
    ]
    for value, holds, reason in checks:
        if value is None:
            continue
        if not holds(value):
            return None
        reasons.append(reason)
    return "skip_if: " + ", ".join(reasons) if reasons else None


def _artifact(item: str | Artifact, ctx: _Context, index: int, k: int
              ) -> tuple[Path, int | None]:
    """A declared artifact: verify reads it, so it must lie inside the repository."""
    text, budget = (item, None) if isinstance(item, str) else (item.path, item.max_bytes)
    path = ctx._output(text, "outputs")
    if not ctx.state.roots.may_write(path):
        where = f"modules[{index}].outputs[{k}]" + ("" if isinstance(item, str) else ".path")
        raise ManifestError(ctx.project.label, where, f"{text!r} resolves to {resolved(path)}, "
                            f"which is outside the repository {ctx.project.root}; give a path "
                            f"relative to the module's dist/<mode>/{ctx.module.name}/ folder")
    return path, budget


class _ModuleFiles:
    """A module's files, listed once, matched against any number of glob lists."""

    def __init__(self, folder: Path, root: Path, skip_dirs: list[str],
                 ignores: GitIgnores | None = None) -> None:
        self.folder, self.root = folder, root
        self.skip_dirs = skip_dirs
        self.ignores = GitIgnores() if ignores is None else ignores
        self._files: list[str] | None = None
        self._every: list[str] | None = None
        self._prefix = os.path.relpath(folder, root).replace(os.sep, "/")

    def matching(self, patterns: list[str], added: Sequence[str] = ()) -> list[str]:
        """Files (relative to the repository) matching any of `patterns` (relative to the
        module; `**` spans folders) or of `added` (the module's own: they may name files the
        .gitignore rules leave out), and none written `!pattern` (`!tests/**`) in either."""
        left_out = [p[1:] for p in (*patterns, *added) if p.startswith("!")]
        unless = _regex(left_out)
        found: set[str] = set()
        for wanted, files in ((patterns, self.files), (added, self.every_file)):
            regex = _regex([p for p in wanted if not p.startswith("!")])
            if regex is not None:
                found.update(rel for rel in files() if regex.fullmatch(rel) and
                             not (unless and unless.fullmatch(rel)))
        return [self._base + rel for rel in sorted(found)]

    @property
    def _base(self) -> str:
        return "" if self._prefix == "." else self._prefix + "/"

    def files(self) -> list[str]:
        """Every file below the module, outputs, vendored folders and what the .gitignore
        rules ignore skipped."""
        if self._files is None:
            self._files = _list(self.folder, self.root, self.skip_dirs, self.ignores)
        return self._files

    def every_file(self) -> list[str]:
        """The same without the .gitignore rules (what the module's own `inputs` match)."""
        if self._every is None:
            self._every = _list(self.folder, self.root, self.skip_dirs, None)
        return self._every


def _regex(patterns: list[str]) -> re.Pattern[str] | None:
    """Globs as one regex, or None for no globs."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{_glob_regex(p)})" for p in patterns))


def _list(folder: Path, root: Path, skip_dirs: list[str], ignores: GitIgnores | None
          ) -> list[str]:
    cut = len(os.fspath(folder).rstrip(os.sep)) + 1
    return sorted(path[cut:].replace(os.sep, "/")
                  for path in walk_files(folder, root, skip_dirs, ignores))


def _class_regex(bracket: str) -> str:
    """A glob's `[...]` as fnmatch reads it: always a valid regex (`[z-a]` matches nothing,
    `[\\]` a backslash) where copying it into the regex could fail to compile."""
    translated = fnmatch.translate(bracket)  # "(?s:" + the class + ")\\Z"
    return translated[len("(?s:"):-len(")\\Z")]


def _glob_regex(pattern: str) -> str:
    """A glob (`*` within a folder, `**` across folders, `?`, `[...]`) as a regex."""
    out, i = [], 0
    pattern = pattern.strip("/")
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(_class_regex(pattern[i:end + 1]))
                i = end + 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
