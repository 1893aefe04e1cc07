// Docket's web UI: jobs, runs, a run's timeline and live log, and the actions on them,
// drawn from the JSON API under /api/v1. Every value from the server is set as text, never
// as HTML.
"use strict";

const main = document.getElementById("main");
const ACTIVE = ["waiting", "queued", "dispatched", "pending", "running"];
const STATES = ["waiting", "queued", "dispatched", "pending", "running", "succeeded", "failed", "cancelled", "skipped"];
let me = { role: "viewer" };
let cleanup = []; // stops the current page's timers and streams

// ---- talking to the API ----

function token() { return localStorage.getItem("docket-token") || ""; }

class APIError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.field && !(e.message || "").startsWith(e.field) ? `${e.field}: ${e.message}` : (e.message || `HTTP ${status}`));
    this.status = status;
  }
}

async function api(method, path, body) {
  const headers = {};
  if (token()) headers.Authorization = "Bearer " + token();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch("/api/v1" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = resp.headers.get("Content-Type")?.includes("json") ? await resp.json() : null;
  if (resp.status === 401) {
    await login(data && data.error && data.error.message);
    return api(method, path, body);
  }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

function login(why) {
  const dialog = document.getElementById("login");
  document.getElementById("login-error").textContent = token() ? (why || "") : "";
  return new Promise(resolve => {
    dialog.addEventListener("close", () => {
      localStorage.setItem("docket-token", document.getElementById("login-token").value.trim());
      resolve();
    }, { once: true });
    if (!dialog.open) dialog.showModal();
  });
}

// ---- small helpers ----

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function badge(state) { return el("span", { class: "badge s-" + state, "data-state": state }, state); }

// when is a time as this browser's clock reads it, or as the clock of zone (an IANA name)
// with the zone's abbreviation.
function when(t, zone) {
  if (!t) return "";
  const opts = { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" };
  if (zone) Object.assign(opts, { timeZone: zone, timeZoneName: "short" });
  try {
    return new Date(t).toLocaleString(undefined, opts);
  } catch (e) {
    return new Date(t).toLocaleString(); // a zone this browser does not know
  }
}

function ago(t) {
  if (!t) return "";
  const s = Math.round((Date.now() - new Date(t).getTime()) / 1000);
  const abs = Math.abs(s);
  const [n, unit] = abs < 60 ? [abs, "s"] : abs < 3600 ? [Math.round(abs / 60), "m"] : abs < 86400 ? [Math.round(abs / 3600), "h"] : [Math.round(abs / 86400), "d"];
  return s >= 0 ? `${n}${unit} ago` : `in ${n}${unit}`;
}

// timeCell shows how long ago (or until) t is; refreshTimes keeps it current.
function timeCell(t) { return t ? el("span", { title: when(t), "data-t": t }, ago(t)) : ""; }

function refreshTimes() {
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = ago(e.dataset.t);
}

function duration(run) {
  if (!run.started_at) return "";
  const end = run.finished_at ? new Date(run.finished_at) : new Date();
  let s = Math.max(0, Math.round((end - new Date(run.started_at)) / 1000));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60);
  s %= 60;
  return h ? `${h}h ${m}m` : m ? `${m}m ${s}s` : `${s}s`;
}

function short(id) { return id.slice(0, 8) + "…" + id.slice(-4); }

function runLink(id) { return el("a", { href: "#/runs/" + id, class: "mono", title: id }, short(id)); }

function toast(text, bad) {
  const t = document.getElementById("toast");
  t.textContent = text;
  t.className = "toast" + (bad ? " bad" : "");
  t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, bad ? 8000 : 4000);
}

// confirmAction asks a yes-or-no question in a modal dialog. Its buttons answer this
// question only (their handlers are replaced for each), so a close left over from an
// earlier question cannot answer it.
function confirmAction(text, verb) {
  const dialog = document.getElementById("confirm");
  const yes = document.getElementById("confirm-yes"), no = document.getElementById("confirm-no");
  document.getElementById("confirm-text").textContent = text;
  yes.textContent = verb;
  return new Promise(resolve => {
    const answer = value => e => {
      e.preventDefault();
      yes.onclick = no.onclick = dialog.oncancel = null;
      dialog.close();
      resolve(value);
    };
    yes.onclick = answer(true);
    no.onclick = answer(false);
    dialog.oncancel = answer(false);
    dialog.showModal();
  });
}

// act asks for confirmation, then calls the API and reports the outcome.
async function act(question, verb, call, done) {
  if (!(await confirmAction(question, verb))) return;
  try {
    const result = await call();
    if (done) done(result);
  } catch (e) {
    toast(e.message, true);
  }
}

function may(role) { return ["viewer", "editor", "admin"].indexOf(me.role) >= ["viewer", "editor", "admin"].indexOf(role); }

// every calls fn each ms while this page shows, and at once when its tab is shown again;
// a hidden tab asks the server nothing.
function every(ms, fn) {
  const id = setInterval(() => { if (!document.hidden) fn(); }, ms);
  const shown = () => { if (!document.hidden) fn(); };
  document.addEventListener("visibilitychange", shown);
  cleanup.push(() => { clearInterval(id); document.removeEventListener("visibilitychange", shown); });
}

// ---- actions ----

function runNow(name, after) {
  return act(`Start a run of ${name} now?`, "Run now",
    () => api("POST", `/jobs/${encodeURIComponent(name)}/runs`, { trigger: "manual" }),
    run => { toast(`Started run ${short(run.id)} of ${name}`); if (after) after(run); });
}

function suspendResume(job, after) {
  const verb = job.suspended ? "Resume" : "Suspend";
  const question = job.suspended
    ? `Resume ${job.name}? Its schedule fires again from the next slot.`
    : `Suspend ${job.name}? Each slot is recorded as skipped until you resume it.`;
  return act(question, verb, () => api("POST", `/jobs/${encodeURIComponent(job.name)}/${verb.toLowerCase()}`),
    () => { toast(`${job.name} ${job.suspended ? "resumed" : "suspended"}`); if (after) after(); });
}

function cancelRun(run, after) {
  return act(`Cancel run ${short(run.id)} of ${run.job}? A running job is stopped.`, "Cancel run",
    () => api("POST", `/runs/${run.id}/cancel`),
    () => { toast(`Cancel requested for ${short(run.id)}`); if (after) after(); });
}

// retryRun resumes an ended workflow or array run (POST /runs/{id}/retry) and shows the new
// run: what succeeded is carried over, the rest runs again (an array's tasks by index).
function retryRun(run) {
  const what = run.kind === "array" ? `the tasks of array run ${short(run.id)} that did not succeed again, each with its index` :
    `workflow run ${short(run.id)} again from the steps that did not succeed`;
  return act(`Run ${what}? What succeeded is carried over.`, "Run again",
    () => api("POST", `/runs/${run.id}/retry`),
    next => { toast(`Run ${short(next.id)} resumes ${short(run.id)}`); location.hash = "#/runs/" + next.id; });
}

function jobActions(job, refresh) {
  if (!may("editor")) return "";
  return el("div", { class: "actions" },
    el("button", { class: "primary", "data-action": "run", onclick: () => runNow(job.name, run => { location.hash = "#/runs/" + run.id; }) }, "Run now"),
    el("button", { "data-action": job.suspended ? "resume" : "suspend", onclick: () => suspendResume(job, refresh) }, job.suspended ? "Resume" : "Suspend"));
}

// ---- pages ----

// JOBS_PAGE is how many jobs the jobs page shows at once; STRIP how many recent runs a
// job's strip shows. A page is one request, whatever the number of jobs.
const JOBS_PAGE = 100, STRIP = 12;
// jobPages remembers the pages before the one shown, for Previous.
let jobPages = [];

function jobsLink(name, cursor, from) {
  const p = new URLSearchParams();
  if (name) p.set("name", name);
  if (cursor) { p.set("cursor", cursor); p.set("from", String(from)); }
  return "#/jobs" + (p.toString() ? "?" + p : "");
}

async function jobsPage(params) {
  const name = params.get("name") || "", cursor = params.get("cursor") || "";
  const from = cursor ? Number(params.get("from")) || 0 : 0;
  if (!cursor) jobPages = [];
  const table = el("tbody");
  const filter = el("input", { type: "search", id: "jobs-filter", placeholder: "Filter by name", "aria-label": "filter jobs by name", value: name });
  let typing = null;
  filter.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { location.hash = jobsLink(filter.value.trim().toLowerCase()); }, 300);
  });
  cleanup.push(() => clearTimeout(typing));
  const pager = el("div", { class: "more pager", id: "jobs-pager" });
  main.replaceChildren(el("h1", {}, "Jobs"), el("div", { class: "filters" }, filter),
    el("p", { class: "sub", id: "jobs-summary" }, "Loading…"),
    el("table", { id: "jobs" }, el("thead", {}, el("tr", {},
      ["Job", "Schedule", "Next run", "Last run", "Recent runs", ""].map(h => el("th", {}, h)))), table), pager);
  if (name) filter.focus();
  const query = new URLSearchParams({ limit: String(JOBS_PAGE), recent: String(STRIP) });
  if (name) query.set("name", name);
  if (cursor) query.set("cursor", cursor);
  let drawn = "";
  let strips = new Map(); // job name -> its strip as last drawn
  const draw = async () => {
    const { jobs, next_cursor } = await api("GET", "/jobs?" + query);
    if (!table.isConnected) return; // the page was left meanwhile
    // Redraw only what changed, so a row is not replaced under the pointer.
    const seen = JSON.stringify([jobs, next_cursor]);
    if (seen === drawn) {
      refreshTimes();
      return;
    }
    drawn = seen;
    const holding = name ? ` whose name holds “${name}”` : "";
    const which = from || next_cursor
      ? `Jobs ${from + 1}–${from + jobs.length}${holding}${next_cursor ? " (more on the next page)" : ""}`
      : `${jobs.length} job${jobs.length === 1 ? "" : "s"}${holding}`;
    document.getElementById("jobs-summary").textContent = jobs.length ? which + "; newest run on the right of each strip." : "";
    pager.replaceChildren(
      from ? el("button", { id: "jobs-previous", onclick: () => {
        const back = jobPages.pop();
        location.hash = back ? jobsLink(name, back.cursor, back.from) : jobsLink(name);
      } }, "Previous") : "",
      next_cursor ? el("button", { id: "jobs-next", onclick: () => {
        jobPages.push({ cursor, from });
        location.hash = jobsLink(name, next_cursor, from + jobs.length);
      } }, "Next") : "");
    if (!jobs.length) {
      table.replaceChildren(el("tr", {}, el("td", { colspan: 6, class: "empty" },
        name ? `No job's name holds “${name}”.` : "No jobs yet. Apply one with: docket apply -f job.yaml")));
      return;
    }
    const rows = jobs.map(job => {
      const last = job.last_run;
      const recent = job.recent_runs || [];
      // A strip is drawn again only when the job's recent runs changed.
      const key = recent.map(r => r.id + " " + r.state).join(",");
      let strip = strips.get(job.name);
      if (!strip || strip.dataset.key !== key) {
        strip = el("div", { class: "strip", "data-job": job.name, "data-key": key },
          recent.slice().reverse().map(r => el("a", { href: "#/runs/" + r.id, class: "s-" + r.state, title: `${r.state} · ${when(r.created_at)}${r.reason ? " · " + r.reason : ""}` })));
      }
      return [strip, el("tr", { "data-job": job.name },
        el("td", {}, el("a", { href: "#/jobs/" + encodeURIComponent(job.name) }, job.name), job.suspended ? el("div", { class: "muted" }, "suspended") : ""),
        el("td", {}, job.schedule_text || afterLinks(job) || el("span", { class: "muted" }, "on demand")),
        el("td", {}, job.suspended ? "" : timeCell(job.next_runs && job.next_runs[0])),
        el("td", {}, last ? [badge(last.state), " ", timeCell(last.finished_at || last.created_at),
          last.reason && last.state === "failed" ? el("div", { class: "muted" }, last.message) : ""] : el("span", { class: "muted" }, "never")),
        el("td", {}, strip),
        el("td", {}, jobActions(job, draw)))];
    });
    table.replaceChildren(...rows.map(r => r[1]));
    strips = new Map(rows.map(r => [r[0].dataset.job, r[0]]));
  };
  await draw();
  every(5000, () => draw().catch(e => toast(e.message, true)));
}

