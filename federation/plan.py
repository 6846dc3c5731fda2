"""The federate step's plan: where each site module's staged output is published.

Site builds themselves are toolchain steps (federation/steps.py, their site data in
federation/sites.py); this plans what `federate` merges from their staged folders.

Pure: it reads the manifest and folder listings, and writes nothing and runs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from core.confine import Roots, resolved
from core.errors import ManifestError
from core.state import State
from federation.loader import Project
from federation.steps import StepPlan


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


def plan_federation(project: Project, state: State, steps: list[StepPlan]) -> FederationPlan:
    """The federate step over the site builds among `steps`, in manifest order."""
    fed = project.manifest.federation
    url = urlsplit(fed.baseURL)
    site_path = _url_folder(fed.baseURL)
    rewrite = fed.build_settings.css_path_resolution
    by_name = {step.module: step for step in steps if step.site is not None}
    mounts = []
    for module in project.manifest.modules:
        step = by_name.get(module.name)
        if step is None or step.site is None:
            continue
        site = step.site
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
            prefix=prefix, staged=step.dist, outcome=step.outcome, source=source,
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


def _url_folder(url: str) -> str:
    """The path of a base URL as a folder: "/" or "/docs/"."""
    path = urlsplit(url).path.strip("/")
    return f"/{path}/" if path else "/"
