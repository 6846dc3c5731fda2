"""The build plan of site modules: what the build script gets, what it reads, where it writes.

A site module's build is the `build` step of the build.sh toolchain (tasks/toolchains/
build.sh.yaml, or a repository's own): its argv (the federation's build script) followed by
what the module's module.json asks for (--config, --output, --base-url, ...), written to
.fedbuild/staging/<module>/. A git source's module.json is only read once it is fetched, so
the build's action plan (`site_step`, a StepPlan like every toolchain step's) is made when
it runs.

Pure: it reads the manifest, module.json files and folder listings, and writes
nothing and runs nothing. Running the plan is tasks/sites.py's job.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.confine import Roots, resolved
from core.errors import ManifestError
from core.state import State
from federation.inputs import files_under, glob_files
from federation.loader import (
    SHIPPED_MODULE_JSON,
    Project,
    find_module_json,
    uses_shipped_module_json,
)
from federation.manifest import (
    Module,
    ModuleConfig,
    display_path,
    parse_module_config,
    read_config,
)
from federation.sources import GitSource
from federation.steps import (
    FEDBUILD,
    PLACEHOLDER,
    SITE_TOOLCHAIN,
    StepPlan,
    ToolPlan,
    python_executable,
    tool_plan,
)

Walk = Callable[[Path, Path], list[str]]

OUT = "{out}"  # placeholder for the temporary output folder in argv
SITE_STEP = "build"  # the step of the build.sh toolchain that builds a site
# Passed whatever a build script says it accepts: without them there is no build to stage.
REQUIRED_OPTIONS = ("--config", "--output", "--base-url")
# The overrides that are options of the build script, and where each goes in the module's
# config (module.json) when the script has no such option: the build gets a copy of its
# config with the value set ("" is the Hugo section: hugo_config, or the older build).
CONFIG_OVERRIDES = {"title": ("--title", "site"), "template": ("--template", ""),
                    "theme": ("--theme", ""), "components": ("--components", "")}


@dataclass(frozen=True)
class SiteBuild:
    """One site module's build, everything resolved but what its module.json adds to argv."""

    name: str
    root: Path
    folder: Path  # the module's files (for git sources: inside the clone)
    source_root: Path  # the repository (or clone) the module's paths are relative to
    module_json: str
    script: str
    assets_dir: str
    base_url: str
    overrides: dict[str, Any]
    env: dict[str, str]
    timeout: float
    retries: int
    skip_on_error: bool
    depends_on: tuple[str, ...]
    priority: int
    extra_inputs: tuple[str, ...]
    staged: Path
    tmp: Path
    log: Path
    outcome: Path
    entry: dict[str, Any] = field(repr=False)
    git: GitSource | None = None
    cache: bool = True  # its output may be restored from, and stored in, the action cache
    tool: ToolPlan | None = None  # the site builder the script runs (Hugo): its version counts
    label: str = ""  # the manifest, as errors name it
    command: tuple[str, ...] = ()  # the build.sh toolchain's build step's argv, filled in
    index: int = 0  # the module's place in the manifest's modules
    roots: Roots | None = None  # what it may read (core/confine.py)
    # The options the build script accepts (federation/script_options.py); None: every one.
    options: frozenset[str] | None = None

    @property
    def task(self) -> str:
        """The doit task that runs this build."""
        return f"build:{self.name}"

    def signature(self) -> dict[str, Any]:
        """What, besides input files, decides the output: argv shape, env, manifest entry."""
        return {"script": self.script, "base_url": self.base_url, "env": self.env,
                "entry": self.entry,
                "options": None if self.options is None else sorted(self.options)}

    def passes(self, option: str) -> bool:
        """Whether the build hands the script this option (it accepts it, or it is needed)."""
        return self.options is None or option in REQUIRED_OPTIONS or option in self.options


@dataclass(frozen=True)
class ResolvedSite:
    """A site build with its module.json read: the exact argv and the files it reads."""

    argv: tuple[str, ...]
    inputs: tuple[str, ...]
    module_json: Path
    # The copy of module.json the build reads instead, with the overrides the script has no
    # option for (its path, its text); written when the build runs.
    config: tuple[Path, str] | None = None


