"""The options the federation's build script accepts, so a site build passes no other.

Not every version of a build script has every option (one reference script has no --title
and fails with `Unknown option: --title`). The options are the `options` of the build.sh
toolchain's build step when its YAML declares them; else the script's own --help says
them, asked once per script digest (the answer is kept in .fedbuild/script-options/, so a
no-op run asks nothing). A --help that fails or times out leaves the options fedbuild needs.
An override the script does not accept costs one warning line at load time, never the build:
it is applied through the config instead (federation/sites.py config_copy).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from core.confine import write_whole
from core.runner import Command, Status, run
from core.state import State
from federation.loader import Project
from federation.manifest import display_path
from federation.sites import CONFIG_OVERRIDES, REQUIRED_OPTIONS, SITE_STEP, SITE_TOOLCHAIN
from federation.toolchains import REPOSITORY_DIR, SHIPPED

# Assumed when the script's --help says nothing: what the build is of (its config and
# content), where it goes and for which URL.
NEEDED = (*REQUIRED_OPTIONS, "--content")
HELP_TIMEOUT = 10.0  # seconds; its process tree is killed after it
_OPTION = re.compile(r"(?<![\w-])--[A-Za-z0-9][A-Za-z0-9-]*")
_FORMAT = 1  # of the files in .fedbuild/script-options/


@dataclass(frozen=True)
class ScriptOptions:
    """The options a build script accepts, and how fedbuild knows."""

    script: str  # federation.build_script, as the manifest names it
    accepted: frozenset[str]
    how: str  # said in warnings: "learned from its --help", "its --help failed", ...
    failure: str = ""  # the --help that failed, said once, when it was asked

    def passes(self, option: str) -> bool:
        """Whether a site build hands the script this option."""
        return option in REQUIRED_OPTIONS or option in self.accepted


def script_options(project: Project, state: State, command: tuple[str, ...],
                   keep: bool = True) -> ScriptOptions | None:
    """The build script's options (None without site modules): declared, or its --help,
    asked with `command` (the planned site build step's argv, before the module's options).
    `keep` false (a command that only reads, `doit list`): the answer is neither looked up
    nor kept in the state folder and the --help's log goes to a temporary folder, so
    nothing is written under the repository."""
    if not any(m.toolchain == SITE_TOOLCHAIN for m in project.manifest.modules):
        return None
    script = project.manifest.federation.build_script
    chain = project.toolchains[SITE_TOOLCHAIN]
    step = next((s for s in chain.steps if s.name == SITE_STEP), None)
    if step is not None and step.options is not None:
        return ScriptOptions(script, frozenset(step.options),
                             f"its options as declared in {_yaml_label(project.root)}")
    command = _help_argv(project, command)
    cache = state.dir / "script-options" / f"{_digest(project, command)}.json"
    known = _cached(cache) if keep else None
    if known is not None:
        return ScriptOptions(script, frozenset(known), "learned from its --help") \
            if known else _assumed(script, "")
    options, failure = _ask_help(project, state, command, keep)
    if keep:
        _store(cache, options)
    if options is None:
        return _assumed(script, f"{script} --help {failure}: passing only "
                        f"{', '.join(NEEDED)}; declare its options in the build step of "
                        f"{REPOSITORY_DIR}/{SITE_TOOLCHAIN}.yaml (options: [...])")
    return ScriptOptions(script, options, "learned from its --help")


def unsupported(project: Project, options: ScriptOptions | None) -> list[str]:
    """One warning line per override of a site module that the script does not accept,
    saying how it is applied instead: in the copy of the module's config the build reads."""
    if options is None:
        return []
    lines = []
    for i, module in enumerate(project.manifest.modules):
        if module.toolchain != SITE_TOOLCHAIN:
            continue
        given = module.overrides.model_dump(exclude_none=True)
        for name, (option, section) in CONFIG_OVERRIDES.items():
            if name not in given or options.passes(option):
                continue
            config = (display_path(project.local_dir(module) / module.module_json)
                      if module.source.is_local else f"its {module.module_json}")
            where = f"{section}.{name}" if section else f"hugo_config.{name}"
            lines.append(f"WARNING: {project.label}: modules[{i}].overrides.{name}: "
                         f"{options.script} has no {option} ({options.how}): applied as "
                         f"{where} in a copy of {config} passed as --config "
                         f"({_shown(project.root, module.name)})")
    return lines


