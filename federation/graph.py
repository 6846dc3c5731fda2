"""Dependency graphs: cycle detection and a stable topological order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle as a path that returns to its start (`['a', 'b', 'a']`), or None."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def topological(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """Nodes with every dependency before its dependents, otherwise in the given order."""
    done: set[str] = set()
    order: list[str] = []

    def visit(node: str) -> None:
        if node in done:
            return
        done.add(node)
        for dep in edges.get(node, ()):
            visit(dep)
        order.append(node)

    for node in edges:
        visit(node)
    return order


def dependents(edges: Mapping[str, Iterable[str]], names: Iterable[str]) -> set[str]:
    """`names` and every node depending on one of them, transitively (`edges`: each node's
    direct dependencies)."""
    users: dict[str, list[str]] = {}
    for name, deps in edges.items():
        for dep in deps:
            users.setdefault(dep, []).append(name)
    return dependencies(users, names)


def dependencies(edges: Mapping[str, Iterable[str]], names: Iterable[str]) -> set[str]:
    """`names` and everything they depend on, transitively."""
    found: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(edges.get(name, ()))
    return found
