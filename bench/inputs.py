"""How fast a step's input globs expand on a large module: fedbuild against naive globbing and find.

    python bench/inputs.py [--sources 5000] [--vendored 20000] [--repeat 5]

It writes one npm-style module to a temporary folder: `--sources` files under
src/ (plus package.json and a lock file), and `--vendored` files under
node_modules/ and dist/ that a build must never read as inputs. Each measure
expands the npm toolchain's input globs on it:

- fedbuild: federation/steps.py's one walk of the module, skipping the
  toolchain's skip_dirs, matched against all globs at once (what every dodo load
  does for every step);
- pathlib: `Path.glob` once per pattern, filtering vendored paths afterwards (what
  a hand-written dodo.py typically does);
- find: `find` with the vendored folders pruned, as a Makefile's `$(shell find ...)`
  would (a subprocess per expansion).

All three must find exactly the same files; the table gives the median seconds
and the ratios of the others to fedbuild.
"""

from __future__ import annotations

import argparse
import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.report import aligned, ratio_text, seconds_text
from federation.steps import _ModuleFiles
from federation.toolchains import SHIPPED, read_toolchain

VENDORED = ("node_modules", "dist")
Expander = Callable[[Path, list[str], list[str]], set[str]]


def generate(root: Path, sources: int, vendored: int) -> Path:
    """An npm module with `sources` source files and `vendored` files it must not read."""
    module = root / "web"
    for i in range(sources):
        folder = module / "src" / f"part{i % 50:02d}" / f"sub{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i:05d}.{('js', 'ts', 'css', 'json')[i % 4]}").write_text(f"// {i}\n")
    for i in range(vendored):
        folder = module / VENDORED[i % 2] / f"pkg{i % 200:03d}" / "lib"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"v{i:05d}.js").write_text("module.exports = 1;\n")
    (module / "package.json").write_text("{}\n")
    (module / "package-lock.json").write_text("{}\n")
    return module


def by_fedbuild(module: Path, patterns: list[str], skip: list[str]) -> set[str]:
    """fedbuild's expansion (one walk, one regex)."""
    return set(_ModuleFiles(module, module, skip).matching(patterns))


def by_pathlib(module: Path, patterns: list[str], skip: list[str]) -> set[str]:
    """Path.glob per pattern; vendored paths dropped afterwards."""
    found = set()
    for pattern in patterns:
        # Python < 3.13 reads a trailing `**` as folders only.
        for path in module.glob(pattern + "/*" if pattern.endswith("**") else pattern):
            rel = path.relative_to(module)
            if path.is_file() and not set(rel.parts[:-1]) & set(skip):
                found.add(rel.as_posix())
    return found


def by_find(module: Path, patterns: list[str], skip: list[str]) -> set[str]:
    """find with the vendored folders pruned, then the same patterns (all files listed)."""
    prune: list[str] = []
    for name in skip:
        prune += ["-name", name, "-o"]
    argv = ["find", ".", "(", *prune[:-1], ")", "-prune", "-o", "-type", "f", "-print"]
    listed = subprocess.run(argv, cwd=module, capture_output=True, text=True, check=True)
    files = [line[2:] for line in listed.stdout.splitlines()]
    regex = _ModuleFiles(module, module, skip)
    regex._files = sorted(files)
    return set(regex.matching(patterns))


def median_time(fn: Callable[[], set[str]], repeat: int) -> tuple[float, set[str]]:
    """Median seconds of `repeat` calls, and what the last call found."""
    times, found = [], set()
    for _ in range(repeat):
        start = time.perf_counter()
        found = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), found


def main(argv: list[str] | None = None) -> int:
    """Generate, measure, check and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sources", type=int, default=5000)
    parser.add_argument("--vendored", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    chain = read_toolchain(SHIPPED / "npm.yaml")
    patterns, skip = list(chain.inputs), list(chain.skip_dirs)
    workdir = Path(tempfile.mkdtemp(prefix="fedbuild-bench-inputs-"))
    try:
        module = generate(workdir, args.sources, args.vendored)
        expanders: dict[str, Expander] = {"fedbuild": by_fedbuild, "pathlib": by_pathlib,
                                          "find": by_find}
        results = {name: median_time(functools.partial(fn, module, patterns, skip),
                                     args.repeat) for name, fn in expanders.items()}
        expected = results["fedbuild"][1]
        for name, (_, found) in results.items():
            if found != expected:
                print(f"error: {name} found {len(found)} files, fedbuild {len(expected)}")
                return 1
        base = results["fedbuild"][0]
        rows = [["tool", "median s", "files found", "x fedbuild"]]
        rows += [[name, seconds_text(sec), str(len(found)), ratio_text(sec / base)]
                 for name, (sec, found) in results.items()]
        total = args.sources + args.vendored + 2
        print(f"npm module: {total} files ({args.vendored} vendored under "
              f"{', '.join(VENDORED)}); {len(patterns)} input globs; median of {args.repeat}")
        print("\n".join(aligned(rows, left=1)))
        return 0
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