def _shown(root: Path, module: str) -> str:
    """Where the copy of a module's config is, as a user names it."""
    return os.path.relpath(State(root).site_config(module), root)


def _digest(project: Project, command: tuple[str, ...]) -> str:
    """What the answer depends on: the command, the build script's content and that of
    any other file of the repository the command names (a script run by an interpreter)."""
    key = hashlib.sha256(json.dumps(command).encode())
    files = [project.root / project.manifest.federation.build_script]
    files += [path for arg in command if (path := project.root / arg).is_file()
              and path.resolve().is_relative_to(project.root) and path not in files]
    for path in files:
        key.update(path.read_bytes())
    return key.hexdigest()


def _assumed(script: str, failure: str) -> ScriptOptions:
    return ScriptOptions(script, frozenset(NEEDED), "its --help failed", failure)


def _help_argv(project: Project, command: tuple[str, ...]) -> tuple[str, ...]:
    """The site build's command (the YAML's argv of its build step, the script by its path
    in the repository) and --help."""
    first, *rest = command
    script = project.manifest.federation.build_script
    return (str(project.root / first) if first == script else first, *rest, "--help")


def _ask_help(project: Project, state: State, argv: tuple[str, ...],
              keep: bool) -> tuple[frozenset[str] | None, str]:
    """The options the script's --help names (None and why, when it fails or names none).
    The script is the repository's own (it runs on every build anyway); it gets a timeout,
    and its whole process tree is killed after it. Its log is the state folder's (`keep`)
    or a temporary one."""
    if not keep:
        with tempfile.TemporaryDirectory(prefix="fedbuild-help-") as folder:
            return _asked(project, argv, Path(folder) / "script-options.log")
    return _asked(project, argv, state.log("script-options"))


def _asked(project: Project, argv: tuple[str, ...], log: Path
           ) -> tuple[frozenset[str] | None, str]:
    result = run(Command(argv=argv, cwd=project.root, log=log, timeout=HELP_TIMEOUT,
                         kill_grace=1.0))
    if result.status is Status.TIMED_OUT:
        return None, f"timed out after {HELP_TIMEOUT:g}s"
    if not result.ok:
        return None, (f"failed (exit {result.exit_code})" if result.exit_code is not None
                      else f"could not run ({result.status.value})")
    text = "\n".join(line for line in log.read_text(errors="replace").splitlines()
                     if not line.startswith("$ "))  # the runner's header names the argv
    found = frozenset(_OPTION.findall(text)) - {"--help"}
    return (found, "") if found else (None, "names no option")


def _cached(path: Path) -> list[str] | None:
    """The options a --help named before ([] when it failed); None when never asked."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != _FORMAT:
        return None
    options = data.get("options")
    return [str(o) for o in options] if isinstance(options, list) else None


def _store(path: Path, options: frozenset[str] | None) -> None:
    """Keep what the --help said; a state folder that cannot be written only costs asking
    again next time."""
    data = {"format": _FORMAT, "options": sorted(options or ())}
    with suppress(OSError):
        write_whole(path, json.dumps(data).encode())


def _yaml_label(root: Path) -> str:
    """The build.sh toolchain's file as a user names it: the repository's, or fedbuild's."""
    own = root / REPOSITORY_DIR / f"{SITE_TOOLCHAIN}.yaml"
    return f"{REPOSITORY_DIR}/{SITE_TOOLCHAIN}.yaml" if own.is_file() \
        else display_path(SHIPPED / f"{SITE_TOOLCHAIN}.yaml")