def plan_sites(project: Project, state: State) -> list[SiteBuild]:
    """One SiteBuild per build.sh module, highest priority first, manifest order otherwise.
    Each passes the build script every option until told what it accepts (`options`)."""
    tool = site_tool(project)
    command = site_command(project) if any(
        m.toolchain == SITE_TOOLCHAIN for m in project.manifest.modules) else ()
    builds = [_site(project, state, module, i, tool, command) for i, module in
              enumerate(project.manifest.modules) if module.toolchain == SITE_TOOLCHAIN]
    if builds:
        _check_site_paths(project, state)
    return sorted(builds, key=lambda b: -b.priority)


def _check_site_paths(project: Project, state: State) -> None:
    """The build script (run) and the assets folder (read) resolve inside the repository."""
    fed = project.manifest.federation
    for name, value in (("build_script", fed.build_script), ("assets_dir", fed.assets_dir)):
        path = project.root / value
        if not state.roots.may_read(path):
            raise ManifestError(project.label, f"federation.{name}", f"{value!r} is a link to "
                                f"{resolved(path)}, outside the repository {project.root}; "
                                "copy it into the repository or point the link inside it")


def site_tool(project: Project) -> ToolPlan | None:
    """The tool of the build.sh toolchain (fedbuild's: Hugo; a repository may name its own),
    with {root}, {python} and {fedbuild} filled in."""
    chain = project.toolchains.get(SITE_TOOLCHAIN)
    if chain is None or chain.tool is None:
        return None
    values = {"root": str(project.root), "python": python_executable(), "fedbuild": str(FEDBUILD)}
    return tool_plan(chain.tool, lambda argv: tuple(
        PLACEHOLDER.sub(lambda m: _known(m, values, "tool"), a) for a in argv))


def site_command(project: Project) -> tuple[str, ...]:
    """The argv of the build.sh toolchain's build step, {build_script}, {root}, {python}
    and {fedbuild} filled in: what every site build runs before its module's options."""
    chain = project.toolchains[SITE_TOOLCHAIN]
    step = next((s for s in chain.steps if s.name == SITE_STEP), None)
    if step is None or len(step.command_list) != 1:
        raise ManifestError(f"the {SITE_TOOLCHAIN} toolchain", "steps", "needs one step "
                            f"named {SITE_STEP!r} with one argv: the site build")
    values = {"build_script": project.manifest.federation.build_script,
              "root": str(project.root), "python": python_executable(),
              "fedbuild": str(FEDBUILD)}
    return tuple(PLACEHOLDER.sub(lambda m: _known(m, values, "steps"), arg)
                 for arg in step.command_list[0])


def _known(match: re.Match[str], values: dict[str, str], where: str) -> str:
    """A placeholder of the build.sh toolchain filled in (one line naming the known ones)."""
    if match.group(1) not in values:
        known = ", ".join(f"{{{k}}}" for k in sorted(values))
        raise ManifestError(f"the {SITE_TOOLCHAIN} toolchain", where, f"unknown "
                            f"placeholder {match.group(0)}; known: {known}")
    return values[match.group(1)]


def site_step(site: SiteBuild, resolved: ResolvedSite, fields: Any) -> StepPlan:
    """The action plan of a site build, once its module.json is read: its command runs
    in the repository, creates {out}, staged whole at .fedbuild/staging/<module>/."""
    first = resolved.argv[0]  # the federation's build script, run by its path
    argv = (str(site.root / first) if first == site.script else first, *resolved.argv[1:])
    return StepPlan(
        module=site.name, step=SITE_STEP, toolchain=SITE_TOOLCHAIN, description=argv[0],
        commands=(argv,), cwd=site.root, env={**site.env, "FEDBUILD_MODULE": site.name},
        inputs=resolved.inputs + ((_rel(resolved.config[0], site.root),) if resolved.config
                                  else ()), outputs=(site.staged,), clean=(), dist=site.staged,
        uses_out=True, deps=tuple(f"build:{dep}" for dep in site.depends_on),
        exclusive=False, skip=None, retries=site.retries, timeout=site.timeout,
        default=True, mode="", host="", tool=site.tool, log=site.log, outcome=site.outcome,
        tmp=site.tmp, root=site.root, cache=site.cache, tolerated=site.skip_on_error,
        fields=fields, own_tmp=True, creates_out=True, sources=site.folder)


