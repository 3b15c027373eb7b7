// microrack hub dashboard: overview (cards or table), rack view, alerts with history, node pages.
// Live through /api/v1/events (server-sent events); charts with plotly.js served by the hub.
"use strict";

const RANGES = [900, 3600, 21600, 86400, 604800, 2592000];
const state = {
  nodes: new Map(), alerts: new Map(), history: [], summary: null, strip: null,
  range: null, rangeChosen: false, zoom: null, at: null, view: "overview", current: null,
  layout: null, rack: null, rackColor: "temp", sort: { key: "name", dir: 1 },
  prev: new Map(), rates: new Map(), firstSample: null,
};
const $ = (id) => document.getElementById(id);
// plotly.js (4.8 MB of script) is fetched once the numbers are on screen: evaluating it
// takes the main thread for a while, and the cards and table should not wait for it
let plotlyLoaded = null;
const plotlyReady = new Promise((resolve, reject) => { plotlyLoaded = { resolve, reject }; });
function loadPlotly() {
  if (document.getElementById("plotly-js")) return;
  const tag = document.createElement("script");
  tag.id = "plotly-js";
  tag.src = "/static/plotly.min.js";
  tag.addEventListener("load", () => plotlyLoaded.resolve());
  tag.addEventListener("error", () => plotlyLoaded.reject(new Error("plotly.min.js did not load")));
  document.head.appendChild(tag);
}
const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

// ---- formatting --------------------------------------------------------------
const nil = (v) => v === null || v === undefined || Number.isNaN(v);
function fmt(v, digits = 0, unit = "") { return nil(v) ? "–" : v.toFixed(digits) + unit; }
function pct(v) { return nil(v) ? "–" : (v * 100).toFixed(0) + " %"; }
function bytes(v, suffix = "B") {
  if (nil(v)) return "–";
  const u = ["", "k", "M", "G", "T", "P"];
  let i = 0;
  while (Math.abs(v) >= 1000 && i < u.length - 1) { v /= 1000; i++; }
  return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${u[i]}${suffix}`;
}
function duration(s) {
  if (nil(s)) return "–";
  s = Math.max(0, s);
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(0)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.round((s % 86400) / 3600)} h`;
}
function when(t) {
  if (nil(t)) return "–";
  const d = new Date(t * 1000);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString() : d.toLocaleString();
}
function money(v, cur) {
  if (nil(v)) return "–";
  if (!cur) return v.toFixed(v < 1 ? 4 : 2);
  try { return new Intl.NumberFormat(undefined, { style: "currency", currency: cur, maximumFractionDigits: v < 1 ? 4 : 2 }).format(v); }
  catch (e) { return `${v.toFixed(v < 1 ? 4 : 2)} ${cur}`.trim(); }
}
function rangeName(s) { return s >= 86400 ? `${s / 86400} d` : s >= 3600 ? `${s / 3600} h` : `${s / 60} min`; }
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function meter(ratio, cls = "") {
  const w = Math.max(0, Math.min(1, ratio ?? 0)) * 100;
  return `<span class="meter"><i class="${cls}" style="width:${w.toFixed(1)}%"></i></span>`;
}
function tempClass(t, limit) {
  if (nil(t) || !limit) return "";
  return t >= limit - 5 ? "hot" : t >= limit - 15 ? "warm" : "";
}

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  return r.json();
}

// ---- theme: plotly colours follow the CSS variables (light or dark, as the system) ------------
function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
function baseLayout(title, extra = {}) {
  const grid = css("--grid"), text = css("--text"), panel = css("--panel");
  return {
    paper_bgcolor: panel, plot_bgcolor: panel, font: { color: text, size: 11 },
    title: { text: title, font: { size: 13 }, x: 0.01, xanchor: "left" },
    margin: { l: 56, r: 12, t: 30, b: 30 }, hovermode: "x unified",
    xaxis: { type: "date", gridcolor: grid, range: xRange() },
    yaxis: { gridcolor: grid, zerolinecolor: grid, automargin: true },
    showlegend: true, legend: { orientation: "h", y: -0.3, font: { size: 10 } },
    ...extra,
  };
}

// ---- time range shared by every chart ----------------------------------------------------
function now() { return Date.now() / 1000; }
function span() {
  if (state.at) return state.range || 3600;
  return state.range || fitRange();
}
function fitRange() {
  // the shortest preset holding all the data present: a minute of data fills the chart
  const first = state.firstSample;
  if (!first) return 3600;
  const age = now() - first;
  return RANGES.find((r) => r >= age) || RANGES[RANGES.length - 1];
}
function window_() {
  const s = span();
  if (state.at) {
    const to = Math.min(now(), state.at + s / 2);
    return { from: to - s, to };
  }
  const to = now();
  return { from: to - s, to };
}
function xRange() {
  if (state.zoom) return state.zoom.map((t) => new Date(t));
  const w = window_();
  const from = state.firstSample && !state.at ? Math.max(w.from, state.firstSample - 1) : w.from;
  return [new Date(from * 1000), new Date(w.to * 1000)];
}
function renderRangeBar() {
  const s = span();
  document.querySelectorAll("#ranges button").forEach((b) => b.classList.toggle("on", Number(b.dataset.range) === s));
  const w = window_();
  const data = state.firstSample && !state.at && state.firstSample > w.from
    ? ` · data since ${when(state.firstSample)}` : "";
  $("range-label").textContent = (state.at ? `around ${when(state.at)}, ` : "last ") + rangeName(s) + data;
  $("zoom-reset").hidden = !state.zoom && !state.at;
}

