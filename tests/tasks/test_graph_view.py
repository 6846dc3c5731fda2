"""The drawn task graph: DOT given to Graphviz's real `dot`, the SVG it draws parsed back
(nodes, edges, fill colours, the critical path) and the HTML page around it."""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from doit.task import Task

from tasks.commands.graph import task_graph
from tasks.commands.graph_view import (
    NodeFacts,
    cache_keys,
    graph_chain,
    last_records,
    node_details,
    render_svg,
    to_html,
    to_picture_dot,
)
from tasks.commands.palette import colour
from tasks.history import FILE, History, TaskRecord

SVG = "{http://www.w3.org/2000/svg}"
pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="graphviz is not installed")


def tasks() -> dict[str, Task]:
    """gen -> lib -> app -> test, and a slow side task `docs` needed by app too."""
    def act() -> None:
        return None
    made = [Task("gen", [act]), Task("lib", [act], task_dep=["gen"], file_dep=["src/lib.c"],
                                     targets=["out/lib.a"]),
            Task("docs", [act]), Task("app", [act], task_dep=["lib", "docs"]),
            Task("test", [act], task_dep=["app"]), Task("build", None, task_dep=["app"])]
    return {t.name: t for t in made}


FACTS = {
    "gen": NodeFacts("gen", "built", 1.0, 100.0),
    "lib": NodeFacts("lib", "cached", 2.0, 100.0, inputs=("src/lib.c",), outputs=("out/lib.a",),
                     cache_key="ab12"),
    "docs": NodeFacts("docs", "failed", 10.0, 100.0),
    "app": NodeFacts("app", "flaky", 1.0, 100.0),
    "test": NodeFacts("test", None),
}


def parsed_svg(svg: str) -> ET.Element:
    """The SVG `dot` drew, as XML."""
    return ET.fromstring(svg)


def nodes_of(root: ET.Element) -> dict[str, ET.Element]:
    """Each node group by the task name in its <title>."""
    return {g.findtext(f"{SVG}title") or "": g for g in root.iter(f"{SVG}g")
            if "node" in g.get("class", "").split()}


def shape_of(node: ET.Element) -> ET.Element:
    """A node's box (a rounded box is a <path>)."""
    shape = node.find(f".//{SVG}path")
    assert shape is not None
    return shape


def edges_of(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    """Each edge group by (dependency, dependent), from its <title> `a->b`."""
    found = {}
    for g in root.iter(f"{SVG}g"):
        if "edge" in g.get("class", "").split():
            before, after = (g.findtext(f"{SVG}title") or "").split("->")
            found[(before, after)] = g
    return found


def test_the_critical_path_is_the_heaviest_chain_of_recorded_durations() -> None:
    """docs (10s) outweighs gen + lib (3s): docs -> app; test (never run) adds nothing."""
    graph = task_graph(tasks())
    assert graph_chain(graph, FACTS) == ("docs", "app")
    timed = {**FACTS, "test": NodeFacts("test", "built", 0.5, 100.0)}
    assert graph_chain(graph, timed) == ("docs", "app", "test")
    unknown = {name: NodeFacts(name) for name in graph.nodes}
    assert graph_chain(graph, unknown) == ()


def test_svg_has_every_task_and_edge_coloured_by_status_with_the_path_marked() -> None:
    graph = task_graph(tasks())
    facts = {**FACTS, "test": NodeFacts("test", None)}
    chain = graph_chain(graph, {**facts, "test": NodeFacts("test", "built", 0.5, 100.0)})
    root = parsed_svg(render_svg(to_picture_dot(graph, facts, chain)))
    nodes, edges = nodes_of(root), edges_of(root)
    assert set(nodes) == set(graph.nodes) == {"gen", "lib", "docs", "app", "test"}
    assert set(edges) == set(graph.edges)
    for name, node in nodes.items():
        assert shape_of(node).get("fill") == colour(FACTS[name].status)
    texts = [t.text for t in nodes["docs"].iter(f"{SVG}text")]
    assert texts == ["docs", "10.0s"]  # labelled with its recorded duration
    assert [t.text for t in nodes["test"].iter(f"{SVG}text")] == ["test"]  # none recorded
    marked = {n for n, g in nodes.items() if "critical" in g.get("class", "").split()}
    assert marked == set(chain)
    marked_edges = {e for e, g in edges.items() if "critical" in g.get("class", "").split()}
    assert marked_edges == {("docs", "app"), ("app", "test")}


def test_left_to_right_by_dependency_depth() -> None:
    """dot's LR layout: every dependency is drawn left of what needs it."""
    graph = task_graph(tasks())
    root = parsed_svg(render_svg(to_picture_dot(graph, FACTS, ())))
    left = {name: min(float(x) for x in re.findall(r"M(-?[\d.]+),", shape_of(g).get("d", "")))
            for name, g in nodes_of(root).items()}
    for before, after in graph.edges:
        assert left[before] < left[after], (before, after)


def test_names_with_quotes_and_markup_are_text() -> None:
    """A task name is escaped in DOT and arrives in the SVG and the HTML's data as text."""
    name = 'odd "name" <b>&'
    graph = task_graph({name: Task(name, [tasks])})
    facts = {name: NodeFacts(name, "built", 1.5, 1.0, explain=("</script><i>",))}
    svg = render_svg(to_picture_dot(graph, facts, ()))
    assert list(nodes_of(parsed_svg(svg))) == [name]
    page = to_html("t", svg, node_details(graph, facts, ()), ())
    data = page.split('<script type="application/json" id="facts">', 1)[1].split("</script>")[0]
    assert json.loads(data)["t0"]["explain"] == ["</script><i>"]
    assert "<b>" not in page and "</script><i>" not in page


def test_html_holds_the_svg_the_facts_and_no_address() -> None:
    graph = task_graph(tasks())
    chain = graph_chain(graph, FACTS)
    page = to_html("graph", render_svg(to_picture_dot(graph, FACTS, chain)),
                   node_details(graph, FACTS, chain), chain)
    data = json.loads(page.split('id="facts">', 1)[1].split("</script>")[0])
    by_name = {entry["name"]: entry for entry in data.values()}
    assert by_name["lib"]["inputs"] == ["src/lib.c"]
    assert by_name["lib"]["outputs"] == ["out/lib.a"] and by_name["lib"]["cache_key"] == "ab12"
    assert by_name["test"]["status"] == "never run" and by_name["docs"]["critical"]
    assert "critical path: docs → app</p>" in page
    # self-contained: no external script, stylesheet, image or font
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_last_records_take_each_tasks_newest_row_and_timed_duration(tmp_path: Path) -> None:
    history = History(tmp_path / FILE)
    for status, seconds in (("built", 2.0), ("up to date", None)):
        run_id = history.begin_run("doit", "development", None, None, 1)
        history.record_task(run_id, TaskRecord("lib", status, 10.0, duration=seconds))
        history.end_run(run_id, "succeeded")
    records = last_records(history, {"lib", "other"})
    assert set(records) == {"lib"}
    record, timed = records["lib"]
    assert record.status == "up to date" and timed == 2.0


def test_cache_keys_come_from_the_newest_summary_holding_one(tmp_path: Path) -> None:
    for name, digest in (("20250101T000000.000000Z-1", "old"), ("20250102T000000.000000Z-2",
                                                                 None)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps(
            {"tasks": [{"name": "lib", "inputs_digest": digest}]}))
    assert cache_keys(tmp_path, {"lib"}) == {"lib": "old"}
