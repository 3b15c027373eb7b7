// microrack hub dashboard: cards per node, totals, alerts, per-node charts (plotly.js).
// Everything live through /api/v1/events (server-sent events); no page reloads.
"use strict";

const state = { nodes: new Map(), alerts: new Map(), summary: null, range: 3600, current: null };
const $ = (id) => document.getElementById(id);

function fmt(v, digits = 0, unit = "") {
  return v === null || v === undefined || Number.isNaN(v) ? "–" : v.toFixed(digits) + unit;
}
function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(0) + " %"; }
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

function meter(ratio, cls = "") {
  const w = Math.max(0, Math.min(1, ratio ?? 0)) * 100;
  return `<span class="meter"><i class="${cls}" style="width:${w.toFixed(1)}%"></i></span>`;
}

function cardHtml(n) {
  const h = n.headline || {};
  const limit = h.throttle_limit_celsius;
  const t = h.temp_max_celsius;
  const tRatio = t != null ? (limit ? t / limit : t / 90) : 0;
  const tCls = limit && t != null ? (t >= limit - 5 ? "hot" : t >= limit - 15 ? "warm" : "") : "";
  const flags = (h.throttled || []).join(", ");
  return `
    <h3><span class="name">${esc(n.name)}</span><span class="badge ${n.status}" data-field="status">${n.status}</span></h3>
    <div class="board">${esc(n.board || "")} · ${esc(n.address)}:${n.port}</div>
    <div class="row"><span class="k">CPU</span>${meter(h.cpu_busy_ratio)}<span class="v" data-field="cpu">${pct(h.cpu_busy_ratio)}</span></div>
    <div class="row"><span class="k">mem</span>${meter(h.mem_used_ratio)}<span class="v" data-field="mem">${pct(h.mem_used_ratio)}</span></div>
    <div class="row"><span class="k">temp</span>${meter(tRatio, tCls)}<span class="v" data-field="temp">${fmt(t, 1)}${limit ? "/" + fmt(limit, 0) : ""} °C</span></div>
    <div class="row"><span class="k">disk</span>${meter(h.disk_used_ratio)}<span class="v" data-field="disk">${pct(h.disk_used_ratio)}</span></div>
    <div class="row"><span class="k">fan</span><span class="v" data-field="fan">${fmt(h.fan_rpm, 0, " rpm")}</span>
      <span class="k">power</span><span class="v" data-field="power">${fmt(h.power_watts, 2, " W")}</span></div>
    <div class="flags" data-field="flags">${esc(flags)}</div>`;
}

function renderNode(n) {
  state.nodes.set(n.name, n);
  let card = document.querySelector(`.card[data-node="${CSS.escape(n.name)}"]`);
  if (!card) {
    card = document.createElement("div");
    card.dataset.node = n.name;
    card.addEventListener("click", () => { location.hash = "node=" + encodeURIComponent(n.name); });
    const cards = $("cards");
    const after = [...cards.children].find((c) => c.dataset.node > n.name);
    cards.insertBefore(card, after || null);
  }
  card.className = `card ${n.status}`;
  card.innerHTML = cardHtml(n);
  applyFilter(card);
  if (state.current === n.name) {
    $("nv-status").textContent = n.status;
    $("nv-status").className = `badge ${n.status}`;
  }
}

function applyFilter(card) {
  const f = $("filter").value.trim().toLowerCase();
  const n = state.nodes.get(card.dataset.node);
  card.hidden = f && !`${n.name} ${n.board} ${n.status}`.toLowerCase().includes(f);
}

function renderAlerts() {
  const list = [...state.alerts.values()].filter((a) => a.state === "firing");
  list.sort((a, b) => (a.severity === "critical" ? 0 : 1) - (b.severity === "critical" ? 0 : 1) || a.since - b.since);
  $("alerts").innerHTML = list.map((a) =>
    `<div class="alert ${esc(a.severity)}" data-alert="${esc(a.name)}" data-node="${esc(a.node)}">` +
    `<span class="an">${esc(a.name)}</span>${esc(a.summary)}</div>`).join("");
  $("t-alerts").textContent = list.length;
}