// synced zoom: a zoom on any chart applies to all; double-click resets
const syncing = new Set();
function bindZoom(el) {
  if (el.dataset.zoomBound) return;
  el.dataset.zoomBound = "1";
  el.on("plotly_relayout", (ev) => {
    if (syncing.has(el)) { syncing.delete(el); return; }
    if (ev["xaxis.autorange"]) { state.zoom = null; redrawAll(); return; }
    const r = ev["xaxis.range"] || [ev["xaxis.range[0]"], ev["xaxis.range[1]"]];
    const [a, b] = r;
    if (a === undefined || b === undefined) return;
    state.zoom = [new Date(a).getTime(), new Date(b).getTime()];
    renderRangeBar();
    for (const other of document.querySelectorAll(".chart.js-plotly-plot")) {
      if (other === el || other.offsetParent === null) continue;
      syncing.add(other);
      Plotly.relayout(other, { "xaxis.range": state.zoom.map((t) => new Date(t)) });
    }
  });
}
// Annotations (chaos runs' fault windows) shaded on every chart of the window.
async function loadAnnotations(from, to) {
  try {
    const d = await getJSON(`/api/v1/annotations?start=${from}&end=${to}`);
    state.annotations = d.annotations || [];
  } catch (e) { /* keep the last ones */ }
}
function shadeAnnotations(layout) {
  const node = state.view === "overview" ? null : state.current;
  const marks = (state.annotations || []).filter((a) => !node || !a.nodes.length || a.nodes.includes(node));
  if (!marks.length) return layout;
  const t = (x) => new Date(x * 1000);
  layout.shapes = [...(layout.shapes || []), ...marks.map((a) => ({
    type: "rect", xref: "x", yref: "paper", x0: t(a.start), x1: t(a.end ?? now()), y0: 0, y1: 1,
    fillcolor: css("--warn"), opacity: 0.12, line: { width: 0 }, layer: "below",
  }))];
  return layout;
}
function plot(id, traces, layout) {
  if (!window.Plotly) return;  // drawn on the next refresh
  const el = $(id);
  Plotly.react(el, traces, shadeAnnotations(layout), PLOT_CONFIG);
  bindZoom(el);
}
function lines(series, opts = {}) {
  return series.map((s) => ({
    x: s.t.map((t) => new Date(t * 1000)), y: s.v, name: esc(s.name), type: "scatter",
    mode: s.t.length < 3 ? "lines+markers" : "lines", ...opts,
    ...(opts.perSeries ? opts.perSeries(s) : {}),
  })).map((t) => { delete t.perSeries; return t; });
}

// ---- overview: cards, table, cluster strip -------------------------------------------------
function alertsOf(name) { return [...state.alerts.values()].filter((a) => a.node === name && a.state === "firing"); }

function cardHtml(n) {
  const h = n.headline || {};
  const limit = h.throttle_limit_celsius, t = h.temp_max_celsius;
  const tRatio = nil(t) ? 0 : (limit ? t / limit : t / 90);
  const flags = (h.throttled || []).map((f) => f.replace(/_/g, " ")).join(", ");
  const r = state.rates.get(n.name) || {};
  const al = alertsOf(n.name).length;
  return `
    <h3><a class="name" href="#node=${encodeURIComponent(n.name)}">${esc(n.name)}</a><span class="badge ${n.status}" data-field="status">${n.status}</span></h3>
    <div class="board">${esc(n.board || "")} · ${esc(n.address)}:${n.port}${al ? ` · <b class="crit">${al} alert${al > 1 ? "s" : ""}</b>` : ""}</div>
    <div class="row"><span class="k">CPU</span>${meter(h.cpu_busy_ratio)}<span class="v" data-field="cpu">${pct(h.cpu_busy_ratio)}</span></div>
    <div class="row"><span class="k">mem</span>${meter(h.mem_used_ratio)}<span class="v" data-field="mem">${pct(h.mem_used_ratio)}</span></div>
    <div class="row"><span class="k">temp</span>${meter(tRatio, tempClass(t, limit))}<span class="v" data-field="temp">${fmt(t, 1)}${limit ? " / " + fmt(limit, 0) : ""} °C</span></div>
    <div class="row"><span class="k">disk</span>${meter(h.disk_used_ratio)}<span class="v" data-field="disk">${pct(h.disk_used_ratio)}</span></div>
    <div class="row"><span class="k">fan</span><span class="v" data-field="fan">${fmt(h.fan_rpm, 0, " rpm")}</span>
      <span class="k">power</span><span class="v" data-field="power">${fmt(h.power_watts, 2, " W")}</span></div>
    <div class="row"><span class="k">net</span><span class="v wide">↓ ${bytes(r.rx, "B/s")} ↑ ${bytes(r.tx, "B/s")}</span></div>
    <div class="flags" data-field="flags">${esc(flags)}</div>`;
}