def _site(project: Project, state: State, module: Module, index: int,
          tool: ToolPlan | None, command: tuple[str, ...]) -> SiteBuild:
    fed = project.manifest.federation
    git = None
    if module.source.is_local:
        source_root = (project.root / (module.source.local_path or ".")).resolve()
    else:
        git = GitSource(url=module.source.repository, branch=module.source.branch,
                        clone=state.clone(module.name), head_file=state.head(module.name),
                        log=state.log(f"fetch:{module.name}"), tmp=state.tmp)
        source_root = git.clone
    overrides = module.overrides.model_dump(exclude_none=True)
    folder = (source_root / module.source.path).resolve() if git is None \
        else source_root / module.source.path
    module_json = module.module_json
    if git is None and uses_shipped_module_json(module, folder, source_root):
        module_json = str(SHIPPED_MODULE_JSON)  # optional: fedbuild's empty one
        overrides.setdefault("title", module.name)
    return SiteBuild(
        name=module.name,
        root=project.root,
        folder=folder,
        source_root=source_root,
        module_json=module_json,
        script=fed.build_script,
        assets_dir=fed.assets_dir,
        base_url=overrides.pop("baseURL", None) or _join_url(fed.baseURL, module.site_destination),
        overrides=overrides,
        env=dict(module.env),
        timeout=float(module.build_options.build_timeout),
        retries=module.retries,
        skip_on_error=module.build_options.skip_on_error,
        depends_on=tuple(module.depends_on),
        priority=module.build_priority,
        extra_inputs=tuple(module.inputs),
        staged=state.staged(module.name),
        tmp=state.tmp,
        log=state.log(f"build:{module.name}"),
        outcome=state.outcome(f"build:{module.name}"),
        entry=module.model_dump(mode="json", by_alias=True, exclude={"tags"}),  # labels only
        git=git,
        cache=module.build_options.cache_enabled and fed.build_settings.cache_enabled,
        tool=tool, label=project.label, index=index, roots=state.roots, command=command,
    )


@dataclass(frozen=True)
class Mount:
    """Where one site module's staged output is published, and how it merges there."""

    name: str
    destination: str  # "/" or "/docs/"
    strategy: str  # merge_strategy
    prefix: str  # added to the root links of a module built for the root ("" = none)
    staged: Path
    outcome: Path  # the record of the module's last build
    source: dict[str, str]  # repository, path and (for git) branch, for the records
    head_file: Path | None  # the commit a git source's clone is at


@dataclass(frozen=True)
class FederationPlan:
    """The federate step: every site module's mount, the published tree and its records."""

    name: str
    base_url: str
    strategy: str
    output: Path
    site_path: str  # the URL path of the published root: "/" or "/sub/"
    origin: str  # "scheme://host" of baseURL, lower case: same-origin URLs count as internal
    preserve_base: bool
    mounts: tuple[Mount, ...]
    records: Path  # fedbuild's own records of what it published (state folder)
    log: Path
    outcome: Path
    roots: Roots  # where publishing may write and delete (the repository's)

    @property
    def task(self) -> str:
        """The doit task that publishes."""
        return "federate"

    def signature(self) -> dict[str, Any]:
        """Every manifest value that changes the published tree besides module outputs."""
        return {"name": self.name, "base_url": self.base_url, "strategy": self.strategy,
                "output": str(self.output), "preserve_base": self.preserve_base,
                "mounts": [(m.name, m.destination, m.strategy, m.prefix, m.source)
                           for m in self.mounts]}


