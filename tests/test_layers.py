"""Imports point downwards only: service -> tasks -> federation / hardware -> core.

Every import of every product module (at the top or inside a function: a lazy import is
still a dependency) is read from its source. A package may import from its own layer's
package and from any layer below; never from a layer above or beside it, and no two modules
may import each other, directly or round a longer cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# A package's layer: it may import packages of a lower number, and itself.
LAYERS = {"core": 0, "federation": 1, "hardware": 1, "tasks": 2, "service": 3}


def product_modules() -> dict[str, Path]:
    """Every product module by dotted name (dodo.py and the packages of LAYERS)."""
    found = {"dodo": ROOT / "dodo.py"}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imports_of(path: Path, modules: dict[str, Path]) -> set[str]:
    """The product modules `path` imports (`from pkg import mod` counts as pkg.mod; importing
    a.b.c runs the packages a and a.b first, so it imports them too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    names |= {name.rsplit(".", n)[0] for name in names for n in range(1, name.count(".") + 1)}
    return {name for name in names if name in modules and name.split(".")[0] in LAYERS}


def test_imports_point_downwards() -> None:
    modules = product_modules()
    wrong = []
    for name, path in modules.items():
        if name == "dodo":
            continue
        layer = name.split(".")[0]
        for target in imports_of(path, modules):
            other = target.split(".")[0]
            if other != layer and LAYERS[other] >= LAYERS[layer]:
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not wrong, "imports that point up or sideways:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    modules = product_modules()
    graph = {name: imports_of(path, modules) - {name} for name, path in modules.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if target.startswith(node + ".") or node.startswith(target + "."):
                continue  # a package and its own submodules
            if state.get(target) == 1:
                cycles.append([*stack[stack.index(target):], target])
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_layer_test_sees_a_wrong_import(tmp_path: Path) -> None:
    """The reader finds both kinds of import, at the top and inside a function."""
    source = tmp_path / "m.py"
    source.write_text("from tasks.runner import run\n\ndef f():\n    import service.api\n")
    modules = {"tasks.runner": source, "service.api": source, "tasks": source}
    assert imports_of(source, modules) == {"tasks.runner", "service.api", "tasks"}


def test_one_module_starts_processes() -> None:
    """core/runner.py is the only product module that starts a process."""
    starters = []
    for name, path in product_modules().items():
        text = path.read_text(encoding="utf-8")
        if any(f"{word}" in text for word in ("import subprocess", "subprocess.", "Popen(",
                                               "os.posix_spawn", "os.fork(", "os.exec",
                                               "create_subprocess")):
            starters.append(name)
    assert starters == ["core.runner"], starters
