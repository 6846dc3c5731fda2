"""What a site module's build step has beside any toolchain step: its module.json.

A site module's build is the `build` step of the build.sh toolchain (tasks/toolchains/
build.sh.yaml, or a repository's own), planned by federation/steps.py like every step: its
argv (the federation's build script) comes from the YAML. What only a site has is kept here,
as the step's `site` field: where its module.json is (for a git source: in the clone, read
once it is fetched), the base URL and overrides the manifest gives it, the options the build
script accepts, its assets. `resolve_site` reads the module.json and derives the options
appended to the YAML's argv (--config, --output, --base-url, ...) and the files it reads.

Pure: it reads the manifest, module.json files and folder listings, and writes nothing and
runs nothing.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

Walk = Callable[[Path, Path], list[str]]

OUT = "{out}"  # placeholder for the temporary output folder in argv
SITE_TOOLCHAIN = "build.sh"  # the toolchain of site modules: its build step is the site build
SITE_STEP = "build"  # the step of the build.sh toolchain that builds a site
# Passed whatever a build script says it accepts: without them there is no build to stage.
REQUIRED_OPTIONS = ("--config", "--output", "--base-url")
# The overrides that are options of the build script, and where each goes in the module's
# config (module.json) when the script has no such option: the build gets a copy of its
# config with the value set ("" is the Hugo section: hugo_config, or the older build).
CONFIG_OVERRIDES = {"title": ("--title", "site"), "template": ("--template", ""),
                    "theme": ("--theme", ""), "components": ("--components", "")}


@dataclass(frozen=True)
class Site:
    """A site build's own data (the `site` of its step): what its module.json adds to argv."""

    name: str
    root: Path
    folder: Path  # the module's files (for git sources: inside the clone)
    source_root: Path  # the repository (or clone) the module's paths are relative to
    module_json: str
    script: str
    assets_dir: str
    base_url: str
    overrides: dict[str, Any]
    extra_inputs: tuple[str, ...]
    priority: int
    entry: dict[str, Any] = field(repr=False)
    git: GitSource | None = None
    label: str = ""  # the manifest, as errors name it
    index: int = 0  # the module's place in the manifest's modules
    roots: Roots | None = None  # what it may read (core/confine.py)
    # The options the build script accepts (federation/script_options.py); None: every one.
    options: frozenset[str] | None = None

    def signature(self, env: dict[str, str], command: tuple[str, ...]) -> dict[str, Any]:
        """What, besides input files, decides the output: the build step's argv (the YAML's),
        the options passed, env, manifest entry."""
        return {"script": self.script, "base_url": self.base_url, "env": env,
                "entry": self.entry, "command": list(command),
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


def site_of(project: Project, state: State, module: Module, index: int) -> Site:
    """The site data of a build.sh module's build step."""
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
    return Site(
        name=module.name, root=project.root, folder=folder, source_root=source_root,
        module_json=module_json, script=fed.build_script, assets_dir=fed.assets_dir,
        base_url=overrides.pop("baseURL", None) or _join_url(fed.baseURL, module.site_destination),
        overrides=overrides, extra_inputs=tuple(module.inputs), priority=module.build_priority,
        entry=module.model_dump(mode="json", by_alias=True, exclude={"tags"}),  # labels only
        git=git, label=project.label, index=index, roots=state.roots)


def check_site_paths(project: Project, state: State) -> None:
    """The build script (run) and the assets folder (read) resolve inside the repository."""
    fed = project.manifest.federation
    for name, value in (("build_script", fed.build_script), ("assets_dir", fed.assets_dir)):
        path = project.root / value
        if not state.roots.may_read(path):
            raise ManifestError(project.label, f"federation.{name}", f"{value!r} is a link to "
                                f"{resolved(path)}, outside the repository {project.root}; "
                                "copy it into the repository or point the link inside it")


def resolve_site(site: Site, command: tuple[str, ...], walk: Walk = files_under
                 ) -> ResolvedSite:
    """Read the module's module.json and derive the build's argv (`command`, the YAML's,
    then the options) and the files it reads.

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
    argv = [*command, "--config", _rel(copy[0] if copy else module_json, site.root),
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


def config_copy(site: Site, module_json: Path) -> tuple[Path, str] | None:
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


def _extra_inputs(site: Site) -> list[str]:
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


def _check_assets(site: Site, module_json: Path, config: ModuleConfig,
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


def _asset_files(site: Site, template: str | None, theme: str | None,
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