def plan_federation(project: Project, state: State, sites: list[SiteBuild]) -> FederationPlan:
    """The federate step over the site modules, in manifest order."""
    fed = project.manifest.federation
    url = urlsplit(fed.baseURL)
    site_path = _url_folder(fed.baseURL)
    rewrite = fed.build_settings.css_path_resolution
    by_name = {site.name: site for site in sites}
    mounts = []
    for module in project.manifest.modules:
        site = by_name.get(module.name)
        if site is None:
            continue
        # Links need fixing only when the module was built for another path than the one it
        # is published at (typically the root, through an overrides.baseURL).
        published = site_path + module.site_destination.lstrip("/")
        prefix = ""
        if rewrite and _url_folder(site.base_url) != published:
            prefix = module.css_path_prefix.rstrip("/") or published.rstrip("/")
        source = {"repository": module.source.repository, "path": module.source.path}
        if site.git is not None:
            source["branch"] = site.git.branch
        mounts.append(Mount(
            name=module.name, destination=module.site_destination, strategy=module.merge_strategy,
            prefix=prefix, staged=site.staged, outcome=site.outcome, source=source,
            head_file=site.git.head_file if site.git else None))
    return FederationPlan(
        name=fed.name, base_url=fed.baseURL, strategy=fed.strategy,
        output=_published_folder(project, state), site_path=site_path,
        origin=f"{url.scheme}://{url.netloc}".lower(),
        preserve_base=project.manifest.preserve_base_site, mounts=tuple(mounts),
        records=state.dir / "federate", log=state.log("federate"),
        outcome=state.outcome("federate"), roots=state.roots)


def _published_folder(project: Project, state: State) -> Path:
    """federation.output_dir, refused when it is a link out of the repository (publishing
    replaces the folder a link points to) or to a folder holding what it must not replace."""
    fed = project.manifest.federation
    output = project.root / fed.output_dir
    target = resolved(output)
    fix = ("remove the link, or set federation.output_dir to a folder of its own inside the "
           "repository such as 'public'")
    if not state.roots.may_write(output):
        raise ManifestError(project.label, "federation.output_dir", f"{fed.output_dir!r} is a "
                            f"link to {target}, outside the repository {project.root}; "
                            f"publishing would replace that folder: {fix}")
    kept = [(state.dir, "fedbuild's state folder"), (project.manifest_file, "the manifest"),
            (project.root / fed.build_script, "the build script")]
    kept += [(project.local_dir(m), f"the source of module {m.name!r}")
             for m in project.manifest.modules if m.source.is_local]
    for path, what in kept:
        real = resolved(path)
        if real != project.root and (real.is_relative_to(target) or target.is_relative_to(real)):
            raise ManifestError(project.label, "federation.output_dir", f"{fed.output_dir!r} "
                                f"resolves to {target}, which holds or is inside {what}; "
                                f"publishing would replace it: {fix}")
    return output


def resolve_site(site: SiteBuild, walk: Walk = files_under) -> ResolvedSite:
    """Read the module's module.json and derive build.sh's argv and the files it reads.

    `walk` lists a folder's files; planning many modules passes a memoized one, so
    templates and themes shared by every module are listed once per load.
    """
    module_json = find_module_json(site.folder, site.source_root, site.module_json)
    if module_json is None:
        raise ManifestError(display_path(site.folder / site.module_json), "",
                            f"module {site.name!r} has no {site.module_json}; create it or set "
                            "module_json in modules.json")
    if site.roots is not None and not site.roots.may_read(module_json):
        raise ManifestError(site.label, f"modules[{site.index}].module_json",
                            f"{site.module_json!r} is a link to {resolved(module_json)}, outside "
                            "the repository; copy the file into the module")
    config = read_module_config(module_json)
    hugo = config.hugo
    template = site.overrides.get("template") or hugo.template
    theme = site.overrides.get("theme") or hugo.theme
    components = site.overrides.get("components")
    if components is None:
        components = hugo.components or []
    content = site.folder / "content"
    copy = config_copy(site, module_json)
    argv = [*site.command, "--config", _rel(copy[0] if copy else module_json, site.root),
            "--output", OUT, "--base-url", site.base_url]
    optional = [("--content", _rel(content, site.root) if os.path.isdir(content) else None),
                ("--template", template), ("--theme", theme),
                ("--components", ",".join(components) if components else None),
                ("--title", site.overrides.get("title"))]
    for option, value in optional:
        if value and site.passes(option):  # an option the script lacks fails its build
            argv += [option, value]
    inputs = set(walk(site.folder, site.root)) if site.git is None else set()
    inputs.add(_rel(module_json, site.root))
    inputs.add(site.script)  # by content: another script, another build (and cache key)
    _check_assets(site, module_json, config, template, theme, components)
    inputs.update(_asset_files(site, template, theme, components, walk))
    inputs.update(_extra_inputs(site))
    return ResolvedSite(argv=tuple(argv), inputs=tuple(sorted(inputs)), module_json=module_json,
                        config=copy)


