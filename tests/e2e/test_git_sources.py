"""Git-sourced modules through real doit runs: shallow clone, refresh on a new head, failures.

No network: each test makes a git repository in tmp_path and points the basic
fixture's `beta` module at it with a file:// URL.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import run_doit

Repo = Callable[[str], Path]
BETA = Path(__file__).resolve().parent.parent / "fixtures" / "basic" / "modules" / "beta"
IDENTITY = ("-c", "user.name=fedbuild tests", "-c", "user.email=tests@fedbuild.invalid",
            "-c", "commit.gpgsign=false")


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` (as a fixed test identity) and return its stripped stdout."""
    done = subprocess.run(["git", *IDENTITY, "-C", str(repo), *args], capture_output=True,
                          text=True, timeout=30, check=True)
    return done.stdout.strip()


def commit(repo: Path, files: dict[str, str], message: str = "change") -> str:
    """Write `files` (path relative to repo -> text) into repo, commit them, return the sha."""
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "-m", message)
    return git(repo, "rev-parse", "HEAD")


def make_source(root: Path, subdir: str = "") -> Path:
    """A git repository on `main` holding the beta module (at `subdir`) with its own page."""
    root.mkdir()
    git(root, "init", "--quiet", "-b", "main")
    module = root / subdir if subdir else root
    shutil.copytree(BETA, module, dirs_exist_ok=True)
    (module / "content" / "one.md").write_text("beta from git, first commit\n")
    commit(root, {}, "beta module")
    return root


def use_source(repo: Path, url: str, branch: str = "main", path: str = ".",
               module_json: str = "module.json") -> None:
    """Point the fixture's beta module at a git branch."""
    manifest_file = repo / "modules.json"
    manifest = json.loads(manifest_file.read_text())
    beta = next(m for m in manifest["modules"] if m["name"] == "beta")
    beta["source"] = {"repository": url, "branch": branch, "path": path}
    beta["module_json"] = module_json
    manifest_file.write_text(json.dumps(manifest, indent=2))