// afterLinks says which jobs' runs start a triggered job ("after load, clean"), each a link
// to its job, with the end it waits for when full; null for a job with no triggers.
function afterLinks(job, full) {
  const after = job.after || [];
  if (!after.length) return null;
  const parts = after.map((a, i) => [i ? ", " : "", el("a", { href: "#/jobs/" + encodeURIComponent(a.job) }, a.job),
    full ? ` (${a.on || "succeeded"})` : ""]);
  return el("span", {}, "after ", parts.flat());
}

async function jobPage(name) {
  const job = await api("GET", "/jobs/" + encodeURIComponent(name));
  const refresh = () => route();
  const fields = [
    ["Image", el("code", {}, job.image)],
    ["Command", job.command ? el("code", {}, job.command.join(" ")) : el("span", { class: "muted" }, "the image's entrypoint")],
    ["Resources", `cpu ${job.cpu}, memory ${job.memory}`],
    ["Schedule", job.schedule ? [job.schedule_text, el("div", { class: "mono muted" }, job.schedule)] : afterLinks(job, true) || "on demand"],
    ["Deadline", job.deadline], ["Retries", String(job.retries || 0)],
    ["Concurrency", job.concurrency], ["Revision", String(job.revision)],
  ];
  const runs = el("tbody");
  const charts = jobCharts(name);
  main.replaceChildren(
    el("h1", {}, job.name, " ", job.suspended ? el("span", { class: "badge s-skipped" }, "suspended") : ""),
    el("p", { class: "sub" }, job.suspended ? "Suspended: slots are recorded as skipped." :
      job.next_runs && job.next_runs.length ? ["Next runs: ", job.next_runs.slice(0, 3).map(t => when(t, job.timezone)).join(", ")] : ""),
    jobActions(job, refresh),
    el("h2", {}, "Definition"),
    el("div", { class: "grid" }, fields.map(([k, v]) => el("div", {}, el("span", {}, k), v))),
    charts.section,
    el("h2", {}, "Runs ", el("a", { href: "#/runs?job=" + encodeURIComponent(name), class: "muted" }, "(all)")),
    runsTable(runs));
  let drawn = "";
  const draw = async () => {
    const { runs: list } = await api("GET", `/runs?job=${encodeURIComponent(name)}&limit=20&top=true`);
    if (!runs.isConnected) return;
    const seen = JSON.stringify(list);
    if (seen !== drawn) fillRuns(runs, list, false);
    else refreshTimes();
    drawn = seen;
  };
  await Promise.all([draw(), charts.draw()]);
  every(3000, () => draw().catch(e => toast(e.message, true)));
  every(15000, () => charts.draw().catch(e => toast(e.message, true)));
}

