"""The example's toolchain modules (cmake, cargo, npm, python) built by real doit runs.

Every test copies the repository's own example into tmp_path and runs fedbuild's dodo.py
on it with the real tools: cmake and ctest, cargo, node and npm, pip and pytest.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO, run_doit

pytestmark = pytest.mark.heavy(45)  # run early under -n (tests/conftest.py)

EXAMPLE_PARTS = ("modules.json", "modules.schema.json", "modules", "site", "scripts")
TOOLCHAIN_MODULES = ("clib", "crate", "web", "pyproj")
STEPS = ("build:clib", "test:clib", "check:crate", "build:crate",
         "test:crate", "install:web", "build:web", "test:web", "build:pyproj", "test:pyproj")
_EVENT = re.compile(r"^\[\d+/\d+\] (\S+) "
                    r"(started|ok|cached|up to date|failed|timed out|skipped|not needed)\b")
_ROW = re.compile(r"^(\S+)\s+(built|cached|up to date|failed|timed out|skipped|flaky|not needed)"
                  r"(?:\s|$)")
_CTEST_SUMMARY = "100% tests passed, 0 tests failed out of 1"


def copy_example(dest: Path) -> Path:
    """A fresh copy of this repository's example monorepo at `dest`."""
    dest.mkdir(parents=True)
    for part in EXAMPLE_PARTS:
        source = REPO / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=shutil.ignore_patterns(
                "node_modules", "build", "*.egg-info", "__pycache__"))
        else:
            shutil.copy(source, dest / part)
    return dest


