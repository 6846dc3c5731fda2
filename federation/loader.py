"""Load modules.json: parse it, then check it across modules and against the files."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from core.errors import ManifestError
from core.state import SHIPPED, STATE_DIR
from federation.graph import find_cycle
from federation.inputs import real_path
from federation.manifest import (
    Manifest,
    Module,
    Toolchain,
    display_path,
    parse_manifest,
    read_bounded,
    shell_meta,
    unreadable,
)
from federation.toolchains import REPOSITORY_DIR, load_toolchains
from federation.workspaces import with_discovered

MANIFEST_FILE = "modules.json"
# What fedbuild ships for site modules: its Hugo build script (with a neutral template and
# theme beside it, in site/) and an empty module.json, used when the repository has none.
DEFAULTS = SHIPPED
SHIPPED_SCRIPT = DEFAULTS / "scripts" / "build.sh"
SHIPPED_MODULE_JSON = DEFAULTS / "module.json"


@dataclass(frozen=True)
class Project:
    """A loaded manifest and the repository it describes."""

    root: Path
    manifest_file: Path
    manifest: Manifest
    toolchains: dict[str, Toolchain]

    @functools.cached_property
    def _real(self) -> dict[str, str]:
        """Folders resolved while this project is planned (federation.inputs.real_path)."""
        return {}

    @functools.cached_property
    def label(self) -> str:
        """The manifest's name as error messages show it (resolved once: planning names it
        for every module)."""
        return display_path(self.manifest_file)

    def module(self, name: str) -> Module:
        """The module called `name`."""
        return next(m for m in self.manifest.modules if m.name == name)

    @functools.cached_property
    def read_only_sources(self) -> tuple[Path, ...]:
        """The folders of local sources given by an absolute local_path outside the
        repository: fedbuild reads them (a site's source) and never writes or deletes there."""
        return tuple(folder for module in self.manifest.modules
                     if module.source.is_local and module.source.local_path is not None
                     and os.path.isabs(module.source.local_path)
                     and not _inside(folder := self.local_dir(module), self.root, self._real))

    def local_dir(self, module: Module) -> Path:
        """The folder of a local module's source."""
        folder = os.path.join(self.root, module.source.local_path or ".", module.source.path)
        return Path(real_path(os.path.normpath(folder), self._real))


def source_resolved(project: Project, module: Module, clone: Path) -> str:
    """Where a module's source resolved, in words (`doit explain`): a folder of the
    repository, a folder outside it given by an absolute local_path (read only), or the
    git clone at `clone`."""
    source = module.source
    if not source.is_local:
        return (f"{source.repository} branch {source.branch}, path {source.path}, cloned in "
                f"{display_path(clone)}")
    folder = project.local_dir(module)
    if _inside(folder, project.root, project._real):
        return f"{display_path(folder)} (in the repository)"
    return (f"{folder} (outside the repository, from the absolute local_path "
            f"{source.local_path}: read only)")


def load_project(root: Path, manifest_name: str = MANIFEST_FILE) -> Project:
    """Read and fully check the manifest of the repository at `root`."""
    file = root / manifest_name
    label = display_path(file)
    try:
        text = read_bounded(file, label)
    except FileNotFoundError:
        raise ManifestError(label, "", f"not found; create it or run doit in the folder "
                            f"that has it (looked in {root})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise unreadable(label, err) from None
    manifest = with_shipped_script(with_discovered(parse_manifest(text, label), root, label),
                                   root)
    project = Project(root.resolve(), file, manifest, load_toolchains(root.resolve()))
    check_modules(project)
    check_files(project)
    return project


def with_shipped_script(manifest: Manifest, root: Path) -> Manifest:
    """The manifest, with fedbuild's own build script and assets when it names none and the
    repository has no scripts/build.sh of its own."""
    fed = manifest.federation
    if "build_script" in fed.model_fields_set or os.path.lexists(root / fed.build_script):
        return manifest
    shipped = {"build_script": str(SHIPPED_SCRIPT)}
    if "assets_dir" not in fed.model_fields_set:
        shipped["assets_dir"] = str(SHIPPED_SCRIPT.parent.parent / "site")
    return manifest.model_copy(update={"federation": fed.model_copy(update=shipped)})


def check_modules(project: Project) -> None:
    """Names, destinations, toolchains and dependencies that only make sense together."""
    modules, label = project.manifest.modules, project.label
    first_index: dict[str, int] = {}
    for i, module in enumerate(modules):
        if module.name in first_index:
            raise ManifestError(label, f"modules[{i}].name",
                                f"{module.name!r} is already the name of "
                                f"modules[{first_index[module.name]}]; names must be unique")
        first_index[module.name] = i
    _check_destinations(project)
    _check_output_dir(project)
    for i, module in enumerate(modules):
        if module.toolchain not in project.toolchains:
            raise ManifestError(label, f"modules[{i}].toolchain", f"{module.toolchain!r} is not "
                                f"a toolchain; known: {', '.join(sorted(project.toolchains))} "
                                f"(add your own as {REPOSITORY_DIR}/<name>.yaml)")
        _check_firmware(project, i, module)
        _check_site_only(project, i, module)
        _check_source(project, i, module)
        _check_script_paths(project, i, module)
        if module.toolchain == "build.sh" and module.destination is None:
            raise ManifestError(label, f"modules[{i}].destination", "a site module (toolchain "
                                "'build.sh') needs a destination such as '/docs/'")
        for j, step in enumerate(module.steps):
            if module.toolchain == "build.sh" and step.name == "build":
                raise ManifestError(label, f"modules[{i}].steps[{j}].name", "the build of a "
                                    "site module is the federation's build script; name the "
                                    "step differently to add one")
        for j, dep in enumerate(module.depends_on):
            if dep not in first_index:
                raise ManifestError(label, f"modules[{i}].depends_on[{j}]",
                                    f"{dep!r} is not a module of this manifest; known: "
                                    + ", ".join(sorted(first_index)))
            if dep == module.name:
                raise ManifestError(label, f"modules[{i}].depends_on[{j}]",
                                    f"module {dep!r} cannot depend on itself")
    cycle = find_cycle({m.name: m.depends_on for m in modules})
    if cycle:
        raise ManifestError(label, f"modules[{first_index[cycle[0]]}].depends_on",
                            "dependency cycle: " + " -> ".join(cycle))


# Fields only a site module's build (toolchain build.sh) and the federation read: on any
# other module they would be accepted and do nothing, so they are refused there.
SITE_ONLY = ("destination", "module_json", "css_path_prefix", "overrides", "merge_strategy",
             "priority", "exclude", "redirects")
SITE_ONLY_OPTIONS = {"skip_on_error": "", "priority": "",
                     "build_timeout": " (a step's `timeout` is set in the toolchain's YAML or "
                                      "the module's `steps`)"}


def _check_site_only(project: Project, i: int, module: Module) -> None:
    """A field only site modules read, given on another module: not supported there."""
    if module.toolchain == "build.sh":
        return
    # An explicit null says nothing: only a value is refused.
    given = [name for name in SITE_ONLY
             if name in module.model_fields_set and getattr(module, name) is not None]
    given += [f"build_options.{name}" for name in SITE_ONLY_OPTIONS
              if name in module.build_options.model_fields_set
              and getattr(module.build_options, name) is not None]
    if given:
        hint = SITE_ONLY_OPTIONS.get(given[0].removeprefix("build_options."), "")
        raise ManifestError(project.label, f"modules[{i}].{given[0]}", "is not supported on a "
                            f"{module.toolchain!r} module: only site modules (toolchain "
                            f"'build.sh') use it; remove it{hint}")
    if module.budget is not None and project.toolchains[module.toolchain].targets is None:
        raise ManifestError(project.label, f"modules[{i}].budget", "is not supported on a "
                            f"{module.toolchain!r} module: only firmware toolchains (esp-idf, "
                            "esp-baremetal) check size budgets; remove it")


def _check_source(project: Project, i: int, module: Module) -> None:
    """A local source reads no branch (the Hugo format writes `"branch": "main"` on every
    source: that one is accepted), a git source no local_path."""
    source = module.source
    if source.is_local and source.branch != "main":
        raise ManifestError(project.label, f"modules[{i}].source.branch", f"{source.branch!r} "
                            "is not supported on a local source: its files are read as they "
                            "are in this repository; remove branch or give a git URL")
    if not source.is_local and source.local_path is not None:
        raise ManifestError(project.label, f"modules[{i}].source.local_path", "is not "
                            "supported on a git source: give the folder inside the git "
                            "repository as path; remove local_path")


def _check_script_paths(project: Project, i: int, module: Module) -> None:
    """The paths a site module's build script is handed (its source folder, its module.json,
    the script and the assets folder) hold nothing its shell would run: build scripts often
    eval their arguments (the URLs, title and names are checked by their own fields)."""
    if module.toolchain != "build.sh":
        return
    fed = project.manifest.federation
    fields = [(f"modules[{i}].source.path", module.source.path),
              (f"modules[{i}].source.local_path", module.source.local_path),
              (f"modules[{i}].module_json", module.module_json)]
    # fedbuild's own script and assets (wherever fedbuild is installed) are not the user's.
    if fed.build_script != str(SHIPPED_SCRIPT):
        fields += [("federation.build_script", fed.build_script),
                   ("federation.assets_dir", fed.assets_dir)]
    for where, value in fields:
        char = shell_meta(value or "", spaces=False)
        if char is not None:
            raise ManifestError(project.label, where, f"{value!r} holds {char!r}, which the "
                                "build script's shell would read as code or a word end; a "
                                "path passed to the build script may hold no whitespace, $ ` "
                                "; | & < > quotes \\ or newline: rename it")


def _check_firmware(project: Project, i: int, module: Module) -> None:
    """A firmware toolchain's modules name a chip it builds for and have its project files."""
    chain = project.toolchains[module.toolchain]
    label = project.label
    if chain.targets is None:
        if module.target is not None:
            raise ManifestError(label, f"modules[{i}].target", f"toolchain "
                                f"{module.toolchain!r} builds no firmware; remove target or use "
                                "the esp-idf or esp-baremetal toolchain")
        return
    known = ", ".join(chain.targets)
    if module.target is None:
        raise ManifestError(label, f"modules[{i}].target", f"toolchain {module.toolchain!r} "
                            f"needs the ESP32 chip to build for: one of {known}")
    if module.target not in chain.targets:
        raise ManifestError(label, f"modules[{i}].target", f"toolchain {module.toolchain!r} "
                            f"cannot build for {module.target}; use one of {known}")
    if not module.source.is_local:
        return  # checked once fetched, by the toolchain's own build
    folder = project.local_dir(module)
    for name in chain.project_files:
        if not os.path.isfile(folder / name):
            shown = os.path.relpath(folder / name, project.root)
            raise ManifestError(label, f"modules[{i}].source.path", f"{shown} is missing: "
                                f"modules of toolchain {module.toolchain!r} have {name} at "
                                "their root")


def _check_destinations(project: Project) -> None:
    """Two modules may share a destination only when neither replaces the folder wholesale."""
    seen: dict[str, tuple[int, Module]] = {}
    for i, module in enumerate(project.manifest.modules):
        if module.destination is None:
            continue
        other = seen.get(module.destination)
        if other is None:
            seen[module.destination] = (i, module)
            continue
        j, first = other
        if "overwrite" in (first.merge_strategy, module.merge_strategy):
            raise ManifestError(
                project.label, f"modules[{i}].destination",
                f"{module.destination!r} is also the destination of {first.name!r} "
                f"(modules[{j}]) and merge_strategy 'overwrite' would replace one with the other; "
                "give each its own destination or set merge_strategy 'merge', 'preserve' or "
                "'error' on both")


def _check_output_dir(project: Project) -> None:
    """The published tree is replaced wholesale: it must not hold, or sit in, anything else."""
    fed = project.manifest.federation
    field = "federation.output_dir"
    output = PurePosixPath(fed.output_dir)
    if output == PurePosixPath("."):
        raise ManifestError(project.label, field, f"{fed.output_dir!r} is the repository itself, "
                            "which publishing would replace; use a folder of its own such as "
                            "'public'")
    kept = [(PurePosixPath(STATE_DIR), "fedbuild's state folder"),
            (PurePosixPath(project.manifest_file.name), "the manifest"),
            (PurePosixPath(fed.build_script), "the build script"),
            (PurePosixPath(fed.assets_dir), "the assets folder")]
    kept += [(PurePosixPath(m.source.local_path or ".") / m.source.path,
              f"the source of module {m.name!r}")
             for m in project.manifest.modules if m.source.is_local]
    for path, what in kept:
        if path.is_relative_to(output):
            raise ManifestError(project.label, field, f"{fed.output_dir!r} holds {path} ({what}), "
                                "which publishing would replace; use a folder of its own such "
                                "as 'public'")
        if output.is_relative_to(path) and path != PurePosixPath("."):
            raise ManifestError(project.label, field, f"{fed.output_dir!r} is inside {path} "
                                f"({what}); use a folder of its own such as 'public'")


def check_files(project: Project) -> None:
    """Source folders, module.json files and the build script exist where the manifest says."""
    label, root = project.label, project.root
    for i, module in enumerate(project.manifest.modules):
        if not module.source.is_local:
            continue  # checked once the clone exists
        folder = project.local_dir(module)
        _check_source_folder(project, i, module, folder)
        source_root = root / (module.source.local_path or ".")
        if module.toolchain == "build.sh" and not uses_shipped_module_json(
                module, folder, source_root) and find_module_json(
                folder, source_root, module.module_json) is None:
            raise ManifestError(label, f"modules[{i}].module_json",
                                f"{module.module_json!r} not found in {display_path(folder)}; "
                                "create it or point module_json at the module's config file")
    script = root / project.manifest.federation.build_script
    uses_script = any(m.toolchain == "build.sh" for m in project.manifest.modules)
    if uses_script and not os.path.isfile(script):
        raise ManifestError(label, "federation.build_script",
                            f"{display_path(script)} does not exist; create it or set "
                            "federation.build_script")


def _check_source_folder(project: Project, i: int, module: Module, folder: Path) -> None:
    """A local source's folder exists and lies inside the repository, unless local_path is
    absolute: that is the one path fedbuild reads outside it (a site's source, read only;
    outputs, clean, cwd and whatever is written or deleted stay confined). The error names
    the field that is wrong: local_path for the base folder, path for the folder below it."""
    label, local_path = project.label, module.source.local_path
    base = project.root / (local_path or ".")
    field = f"modules[{i}].source."
    if local_path is not None and not os.path.isdir(base):
        raise ManifestError(label, field + "local_path",
                            f"{display_path(base)} does not exist or is not a folder")
    if not os.path.isdir(folder):
        raise ManifestError(label, field + "path",
                            f"{display_path(folder)} does not exist or is not a folder")
    if local_path is not None and os.path.isabs(local_path):
        if not _inside(folder, base, project._real):
            raise ManifestError(label, field + "path", f"{display_path(folder)} is outside "
                                f"local_path {local_path}; give a folder below it")
        return
    if local_path is not None and not _inside(base, project.root, project._real):
        raise ManifestError(label, field + "local_path", f"{display_path(base)} is outside "
                            "the repository (an absolute local_path may be: write it absolute)")
    if not _inside(folder, project.root, project._real):
        raise ManifestError(label, field + "path",
                            f"{display_path(folder)} is outside the repository")


def uses_shipped_module_json(module: Module, folder: Path, source_root: Path) -> bool:
    """module_json is optional: a module that names none and has no module.json at all gets
    fedbuild's empty one (one named, or present but unreadable, stays an error)."""
    return "module_json" not in module.model_fields_set and not any(
        os.path.lexists(base / module.module_json) for base in (folder, source_root))


def find_module_json(folder: Path, source_root: Path, name: str) -> Path | None:
    """The module's config: relative to its folder, or (older manifests) to its source root."""
    for candidate in (folder / name, source_root / name):
        if os.path.isfile(candidate):  # False, not OSError, for a link too long to follow
            return candidate
    return None


def _inside(path: Path, root: Path, memo: dict[str, str] | None = None) -> bool:
    """Whether `path`, resolved, lies in (or is) `root`, resolved; `memo`: the folders a
    project has resolved already (federation.inputs.real_path)."""
    memo = {} if memo is None else memo
    real, top = real_path(path, memo), real_path(root, memo)
    # Both are absolute and normalised: a prefix ending at a separator is Path.is_relative_to
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)
