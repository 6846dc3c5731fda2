"""`doit graph --format svg|html`: the task graph as a picture.

Graphviz's `dot` lays it out (left to right, by dependency depth) and draws the SVG;
this module only says what to draw: each node filled with its task's last status,
labelled with its last recorded duration, the critical path (the heaviest chain of
recorded durations, tasks/critical_path.py) outlined. The HTML file embeds that SVG,
the facts of each node as JSON and a small script (click a node: its inputs, outputs,
last run, cache key and `doit explain` text; a filter box). It loads nothing.
"""

from __future__ import annotations

import html
import itertools
import json
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from doit.exceptions import InvalidCommand

from core.outcome import BUILT
from core.runner import Command, run, which
from tasks.commands.graph_model import Graph, quoted
from tasks.commands.layout import clock, duration, shown_path
from tasks.commands.palette import CRITICAL, NEVER_RUN, colour, legend
from tasks.commands.stats_model import TIMED
from tasks.critical_path import critical_path
from tasks.history import History, TaskRecord
from tasks.run_files import SUMMARY, run_folders
from tasks.timeline import RunInfo, TaskRun

DOT_TIMEOUT = 60.0  # seconds: dot lays out thousands of nodes in a few
RUNS_LOOKED_AT = 50  # history runs searched for each task's last status
MISSING_DOT = ("graphviz's `dot` is needed to draw the graph: install graphviz "
               "(apt-get install graphviz), or use --format dot|mermaid")


@dataclass(frozen=True)
class NodeFacts:
    """What the picture shows of one task."""

    name: str
    status: str | None = None  # its last status in the history; None: never run
    duration: float | None = None  # its last successful execution's, seconds
    ended: float | None = None  # when its last status was recorded, epoch seconds
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    cache_key: str | None = None  # its inputs digest in the latest run that recorded one
    explain: tuple[str, ...] = ()  # `doit explain` lines

    @property
    def label(self) -> str:
        """The node's label as a DOT string: the name, and the recorded duration under it."""
        name = quoted(self.name)
        return name if self.duration is None else f'{name[:-1]}\\n{duration(self.duration)}"'


def last_records(history: History, names: set[str], runs: int = RUNS_LOOKED_AT
                 ) -> dict[str, tuple[TaskRecord, float | None]]:
    """Each task's latest row in the last `runs` runs, with its latest timed duration."""
    found: dict[str, TaskRecord] = {}
    timed: dict[str, float | None] = {}
    for record_run in history.runs(runs):
        for record in reversed(history.tasks(record_run.id)):
            if record.name not in names:
                continue
            found.setdefault(record.name, record)
            if record.status in TIMED and record.duration is not None:
                timed.setdefault(record.name, record.duration)
    return {name: (record, timed.get(name)) for name, record in found.items()}