def doit_ok(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run doit and insist that it succeeded."""
    result = run_doit(repo, *args, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def events(result: subprocess.CompletedProcess[str]) -> list[tuple[str, str]]:
    """The progress lines as (task, event), in the order they were printed."""
    return [(m[1], m[2]) for m in map(_EVENT.match, result.stdout.splitlines()) if m]


def started(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The tasks that ran, in start order."""
    return [task for task, event in events(result) if event == "started"]


def statuses(result: subprocess.CompletedProcess[str]) -> dict[str, str]:
    """Each task's status in the summary table."""
    table = result.stdout.partition("\ntask ")[2]
    return {m[1]: m[2] for m in map(_ROW.match, table.splitlines()) if m}


def finished_before(result: subprocess.CompletedProcess[str], first: str, then: str) -> bool:
    """`first` finished (ok or up to date) before `then` started."""
    lines = events(result)
    done = [i for i, (t, e) in enumerate(lines) if t == first and e in ("ok", "up to date")]
    start = [i for i, (t, e) in enumerate(lines) if t == then and e == "started"]
    return bool(done and start) and done[0] < start[0]


def snapshot(root: Path, *skip: str) -> dict[str, bytes]:
    """Every file below `root` (symlinks as their target), except under the `skip` folders."""
    found = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if any(rel == s or rel.startswith(s + "/") for s in skip):
            continue
        if path.is_symlink():
            found[rel] = b"-> " + str(path.readlink()).encode()
        elif path.is_file():
            found[rel] = path.read_bytes()
    return found


def fedmath_call(library: Path, call: str) -> str:
    """Load libfedmath.so in a fresh interpreter (dlopen caches by path) and call it."""
    code = ("import ctypes, sys\n"
            "lib = ctypes.CDLL(sys.argv[1])\n"
            "lib.fm_version.restype = ctypes.c_char_p\n"
            f"print({call})\n")
    done = subprocess.run([sys.executable, "-c", code, str(library)], capture_output=True,
                          text=True, timeout=30, check=True)
    return done.stdout.strip()


def add_local_npm_dependency(repo: Path) -> None:
    """Give the copy's web module a real dependency (a file: link, so npm stays offline)."""
    web = repo / "modules/web"
    vendor = web / "vendor/greet"
    vendor.mkdir(parents=True)
    (vendor / "package.json").write_text(
        json.dumps({"name": "greet", "version": "1.0.0", "main": "index.js"}))
    (vendor / "index.js").write_text('module.exports = "hello";\n')
    package = json.loads((web / "package.json").read_text())
    package["dependencies"] = {"greet": "file:vendor/greet"}
    (web / "package.json").write_text(json.dumps(package, indent=2) + "\n")
    subprocess.run(["npm", "install", "--package-lock-only", "--offline", "--no-audit",
                    "--no-fund", "--loglevel=error"], cwd=web, check=True,
                   capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def developed(tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The whole example built once in development mode with `doit -n 2`."""
    repo = copy_example(tmp_path_factory.mktemp("developed") / "example")
    return repo, run_doit(repo, "-n", "2", timeout=300)


# 1. npm -----------------------------------------------------------------------------------

def test_build_web_runs_only_its_own_steps_and_modes_never_overwrite(tmp_path: Path) -> None:
    """`doit build:web` runs npm ci then the build, nothing else; production goes beside it."""
    repo = copy_example(tmp_path / "example")

    first = doit_ok(repo, "build:web")

    assert started(first) == ["install:web", "build:web"]
    assert "2 tasks: 2 built" in first.stdout
    development = repo / "dist/development/web"
    assert sorted(p.name for p in development.iterdir()) == [
        "app.js", "index.html", "manifest.json", "style.css"]
    assert '<meta name="build-mode" content="development">' in \
        (development / "index.html").read_text()
    assert json.loads((development / "manifest.json").read_text())["mode"] == "development"
    assert [p.name for p in (repo / "dist").iterdir()] == ["development"]
    assert [p.name for p in (repo / "dist/development").iterdir()] == ["web"]
    assert not (repo / ".fedbuild/work").exists()
    assert not (repo / ".fedbuild/staging").exists()
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in development.iterdir()}

    second = doit_ok(repo, "build:web", "mode=production")

    assert started(second) == ["install:web", "build:web"]
    production = repo / "dist/production/web"
    index = (production / "index.html").read_text()
    assert '<meta name="build-mode" content="production">' in index
    assert 'content="development"' not in index
    source_app = (repo / "modules/web/src/app.js").read_text()
    assert len((production / "app.js").read_text()) < len(source_app)  # minified
    assert (development / "app.js").read_text() == source_app
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in development.iterdir()}
    assert after == before


# 2. cmake ---------------------------------------------------------------------------------

def test_build_clib_installs_the_library_and_ctest_passes(tmp_path: Path) -> None:
    """`doit build:clib` configures, builds and installs; `doit test:clib` runs ctest."""
    repo = copy_example(tmp_path / "example")

    build = doit_ok(repo, "build:clib")

    assert started(build) == ["build:clib"]
    dist = repo / "dist/development/clib"
    library = dist / "lib/libfedmath.so"
    assert library.is_file() and library.stat().st_size > 0
    assert "fm_checksum" in (dist / "include/fedmath.h").read_text()
    assert fedmath_call(library, "lib.fm_add(2, 3)") == "5"
    cache = (repo / ".fedbuild/work/development/clib/CMakeCache.txt").read_text()
    assert "CMAKE_BUILD_TYPE:STRING=Debug" in cache

    test = doit_ok(repo, "test:clib")

    assert started(test) == ["test:clib"]
    assert statuses(test) == {"build:clib": "up to date", "test:clib": "built"}
    log = (repo / ".fedbuild/logs/test/clib.log").read_text()
    assert "$ ctest --test-dir" in log
    assert _CTEST_SUMMARY in log


# 3. cargo ---------------------------------------------------------------------------------

def test_test_crate_runs_check_build_test_in_order(tmp_path: Path) -> None:
    """`doit test:crate` runs cargo check, build and test, each after the one before."""
    repo = copy_example(tmp_path / "example")

    result = doit_ok(repo, "test:crate")

    assert started(result) == ["check:crate", "build:crate", "test:crate"]
    assert finished_before(result, "check:crate", "build:crate")
    assert finished_before(result, "build:crate", "test:crate")
    logs = repo / ".fedbuild/logs"
    assert "$ cargo check" in (logs / "check/crate.log").read_text()
    assert "$ cargo build" in (logs / "build/crate.log").read_text()
    test_log = (logs / "test/crate.log").read_text()
    assert "$ cargo test" in test_log and "test result: ok" in test_log
    assert "FAILED" not in test_log
    target = repo / ".fedbuild/work/development/crate/target"
    debug = target / "debug/fedcrate"
    assert subprocess.run([debug, "fedbuild"], capture_output=True, text=True, timeout=30,
                          check=True).stdout.startswith("2554ba30")
    assert not (repo / "modules/crate/target").exists()
    # The artifacts (not deps/, not the incremental state) are copied to dist/: what is cached.
    dist = repo / "dist/development/crate"
    assert sorted(p.name for p in dist.iterdir()) == ["fedcrate", "libfedcrate.rlib"]
    assert (dist / "fedcrate").read_bytes() == debug.read_bytes()

    production = doit_ok(repo, "build:crate", "mode=production")

    assert started(production) == ["check:crate", "build:crate"]
    release = repo / ".fedbuild/work/production/crate/target/release/fedcrate"
    assert subprocess.run([release], capture_output=True, text=True, timeout=30,
                          check=True).stdout.startswith("2554ba30")
    assert debug.is_file()


# 4. python, depending on clib -------------------------------------------------------------

def test_test_pyproj_builds_clib_first_and_pytest_loads_it(tmp_path: Path) -> None:
    """pyproj waits for clib, wheels into dist/, and its pytest calls the library clib built."""
    repo = copy_example(tmp_path / "example")

    result = doit_ok(repo, "test:pyproj")

    assert set(started(result)) == {"build:clib", "test:clib",
                                    "build:pyproj", "test:pyproj"}
    assert finished_before(result, "build:clib", "build:pyproj")
    assert finished_before(result, "build:pyproj", "test:pyproj")
    wheel = repo / "dist/development/pyproj/fedpy-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        assert "fedpy/__init__.py" in archive.namelist()
    log = (repo / ".fedbuild/logs/test/pyproj.log").read_text()
    assert "7 passed" in log and "failed" not in log and "skipped" not in log

    # Wrap-around addition is checked by pytest, not by ctest: a saturating fm_add passes
    # test:clib and fails test:pyproj only if pytest loads the library build:clib rebuilt.
    source = repo / "modules/clib/src/fedmath.c"
    source.write_text(source.read_text().replace(
        "    return (int)((unsigned)a + (unsigned)b);",
        "    long long sum = (long long)a + b;\n"
        "    return sum > 2147483647LL ? 2147483647 : (int)sum;"))
    broken = run_doit(repo, "test:pyproj", timeout=300)

    assert broken.returncode != 0
    assert statuses(broken) == {"build:clib": "built",
                                "test:clib": "built", "build:pyproj": "built",
                                "test:pyproj": "failed"}
    log = (repo / ".fedbuild/logs/test/pyproj.log").read_text()
    assert "FAILED" in log and "test_add" in log and "1 failed, 6 passed" in log


# 5. fingerprints --------------------------------------------------------------------------

def test_editing_a_c_file_rebuilds_clib_without_reconfiguring(tmp_path: Path) -> None:
    """A .c edit reruns build:clib in its kept build folder; the next run is up to date."""
    repo = copy_example(tmp_path / "example")
    doit_ok(repo, "build:clib")
    library = repo / "dist/development/clib/lib/libfedmath.so"
    assert fedmath_call(library, "lib.fm_version().decode()") == "0.1.0"
    source = repo / "modules/clib/src/fedmath.c"
    source.write_text(source.read_text().replace('return "0.1.0";', 'return "0.1.0-edited";'))

    edited = doit_ok(repo, "build:clib")

    assert statuses(edited) == {"build:clib": "built"}
    log = (repo / ".fedbuild/logs/build/clib.log").read_text()
    assert "Building C object" in log and log.count("Building C object") == 1
    assert fedmath_call(library, "lib.fm_version().decode()") == "0.1.0-edited"
    again = doit_ok(repo, "build:clib")
    assert started(again) == []
    assert "1 tasks: 1 up to date" in again.stdout


# 6. production and verify -----------------------------------------------------------------

def test_production_verifies_every_module_and_a_budget_fails(tmp_path: Path) -> None:
    """`doit mode=production` verifies each module's outputs; a shrunk budget fails verify:web."""
    repo = copy_example(tmp_path / "example")

    result = doit_ok(repo, "mode=production")

    table = statuses(result)
    for module in TOOLCHAIN_MODULES:
        assert table[f"verify:{module}"] == "built"
        assert finished_before(result, f"build:{module}", f"verify:{module}")
    assert not (repo / "dist/development").exists()
    assert (repo / ".fedbuild/work/production/crate/target/release/fedcrate").is_file()
    assert "CMAKE_BUILD_TYPE:STRING=Release" in \
        (repo / ".fedbuild/work/production/clib/CMakeCache.txt").read_text()
    assert 'content="production"' in (repo / "dist/production/web/index.html").read_text()
    assert "manifest.json: " in (repo / ".fedbuild/logs/verify/web.log").read_text()

    manifest_path = repo / "modules.json"
    manifest = json.loads(manifest_path.read_text())
    web = next(m for m in manifest["modules"] if m["name"] == "web")
    web["outputs"] = [o if isinstance(o, str) else {**o, "max_bytes": 10}
                      for o in web["outputs"]]
    manifest_path.write_text(json.dumps(manifest, indent=2))
    over = run_doit(repo, "mode=production", timeout=300)

    assert over.returncode != 0
    assert re.search(r"^verify:web: dist/production/web/manifest\.json: \d+ bytes, over its "
                     r"budget of 10$", over.stdout, re.MULTILINE), over.stdout
    table = statuses(over)
    assert table["verify:web"] == "failed"
    assert {table[f"verify:{m}"] for m in ("clib", "crate", "pyproj")} == {"built"}


# 7. clean ---------------------------------------------------------------------------------

@pytest.fixture
def with_npm_dependency(tmp_path: Path) -> Path:
    """The example with web and clib built, web having a real node_modules/ to clean."""
    repo = copy_example(tmp_path / "example")
    add_local_npm_dependency(repo)
    doit_ok(repo, "build:web", "build:clib")
    assert (repo / "modules/web/node_modules/greet").is_symlink()
    return repo


def test_clean_removes_that_steps_outputs_and_nothing_else(with_npm_dependency: Path) -> None:
    """`clean build:web` removes dist/development/web/ alone; `clean install:web` node_modules/."""
    repo = with_npm_dependency
    before = snapshot(repo, ".fedbuild")
    assert "dist/development/clib/lib/libfedmath.so" in before

    doit_ok(repo, "clean", "build:web")

    assert not (repo / "dist/development/web").exists()
    assert snapshot(repo, ".fedbuild") == {
        rel: data for rel, data in before.items() if not rel.startswith("dist/development/web/")}

    doit_ok(repo, "clean", "install:web")

    assert not (repo / "modules/web/node_modules").exists()
    assert snapshot(repo, ".fedbuild") == {
        rel: data for rel, data in before.items()
        if not rel.startswith(("dist/development/web/", "modules/web/node_modules/"))}


def test_a_cleaned_install_runs_again_only_when_a_build_needs_it(
        with_npm_dependency: Path) -> None:
    """install is lazy: after `doit clean install:web`, build:web comes back from the cache
    and npm ci is not needed; named, or once web's sources change, it runs again."""
    repo = with_npm_dependency
    doit_ok(repo, "clean", "install:web")

    result = doit_ok(repo, "build:web")

    assert statuses(result) == {"install:web": "not needed", "build:web": "cached"}
    assert not (repo / "modules/web/node_modules").exists()

    result = doit_ok(repo, "install:web")  # named: it runs

    assert statuses(result) == {"install:web": "built"}
    assert (repo / "modules/web/node_modules/greet").is_symlink()

    doit_ok(repo, "clean", "install:web")
    source = repo / "modules/web/src/app.js"
    source.write_text(source.read_text() + "\n// changed\n")

    result = doit_ok(repo, "build:web")

    assert statuses(result) == {"install:web": "built", "build:web": "built"}
    assert finished_before(result, "install:web", "build:web")
    assert (repo / "modules/web/node_modules/greet").is_symlink()



def test_clean_everything_leaves_the_sources_as_they_were(tmp_path: Path) -> None:
    """`doit clean` after building removes every output and leaves modules/ as copied."""
    repo = copy_example(tmp_path / "example")
    doit_ok(repo, "build:pyproj", "build:web", "build:crate")
    assert (repo / "dist/development/pyproj/fedpy-0.1.0-py3-none-any.whl").is_file()

    doit_ok(repo, "clean")

    assert [p for p in (repo / "dist").rglob("*") if p.is_file()] == []
    leftovers = sorted(set(snapshot(repo / "modules")) - set(snapshot(REPO / "modules")))
    assert leftovers == []
    assert snapshot(repo / "modules") == snapshot(REPO / "modules")


def test_a_rebuild_replaces_dist_rather_than_merging_into_it(tmp_path: Path) -> None:
    """A file the build no longer writes does not stay behind in dist/<mode>/<module>/."""
    repo = copy_example(tmp_path / "example")
    doit_ok(repo, "build:web")
    script = repo / "modules/web/build.mjs"
    script.write_text(script.read_text().replace(
        '"style.css": read("style.css")', '"site.css": read("style.css")'))

    result = doit_ok(repo, "build:web")

    assert started(result) == ["build:web"]
    written = json.loads((repo / "dist/development/web/manifest.json").read_text())["files"]
    assert sorted(f["name"] for f in written) == ["app.js", "index.html", "site.css"]
    assert sorted(p.name for p in (repo / "dist/development/web").iterdir()) == [
        "app.js", "index.html", "manifest.json", "site.css"]

# 8. the whole example in parallel, and `doit list` ----------------------------------------

def test_n2_builds_the_whole_example_in_dependency_order(
        developed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """`doit -n 2` builds every module (two at a time at most) and publishes the sites."""
    repo, result = developed
    assert result.returncode == 0, result.stdout + result.stderr
    assert set(statuses(result).values()) == {"built"}
    running = peak = 0
    for _, event in events(result):
        running += {"started": 1, "ok": -1, "failed": -1}.get(event, 0)
        peak = max(peak, running)
    assert peak == 2
    for first, then in [("build:clib", "build:pyproj"),
                        ("check:crate", "build:crate"), ("install:web", "build:web"),
                        ("build:pyproj", "test:pyproj"), ("build:docs", "federate")]:
        assert finished_before(result, first, then)
    dist = repo / "dist/development"
    assert (dist / "clib/lib/libfedmath.so").is_file()
    assert (dist / "web/index.html").is_file()
    assert (dist / "pyproj/fedpy-0.1.0-py3-none-any.whl").is_file()
    assert (repo / ".fedbuild/work/development/crate/target/debug/fedcrate").is_file()
    assert (repo / "public/index.html").is_file() and (repo / "public/docs/index.html").is_file()
    assert "federation: published public/" in result.stdout
    assert "7 passed" in (repo / ".fedbuild/logs/test/pyproj.log").read_text()


def test_list_describes_every_step_of_every_module(
        developed: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    """`doit list` names every <step>:<module> with a description saying what it runs."""
    repo, _ = developed
    result = doit_ok(repo, "list")

    listed = {name: doc.strip() for name, _, doc in
              (line.partition(" ") for line in result.stdout.splitlines())}
    for task in (*STEPS, *(f"verify:{m}" for m in TOOLCHAIN_MODULES),
                 "build:home", "build:docs", "build:blog", "federate"):
        assert listed.get(task), f"{task} missing from doit list:\n{result.stdout}"
    assert "cmake --build" in listed["build:clib"]
    assert "cargo test" in listed["test:crate"]
    assert "npm ci" in listed["install:web"]
    assert "pytest" in listed["test:pyproj"]
    assert "[cmake, development, in modules/clib]" in listed["build:clib"]
