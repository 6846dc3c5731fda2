"""`doit graph [TASK]`: the task graph as DOT or Mermaid.

Nodes are the tasks that do something (have actions); group tasks such as
`build` are seen through, to the tasks they gather. An edge goes from a
dependency to the task that needs it (task_dep, setup and calc_dep).
"""

from __future__ import annotations

from dataclasses import dataclass

from doit.exceptions import InvalidCommand

from tasks.commands.base import FedbuildCommand
from tasks.needs import Tasks, needs

opt_format = {
    "name": "output_format", "short": "", "long": "format", "type": str, "default": "dot",
    "choices": [("dot", "Graphviz DOT (`| dot -Tsvg`)"),
                ("mermaid", "a Mermaid flowchart (Markdown, GitHub)")],
    "help": "output format [default: %(default)s]",
}


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


def to_dot(graph: Graph) -> str:
    """Graphviz DOT, every name quoted."""
    lines = ["digraph fedbuild {", "  rankdir=LR;", "  node [shape=box];"]
    lines += [f"  {_quoted(name)};" for name in graph.nodes]
    lines += [f"  {_quoted(a)} -> {_quoted(b)};" for a, b in graph.edges]
    return "\n".join([*lines, "}"]) + "\n"


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart: ids t0, t1, ... and the task names as quoted labels."""
    ids = {name: f"t{i}" for i, name in enumerate(graph.nodes)}
    lines = ["graph LR"]
    lines += [f'  {ids[name]}["{name.replace(chr(34), "#quot;")}"]' for name in graph.nodes]
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in graph.edges]
    return "\n".join(lines) + "\n"


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


class GraphCommand(FedbuildCommand):
    """`doit graph`."""

    name = "graph"
    doc_purpose = "print the task graph as DOT or Mermaid (with TASK: what that task needs)"
    doc_usage = "[TASK] [--format dot|mermaid]"
    doc_description = ("An edge goes from a task to one that needs it. Group tasks (doit build) "
                       "are shown as the tasks they gather.")
    cmd_options = (opt_format,)

    def _execute(self, pos_args: list[str], output_format: str = "dot") -> int:
        if len(pos_args) > 1:
            raise InvalidCommand(f"`doit graph` takes at most one task (got {' '.join(pos_args)})")
        tasks = {task.name: task for task in self.task_list}
        only = pos_args[0] if pos_args else None
        if only is not None and only not in tasks:
            raise InvalidCommand(f"'{only}' is not a task (see `doit list`)")
        graph = task_graph(tasks, only)
        self.outstream.write(to_mermaid(graph) if output_format == "mermaid" else to_dot(graph))
        return 0
