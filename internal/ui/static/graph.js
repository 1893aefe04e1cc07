"use strict";
// graph.js draws a workflow run's steps as a graph: a column per layer (a step sits one
// column right of the last of its needs), a box per step coloured by its state and
// linked to its run, and an arrow from each need to the step that needs it. The page
// draws the SVG itself; nothing a user wrote is put in it but as text.

// svg, which builds an SVG element, comes from charts.js (loaded first).

// latestSteps keeps each step's newest attempt, in the order the steps were made.
function latestSteps(children) {
  const byStep = new Map();
  for (const c of children.slice().sort((a, b) => a.id < b.id ? -1 : 1)) {
    const prev = byStep.get(c.step);
    if (!prev) byStep.set(c.step, { first: c.id, run: c });
    else if (c.attempt > prev.run.attempt) prev.run = c;
  }
  return [...byStep.values()].sort((a, b) => a.first < b.first ? -1 : 1).map(v => v.run);
}

// workflowGraph returns the SVG of a workflow's steps (children: every step run).
function workflowGraph(children) {
  const steps = latestSteps(children);
  const byName = new Map(steps.map(s => [s.step, s]));
  const layer = new Map();
  const depth = name => {
    if (layer.has(name)) return layer.get(name);
    layer.set(name, 0); // a cycle cannot be applied; this only guards the recursion
    const s = byName.get(name);
    const d = s && s.needs ? Math.max(-1, ...s.needs.map(depth)) + 1 : 0;
    layer.set(name, d);
    return d;
  };
  steps.forEach(s => depth(s.step));
  const columns = [];
  for (const s of steps) (columns[layer.get(s.step)] ||= []).push(s);
  const W = 170, H = 46, GX = 60, GY = 18, PAD = 10;
  const at = new Map();
  columns.forEach((col, x) => col.forEach((s, y) => at.set(s.step, { x: PAD + x * (W + GX), y: PAD + y * (H + GY) })));
  const width = PAD * 2 + columns.length * W + (columns.length - 1) * GX;
  const height = PAD * 2 + Math.max(...columns.map(c => c.length)) * (H + GY) - GY;
  const root = svg("svg", { id: "workflow-graph", class: "graph", width, height, viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": `workflow of ${steps.length} steps` });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
    svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))));
  for (const s of steps) {
    for (const need of s.needs || []) {
      const a = at.get(need), b = at.get(s.step);
      if (!a || !b) continue;
      const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x, y2 = b.y + H / 2, mx = (x1 + x2) / 2;
      root.append(svg("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, class: "edge", "marker-end": "url(#arrow)",
        "data-from": need, "data-to": s.step }));
    }
  }
  for (const s of steps) {
    const p = at.get(s.step);
    const title = svg("title", {});
    title.textContent = `${s.step}: ${s.state}${s.reason ? " · " + s.reason : ""}${s.message ? " — " + s.message : ""}`;
    const name = svg("text", { x: p.x + 10, y: p.y + 19, class: "step-name" });
    name.textContent = s.step.length > 22 ? s.step.slice(0, 21) + "…" : s.step;
    const state = svg("text", { x: p.x + 10, y: p.y + 36, class: "step-state" });
    state.textContent = s.state + (s.attempt > 1 ? ` · attempt ${s.attempt}` : "") + (s.reused_from ? " · reused" : "");
    root.append(svg("a", { href: "#/runs/" + s.id, "data-step": s.step, "data-state": s.state },
      title, svg("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6, class: "step s-" + s.state }), name, state));
  }
  return root;
}
