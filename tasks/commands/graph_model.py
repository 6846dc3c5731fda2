"""The task graph as data: which tasks, which edges (`doit graph` writes it, graph_view draws it).

Nodes are the tasks that do something (have actions); group tasks such as
`build` are seen through, to the tasks they gather. An edge goes from a
dependency to the task that needs it (task_dep, setup and calc_dep).
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.needs import Tasks, needs


@dataclass(frozen=True)
class Graph:
    """Task names and (dependency, dependent) edges, both sorted."""

    nodes: tuple[str, ...]
    edges: tuple[tuple[str, str], ...]


def task_graph(tasks: Tasks, only: str | None = None) -> Graph:
    """The whole graph, or (`only`) that task and everything it needs, transitively."""
    if only is None:
        chosen = {name for name, task in tasks.items() if task.actions}
    else:
        start = {only} if tasks[only].actions else needs(tasks, only)
        chosen, pending = set(), list(start)
        while pending:
            name = pending.pop()
            if name not in chosen:
                chosen.add(name)
                pending += needs(tasks, name)
    edges = {(dep, name) for name in chosen for dep in needs(tasks, name)}
    return Graph(tuple(sorted(chosen)), tuple(sorted(edges)))


def quoted(name: str) -> str:
    """A DOT id: the text in double quotes, backslashes and quotes escaped."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