function runsTable(tbody, withJob) {
  const heads = ["Run", withJob ? "Job" : null, "State", "Trigger", "Attempt", "Created", "Duration", "Exit", "Reason"].filter(Boolean);
  return el("table", { id: "runs" }, el("thead", {}, el("tr", {}, heads.map(h => el("th", {}, h)))), tbody);
}

function runRow(r, withJob) {
  return el("tr", { "data-run": r.id, "data-state": r.state },
    el("td", {}, runLink(r.id)),
    withJob ? el("td", {}, el("a", { href: "#/jobs/" + encodeURIComponent(r.job) }, r.job)) : null,
    el("td", {}, badge(r.state)),
    el("td", {}, r.trigger),
    el("td", {}, String(r.attempt)),
    el("td", {}, timeCell(r.created_at)),
    el("td", {}, duration(r)),
    el("td", {}, r.exit_code === undefined ? "" : String(r.exit_code)),
    el("td", { class: "msg" }, r.reason ? [el("strong", {}, r.reason), r.message ? ": " + r.message : ""] : ""));
}

function fillRuns(tbody, runs, withJob) {
  tbody.replaceChildren(...(runs.length ? runs.map(r => runRow(r, withJob))
    : [el("tr", {}, el("td", { colspan: 9, class: "empty" }, "No runs match."))]));
}