function renderSummary(s) {
  state.summary = s;
  const total = Object.values(s.nodes).reduce((a, b) => a + b, 0);
  $("t-nodes").textContent = `${s.nodes.up}/${total}`;
  $("t-watts").textContent = fmt(s.watts, 1);
  $("t-kwh").textContent = fmt(s.kwh_today, 3);
  $("t-cost").textContent = s.monthly_cost == null ? "–" : `${fmt(s.monthly_cost, 2)} ${s.currency || ""}`;
}

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

let summaryTimer = null;
function refreshSummarySoon() {
  if (summaryTimer) return;
  summaryTimer = setTimeout(async () => {
    summaryTimer = null;
    try { renderSummary(await getJSON("/api/v1/summary")); } catch (e) { /* next event retries */ }
  }, 2000);
}

function connect() {
  const es = new EventSource("/api/v1/events");
  es.onopen = () => $("live").classList.add("on");
  es.onerror = () => $("live").classList.remove("on");
  es.addEventListener("node", (e) => {
    renderNode(JSON.parse(e.data)); refreshSummarySoon(); chartsSoon(); clusterSoon();
  });
  es.addEventListener("summary", (e) => renderSummary(JSON.parse(e.data)));
  es.addEventListener("alert", (e) => {
    const a = JSON.parse(e.data);
    if (a.state === "resolved") state.alerts.delete(a.fingerprint); else state.alerts.set(a.fingerprint, a);
    renderAlerts();
  });
}

// ---- node page -------------------------------------------------------------
const CHARTS = [
  { id: "ch-cpu", title: "CPU busy", metric: "microrack_cpu_busy_ratio", unit: "ratio" },
  { id: "ch-temp", title: "Temperatures (°C)", metric: ["node_hwmon_temp_celsius", "node_thermal_zone_temp"], limit: true },
  { id: "ch-power", title: "Power (W)", metric: "microrack_power_watts" },
  { id: "ch-fan", title: "Fan (rpm)", metric: "microrack_fan_rpm" },
  { id: "ch-mem", title: "Memory available (bytes)", metric: "node_memory_MemAvailable_bytes",
    yaxis: { tickformat: ".3s", rangemode: "tozero" } },  // 6.75G, not a clipped 6750376965B
  { id: "ch-net", title: "Network received (bytes/s)", metric: "node_network_receive_bytes_total", rate: true,
    yaxis: { tickformat: ".3s" } },
];
const LAYOUT = {
  paper_bgcolor: "#1a2129", plot_bgcolor: "#1a2129", font: { color: "#e6e6e6", size: 11 },
  margin: { l: 70, r: 10, t: 30, b: 30 }, xaxis: { type: "date", gridcolor: "#263040" },
  yaxis: { gridcolor: "#263040" }, showlegend: true, legend: { orientation: "h", y: -0.2 },
};

function seriesName(s) {
  const l = Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(",");
  return l ? `${s.metric}{${l}}` : s.metric;
}

async function drawCharts() {
  const node = state.current;
  if (!node) return;
  const now = Date.now() / 1000;
  const from = now - state.range;
  for (const c of CHARTS) {
    const metrics = Array.isArray(c.metric) ? c.metric : [c.metric];
    const traces = [];
    for (const m of metrics) {
      const q = `/api/v1/query?metric=${m}&node=${encodeURIComponent(node)}&from=${from}&to=${now}&points=600${c.rate ? "&rate=1" : ""}`;
      try {
        const d = await getJSON(q);
        for (const s of d.series) {
          traces.push({ x: s.points.map((p) => new Date(p[0] * 1000)), y: s.points.map((p) => p[1]),
                        name: seriesName(s), mode: "lines", type: "scatter" });
        }
      } catch (e) { /* keep the old chart */ }
    }
    const layout = { ...LAYOUT, title: { text: c.title, font: { size: 13 } },
                     yaxis: { ...LAYOUT.yaxis, ...(c.yaxis || {}) } };
    const n = state.nodes.get(node);
    const limit = n && n.headline && n.headline.throttle_limit_celsius;
    if (c.limit && limit) {
      layout.shapes = [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: limit, y1: limit,
                         line: { color: "#f85149", dash: "dash" } }];
    }
    Plotly.react(c.id, traces, layout, { displaylogo: false, responsive: true });
  }
}

// ---- cluster view: every node on one chart, last hour ------------------------
const CLUSTER_SPAN = 3600, CLUSTER_POINTS = 120;