def config_copy(site: SiteBuild, module_json: Path) -> tuple[Path, str] | None:
    """The copy of the module's config that carries the overrides its build script has no
    option for (None when it has an option for each): where it goes, and its text. The
    user's file is never edited."""
    moved = {name: value for name, value in site.overrides.items()
             if name in CONFIG_OVERRIDES and value not in (None, "", [])
             and not site.passes(CONFIG_OVERRIDES[name][0])}
    if not moved:
        return None
    text, _label = read_config(module_json)
    data = json.loads(text)  # read_module_config parsed it already: a JSON object
    hugo = next((k for k in ("hugo_config", "build") if isinstance(data.get(k), dict)),
                "hugo_config")
    for name, value in moved.items():
        section = CONFIG_OVERRIDES[name][1] or hugo
        data[section] = {**(data.get(section) or {}), name: value}
    return State(site.root).site_config(site.name), json.dumps(data, indent=2) + "\n"


def _extra_inputs(site: SiteBuild) -> list[str]:
    """The files the module's `inputs` globs match, none of them reached through a link out
    of the repository (a glob follows links to folders)."""
    found = glob_files(site.folder, site.extra_inputs, site.root)
    roots = site.roots
    if roots is None:
        return found
    for rel in found:
        if not roots.may_read(site.root / rel):
            raise ManifestError(site.label, f"modules[{site.index}].inputs", f"{rel} is "
                                f"{resolved(site.root / rel)}, outside the repository; narrow "
                                "the globs or copy the files into the module")
    return found


def read_module_config(path: Path) -> ModuleConfig:
    """A module's own module.json, validated (errors name that file)."""
    text, label = read_config(path)
    return parse_module_config(text, label)


def _check_assets(site: SiteBuild, module_json: Path, config: ModuleConfig,
                  template: str | None, theme: str | None, components: list[str]) -> None:
    """The template, theme and component folders the build copies resolve inside the
    repository: a name with '/' or '..', or a link among the assets, would make it copy
    (and make doit read) files from anywhere."""
    roots = site.roots
    if roots is None:
        return
    assets = site.root / site.assets_dir
    named = [("template", template, assets / "templates"), ("theme", theme, assets / "themes")]
    named += [("components", name, assets / "components") for name in components]
    for what, name, kind in named:
        if not name:
            continue
        folder = kind / name
        if roots.may_read(folder):
            continue
        if what in site.overrides:
            label, where = site.label, f"modules[{site.index}].overrides.{what}"
        else:
            label, where = display_path(module_json), f"hugo_config.{what}"
        lexical = os.path.normpath(folder)
        if os.path.isabs(name) or ".." in Path(name).parts or "\0" in name:
            raise ManifestError(label, where, f"{name!r} is not a name of a folder in "
                                f"{display_path(kind)}; give the folder's name")
        raise ManifestError(display_path(Path(lexical)), "", f"a link to {resolved(folder)}, "
                            f"outside the repository, named by {where} of {label}; copy the "
                            "folder into the repository")


def _asset_files(site: SiteBuild, template: str | None, theme: str | None,
                 components: list[str], walk: Walk) -> list[str]:
    """Template, theme and component files the build uses (all of a kind when unnamed)."""
    assets = site.root / site.assets_dir
    folders = [assets / "templates" / template if template else assets / "templates",
               assets / "themes" / theme if theme else assets / "themes"]
    folders += [assets / "components" / name for name in components]
    return [f for folder in folders for f in walk(folder, site.root)]


def _url_folder(url: str) -> str:
    """The path of a base URL as a folder: "/" or "/docs/"."""
    path = urlsplit(url).path.strip("/")
    return f"/{path}/" if path else "/"


def _join_url(base: str, destination: str) -> str:
    return base.rstrip("/") + destination


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