async function runsPage(params) {
  const job = params.get("job") || "", state = params.get("state") || "";
  const setFilter = (k, v) => {
    const p = new URLSearchParams(params);
    if (v) p.set(k, v); else p.delete(k);
    location.hash = "#/runs" + (p.toString() ? "?" + p : "");
  };
  // The job is typed, with the names that hold what is typed offered (a few at a time,
  // however many jobs there are).
  const names = el("datalist", { id: "job-names" });
  const jobSelect = el("input", { type: "search", id: "filter-job", list: "job-names", "aria-label": "job", placeholder: "all jobs", value: job,
    onchange: e => setFilter("job", e.target.value.trim()) });
  let typing = null;
  const offer = async () => {
    try {
      const { jobs } = await api("GET", "/jobs?limit=20&name=" + encodeURIComponent(jobSelect.value.trim()));
      names.replaceChildren(...jobs.map(j => el("option", { value: j.name })));
    } catch (e) { /* the list of names is a help only */ }
  };
  jobSelect.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(offer, 200); });
  jobSelect.addEventListener("focus", offer, { once: true });
  cleanup.push(() => clearTimeout(typing));
  const stateSelect = el("select", { id: "filter-state", "aria-label": "state", onchange: e => setFilter("state", e.target.value) },
    el("option", { value: "" }, "all states"), el("option", { value: ACTIVE.join(","), selected: state === ACTIVE.join(",") }, "active"),
    STATES.map(s => el("option", { value: s, selected: s === state }, s)));
  const tbody = el("tbody");
  const more = el("div", { class: "more" });
  main.replaceChildren(el("h1", {}, "Runs"), el("div", { class: "filters" }, "Job", jobSelect, names, "State", stateSelect), runsTable(tbody, true), more);
  const query = new URLSearchParams();
  if (job) query.set("job", job);
  if (state) query.set("state", state);
  query.set("top", "true"); // a workflow is one run; its page shows its steps
  let shown = 50, drawn = "";
  const draw = async () => {
    query.set("limit", String(shown));
    const { runs, next_cursor } = await api("GET", "/runs?" + query);
    if (!tbody.isConnected) return;
    const seen = JSON.stringify(runs);
    if (seen === drawn) {
      refreshTimes();
      return;
    }
    drawn = seen;
    fillRuns(tbody, runs, true);
    more.replaceChildren(next_cursor ? el("button", { onclick: () => { shown += 50; draw(); } }, "Show more") : "");
  };
  await draw();
  every(3000, () => draw().catch(e => toast(e.message, true)));
}

