"""A synthetic monorepo, and the same build graph written for plain doit, make and ninja.

Every tool runs the same POSIX sh build script once per module, with the argv
fedbuild gives it: the script copies the module's content files into the output
folder, writes index.html (the target make, ninja and plain doit track) and
appends the output folder to $BENCH_RUNS, so the benchmark can count the builds
a run really did. Each tool writes its outputs to its own folder; the inputs
(content files, module.json, the script) are shared.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

SCRIPT = "scripts/build.sh"
BASE_URL = "https://bench.example.org"
TARGET = "index.html"  # the file make, ninja and plain doit track per module
PLAIN_DODO = "plain_dodo.py"
PLAIN_GRAPH = "plain_graph.json"
MAKEFILE = "Makefile"
NINJA_FILE = "build.ninja"

# Words go unquoted into the Makefile and build.ninja: plain paths, and the base URL in argv.
_SAFE_WORD = re.compile(r"(https://)?[A-Za-z0-9_./-]+")

BUILD_SCRIPT = """\
#!/bin/sh
# Synthetic build script (bench/synthetic.py): fedbuild's build.sh argv, no Hugo.
set -eu
config="" output="" content=""
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=$2; shift 2 ;;
    --output) output=$2; shift 2 ;;
    --content) content=$2; shift 2 ;;
    --base-url|--template|--theme|--components|--title) shift 2 ;;
    *) echo "build.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [ -z "$config" ] || [ -z "$output" ]; then
  echo "build.sh: --config and --output are required" >&2; exit 2