def cache_keys(runs_dir: Path, names: set[str]) -> dict[str, str]:
    """Each task's inputs digest (its cache key) in the newest run summary holding one."""
    keys: dict[str, str] = {}
    for folder in reversed(run_folders(runs_dir)):
        try:
            entries = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))["tasks"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for entry in entries:
            name, digest = entry.get("name"), entry.get("inputs_digest")
            if name in names and digest and name not in keys:
                keys[name] = str(digest)
        if len(keys) == len(names):
            break
    return keys


def gather_facts(graph: Graph, tasks: Mapping[str, Any], history: History, root: Path,
                 runs_dir: Path, explain: Callable[[str], list[str]]) -> dict[str, NodeFacts]:
    """Every node's facts: the task's files (relative to the repository root when inside
    it), its last record, cache key and explanation."""
    names = set(graph.nodes)
    records = last_records(history, names)
    keys = cache_keys(runs_dir, names)
    facts = {}
    for name in graph.nodes:
        task = tasks[name]
        record, timed = records.get(name, (None, None))
        facts[name] = NodeFacts(
            name, status=record.status if record else None, duration=timed,
            ended=record.ended if record else None,
            inputs=tuple(sorted(shown_path(str(p), root) for p in task.file_dep)),
            outputs=tuple(sorted(shown_path(str(p), root) for p in task.targets)),
            cache_key=keys.get(name), explain=tuple(explain(name)))
    return facts


def graph_chain(graph: Graph, facts: Mapping[str, NodeFacts]) -> tuple[str, ...]:
    """The critical path: the chain of dependent tasks whose recorded durations add up to the
    most (empty when nothing has a recorded duration)."""
    deps: dict[str, list[str]] = {name: [] for name in graph.nodes}
    for before, after in graph.edges:
        deps[after].append(before)
    tasks = tuple(TaskRun(name, BUILT, ended=0.0, started=0.0,
                          duration=facts[name].duration or 0.0, deps=tuple(deps[name]))
                  for name in graph.nodes)
    path = critical_path(RunInfo(0.0, 0.0, (), "", "", 1, tasks=tasks))
    return path.chain if path is not None and path.length > 0 else ()


def to_picture_dot(graph: Graph, facts: Mapping[str, NodeFacts], chain: tuple[str, ...]) -> str:
    """DOT for `dot -Tsvg`: filled nodes with ids t0, t1, ...; the chain's nodes and edges
    drawn thick and red, with the class `critical` (the HTML and the tests find them so)."""
    ids = node_ids(graph)
    on_path = set(chain)
    path_edges = set(itertools.pairwise(chain))
    lines = ["digraph fedbuild {", "  rankdir=LR;", '  graph [fontname="sans-serif"];',
             '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=11];',
             '  edge [color="#777777"];']
    for name in graph.nodes:
        fact = facts[name]
        attrs = {"id": ids[name], "label": fact.label, "fillcolor": colour(fact.status),
                 "tooltip": f"{name}: {fact.status or NEVER_RUN}",
                 "class": "task critical" if name in on_path else "task"}
        if name in on_path:
            attrs.update(color=CRITICAL, penwidth="3")
        lines.append(f"  {quoted(name)} [{_attributes(attrs)}];")
    for before, after in graph.edges:
        attrs = {"id": f"{ids[before]}-{ids[after]}"}
        if (before, after) in path_edges:  # dot adds its own class, `edge`
            attrs.update(color=CRITICAL, penwidth="3", **{"class": "critical"})
        lines.append(f"  {quoted(before)} -> {quoted(after)} [{_attributes(attrs)}];")
    return "\n".join([*lines, "}"]) + "\n"


def node_ids(graph: Graph) -> dict[str, str]:
    """The SVG id of each task's node: t0, t1, ... in name order."""
    return {name: f"t{i}" for i, name in enumerate(graph.nodes)}


def _attributes(attrs: Mapping[str, str]) -> str:
    """`key="value", ...`; the label comes quoted already (it holds a line break)."""
    return ", ".join(f"{key}={value if key == 'label' else quoted(value)}"
                     for key, value in attrs.items())


class DotFailed(Exception):
    """Graphviz's `dot` is missing or failed: its one line says which."""


def run_dot(dot_text: str, fmt: str) -> str:
    """What `dot -T<fmt>` makes of `dot_text`, run through the one module that starts
    processes; DotFailed (one line) when dot is missing or fails."""
    if which("dot") is None:
        raise DotFailed(MISSING_DOT)
    with tempfile.TemporaryDirectory(prefix="fedbuild-graph-") as scratch:
        folder = Path(scratch)
        (folder / "graph.dot").write_text(dot_text, encoding="utf-8")
        result = run(Command(("dot", f"-T{fmt}", "-o", "graph.out", "graph.dot"), cwd=folder,
                             log=folder / "dot.log", timeout=DOT_TIMEOUT))
        if not result.ok:
            raise DotFailed(f"graphviz could not draw the graph: {result.describe()}")
        return (folder / "graph.out").read_text(encoding="utf-8")


def render_svg(dot_text: str) -> str:
    """The SVG `dot` draws of `dot_text` (without its XML prolog: it is embedded in HTML).
    A missing `dot` is the user's one-line error, exit 3."""
    try:
        svg = run_dot(dot_text, "svg")
    except DotFailed as err:
        raise InvalidCommand(str(err)) from None
    return svg[svg.index("<svg"):]


def node_details(graph: Graph, facts: Mapping[str, NodeFacts], chain: tuple[str, ...]
                 ) -> dict[str, dict[str, object]]:
    """The facts the HTML shows on a click, keyed by SVG node id."""
    on_path = set(chain)
    details: dict[str, dict[str, object]] = {}
    for name, node_id in node_ids(graph).items():
        fact = facts[name]
        entry: dict[str, object] = asdict(fact)
        entry["status"] = fact.status or NEVER_RUN
        entry["last_run"] = (f"{fact.status} at {clock(fact.ended)}"
                             + (f" ({duration(fact.duration)})" if fact.duration else "")
                             if fact.ended is not None else NEVER_RUN)
        entry["critical"] = name in on_path
        details[node_id] = entry
    return details


def to_html(title: str, svg: str, details: Mapping[str, Mapping[str, object]],
            chain: tuple[str, ...]) -> str:
    """One self-contained page: the SVG, a legend, a filter box, a details panel, a script."""
    data = json.dumps(details, sort_keys=True).replace("<", "\\u003c")
    keys = "".join(f'<span class="key"><i style="background:{c}"></i>{html.escape(s)}</span>'
                   for s, c in legend())
    path = " → ".join(chain) if chain else "none recorded yet"
    return _PAGE.format(title=html.escape(title), style=_STYLE, legend=keys, svg=svg,
                        path=html.escape(path), data=data, script=_SCRIPT)


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>{title}</title><style>{style}</style></head>
<body><header><h1>{title}</h1>
<input id="filter" type="search" placeholder="filter tasks (e.g. build:, web)" autofocus>
<span id="shown"></span></header>
<p class="legend">{legend}<span class="key"><i class="crit"></i>critical path</span></p>
<p id="path">critical path: {path}</p>
<main><div id="graph">{svg}</div>
<aside id="details"><p class="hint">Click a task to see its inputs, outputs, last run,
cache key and why it would run.</p></aside></main>
<script type="application/json" id="facts">{data}</script>
<script>{script}</script></body></html>
"""

_STYLE = """
body{font:14px sans-serif;margin:0;color:#222}
header{display:flex;gap:1em;align-items:center;padding:.5em 1em;background:#f4f4f4}
h1{font-size:1.1em;margin:0}#filter{flex:0 1 24em;padding:.3em}
.legend,#path{margin:.4em 1em;font-size:12px}.key{margin-right:1em;white-space:nowrap}
.key i{display:inline-block;width:1em;height:1em;border:1px solid #999;vertical-align:middle;
margin-right:.3em}.key i.crit{border:3px solid #c0392b;background:#fff}
main{display:flex;align-items:flex-start}#graph{flex:1;overflow:auto;padding:1em}
#graph svg{max-width:100%;height:auto}
#details{width:32em;max-height:90vh;overflow:auto;padding:1em;border-left:1px solid #ddd}
#details pre{white-space:pre-wrap;background:#f8f8f8;padding:.5em}#details{overflow-wrap:anywhere}
g.node{cursor:pointer}g.dim{opacity:.15}g.selected polygon,g.selected path{stroke:#000;
stroke-width:3}.hint{color:#666}
"""

# The facts are inserted as text (textContent), never as markup.
_SCRIPT = """
(function () {
  "use strict";
  var facts = JSON.parse(document.getElementById("facts").textContent);
  var details = document.getElementById("details");
  var nodes = Array.prototype.slice.call(document.querySelectorAll("g.node"));
  function add(parent, tag, text) {
    var el = document.createElement(tag);
    if (text !== undefined) { el.textContent = text; }
    parent.appendChild(el);
    return el;
  }
  function list(title, items) {
    add(details, "h3", title);
    if (!items.length) { add(details, "p", "none"); return; }
    var ul = add(details, "ul");
    items.forEach(function (item) { add(ul, "li", item); });
  }
  function show(id) {
    var fact = facts[id];
    nodes.forEach(function (n) { n.classList.toggle("selected", n.id === id); });
    details.replaceChildren();
    add(details, "h2", fact.name);
    var critical = fact.critical ? " (on the critical path)" : "";
    add(details, "p", "last status: " + fact.status + critical);
    add(details, "p", "last run: " + fact.last_run);
    add(details, "p", "cache key: " + (fact.cache_key || "none recorded"));
    list("inputs", fact.inputs);
    list("outputs", fact.outputs);
    add(details, "h3", "doit explain");
    add(details, "pre", fact.explain.join("\\n"));
  }
  nodes.forEach(function (n) {
    n.addEventListener("click", function () { show(n.id); });
  });
  var filter = document.getElementById("filter");
  var shown = document.getElementById("shown");
  function apply() {
    var words = filter.value.trim().toLowerCase();
    var count = 0;
    nodes.forEach(function (n) {
      var hit = !words || facts[n.id].name.toLowerCase().indexOf(words) >= 0;
      n.classList.toggle("dim", !hit);
      if (hit) { count += 1; }
    });
    shown.textContent = count + " of " + nodes.length + " tasks";
  }
  filter.addEventListener("input", apply);
  apply();
}());
"""