async function runPage(id) {
  const run = await api("GET", "/runs/" + id);
  let job = null;
  try { job = await api("GET", "/jobs/" + encodeURIComponent(run.job)); } catch (e) { /* a deleted job */ }
  const head = el("div");
  const facts = el("div", { class: "grid", id: "run-facts" });
  const timeline = el("ol", { class: "timeline", id: "timeline" });
  const report = el("div", { id: "report" });
  const steps = el("div", { id: "steps" });
  const group = el("div", { id: "group" });
  const files = el("div", { id: "files" });
  const log = el("pre", { class: "log", id: "log" });
  const live = el("span", { class: "live", id: "log-live" });
  main.replaceChildren(head, facts, group, files, report, steps, el("div", { class: "columns" },
    el("section", {}, el("h2", {}, "Timeline"), timeline),
    el("section", {}, el("div", { class: "log-head" }, el("h2", {}, "Log"), live), log)));

  let drawn = "";
  const draw = async () => {
    const [r, { events }, rep, children, fl] = await Promise.all([
      api("GET", "/runs/" + id), api("GET", `/runs/${id}/events`), api("GET", `/runs/${id}/report`),
      run.kind === "workflow" ? api("GET", `/runs?parent=${encodeURIComponent(id)}&limit=1000`).then(p => p.runs) : null,
      api("GET", `/runs/${id}/files`)]);
    const res = r.kind === "array" ? await api("GET", `/runs/${id}/results?limit=${GRID_TASKS}`) : null;
    const ended = !ACTIVE.includes(r.state);
    if (!head.isConnected) return true; // the page was left meanwhile
    // Redraw only what changed, so the Cancel button is not replaced under the pointer.
    const seen = JSON.stringify([r, events, rep, children, fl, res]);
    if (seen === drawn) return ended;
    drawn = seen;
    head.replaceChildren(
      el("h1", {}, "Run ", el("span", { class: "mono" }, r.id), " ", badge(r.state)),
      el("p", { class: "sub" }, "of ", el("a", { href: "#/jobs/" + encodeURIComponent(r.job) }, r.job), ` (revision ${r.revision})`,
        r.retry_of ? [", retrying ", runLink(r.retry_of)] : "", r.resumed_from ? [", resuming ", runLink(r.resumed_from)] : "",
        r.parent_id ? [r.step ? ", step " : ", task ", el("strong", {}, r.step || String(r.task_index)), " of ", runLink(r.parent_id)] : "",
        r.reused_from ? [", carried over from ", runLink(r.reused_from)] : ""),
      !ended && may("editor") ? el("div", { class: "actions" }, el("button", { class: "danger", "data-action": "cancel", onclick: () => cancelRun(r, draw) }, "Cancel run")) : "",
      // An array may have succeeded with failed tasks it tolerated (max_failed).
      ended && r.group && (r.kind === "array" ? r.group.succeeded < r.group.size : r.state !== "succeeded") && may("editor") ? el("div", { class: "actions" },
        el("button", { class: "primary", "data-action": "retry", onclick: () => retryRun(r) }, r.kind === "array" ? "Run failed tasks again" : "Resume")) : "",
      r.reason && ended ? el("div", { class: "reason" + (r.state === "succeeded" ? " ok" : ""), id: "run-reason" },
        el("strong", {}, r.reason), r.message ? ": " + r.message : "") : "",
      r.waiting_for ? el("div", { class: "reason", id: "run-waiting" }, el("strong", {}, "Waiting for"), ": " + r.waiting_for) : "");
    const resources = job && job.revision === r.revision ? `cpu ${job.cpu}, memory ${job.memory}` : job ? `cpu ${job.cpu}, memory ${job.memory} (current revision ${job.revision})` : "";
    facts.replaceChildren(...[
      ["Trigger", r.trigger], ["Attempt", String(r.attempt)],
      ["Scheduled for", r.scheduled_time ? when(r.scheduled_time) : "on demand"],
      ["Created", when(r.created_at)], ["Started", when(r.started_at)], ["Finished", when(r.finished_at)],
      ["Duration", duration(r)], ["Exit code", r.exit_code === undefined ? "" : String(r.exit_code)],
      ["Resources", resources],
      ["Queue", `${r.queue || "default"} (priority ${r.priority || 0})`],
      ["Params", Object.entries(r.params || {}).map(([k, v]) => `${k}=${v}`).join(", ")],
    ].map(([k, v]) => el("div", {}, el("span", {}, k), v || el("span", { class: "muted" }, "—"))));
    group.replaceChildren(res ? arraySection(res) : "");
    files.replaceChildren(filesSection(fl));
    const metrics = Object.entries(rep.metrics || {});
    report.replaceChildren(metrics.length || rep.result ? el("div", {},
      el("h2", {}, "Reported by the job"),
      el("div", { class: "grid" }, metrics.map(([k, v]) => el("div", {}, el("span", {}, k), String(v))),
        rep.result ? el("div", {}, el("span", {}, "result"), el("code", {}, JSON.stringify(rep.result))) : "")) : "");
    steps.replaceChildren(children ? el("div", {}, el("h2", {}, "Steps ", el("span", { class: "muted" }, r.message || "")),
      el("div", { class: "graph-wrap" }, workflowGraph(children))) : "");
    timeline.replaceChildren(...events.map((ev, i) => {
      const notice = i > 0 && ev.state === events[i - 1].state;
      return el("li", { class: notice ? "notice" : "" },
        el("div", { class: "when" }, when(ev.time)),
        el("div", {}, el("span", { class: "what" }, notice ? ev.reason : [ev.state, " · ", ev.reason])),
        el("div", { class: "muted" }, ev.message));
    }));
    return ended;
  };
  const ended = await draw();
  if (!ended) {
    const timer = setInterval(async () => {
      try { if (await draw()) clearInterval(timer); } catch (e) { toast(e.message, true); }
    }, 1000);
    cleanup.push(() => clearInterval(timer));
  }
  followLog(id, log, live, !ended);
}

