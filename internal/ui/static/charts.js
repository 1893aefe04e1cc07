// Charts of a job's recent runs, drawn as SVG by the page itself from one request to
// GET /api/v1/jobs/{name}/series: duration per run coloured by how it ended, schedule lag,
// and one chart per metric the runs reported. Every point is a link to its run. Values
// from the server are set as text or attributes, never as markup.
"use strict";

const SVG = "http://www.w3.org/2000/svg";

// The windows a job's charts can show: the last 100 runs, or the runs of a span of time.
const CHART_WINDOWS = [
  { key: "runs", label: "Last 100 runs" },
  { key: "1d", label: "Last 24 hours", hours: 24 },
  { key: "7d", label: "Last 7 days", hours: 24 * 7 },
  { key: "30d", label: "Last 30 days", hours: 24 * 30 },
];

function svg(tag, attrs, ...children) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// seriesQuery is the API path of a job's series in window key, with the window's span in
// ms (none for a number of runs).
function seriesQuery(name, key) {
  const w = CHART_WINDOWS.find(w => w.key === key) || CHART_WINDOWS[0];
  const p = new URLSearchParams();
  let from, to;
  if (w.hours) {
    to = Date.now();
    from = to - w.hours * 3600e3;
    p.set("since", new Date(from).toISOString().replace(/\.\d+Z$/, "Z"));
    p.set("limit", "999");
  } else {
    p.set("limit", "100");
  }
  return { path: `/jobs/${encodeURIComponent(name)}/series?${p}`, from, to };
}

// seconds says a number of seconds briefly: 850ms, 42s, 3m 5s, 2h 10m.
function seconds(s) {
  if (s < 1) return s === 0 ? "0s" : `${Math.round(s * 1000)}ms`;
  if (s < 60) return `${+s.toFixed(s < 10 ? 1 : 0)}s`;
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = Math.round(s % 60);
  return h ? (m ? `${h}h ${m}m` : `${h}h`) : r ? `${m}m ${r}s` : `${m}m`;
}

const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 2 });
function number(v) { return Math.abs(v) < 1000 ? String(+v.toPrecision(4)) : compact.format(v); }

// niceTop is a round number at or above v, with the step between four ticks up to it.
function niceTop(v, asSeconds) {
  if (!(v > 0)) return [1, 0.25];
  if (asSeconds && v >= 60) {
    // Minutes and hours tick at round minutes.
    const unit = v >= 7200 ? 3600 : 60;
    const steps = [1, 2, 5, 10, 15, 30, 60];
    const step = steps.find(s => s * unit * 4 >= v) || Math.ceil(v / unit / 4);
    return [step * unit * 4, step * unit];
  }
  const raw = v / 4, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(f => f * mag).find(s => s >= raw);
  return [step * 4, step];
}