fi
mkdir -p "$output"
if [ -n "$content" ]; then cp "$content"/* "$output"/; fi
cp "$config" "$output/module.json"
echo "$output" > "$output/index.html"
if [ -n "${BENCH_RUNS:-}" ]; then echo "$output" >> "$BENCH_RUNS"; fi
"""

PLAIN_DODO_TEXT = '''\
"""Plain doit: the synthetic monorepo's graph as command tasks (written by bench/synthetic.py)."""

import json
from pathlib import Path

# sqlite3: the backend fedbuild uses, so the two differ only in what fedbuild adds.
DOIT_CONFIG = {"backend": "sqlite3", "dep_file": ".plain-doit.sqlite3",
               "default_tasks": ["build"]}
TASKS = json.loads((Path(__file__).parent / "plain_graph.json").read_text())


def task_build():
    """One build per module: the build script, its inputs, its index.html."""
    for task in TASKS:
        yield {"name": task["name"], "actions": [task["argv"]],
               "file_dep": task["file_dep"], "targets": task["targets"]}
'''


@dataclass(frozen=True)
class Node:
    """One module's build: its name and its inputs, relative to the monorepo root."""

    name: str
    config: str
    content: str
    inputs: tuple[str, ...]

    def argv(self, output: str) -> list[str]:
        """The build script's command line in fedbuild's order, writing to `output`."""
        return [SCRIPT, "--config", self.config, "--output", output,
                "--base-url", f"{BASE_URL}/{self.name}/", "--content", self.content]


@dataclass(frozen=True)
class Monorepo:
    """A generated monorepo: where it is, its graph, and whether build.ninja was written."""

    root: Path
    nodes: tuple[Node, ...]
    files_per_module: int
    has_ninja: bool

    def edit(self, round_: int) -> Path:
        """Change the content of one input file (a different module each round); return it."""
        node = self.nodes[round_ % len(self.nodes)]
        path = self.root / node.content / "page000.md"
        with path.open("a", encoding="utf-8") as f:
            f.write(f"\nEdited in round {round_}.\n")
        return path


def output_dir(tool: str, node: Node) -> str:
    """Where `tool` builds `node` (fedbuild itself stages under .fedbuild/)."""
    return f"out/{tool}/{node.name}"


def generate(root: Path, modules: int, files_per_module: int,
             ninja: bool | None = None) -> Monorepo:
    """Write the monorepo with `modules` modules of `files_per_module` content files each."""
    if modules < 1 or files_per_module < 1:
        raise ValueError("modules and files_per_module must be at least 1")
    root.mkdir(parents=True, exist_ok=True)
    nodes = tuple(_write_module(root, f"m{i:04d}", files_per_module) for i in range(modules))
    _write_script(root)
    _write_manifest(root, nodes)
    _write_plain_doit(root, nodes)
    _write_makefile(root, nodes)
    has_ninja = shutil.which("ninja") is not None if ninja is None else ninja
    if has_ninja:
        _write_ninja(root, nodes)
    return Monorepo(root, nodes, files_per_module, has_ninja)


def _write_module(root: Path, name: str, files: int) -> Node:
    folder = root / "modules" / name
    (folder / "content").mkdir(parents=True)
    config = {"name": name, "site": {"title": f"Module {name}"}}
    (folder / "module.json").write_text(json.dumps(config) + "\n", encoding="utf-8")
    pages = [f"modules/{name}/content/page{j:03d}.md" for j in range(files)]
    for j, page in enumerate(pages):
        (root / page).write_text(f"# {name} page {j}\n\nSynthetic content.\n", encoding="utf-8")
    config_path = f"modules/{name}/module.json"
    inputs = tuple(sorted([*pages, config_path, SCRIPT]))
    return Node(name, config_path, f"modules/{name}/content", inputs)


def _write_script(root: Path) -> None:
    script = root / SCRIPT
    script.parent.mkdir(parents=True, exist_ok=True)
    script.write_text(BUILD_SCRIPT, encoding="utf-8")
    script.chmod(0o755)


def _write_manifest(root: Path, nodes: tuple[Node, ...]) -> None:
    """fedbuild's modules.json: local modules, the synthetic script, no assets."""
    manifest = {
        "federation": {"name": "synthetic benchmark", "baseURL": BASE_URL,
                       "strategy": "download-merge-deploy", "build_script": SCRIPT,
                       "assets_dir": "site"},
        "modules": [{"name": n.name, "source": {"repository": "local", "path": f"modules/{n.name}"},
                     "destination": f"/{n.name}/", "module_json": "module.json"}
                    for n in nodes],
    }
    (root / "modules.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def _write_plain_doit(root: Path, nodes: tuple[Node, ...]) -> None:
    tasks = [{"name": n.name, "argv": n.argv(output_dir("doit", n)), "file_dep": list(n.inputs),
              "targets": [f"{output_dir('doit', n)}/{TARGET}"]} for n in nodes]
    (root / PLAIN_GRAPH).write_text(json.dumps(tasks), encoding="utf-8")
    (root / PLAIN_DODO).write_text(PLAIN_DODO_TEXT, encoding="utf-8")


def _write_makefile(root: Path, nodes: tuple[Node, ...]) -> None:
    targets = [f"{output_dir('make', n)}/{TARGET}" for n in nodes]
    lines = ["# Generated by bench/synthetic.py; run with `make -r`.", ".SUFFIXES:",
             ".PHONY: all", "all: " + " ".join(targets), ""]
    for node, target in zip(nodes, targets, strict=True):
        argv = node.argv(output_dir("make", node))
        lines += [f"{target}: {' '.join(_safe(node.inputs))}", "\t" + " ".join(_safe(argv)), ""]
    (root / MAKEFILE).write_text("\n".join(lines), encoding="utf-8")


def _write_ninja(root: Path, nodes: tuple[Node, ...]) -> None:
    lines = ["# Generated by bench/synthetic.py.", "rule build", "  command = $argv", ""]
    targets = []
    for node in nodes:
        target = f"{output_dir('ninja', node)}/{TARGET}"
        targets.append(target)
        argv = node.argv(output_dir("ninja", node))
        lines += [f"build {target}: build {' '.join(_safe(node.inputs))}",
                  f"  argv = {' '.join(_safe(argv))}", ""]
    lines.append("default " + " ".join(targets))
    (root / NINJA_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")


def _safe(words: tuple[str, ...] | list[str]) -> list[str]:
    """The words themselves, after checking that none needs quoting for make, ninja or sh."""
    for word in words:
        if not _SAFE_WORD.fullmatch(word):
            raise ValueError(f"{word!r} would need quoting in a Makefile or build.ninja")
    return list(words)