// GRID_TASKS is how many of an array's tasks its page shows in the grid.
const GRID_TASKS = 1000;

// arraySection is an array run's progress bar and its tasks as a grid of links, coloured
// by state.
function arraySection(res) {
  const p = res.progress;
  const pct = n => (100 * n / Math.max(p.size, 1)).toFixed(2) + "%";
  const other = p.ended - p.succeeded - p.failed;
  // Widths through the style property: the page's policy refuses style attributes.
  const part = (state, n) => { const e = el("span", { class: "s-" + state, "data-part": state }); e.style.width = pct(n); return e; };
  const bar = el("div", { class: "progress", id: "array-progress", title: `${p.succeeded} succeeded, ${p.failed} failed, ${p.running} running, ${p.queued} queued` },
    part("succeeded", p.succeeded), part("failed", p.failed), part("cancelled", other), part("running", p.running));
  const words = `${p.succeeded}/${p.size} succeeded` + (p.failed ? `, ${p.failed} failed` : "") + (other ? `, ${other} cancelled or skipped` : "") + `, ${p.running} running, ${p.queued} queued`;
  const grid = el("div", { class: "tasks", id: "task-grid" }, res.results.map(t =>
    el("a", { href: "#/runs/" + t.run_id, class: "s-" + t.state, "data-index": String(t.index), "data-state": t.state,
      title: `task ${t.index}${t.input ? " · " + t.input : ""} · ${t.state}${t.attempt > 1 ? " · attempt " + t.attempt : ""}` })));
  const more = p.size > res.results.length ? el("p", { class: "muted" }, `the first ${res.results.length} of ${p.size} tasks; docket results ${res.run_id} lists them all`) : "";
  return el("section", {}, el("h2", {}, "Tasks"), el("p", { id: "array-words" }, words), bar, grid, more);
}