// One query for a metric over all nodes; every series is bucketed on the same time grid
// (a fixed step), so per-node values can be combined by timestamp.
async function clusterSeries(metric, from, to) {
  const step = (to - from) / CLUSTER_POINTS;
  const d = await getJSON(`/api/v1/query?metric=${metric}&from=${from}&to=${to}&step=${step}s&points=${CLUSTER_POINTS}`);
  return d.series;
}

// Per node, per timestamp, combine the values of all its series (max, or the first seen).
function perNode(series, combine) {
  const byNode = new Map();
  for (const s of series) {
    const m = byNode.get(s.node) || new Map();
    for (const [t, v] of s.points) m.set(t, m.has(t) ? combine(m.get(t), v) : v);
    byNode.set(s.node, m);
  }
  return [...byNode.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([node, m]) => {
    const pts = [...m.entries()].sort((a, b) => a[0] - b[0]);
    return { x: pts.map((p) => new Date(p[0] * 1000)), y: pts.map((p) => p[1]), name: node,
             mode: pts.length < 3 ? "lines+markers" : "lines", type: "scatter",
             hovertemplate: `${node}: %{y:.1f}<extra></extra>` };
  });
}

async function drawCluster() {
  if (state.current) return;
  const to = Date.now() / 1000, from = to - CLUSTER_SPAN;
  let power, temps;
  try {
    power = await clusterSeries("microrack_power_watts", from, to);
    temps = (await clusterSeries("node_thermal_zone_temp", from, to)).concat(
      (await clusterSeries("node_hwmon_temp_celsius", from, to))
        .filter((s) => !(s.labels.chip || "").includes("nvme")));  // SoC only, as the cards
  } catch (e) { return; }  // keep the old charts
  const legend = state.nodes.size <= 12;
  const layout = (title) => ({
    ...LAYOUT, title: { text: title, font: { size: 13 } }, showlegend: legend,
    xaxis: { ...LAYOUT.xaxis, range: [new Date(from * 1000), new Date(to * 1000)] },
    legend: { orientation: "h", y: -0.3 }, margin: { l: 50, r: 10, t: 30, b: legend ? 55 : 30 },
  });
  Plotly.react("cl-power", perNode(power, (a, b) => a), layout("Power per node, last hour (W)"),
               { displaylogo: false, responsive: true });
  Plotly.react("cl-temp", perNode(temps, Math.max), layout("Hottest temperature per node, last hour (°C)"),
               { displaylogo: false, responsive: true });
}

let clusterTimer = null;
function clusterSoon() {
  if (state.current || clusterTimer) return;
  // the buckets are 30 s wide: a redraw every 15 s is live enough and spares the store
  clusterTimer = setTimeout(() => { clusterTimer = null; drawCluster(); }, 15000);
}

let chartTimer = null;
function chartsSoon() {
  if (!state.current || chartTimer) return;
  chartTimer = setTimeout(() => { chartTimer = null; drawCharts(); }, 3000);
}

function route() {
  const m = location.hash.match(/^#node=(.+)$/);
  state.current = m ? decodeURIComponent(m[1]) : null;
  $("overview").hidden = !!state.current;
  $("nodeview").hidden = !state.current;
  if (state.current) {
    $("nv-title").textContent = state.current;
    const n = state.nodes.get(state.current);
    if (n) { $("nv-status").textContent = n.status; $("nv-status").className = `badge ${n.status}`; }
    drawCharts();
  } else {
    drawCluster();
  }
}

async function start() {
  $("filter").addEventListener("input", () => document.querySelectorAll(".card").forEach(applyFilter));
  $("ranges").addEventListener("click", (e) => {
    const r = e.target.dataset && e.target.dataset.range;
    if (!r) return;
    state.range = Number(r);
    document.querySelectorAll("#ranges button").forEach((b) => b.classList.toggle("on", b === e.target));
    drawCharts();
  });
  window.addEventListener("hashchange", route);
  try {
    const d = await getJSON("/api/v1/nodes");
    d.nodes.forEach(renderNode);
    renderSummary(d.summary);
    const a = await getJSON("/api/v1/alerts");
    a.alerts.forEach((x) => state.alerts.set(x.fingerprint, x));
    renderAlerts();
  } catch (e) { console.error(e); }
  connect();
  route();
}

start();
