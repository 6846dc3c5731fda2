"""The build plan of site modules: what build.sh gets, what it reads, where it writes.

Pure: it reads the manifest, module.json files and folder listings, and writes
nothing and runs nothing. Running the plan is tasks/sites.py's job.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from federation.errors import ManifestError
from federation.inputs import files_under, glob_files
from federation.loader import Project, find_module_json
from federation.manifest import Module, ModuleConfig, display_path, parse_module_config
from federation.sources import GitSource
from federation.state import State

Walk = Callable[[Path, Path], list[str]]

OUT = "{out}"  # placeholder for the temporary output folder in argv


@dataclass(frozen=True)
class SiteBuild:
    """One build.sh run for one site module, everything resolved but the output folder."""

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

    @property
    def task(self) -> str:
        """The doit task that runs this build."""
        return f"build:{self.name}"

    def signature(self) -> dict[str, Any]:
        """What, besides input files, decides the output: argv shape, env, manifest entry."""
        return {"script": self.script, "base_url": self.base_url, "env": self.env,
                "entry": self.entry}


@dataclass(frozen=True)
class ResolvedSite:
    """A site build with its module.json read: the exact argv and the files it reads."""

    argv: tuple[str, ...]
    inputs: tuple[str, ...]
    module_json: Path


def plan_sites(project: Project, state: State) -> list[SiteBuild]:
    """One SiteBuild per build.sh module, highest priority first, manifest order otherwise."""
    builds = [_site(project, state, module) for module in project.manifest.modules
              if module.toolchain == "build.sh"]
    return sorted(builds, key=lambda b: -b.priority)


def _site(project: Project, state: State, module: Module) -> SiteBuild:
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
    return SiteBuild(
        name=module.name,
        root=project.root,
        folder=(source_root / module.source.path).resolve() if git is None
        else source_root / module.source.path,
        source_root=source_root,
        module_json=module.module_json,
        script=fed.build_script,
        assets_dir=fed.assets_dir,
        base_url=overrides.pop("baseURL", None) or _join_url(fed.baseURL, module.destination),
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
        entry=module.model_dump(mode="json", by_alias=True),
        git=git,
    )


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
    config = read_module_config(module_json)
    hugo = config.hugo
    template = site.overrides.get("template") or hugo.template
    theme = site.overrides.get("theme") or hugo.theme
    components = site.overrides.get("components")
    if components is None:
        components = hugo.components or []
    content = site.folder / "content"
    argv = [site.script, "--config", _rel(module_json, site.root), "--output", OUT,
            "--base-url", site.base_url]
    if content.is_dir():
        argv += ["--content", _rel(content, site.root)]
    if template:
        argv += ["--template", template]
    if theme:
        argv += ["--theme", theme]
    if components:
        argv += ["--components", ",".join(components)]
    if site.overrides.get("title"):
        argv += ["--title", site.overrides["title"]]
    inputs = set(files_under(site.folder, site.root)) if site.git is None else set()
    inputs.add(_rel(module_json, site.root))
    inputs.update(_asset_files(site, template, theme, components, walk))
    inputs.update(glob_files(site.folder, site.extra_inputs, site.root))
    return ResolvedSite(argv=tuple(argv), inputs=tuple(sorted(inputs)), module_json=module_json)


def read_module_config(path: Path) -> ModuleConfig:
    """A module's own module.json, validated (errors name that file)."""
    label = display_path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ManifestError(label, "", f"cannot be read: {err}") from None
    return parse_module_config(text, label)


def _asset_files(site: SiteBuild, template: str | None, theme: str | None,
                 components: list[str], walk: Walk) -> list[str]:
    """Template, theme and component files the build uses (all of a kind when unnamed)."""
    assets = site.root / site.assets_dir
    folders = [assets / "templates" / template if template else assets / "templates",
               assets / "themes" / theme if theme else assets / "themes"]
    folders += [assets / "components" / name for name in components]
    return [f for folder in folders for f in walk(folder, site.root)]


def _join_url(base: str, destination: str) -> str:
    return base.rstrip("/") + destination


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