// filesSection lists a run's input and output files, each downloadable.
function filesSection(fl) {
  if (!fl.inputs.length && !fl.outputs.length) return "";
  const list = (title, fs, id) => fs.length ? el("div", {}, el("h2", {}, title), el("ul", { class: "files", id },
    fs.map(f => el("li", {}, el("a", { href: "#", "data-sha": f.sha256, onclick: e => { e.preventDefault(); download(f); } }, f.path),
      el("span", { class: "muted" }, ` ${f.size} bytes`))))) : "";
  return el("div", { class: "columns" }, list("Input files", fl.inputs, "inputs"), list("Output files", fl.outputs, "outputs"));
}

// download fetches a blob with the token and saves it under its path's name.
async function download(f) {
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  const resp = await fetch("/api/v1/blobs/" + f.sha256, { headers });
  if (!resp.ok) { toast(`download ${f.path}: HTTP ${resp.status}`, true); return; }
  const url = URL.createObjectURL(await resp.blob());
  const a = el("a", { href: url, download: f.path.split("/").pop() });
  document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// followLog shows a run's output, following it while the run is active.
async function followLog(id, pre, live, follow) {
  const ctl = new AbortController();
  cleanup.push(() => ctl.abort());
  pre.textContent = "";
  live.textContent = follow ? "● live" : "";
  const headers = token() ? { Authorization: "Bearer " + token() } : {};
  try {
    const resp = await fetch(`/api/v1/runs/${id}/logs${follow ? "?follow=true" : ""}`, { headers, signal: ctl.signal });
    if (!resp.ok) throw new APIError(resp.status, await resp.json().catch(() => null));
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
      pre.append(decoder.decode(value, { stream: true }));
      if (atBottom) pre.scrollTop = pre.scrollHeight;
    }
    if (!pre.textContent) pre.append(el("span", { class: "muted" }, "(no output)"));
    pre.dataset.done = "true";
  } catch (e) {
    if (e.name !== "AbortError") pre.append(el("span", { class: "error" }, "\n[could not read the log: " + e.message + "]"));
  } finally {
    live.textContent = "";
  }
}

// ---- routing ----

async function route() {
  cleanup.forEach(f => f());
  cleanup = [];
  const hash = location.hash.replace(/^#/, "") || "/jobs";
  const [path, query] = hash.split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  for (const a of document.querySelectorAll("[data-nav]")) a.classList.toggle("active", a.dataset.nav === parts[0]);
  try {
    if (parts[0] === "jobs" && parts[1]) await jobPage(parts[1]);
    else if (parts[0] === "runs" && parts[1]) await runPage(parts[1]);
    else if (parts[0] === "runs") await runsPage(params);
    else await jobsPage(params);
    document.title = "Docket · " + (parts[1] || parts[0] || "jobs");
  } catch (e) {
    main.replaceChildren(el("div", { class: "empty error", id: "page-error" }, e.message));
  }
}

async function start() {
  try {
    me = await api("GET", "/whoami");
  } catch (e) {
    me = { role: "viewer" };
  }
  const who = document.getElementById("who");
  if (me.auth) {
    who.replaceChildren(`${me.name} (${me.role})`,
      el("button", { onclick: () => { localStorage.removeItem("docket-token"); location.reload(); } }, "Sign out"));
  }
  window.addEventListener("hashchange", route);
  await route();
  document.body.dataset.ready = "true";
}

start();
