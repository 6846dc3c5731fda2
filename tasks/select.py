"""`select=`: the modules a run is about, named on the command line.

`doit select=web,docs` builds what `doit build:web build:docs` would (each selected module's
default tasks, `federate` when a site module is among them); `doit plan` and `doit affected`
take the same variable. A term is a module name, `tag:<tag>` (the modules whose `tags` hold
it), or a path (`modules/web`: the modules whose folders are under it, or the module holding
it); `web...` adds what depends on web (transitively), `...web` what web depends on
(Turborepo's notation), `...web...` both. Terms are separated by commas and their modules
add up. A term that selects nothing is a one-line error: a typo must not build nothing.
"""

from __future__ import annotations

import os
from pathlib import Path

import doit

from core.errors import COMMAND_LINE, UsageError
from federation.graph import dependencies, dependents
from federation.loader import Project
from tasks.command_line import closest

VARIABLE = "select"
ELLIPSIS = "..."


def requested() -> str | None:
    """The value of `select=` on this command line, if any."""
    value = doit.get_var(VARIABLE, None)
    return None if value is None else str(value)


def selected(project: Project, value: str | None = None) -> frozenset[str] | None:
    """The modules `select=` names (this command line's when `value` is None); None when no
    selection is given (every module)."""
    value = requested() if value is None else value
    if value is None:
        return None
    terms = [term.strip() for term in value.split(",")]
    if not any(terms):
        raise _error(value, "names no module; give names, tag:<tag> or a path, "
                     "e.g. select=web,docs")
    found: set[str] = set()
    for term in terms:
        if not term:
            continue
        found |= _term(project, term)
    return frozenset(found)


def _term(project: Project, term: str) -> set[str]:
    """The modules one term selects."""
    core = term
    up, down = core.startswith(ELLIPSIS), core.endswith(ELLIPSIS) and len(core) > 3
    core = core.removeprefix(ELLIPSIS) if up else core
    core = core.removesuffix(ELLIPSIS) if down else core
    if not core:
        raise _error(term, "names no module around '...'; write web... or ...web")
    names = _core(project, core, term)
    graph = {m.name: m.depends_on for m in project.manifest.modules}
    found = set(names)
    if up:
        found |= dependencies(graph, names)
    if down:
        found |= dependents(graph, names)
    return found


def _core(project: Project, core: str, term: str) -> set[str]:
    """The modules a name, a tag or a path selects (no ellipsis)."""
    modules = project.manifest.modules
    if core.startswith("tag:"):
        tag = core.removeprefix("tag:")
        found = {m.name for m in modules if tag in m.tags}
        if not found:
            known = sorted({t for m in modules for t in m.tags})
            hint = (f"; did you mean tag:{closest(tag, known)}? (tags: {', '.join(known)})"
                    if known else "; no module has tags (a module's `tags` in modules.json)")
            raise _error(term, f"no module has the tag {tag!r}{hint}")
        return found
    names = [m.name for m in modules]
    if core in names:
        return {core}
    if "/" in core or core in (".", "..") or (project.root / core).is_dir():
        return _under(project, core, term)
    raise _error(term, f"no module {core!r}; did you mean {closest(core, names)}? "
                 "(a module's name, tag:<tag> or a folder)")


def _under(project: Project, path: str, term: str) -> set[str]:
    """The local modules whose folders are at or under `path`; else the innermost module
    whose folder holds it."""
    folder = Path(os.path.normpath(project.root / path))
    if not folder.exists():
        raise _error(term, f"{path!r} is no module's name and no file or folder of the "
                     "repository")
    real = folder.resolve()
    local = {m.name: project.local_dir(m) for m in project.manifest.modules
             if m.source.is_local}
    under = {name for name, own in local.items() if own.is_relative_to(real)}
    if under:
        return under
    holding = [name for name, own in local.items() if real.is_relative_to(own)]
    if not holding:
        raise _error(term, f"no module's folder is at, under or above {path!r}")
    return {max(holding, key=lambda name: len(local[name].parts))}


def _error(term: str, message: str) -> UsageError:
    return UsageError(COMMAND_LINE, f"select={term}", message)