def run(repo: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run doit; return its result and the modules whose build.sh ran, in start order."""
    runs = repo / "runs.log"
    runs.unlink(missing_ok=True)
    result = run_doit(repo, *args, env={"RUNS_LOG": str(runs)})
    lines = runs.read_text().splitlines() if runs.exists() else []
    return result, [line.split()[0] for line in lines if " start " in line]


def built(repo: Path, *args: str) -> list[str]:
    """Run doit, insist it succeeds, return the modules whose build.sh ran."""
    result, names = run(repo, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return names


def page(repo: Path, module: str = "beta") -> str:
    """The staged index.html of a module."""
    return (repo / ".fedbuild" / "staging" / module / "index.html").read_text()


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """The module's upstream git repository."""
    return make_source(tmp_path / "upstream")


@pytest.fixture
def cloned(monorepo: Repo, source: Path) -> Path:
    """The basic fixture with beta from `source`, built once (the first run clones)."""
    repo = monorepo("basic")
    use_source(repo, source.as_uri())
    assert sorted(built(repo)) == ["alpha", "beta", "gamma"]
    return repo


def test_first_run_clones_shallowly_and_builds(cloned: Path, source: Path) -> None:
    """The first run makes a shallow clone at the branch head and builds from it."""
    clone = cloned / ".fedbuild" / "sources" / "beta"
    assert git(clone, "rev-parse", "--is-shallow-repository") == "true"
    head = (cloned / ".fedbuild" / "sources" / "beta.head").read_text().strip()
    assert head == git(source, "rev-parse", "HEAD") == git(clone, "rev-parse", "HEAD")
    assert "beta from git, first commit" in page(cloned)


def test_first_rerun_builds_nothing(cloned: Path) -> None:
    """Right after the clone, a second run fetches nothing and builds nothing."""
    result, names = run(cloned)
    assert result.returncode == 0, result.stdout + result.stderr
    assert names == []
    assert "fetch:beta up to date" in result.stdout
    assert "build:beta up to date" in result.stdout


def test_parallel_run_clones_and_then_builds_nothing(monorepo: Repo, source: Path) -> None:
    """With doit -n, the build still waits for its fetch, and a rerun builds nothing."""
    repo = monorepo("basic")
    use_source(repo, source.as_uri())
    assert sorted(built(repo, "-n", "3")) == ["alpha", "beta", "gamma"]
    assert "first commit" in page(repo)
    assert built(repo, "-n", "3") == []


def test_new_commit_refreshes_and_rebuilds_only_that_module(cloned: Path, source: Path) -> None:
    """A new head on the branch is fetched and rebuilds that module alone, once."""
    sha = commit(source, {"content/one.md": "beta from git, second commit\n"})
    assert built(cloned) == ["beta"]
    assert "second commit" in page(cloned)
    assert (cloned / ".fedbuild" / "sources" / "beta.head").read_text().strip() == sha
    assert built(cloned) == []


def test_published_records_name_the_branch_and_commit(cloned: Path, source: Path) -> None:
    """federation-manifest.json gives a git module's repository, branch and built commit."""
    def beta_record() -> dict[str, object]:
        data = json.loads((cloned / "public/.federation/federation-manifest.json").read_text())
        return next(m for m in data["modules"] if m["name"] == "beta")
    first = git(source, "rev-parse", "HEAD")
    assert beta_record()["source"] == {"repository": source.as_uri(), "path": ".",
                                       "branch": "main", "commit": first}
    second = commit(source, {"content/one.md": "beta from git, second commit\n"})
    assert built(cloned) == ["beta"]
    record = beta_record()
    assert record["source"]["commit"] == second  # type: ignore[index]
    assert record["status"] == "published"
    assert "second commit" in (cloned / "public/beta/index.html").read_text()


def test_commit_on_another_branch_changes_nothing(cloned: Path, source: Path) -> None:
    """Pushing to a different branch neither refreshes the clone nor rebuilds."""
    head_file = cloned / ".fedbuild" / "sources" / "beta.head"
    stamp = head_file.stat().st_mtime_ns
    git(source, "switch", "--quiet", "-c", "other")
    commit(source, {"content/one.md": "beta on another branch\n"})
    result, names = run(cloned)
    assert result.returncode == 0, result.stdout + result.stderr
    assert names == []
    assert "fetch:beta up to date" in result.stdout
    assert head_file.stat().st_mtime_ns == stamp
    assert "first commit" in page(cloned)


def test_missing_branch_fails_clearly_and_others_build(monorepo: Repo, source: Path) -> None:
    """A branch the repository lacks: one clear message naming URL and branch; others build."""
    repo = monorepo("basic")
    use_source(repo, source.as_uri(), branch="no-such-branch")
    result, names = run(repo)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert sorted(names) == ["alpha", "gamma"]
    assert "Traceback" not in output
    message = next(line for line in output.splitlines() if "no-such-branch" in line)
    assert source.as_uri() in message
    assert (repo / ".fedbuild" / "staging" / "gamma" / "index.html").is_file()
    assert not (repo / ".fedbuild" / "staging" / "beta").exists()
    git(source, "branch", "no-such-branch")
    assert built(repo) == ["beta"]


def test_source_path_into_a_subfolder(monorepo: Repo, tmp_path: Path) -> None:
    """`source.path` selects a folder inside the repository."""
    upstream = make_source(tmp_path / "docs-repo", subdir="site/docs")
    repo = monorepo("basic")
    use_source(repo, upstream.as_uri(), path="site/docs")
    assert sorted(built(repo)) == ["alpha", "beta", "gamma"]
    assert "beta from git, first commit" in page(repo)
    assert built(repo) == []


def test_missing_module_json_names_the_file(monorepo: Repo, source: Path) -> None:
    """A clone without the module's config fails with a message naming that file."""
    repo = monorepo("basic")
    use_source(repo, source.as_uri(), module_json="site.json")
    result, names = run(repo)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert sorted(names) == ["alpha", "gamma"]
    assert "Traceback" not in output
    assert ".fedbuild/sources/beta/site.json" in output
    assert run(repo)[0].returncode != 0, "the next run must report the failure again"
    commit(source, {"site.json": (source / "module.json").read_text()})
    assert built(repo) == ["beta"]


def test_unreachable_repository_keeps_the_clone(cloned: Path, source: Path) -> None:
    """Once cloned, a vanished upstream does not fail the run: the clone is used as is."""
    shutil.rmtree(source)
    result, names = run(cloned)
    assert result.returncode == 0, result.stdout + result.stderr
    assert names == []
    assert "first commit" in page(cloned)


def test_module_moved_to_another_repository(cloned: Path, tmp_path: Path) -> None:
    """Changing source.repository fetches from the new URL (not the clone's old origin)."""
    moved = make_source(tmp_path / "moved")
    commit(moved, {"content/one.md": "beta from its new home\n"})
    use_source(cloned, moved.as_uri())
    assert built(cloned) == ["beta"]
    assert "new home" in page(cloned)
    assert built(cloned) == []


def test_unreachable_repository_before_any_clone(monorepo: Repo, tmp_path: Path) -> None:
    """Never cloned and not readable: one line naming the URL and git's reason."""
    repo = monorepo("basic")
    url = (tmp_path / "nowhere").as_uri()
    use_source(repo, url)
    result, names = run(repo)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert sorted(names) == ["alpha", "gamma"]
    assert "Traceback" not in output
    message = next(line for line in output.splitlines() if line.startswith(url))
    assert "cannot be read" in message and "does not appear to be a git repository" in message