// timeTicks picks four times across [t0, t1] to label the x axis, as briefly as the span
// allows.
function timeTicks(t0, t1) {
  const span = t1 - t0;
  const opts = span > 4 * 86400e3 ? { month: "short", day: "numeric" }
    : span > 18 * 3600e3 ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", hourCycle: "h23" }
      : { hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
  const fmt = new Intl.DateTimeFormat(undefined, opts);
  return [0, 1, 2, 3].map(i => { const t = t0 + (span * i) / 3; return [t, fmt.format(new Date(t))]; });
}

// chart draws one series: points (x: when the run was made, y: value) joined by a faint
// line, each a link to its run. opts: title, unit ("s" for seconds), byState (colour by
// how the run ended), name (data-chart).
function chart(points, opts) {
  const W = 600, H = 190, L = 58, R = 14, T = 12, B = 28;
  const shown = points.filter(p => Number.isFinite(p.y));
  const asSeconds = opts.unit === "s";
  const fmt = asSeconds ? seconds : number;
  const box = el("figure", { class: "chart", "data-chart": opts.name },
    el("figcaption", {}, el("strong", {}, opts.title), opts.note ? el("span", { class: "muted" }, " · " + opts.note) : ""));
  if (!shown.length) {
    box.append(el("div", { class: "chart-empty" }, "No values in this window."));
    return box;
  }
  const xs = shown.map(p => p.x);
  let x0 = Math.min(...xs, opts.from ?? Infinity), x1 = Math.max(...xs, opts.to ?? -Infinity);
  if (x0 === x1) { x0 -= 3600e3; x1 += 3600e3; }
  const lo = Math.min(0, ...shown.map(p => p.y)), hi = Math.max(...shown.map(p => p.y));
  const [top, step] = niceTop(hi - lo, asSeconds);
  const bottom = lo < 0 ? -niceTop(-lo, asSeconds)[0] : 0;
  const yMax = lo < 0 ? Math.max(top + bottom, step) : top;
  const px = x => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const py = y => T + (1 - (y - bottom) / (yMax - bottom)) * (H - T - B);
  const grid = [];
  for (let v = bottom; v <= yMax + step / 2; v += step) {
    grid.push(svg("line", { class: "grid-line", x1: L, x2: W - R, y1: py(v), y2: py(v) }),
      svg("text", { class: "tick", x: L - 6, y: py(v) + 4, "text-anchor": "end" }, fmt(v)));
  }
  const ticks = timeTicks(x0, x1).map(([t, label], i, all) =>
    svg("text", { class: "tick", x: px(t), y: H - 8, "text-anchor": i === 0 ? "start" : i === all.length - 1 ? "end" : "middle" }, label));
  const line = svg("polyline", { class: "trend", points: shown.map(p => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(" ") });
  const r = shown.length > 300 ? 2.5 : shown.length > 120 ? 3.5 : 4.5;
  const dots = shown.map(p => svg("a", { href: "#/runs/" + p.run.id, "data-run": p.run.id, class: "point" },
    svg("title", {}, `${p.run.state} · ${fmt(p.y)} · ${when(p.run.created_at)} · run ${p.run.id}`),
    svg("circle", { cx: px(p.x).toFixed(1), cy: py(p.y).toFixed(1), r, class: opts.byState ? "pt s-" + p.run.state : "pt" })));
  box.append(svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": opts.title },
    grid, svg("line", { class: "axis", x1: L, x2: W - R, y1: py(bottom), y2: py(bottom) }), ticks, line, dots));
  return box;
}

// chartsView draws a job's charts from its series; a window of time (from, to in ms) spans
// the x axes.
function chartsView(series, from, to) {
  const at = r => new Date(r.created_at).getTime();
  // Every chart spans the same time: the window, or the runs'.
  from ??= Math.min(...series.runs.map(at));
  to ??= Math.max(...series.runs.map(at));
  const pts = key => series.runs.map(r => ({ x: at(r), y: key(r), run: r }));
  const ended = series.runs.filter(r => r.duration_seconds !== undefined);
  const failed = ended.filter(r => r.state === "failed").length;
  const legend = el("span", { class: "legend" }, ["succeeded", "failed", "cancelled"].map(s => el("span", {}, el("i", { class: "s-" + s }), s)));
  const charts = [
    chart(pts(r => r.duration_seconds), { name: "duration", title: "Duration", unit: "s", byState: true, from, to,
      note: ended.length ? `${failed} of ${ended.length} failed` : "" }),
    chart(pts(r => r.lag_seconds), { name: "lag", title: "Schedule lag", unit: "s", note: "from due to start", from, to }),
    ...series.metrics.map(m => chart(pts(r => r.metrics ? r.metrics[m] : undefined), { name: "metric-" + m, title: m, note: "reported", from, to })),
  ];
  charts[0].querySelector("figcaption").append(legend);
  return charts;
}

// jobCharts is the charts section of a job's page, with its window chooser. It draws at
// once and again every 15 seconds while the page shows.
function jobCharts(name) {
  const body = el("div", { class: "charts", id: "charts" });
  const choose = el("select", { id: "chart-window", "aria-label": "Chart window", onchange: () => draw().catch(e => toast(e.message, true)) },
    CHART_WINDOWS.map(w => el("option", { value: w.key }, w.label)));
  const summary = el("span", { class: "muted", id: "charts-summary" });
  let drawn = "";
  const draw = async () => {
    const q = seriesQuery(name, choose.value);
    const series = await api("GET", q.path);
    if (!body.isConnected && drawn) return;
    const seen = JSON.stringify(series);
    if (seen === drawn) return;
    drawn = seen;
    const n = series.runs.length;
    summary.textContent = n ? `${n} run${n === 1 ? "" : "s"}${series.more ? " (the newest in this window)" : ""}` +
      (series.metrics_omitted ? `; ${series.metrics_omitted} more metrics not charted` : "") : "";
    body.replaceChildren(...(n ? chartsView(series, q.from, q.to) : [el("div", { class: "empty" }, "No runs in this window.")]));
  };
  const section = el("section", {}, el("h2", { class: "charts-head" }, "Charts ", choose, " ", summary), body);
  return { section, draw };
}
