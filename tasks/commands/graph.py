"""`doit graph [TASK]`: the task graph as DOT or Mermaid, or drawn (SVG, HTML: graph_view.py).

Nodes are the tasks that do something (have actions); group tasks such as
`build` are seen through, to the tasks they gather. An edge goes from a
dependency to the task that needs it (task_dep, setup and calc_dep).
"""

from __future__ import annotations

from pathlib import Path

from doit.exceptions import InvalidCommand

from core.state import State
from federation.loader import load_project
from tasks.commands import graph_view
from tasks.commands.base import FedbuildCommand
from tasks.commands.explain import Explainer, explanation
from tasks.commands.graph_model import Graph, quoted, task_graph
from tasks.commands.layout import repository_history
from tasks.config import run_mode
from tasks.needs import Tasks

opt_format = {
    "name": "output_format", "short": "", "long": "format", "type": str, "default": "dot",
    "choices": [("dot", "Graphviz DOT (`| dot -Tsvg`)"),
                ("mermaid", "a Mermaid flowchart (Markdown, GitHub)"),
                ("svg", "a picture drawn by Graphviz: statuses, durations, critical path"),
                ("html", "that picture in one page: click a task for its details; a filter")],
    "help": "output format [default: %(default)s]",
}
opt_output = {
    "name": "output", "short": "o", "long": "output", "type": str, "default": "",
    "help": "write to this file instead of the standard output",
}


def to_dot(graph: Graph) -> str:
    """Graphviz DOT, every name quoted."""
    lines = ["digraph fedbuild {", "  rankdir=LR;", "  node [shape=box];"]
    lines += [f"  {quoted(name)};" for name in graph.nodes]
    lines += [f"  {quoted(a)} -> {quoted(b)};" for a, b in graph.edges]
    return "\n".join([*lines, "}"]) + "\n"


def to_mermaid(graph: Graph) -> str:
    """A Mermaid flowchart: ids t0, t1, ... and the task names as quoted labels."""
    ids = {name: f"t{i}" for i, name in enumerate(graph.nodes)}
    lines = ["graph LR"]
    lines += [f'  {ids[name]}["{name.replace(chr(34), "#quot;")}"]' for name in graph.nodes]
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in graph.edges]
    return "\n".join(lines) + "\n"


class GraphCommand(FedbuildCommand):
    """`doit graph`."""

    name = "graph"
    doc_purpose = ("print the task graph as DOT or Mermaid, or draw it as SVG or HTML "
                   "(with TASK: what that task needs)")
    doc_usage = "[TASK] [--format dot|mermaid|svg|html] [--output FILE]"
    doc_description = ("An edge goes from a task to one that needs it. Group tasks (doit build) "
                       "are shown as the tasks they gather. svg and html need Graphviz's dot.")
    cmd_options = (opt_format, opt_output)

    def _execute(self, pos_args: list[str], output_format: str = "dot", output: str = "") -> int:
        if len(pos_args) > 1:
            raise InvalidCommand(f"`doit graph` takes at most one task (got {' '.join(pos_args)})")
        tasks = {task.name: task for task in self.task_list}
        only = pos_args[0] if pos_args else None
        if only is not None and only not in tasks:
            raise InvalidCommand(f"'{only}' is not a task (see `doit list`)")
        graph = task_graph(tasks, only)
        if output_format in ("svg", "html"):
            text = self._picture(graph, tasks, output_format, only)
        else:
            text = to_mermaid(graph) if output_format == "mermaid" else to_dot(graph)
        if output:
            Path(output).write_text(text, encoding="utf-8")
        else:
            self.outstream.write(text)
        return 0

    def _picture(self, graph: Graph, tasks: Tasks, output_format: str, only: str | None
                 ) -> str:
        """The drawn graph: each task's facts from the history, the run files and explain."""
        root = Path.cwd()  # doit has moved to the repository (-d) by now
        mode = run_mode()
        explainer = Explainer(self.dep_manager, dict(tasks), root, mode, load_project(root))
        history = repository_history(root)
        try:
            facts = graph_view.gather_facts(graph, tasks, history, root, State(root).dir / "runs",
                                            lambda name: explanation(explainer, name, mode))
        finally:
            history.close()
        chain = graph_view.graph_chain(graph, facts)
        svg = graph_view.render_svg(graph_view.to_picture_dot(graph, facts, chain))
        if output_format == "svg":
            return svg
        title = f"fedbuild task graph{f' of {only}' if only else ''} ({mode} mode)"
        return graph_view.to_html(title, svg, graph_view.node_details(graph, facts, chain),
                                  chain)