function trackRates(n) {
  const h = n.headline || {};
  const p = state.prev.get(n.name);
  if (p && n.last_seen && p.t && n.last_seen > p.t) {
    const dt = n.last_seen - p.t;
    const r = (a, b) => (nil(a) || nil(b) || a < b ? null : (a - b) / dt);
    state.rates.set(n.name, { rx: r(h.net_rx_bytes_total, p.rx), tx: r(h.net_tx_bytes_total, p.tx) });
  }
  if (n.last_seen) state.prev.set(n.name, { t: n.last_seen, rx: h.net_rx_bytes_total, tx: h.net_tx_bytes_total });
}

const dirty = new Set();
let frame = null;
function nodeEvent(n) {
  trackRates(n);
  state.nodes.set(n.name, n);
  dirty.add(n.name);
  if (!frame) frame = requestAnimationFrame(flushNodes);
}
function flushNodes() {
  frame = null;
  const names = [...dirty].filter((name) => state.nodes.has(name));
  dirty.clear();
  if (state.layoutMode === "cards") for (const name of names) renderCard(state.nodes.get(name));
  else tableSoon();
  if (state.view === "rack") renderRack();
  if (state.current && names.includes(state.current)) renderNodeHeader();
}

function renderCard(n) {
  let card = document.querySelector(`.card[data-node="${CSS.escape(n.name)}"]`);
  if (!card) {
    card = document.createElement("div");
    card.dataset.node = n.name;
    card.addEventListener("click", (e) => {
      if (e.target.tagName !== "A") location.hash = "node=" + encodeURIComponent(n.name);
    });
    const cards = $("cards");
    const after = [...cards.children].find((c) => c.dataset.node > n.name);
    cards.insertBefore(card, after || null);
  }
  card.className = `card ${n.status}`;
  card.innerHTML = cardHtml(n);
  card.hidden = !matches(n);
}
function matches(n) {
  const f = $("filter").value.trim().toLowerCase();
  return !f || `${n.name} ${n.board} ${n.status}`.toLowerCase().includes(f);
}

