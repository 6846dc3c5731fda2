// fedbuild dashboard pictures: SVG drawn from the API's numbers (a build's timeline, a
// task's last builds, the project's build times, the project's task graph as Graphviz laid
// it out on the server). Elements are made one by one
// (createElementNS) and every text from the API goes in through textContent: no HTML.
"use strict";

window.FedbuildPictures = (function () {
  const NS = "http://www.w3.org/2000/svg";
  const WIDTH = 640;

  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function tip(node, text) {
    node.append(svg("title", {}, text));
    return node;
  }

  function seconds(value) {
    const n = Number(value) || 0;
    return n >= 60 ? `${Math.floor(n / 60)}m${String(Math.round(n % 60)).padStart(2, "0")}s`
      : `${n.toFixed(n >= 1 ? 1 : 2)}s`;
  }

  function fill(colours, status) {
    return (colours && colours[status]) || "#ffffff";
  }

  // One lane per worker, a bar per executed task; the critical path's bars outlined.
  function timeline(data) {
    const lanes = Math.max(1, Number(data.lanes) || 1);
    const wall = Math.max(Number(data.wall) || 0, 0.001);
    const left = 70, lane = 24, top = 20;
    const span = WIDTH - left - 10;
    const root = svg("svg", { class: "timeline", width: WIDTH, height: top + lane * lanes + 20,
      viewBox: `0 0 ${WIDTH} ${top + lane * lanes + 20}`, role: "img" });
    root.append(svg("title", {}, `timeline: ${lanes} worker lanes, ${seconds(wall)} wall`));
    for (let i = 1; i <= lanes; i += 1) {
      root.append(svg("text", { x: 4, y: top + lane * (i - 1) + 16, class: "lane" }, `worker ${i}`));
    }
    const critical = new Set(Array.isArray(data.critical_path) ? data.critical_path : []);
    for (const task of Array.isArray(data.tasks) ? data.tasks : []) {
      const x = left + span * (Number(task.start) || 0) / wall;
      const width = Math.max(2, span * (Number(task.duration) || 0) / wall);
      const onPath = critical.has(task.name);
      const bar = svg("rect", { x: x.toFixed(1), y: top + lane * (Number(task.lane) - 1) + 3,
        width: width.toFixed(1), height: lane - 6, rx: 3, fill: fill(data.colours, task.status),
        class: onPath ? "bar critical" : "bar", "data-task": task.name,
        "data-status": task.status });
      bar.setAttribute("stroke", onPath ? data.colours.critical : "#555555");
      bar.setAttribute("stroke-width", onPath ? "2" : "0.5");
      root.append(tip(bar, `${task.name}: ${task.status}, ${seconds(task.duration)}` +
        (onPath ? " (critical path)" : "")));
      if (width > 60) {  // the name inside the bar, where it fits
        root.append(svg("text", { x: (x + 4).toFixed(1), y: top + lane * (Number(task.lane) - 1) + 16,
          class: "bar-label" }, task.name));
      }
    }
    const axis = top + lane * lanes + 14;
    root.append(svg("text", { x: left, y: axis, class: "axis" }, "0s"));
    root.append(svg("text", { x: WIDTH - 10, y: axis, "text-anchor": "end", class: "axis" },
      seconds(wall)));
    return root;
  }

  // A task's last builds: a bar per build, as tall as its duration, filled by its status;
  // a flaky run carries a dot above its bar.
  function taskChart(series, colours) {
    const width = 120, height = 24;
    const top = Math.max(0.001, ...series.map((r) => Number(r.duration) || 0));
    const step = width / Math.max(series.length, 1);
    const root = svg("svg", { class: "task-chart", width, height, viewBox: `0 0 ${width} ${height}`,
      role: "img" });
    root.append(svg("title", {}, `last ${series.length} builds`));
    series.forEach((run, i) => {
      const h = Math.max(2, (height - 6) * (Number(run.duration) || 0) / top);
      const flaky = run.status === "flaky";
      root.append(tip(svg("rect", { x: (i * step + 1).toFixed(1), y: (height - h).toFixed(1),
        width: Math.max(1, step - 2).toFixed(1), height: h.toFixed(1),
        fill: fill(colours, run.status), class: flaky ? "run flaky" : "run",
        "data-status": run.status }),
      `build #${run.build}: ${run.status}, ${seconds(run.duration)}`));
      if (flaky) {
        root.append(svg("circle", { cx: (i * step + step / 2).toFixed(1), cy: 3, r: 2.5,
          class: "flaky-mark", fill: fill(colours, "flaky"), stroke: "#333" }));
      }
    });
    return root;
  }

  // The project's build times, oldest first: a line through a dot per build.
  function buildTrend(data) {
    const builds = Array.isArray(data.builds) ? data.builds.filter((b) => b.duration !== null) : [];
    const height = 90, left = 50, bottom = 72;
    const top = Math.max(0.001, ...builds.map((b) => Number(b.duration) || 0));
    const step = (WIDTH - left - 10) / Math.max(builds.length - 1, 1);
    const root = svg("svg", { class: "trend", width: WIDTH, height, viewBox: `0 0 ${WIDTH} ${height}`,
      role: "img" });
    root.append(svg("title", {}, `build time of the last ${builds.length} builds`));
    root.append(svg("text", { x: left + 8, y: 12, class: "caption" },
      `build time of the last ${builds.length} builds`));
    root.append(svg("text", { x: left - 4, y: 16, "text-anchor": "end", class: "axis" },
      seconds(top)));
    root.append(svg("text", { x: left - 4, y: bottom, "text-anchor": "end", class: "axis" }, "0s"));
    const points = builds.map((b, i) => [left + i * step,
      bottom - (bottom - 12) * (Number(b.duration) || 0) / top]);
    if (points.length > 1) {
      root.append(svg("polyline", { points: points.map((p) => p.join(",")).join(" "),
        fill: "none", stroke: "#4a90d9", "stroke-width": 2 }));
    }
    const outcome = { success: "built", failed: "failed", cancelled: "interrupted" };
    builds.forEach((b, i) => {
      root.append(tip(svg("circle", { cx: points[i][0].toFixed(1), cy: points[i][1].toFixed(1),
        r: 4, class: "point", fill: fill(data.colours, outcome[b.status]), stroke: "#333",
        "data-build-id": b.id }), `build #${b.id}: ${b.status}, ${seconds(b.duration)}`));
    });
    return root;
  }

  // The task graph: Graphviz's places (points, y downwards) drawn as they are; each node a
  // group filled by its status, labelled with its name and recorded duration, the critical
  // path's nodes and edges drawn thick in its colour. A click (or Enter) on a node calls
  // onSelect with it.
  function taskGraph(data, onSelect) {
    const width = Math.max(1, Number(data.width) || 1), height = Math.max(1, Number(data.height) || 1);
    const pad = 4;
    const root = svg("svg", { class: "task-graph", width: width + 2 * pad, height: height + 2 * pad,
      viewBox: `${-pad} ${-pad} ${width + 2 * pad} ${height + 2 * pad}`, role: "img" });
    const nodes = Array.isArray(data.nodes) ? data.nodes : [];
    root.append(svg("title", {}, `task graph of build #${data.build}: ${nodes.length} tasks`));
    const critical = (data.colours && data.colours.critical) || "#c0392b";
    for (const edge of Array.isArray(data.edges) ? data.edges : []) root.append(graphEdge(edge, critical));
    for (const node of nodes) {
      const group = graphNode(node, fill(data.colours, node.status), critical);
      group.addEventListener("click", () => onSelect(node, group));
      group.addEventListener("keydown", (e) => { if (e.key === "Enter") onSelect(node, group); });
      root.append(group);
    }
    return root;
  }

  function graphEdge(edge, critical) {
    const points = Array.isArray(edge.path) ? edge.path : [];
    const group = svg("g", { class: edge.critical ? "edge critical" : "edge",
      "data-from": edge.from, "data-to": edge.to });
    const colour = edge.critical ? critical : "#777777";
    if (points.length >= 4) {  // a cubic Bezier spline: a start, then three points a piece
      let d = `M${points[0].join(",")}`;
      for (let i = 1; i + 2 < points.length; i += 3) {
        d += ` C${points[i].join(",")} ${points[i + 1].join(",")} ${points[i + 2].join(",")}`;
      }
      group.append(svg("path", { d, fill: "none", stroke: colour, "stroke-width": edge.critical ? 3 : 1 }));
    }
    if (Array.isArray(edge.arrow) && edge.arrow.length) {
      group.append(svg("polygon", { points: edge.arrow.map((p) => p.join(",")).join(" "),
        fill: colour, stroke: colour }));
    }
    return tip(group, `${edge.from} → ${edge.to}`);
  }

  function graphNode(node, colour, critical) {
    const x = Number(node.x) || 0, y = Number(node.y) || 0;
    const w = Number(node.width) || 54, h = Number(node.height) || 36;
    const group = svg("g", { class: node.critical ? "node critical" : "node", tabindex: 0,
      "data-task": node.name, "data-status": node.status });
    group.append(svg("rect", { x: (x - w / 2).toFixed(1), y: (y - h / 2).toFixed(1),
      width: w.toFixed(1), height: h.toFixed(1), rx: 6, fill: colour,
      stroke: node.critical ? critical : "#555555", "stroke-width": node.critical ? 3 : 1 }));
    const timed = node.duration !== null && node.duration !== undefined;
    group.append(svg("text", { x: x.toFixed(1), y: (y + (timed ? -2 : 4)).toFixed(1),
      "text-anchor": "middle", class: "node-name" }, node.name));
    if (timed) {
      group.append(svg("text", { x: x.toFixed(1), y: (y + 11).toFixed(1), "text-anchor": "middle",
        class: "node-duration" }, seconds(node.duration)));
    }
    return tip(group, `${node.name}: ${node.status}` + (timed ? `, ${seconds(node.duration)}` : "") +
      (node.critical ? " (critical path)" : ""));
  }

  return { timeline, taskChart, buildTrend, taskGraph, seconds };
}());