function rowValues(n) {
  const h = n.headline || {}, r = state.rates.get(n.name) || {};
  return {
    name: n.name, board: n.board || "", status: n.status, cpu: h.cpu_busy_ratio, mem: h.mem_used_ratio,
    temp: h.temp_max_celsius, limit: h.throttle_limit_celsius, fan: h.fan_rpm, power: h.power_watts,
    rx: r.rx, tx: r.tx, uptime: h.boot_time_seconds ? now() - h.boot_time_seconds : null,
    alerts: alertsOf(n.name).length,
  };
}
function renderTable() {
  const { key, dir } = state.sort;
  const rows = [...state.nodes.values()].filter(matches).map(rowValues);
  rows.sort((a, b) => {
    const x = a[key], y = b[key];
    if (nil(x) && nil(y)) return a.name < b.name ? -1 : 1;
    if (nil(x)) return 1;
    if (nil(y)) return -1;
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
  document.querySelectorAll("#nodetable th").forEach((th) => {
    th.classList.toggle("sorted", th.dataset.sort === key);
    th.dataset.dir = th.dataset.sort === key ? (dir > 0 ? "▲" : "▼") : "";
  });
  $("nodetable").tBodies[0].innerHTML = rows.map((r) => `
    <tr data-node="${esc(r.name)}" class="${r.status}">
      <td><a href="#node=${encodeURIComponent(r.name)}">${esc(r.name)}</a></td><td>${esc(r.board)}</td>
      <td><span class="badge ${r.status}">${r.status}</span></td>
      <td class="num">${pct(r.cpu)}</td><td class="num">${pct(r.mem)}</td>
      <td class="num ${tempClass(r.temp, r.limit)}">${fmt(r.temp, 1)}${r.limit ? " / " + fmt(r.limit, 0) : ""} °C</td>
      <td class="num">${fmt(r.fan, 0, " rpm")}</td><td class="num">${fmt(r.power, 2, " W")}</td>
      <td class="num">${bytes(r.rx, "B/s")}</td><td class="num">${bytes(r.tx, "B/s")}</td>
      <td class="num">${duration(r.uptime)}</td><td class="num ${r.alerts ? "crit" : ""}">${r.alerts}</td>
    </tr>`).join("");
}
// the table is re-sorted as a whole: at most once a second, however many nodes report
let tableTimer = null;
function tableSoon() {
  if (tableTimer) return;
  tableTimer = setTimeout(() => { tableTimer = null; renderTable(); }, 1000);
}
function setLayoutMode(mode) {
  state.layoutMode = mode;
  $("cards").hidden = mode !== "cards";
  $("tablewrap").hidden = mode !== "table";
  document.querySelectorAll("[data-layout]").forEach((b) => b.classList.toggle("on", b.dataset.layout === mode));
  if (mode === "table") renderTable();
  else for (const n of state.nodes.values()) renderCard(n);
}

function renderStrip(s) {
  state.strip = s;
  if (s.first_sample && (!state.firstSample || s.first_sample < state.firstSample)) {
    state.firstSample = s.first_sample;
    renderRangeBar();  // the range that fits the data may have changed
  }
  const total = Object.values(s.nodes).reduce((a, b) => a + b, 0);
  $("t-nodes").textContent = `${s.nodes.up}/${total}`;
  $("t-watts").textContent = fmt(s.watts, 1, " W");
  const since = s.energy_since;
  $("t-kwh").textContent = nil(s.energy_kwh) ? "–" : (s.energy_kwh < 0.1 ? fmt(s.energy_kwh * 1000, 1, " Wh") : fmt(s.energy_kwh, 3, " kWh"));
  $("t-since").textContent = since ? `since ${when(since)}` : "(no power samples today)";
  const cur = s.currency || "";
  $("t-cost").textContent = s.price_kwh == null ? "–" : money(s.energy_cost, cur);
  $("t-cost-label").textContent = s.price_kwh == null ? "cost (no --price-kwh)"
    : `since ${since ? when(since) : "midnight"} at ${money(s.price_kwh, cur)}/kWh${cur ? "" : " (no --currency)"}`;
  $("t-month").textContent = s.price_kwh == null ? "–" : money(s.monthly_cost, cur);
  $("t-poe").innerHTML = (s.poe || []).map((p) => {
    const ratio = p.used_w / p.budget_w;
    return `<span class="total poe-sw" data-switch="${esc(p.switch)}">PoE ${esc(p.switch)} ${meter(ratio, ratio > 0.9 ? "hot" : ratio > 0.75 ? "warm" : "")}<b>${fmt(p.used_w, 1)} / ${fmt(p.budget_w, 0)} W</b></span>`;
  }).join("");
  $("t-alerts").textContent = s.alerts_firing ?? 0;
}
let stripTimer = null;
function stripSoon() {
  if (stripTimer) return;
  stripTimer = setTimeout(async () => {
    stripTimer = null;
    try { renderStrip(await getJSON("/api/v1/cluster")); } catch (e) { /* the next event retries */ }
  }, 2000);
}

// ---- cluster charts: every node on one chart, from one request ------------------------------
const CLUSTER_POINTS = 120;
function nodeTraces(series, unit) {
  return series.map((s) => ({
    x: s.t.map((t) => new Date(t * 1000)), y: s.v, name: esc(s.name), type: "scatter",
    mode: s.t.length < 3 ? "lines+markers" : "lines",
    hovertemplate: `${esc(s.name).replace(/%/g, "&#37;")}: %{y:.1f} ${unit}<extra></extra>`,
  }));
}
async function drawCluster() {
  if (state.view !== "overview") return;
  const { from, to } = window_();
  let d;
  try {
    d = await getJSON(`/api/v1/cluster/series?from=${from}&to=${to}&points=${CLUSTER_POINTS}`);
    await loadAnnotations(from, to);
    await plotlyReady;
  } catch (e) { return; }  // keep the old charts
  const legend = state.nodes.size <= 12;
  const extra = { showlegend: legend, legend: { orientation: "h", y: -0.3 }, margin: { l: 50, r: 10, t: 30, b: legend ? 55 : 30 } };
  const w = rangeName(span());
  const lp = baseLayout(`Power per node (W), ${w}`, extra);
  lp.yaxis.ticksuffix = " W";
  plot("cl-power", nodeTraces(d.power, "W"), lp);
  const lt = baseLayout(`Hottest SoC temperature per node (°C), ${w}`, extra);
  lt.yaxis.ticksuffix = " °C";
  plot("cl-temp", nodeTraces(d.temperature, "°C"), lt);
}

// ---- rack view -----------------------------------------------------------------------
function rackColour(n) {
  if (!n) return "var(--unknown)";
  if (state.rackColor === "status" || n.status !== "up") return `var(--${n.status})`;
  const h = n.headline || {};
  const t = h.temp_max_celsius, limit = h.throttle_limit_celsius || 85;
  if (nil(t)) return "var(--unknown)";
  // 30 °C blue-green .. limit red
  const x = Math.max(0, Math.min(1, (t - 30) / (limit - 30)));
  return `hsl(${(1 - x) * 140}, 65%, 42%)`;
}
function renderRack() {
  const el = $("rack");
  const layout = state.rack;
  if (!layout) {
    el.innerHTML = `<p class="empty">No cluster.yaml: start the hub with <code>--spec cluster.yaml</code> to lay out racks, shelves and switch ports.</p>`;
    return;
  }
  $("rack-title").textContent = `Rack · ${layout.cluster}`;
  const racks = new Map();
  for (const n of layout.nodes) {
    const shelves = racks.get(n.rack) || new Map();
    const list = shelves.get(n.shelf) || [];
    list.push(n);
    shelves.set(n.shelf, list);
    racks.set(n.rack, shelves);
  }
  const nodeBox = (n) => {
    const live = state.nodes.get(n.name);
    const h = (live && live.headline) || {};
    const tip = `${n.name} (${n.board}) ${live ? live.status : "not seen"} ${nil(h.temp_max_celsius) ? "" : h.temp_max_celsius.toFixed(1) + " °C"}`;
    return `<a class="slot" href="#node=${encodeURIComponent(n.name)}" data-node="${esc(n.name)}" data-rack="${esc(n.rack)}" data-shelf="${esc(n.shelf)}" data-slot="${n.slot}"
      title="${esc(tip)}" style="background:${rackColour(live)}"><b>${esc(n.name)}</b><span>${nil(h.temp_max_celsius) ? (live ? live.status : "–") : h.temp_max_celsius.toFixed(0) + " °C"}</span>
      <small>${esc(n.roles.join(" "))}</small></a>`;
  };
  let html = "";
  for (const [rack, shelves] of racks) {
    html += `<div class="rackframe" data-rack="${esc(rack)}"><h3>${esc(rack)}</h3>`;
    for (const [shelf, list] of shelves) {
      list.sort((a, b) => a.slot - b.slot);
      html += `<div class="shelf" data-shelf="${esc(shelf)}"><span class="shelfname">${esc(shelf)}</span><div class="slots">${list.map(nodeBox).join("")}</div></div>`;
    }
    html += "</div>";
  }
  for (const sw of layout.switches) {
    const byPort = new Map(layout.nodes.filter((n) => n.switch === sw.name && n.port).map((n) => [n.port, n]));
    let ports = "";
    for (let p = 1; p <= sw.ports; p++) {
      const n = byPort.get(p);
      const live = n && state.nodes.get(n.name);
      ports += n
        ? `<a class="port used${n.poe ? " poe" : ""}" href="#node=${encodeURIComponent(n.name)}" data-port="${p}" data-node="${esc(n.name)}" title="port ${p}: ${esc(n.name)}${n.poe ? " (PoE)" : ""}" style="background:${rackColour(live)}">${p}</a>`
        : `<span class="port" data-port="${p}" title="port ${p}: free">${p}</span>`;
    }
    const poe = (state.strip && state.strip.poe || []).find((x) => x.switch === sw.name);
    html += `<div class="switchbox" data-switch="${esc(sw.name)}"><h3>${esc(sw.name)} <span class="dim">${sw.ports} ports${sw.poe_budget_w ? ` · PoE ${poe ? fmt(poe.used_w, 1) + " / " : ""}${fmt(sw.poe_budget_w, 0)} W` : ""}</span></h3><div class="ports">${ports}</div></div>`;
  }
  el.innerHTML = html;
}

// ---- alerts ---------------------------------------------------------------------------
function alertLink(a) {
  const t = a.fired_at || a.since;
  return `#node=${encodeURIComponent(a.node)}&at=${Math.round(t)}`;
}
function sensorsOf(a) { return (a.sensors && a.sensors.length ? a.sensors : Object.values(a.labels || {})).join(", "); }
function renderAlerts() {
  const list = [...state.alerts.values()].filter((a) => a.state === "firing");
  list.sort((a, b) => (a.severity === "critical" ? 0 : 1) - (b.severity === "critical" ? 0 : 1) || a.since - b.since);
  const t = now();
  $("alertbar").innerHTML = state.view === "alerts" ? "" : list.map((a) =>
    `<a class="alert ${esc(a.severity)}" href="${alertLink(a)}" data-alert="${esc(a.name)}" data-node="${esc(a.node)}">` +
    `<span class="an">${esc(a.name)}</span>${esc(a.summary)}<span class="dim"> · since ${when(a.fired_at || a.since)} (${duration(t - (a.fired_at || a.since))})</span></a>`).join("");
  $("t-alerts").textContent = list.length;
  $("alerts-active").tBodies[0].innerHTML = list.map((a) => `
    <tr class="${esc(a.severity)}" data-alert="${esc(a.name)}" data-node="${esc(a.node)}">
      <td>${esc(a.name)}</td><td><a href="${alertLink(a)}">${esc(a.node)}</a></td><td>${esc(sensorsOf(a))}</td>
      <td>${esc(a.summary)}</td><td>${when(a.fired_at || a.since)}</td><td>${duration(t - (a.fired_at || a.since))}</td></tr>`).join("")
    || `<tr><td colspan="6" class="empty">No alert is firing.</td></tr>`;
  $("alerts-history").tBodies[0].innerHTML = state.history.map((a) => `
    <tr data-alert="${esc(a.name)}" data-node="${esc(a.node)}">
      <td>${esc(a.name)}</td><td><a href="${alertLink(a)}">${esc(a.node)}</a></td><td>${esc(sensorsOf(a))}</td>
      <td>${esc(a.summary)}</td><td>${when(a.fired_at || a.since)}</td><td>${when(a.ended_at)}</td><td>${duration(a.duration)}</td></tr>`).join("")
    || `<tr><td colspan="7" class="empty">No alert has resolved yet.</td></tr>`;
}
function alertEvent(a) {
  if (a.state === "resolved") {
    state.alerts.delete(a.fingerprint);
    state.history = [a, ...state.history.filter((h) => !(h.fingerprint === a.fingerprint && h.ended_at === a.ended_at))].slice(0, 200);
  } else {
    state.alerts.set(a.fingerprint, a);
  }
  renderAlerts();
  dirty.add(a.node);
  if (state.nodes.has(a.node) && !frame) frame = requestAnimationFrame(flushNodes);
}

// ---- a node's page --------------------------------------------------------------------
function renderNodeHeader() {
  const n = state.nodes.get(state.current);
  $("nv-title").textContent = state.current;
  $("nv-status").textContent = n ? n.status : "not seen";
  $("nv-status").className = `badge ${n ? n.status : "unknown"}`;
  $("nv-board").textContent = n ? `${n.board || ""} · ${n.address}:${n.port}` : "";
}
const PAGE_POINTS = 300;
let drawing = false;
async function drawNode() {
  const node = state.current;
  if (!node || drawing) return;
  drawing = true;
  try {
    const { from, to } = window_();
    let d;
    try {
      d = await getJSON(`/api/v1/nodes/${encodeURIComponent(node)}/view?from=${from}&to=${to}&points=${PAGE_POINTS}`);
    } catch (e) { return; }
    await loadAnnotations(from, to);
    await plotlyReady;
    if (node !== state.current) return;
    if (d.first_sample && !state.rangeChosen && !state.at) {
      const before = span();
      state.firstSample = d.first_sample;
      if (span() !== before) { drawing = false; return drawNode(); }
    }
    renderRangeBar();
    drawPanels(d.panels);
  } finally { drawing = false; }
}
function markAt(layout) {
  if (!state.at) return layout;
  layout.shapes = [...(layout.shapes || []), { type: "line", xref: "x", yref: "paper", x0: new Date(state.at * 1000), x1: new Date(state.at * 1000), y0: 0, y1: 1, line: { color: css("--crit"), width: 1, dash: "dot" } }];
  return layout;
}
function drawPanels(p) {
  const pctAxis = { tickformat: ".0%", rangemode: "tozero" };
  let l = baseLayout("CPU by mode (share of all cores)", { hovermode: "x unified" });
  Object.assign(l.yaxis, pctAxis);
  plot("ch-cpu-modes", lines(p.cpu_modes.series, { stackgroup: "cpu", mode: "lines", hovertemplate: "%{y:.1%}" }), markAt(l));
  l = baseLayout("CPU busy per core");
  Object.assign(l.yaxis, { tickformat: ".0%", range: [0, 1.02] });
  plot("ch-cpu-cores", lines(p.cpu_cores.series, { hovertemplate: "%{y:.0%}" }), markAt(l));

  l = baseLayout("Temperatures (°C) and throttle limits");
  l.yaxis.ticksuffix = " °C";
  const limColour = { soft: css("--warn"), hard: css("--crit"), critical: css("--crit") };
  const limTraces = p.temperatures.limits.map((lim) => ({
    x: xRange(), y: [lim.value, lim.value], name: `${esc(lim.name)} ${lim.value.toFixed(0)} °C`, type: "scatter", mode: "lines",
    line: { dash: lim.kind === "soft" ? "dash" : "dot", color: limColour[lim.kind] || css("--dim"), width: 1 }, hoverinfo: "skip",
  }));
  plot("ch-temp", lines(p.temperatures.series, { hovertemplate: "%{y:.1f} °C" }).concat(limTraces), markAt(l));

  l = baseLayout("Fan: duty and speed");
  l.yaxis.title = { text: "rpm" };
  l.yaxis.rangemode = "tozero";
  l.yaxis2 = { overlaying: "y", side: "right", tickformat: ".0%", range: [0, 1.05], tickvals: [0, 0.25, 0.5, 0.75, 1], showgrid: false, title: { text: "duty" } };
  l.margin.r = 50;
  plot("ch-fan", lines(p.fans.series, { perSeries: (s) => s.axis === "duty"
    ? { yaxis: "y2", line: { dash: "dot" }, hovertemplate: "%{y:.0%}" } : { hovertemplate: "%{y:.0f} rpm" } }), markAt(l));

  l = baseLayout("Power (W)");
  l.yaxis.ticksuffix = " W";
  l.yaxis.rangemode = "tozero";
  plot("ch-power", lines(p.power.series, { hovertemplate: "%{y:.2f} W" }), markAt(l));

  // throttling: one row per flag, a bar while it is set; the frequency against its maximum
  const flags = p.throttling.flags;
  const tr = flags.map((f, i) => {
    const x = [], y = [];
    for (const [a, b] of f.intervals) { x.push(new Date(a * 1000), new Date(Math.max(b, a + 1) * 1000), null); y.push(i, i, null); }
    const label = esc(f.flag.replace(/_/g, " "));
    return { x, y, name: label, type: "scatter", mode: "lines", line: { width: 12 }, hovertemplate: `${label}<extra></extra>` };
  });
  const freq = lines(p.throttling.series, { yaxis: "y2", line: { color: css("--dim") }, hovertemplate: "%{y:.0%}" });
  l = baseLayout("Throttling, under-voltage, frequency cap");
  Object.assign(l.yaxis, { tickvals: flags.map((_, i) => i), ticktext: flags.map((f) => esc(f.flag.replace(/_/g, " "))), range: [-0.6, Math.max(flags.length, 1) - 0.4], zeroline: false });
  l.yaxis2 = { overlaying: "y", side: "right", tickformat: ".0%", range: [0, 1.05], tickvals: [0, 0.5, 1], showgrid: false };
  l.margin.r = 46;
  plot("ch-throttle", tr.concat(freq), markAt(l));

  l = baseLayout(`Memory${p.memory.total ? " of " + bytes(p.memory.total) : ""}`);
  Object.assign(l.yaxis, { tickformat: ".3s", ticksuffix: "B", rangemode: "tozero" });
  plot("ch-mem", lines(p.memory.series, { hovertemplate: "%{y:.3s}B" }), markAt(l));
  l = baseLayout("Filesystems used");
  Object.assign(l.yaxis, { tickformat: ".0%", range: [0, 1.02] });
  plot("ch-fs", lines(p.filesystems.series, { hovertemplate: "%{y:.1%}" }), markAt(l));
  l = baseLayout("Disk I/O");
  Object.assign(l.yaxis, { tickformat: ".3s", ticksuffix: "B/s", rangemode: "tozero" });
  plot("ch-disk", lines(p.disk_io.series, { hovertemplate: "%{y:.3s}B/s" }), markAt(l));
  l = baseLayout("Network per interface (rx, tx)");
  Object.assign(l.yaxis, { tickformat: ".3s", ticksuffix: "B/s", rangemode: "tozero" });
  plot("ch-net", lines(p.network.series, { perSeries: (s) => ({ line: { dash: s.direction === "tx" ? "dot" : "solid" } }), hovertemplate: "%{y:.3s}B/s" }), markAt(l));

  drawDrives(p.nvme.drives);
  $("fs-table").tBodies[0].innerHTML = p.filesystems.table.map((f) => `<tr><td>${esc(f.mountpoint)}</td><td>${esc(f.device)}</td><td>${esc(f.fstype)}</td>
    <td class="num">${bytes(f.size_bytes)}</td><td class="num">${pct(f.used_ratio)}</td><td class="num">${bytes(f.avail_bytes)}</td></tr>`).join("")
    || `<tr><td colspan="6" class="empty">No filesystem reported.</td></tr>`;
  drawContainers(p.containers);
}
function drawContainers(c) {
  $("containers").textContent = c.reported ? "" : "This node's agent does not report containers.";
  $("containers").hidden = c.reported;
  $("containers-charts").hidden = !c.reported;
  $("ct-table").hidden = !c.reported;
  if (!c.reported) return;
  let l = baseLayout("Top containers by CPU (cores)");
  l.yaxis.rangemode = "tozero";
  plot("ch-ct-cpu", lines(c.cpu.series, { hovertemplate: "%{y:.2f} cores" }), markAt(l));
  l = baseLayout("Top containers by working set");
  Object.assign(l.yaxis, { tickformat: ".3s", ticksuffix: "B", rangemode: "tozero" });
  plot("ch-ct-mem", lines(c.memory.series, { hovertemplate: "%{y:.3s}B" }), markAt(l));
  $("ct-table").tBodies[0].innerHTML = c.table.map((r) => `<tr><td title="${esc(r.image)}">${esc(r.name)}</td>
    <td>${esc(r.qos_class)}</td><td class="num">${fmt(r.cpu_cores, 2)}</td><td class="num">${bytes(r.working_set_bytes)}</td>
    <td class="num">${pct(r.throttled_ratio)}</td><td class="num${r.oom_kills ? " crit" : ""}">${fmt(r.oom_kills)}</td></tr>`).join("");
}
function drawDrives(drives) {
  const sec = $("nvme");
  const want = drives.flatMap((d) => ["lat", "iops", "queue", "temp"].map((k) => `nv-${d.device}-${k}`));
  if ([...sec.children].map((c) => c.id).join() !== want.join()) {
    sec.innerHTML = want.map((id) => `<div class="chart" id="${esc(id)}"></div>`).join("")
      || `<p class="empty pad">No NVMe drive on this node.</p>`;
  }
  for (const d of drives) {
    let l = baseLayout(`${esc(d.device)}: latency per I/O`);
    Object.assign(l.yaxis, { tickformat: ".2s", ticksuffix: "s", rangemode: "tozero" });
    plot(`nv-${d.device}-lat`, lines(d.latency, { hovertemplate: "%{y:.3s}s" }), markAt(l));
    l = baseLayout(`${esc(d.device)}: IOPS`);
    l.yaxis.rangemode = "tozero";
    plot(`nv-${d.device}-iops`, lines(d.iops, { stackgroup: "iops", hovertemplate: "%{y:.1f}/s" }), markAt(l));
    l = baseLayout(`${esc(d.device)}: queue depth`);
    l.yaxis.rangemode = "tozero";
    plot(`nv-${d.device}-queue`, lines(d.queue, { hovertemplate: "%{y:.2f}" }), markAt(l));
    l = baseLayout(`${esc(d.device)}: temperature (°C)`);
    l.yaxis.ticksuffix = " °C";
    plot(`nv-${d.device}-temp`, lines(d.temperature, { hovertemplate: "%{y:.1f} °C" }), markAt(l));
  }
}

// ---- routing, live updates --------------------------------------------------------------
function route() {
  const hash = location.hash.replace(/^#/, "");
  const params = new URLSearchParams(hash.includes("=") ? hash : "");
  const node = params.get("node");
  const view = node ? "node" : (["rack", "alerts"].includes(hash) ? hash : "overview");
  const changed = view !== state.view || node !== state.current;
  state.view = view;
  state.current = node;
  state.at = node && params.get("at") ? Number(params.get("at")) : null;
  if (changed) state.zoom = null;
  $("overview").hidden = view !== "overview";
  $("rackview").hidden = view !== "rack";
  $("alertview").hidden = view !== "alerts";
  $("nodeview").hidden = view !== "node";
  $("rangebar").hidden = view === "rack" || view === "alerts";
  document.querySelectorAll("#tabs a").forEach((a) => a.classList.toggle("on", a.dataset.tab === view));
  renderAlerts();
  renderRangeBar();
  redrawAll();
}
function redrawAll() {
  renderRangeBar();
  if (state.view === "node") { renderNodeHeader(); drawNode(); }
  else if (state.view === "overview") drawCluster();
  else if (state.view === "rack") renderRack();
}
// charts refresh on their own clock, not on every pull: 100 nodes pulled each second would
// otherwise redraw many times a second; the refresh is the chart's bucket, at least 5 s
let chartTimer = null;
function scheduleCharts() {
  clearTimeout(chartTimer);
  const every = Math.max(5000, (span() / PAGE_POINTS) * 1000);
  chartTimer = setTimeout(() => {
    if (!state.zoom && !state.at && !document.hidden) {
      if (state.view === "node") drawNode(); else if (state.view === "overview") drawCluster();
    }
    scheduleCharts();
  }, every);
}

function connect() {
  const es = new EventSource("/api/v1/events");
  es.onopen = () => $("live").classList.add("on");
  es.onerror = () => $("live").classList.remove("on");
  es.addEventListener("node", (e) => { nodeEvent(JSON.parse(e.data)); stripSoon(); });
  es.addEventListener("summary", () => stripSoon());
  es.addEventListener("alert", (e) => alertEvent(JSON.parse(e.data)));
}

async function start() {
  $("filter").addEventListener("input", () => setLayoutMode(state.layoutMode));
  $("ranges").addEventListener("click", (e) => {
    const r = e.target.dataset && e.target.dataset.range;
    if (!r) return;
    state.range = Number(r);
    state.rangeChosen = true;
    state.zoom = null;
    scheduleCharts();
    redrawAll();
  });
  $("zoom-reset").addEventListener("click", () => {
    state.zoom = null;
    if (state.at) { location.hash = `node=${encodeURIComponent(state.current)}`; return; }
    redrawAll();
  });
  document.querySelectorAll("[data-layout]").forEach((b) => b.addEventListener("click", () => setLayoutMode(b.dataset.layout)));
  document.querySelectorAll("[data-color]").forEach((b) => b.addEventListener("click", () => {
    state.rackColor = b.dataset.color;
    document.querySelectorAll("[data-color]").forEach((x) => x.classList.toggle("on", x === b));
    renderRack();
  }));
  $("nodetable").tHead.addEventListener("click", (e) => {
    const key = e.target.dataset && e.target.dataset.sort;
    if (!key) return;
    state.sort = { key, dir: state.sort.key === key ? -state.sort.dir : 1 };
    renderTable();
  });
  window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", redrawAll);
  window.addEventListener("hashchange", route);
  try {
    const [d, a, s, r] = await Promise.all([getJSON("/api/v1/nodes"), getJSON("/api/v1/alerts"),
      getJSON("/api/v1/cluster"), getJSON("/api/v1/rack")]);
    state.rack = r.layout;
    a.alerts.forEach((x) => state.alerts.set(x.fingerprint, x));
    state.history = a.resolved;
    d.nodes.forEach((n) => { trackRates(n); state.nodes.set(n.name, n); });
    setLayoutMode(d.nodes.length > 12 ? "table" : "cards");
    renderStrip(s);
  } catch (e) { console.error(e); }
  requestAnimationFrame(() => setTimeout(loadPlotly, 0));  // after the first paint
  connect();
  route();
  scheduleCharts();
}

start();
