// The dashboard page: reads /api/crawls and /api/crawls/<name> every few seconds and
// draws them. Everything that comes from Redis (crawled text, node names, dead letters)
// is put in the page as text, never as HTML.
"use strict";

const REFRESH_MS = 3000;
const SVG = "http://www.w3.org/2000/svg";
const CHART = { width: 900, height: 240, left: 56, right: 64, top: 12, bottom: 26 };
const COUNTERS = [
  ["done", "requests done"], ["queued", "queued"], ["in_progress", "in progress"],
  ["seeds_waiting", "seeds waiting"], ["items", "items"], ["pages_per_minute", "pages/min"],
  ["eta_seconds", "ETA"], ["fingerprints", "fingerprints"],
  ["duplicates_dropped", "duplicates dropped"], ["retrying", "failed before, pending"],
  ["reclaimed", "leases reclaimed"], ["failed_attempts", "callback failures"],
  ["poisoned", "poison requests"], ["dead_letters", "dead letters"],
];
// Shown for a crawl cut into partitions: how many, and the fullest one's queue over the mean
const PARTITION_COUNTERS = [["partitions", "partitions"], ["queued_balance", "queued max/mean"]];

let selected = decodeURIComponent(location.hash.slice(1)) || null;
let timer = null;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function fmt(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number") {
    return value.toLocaleString("en-US", { maximumFractionDigits: 1 });
  }
  return String(value);
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor(s % 3600 / 60)).padStart(2, "0")}m`;
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

function clock(epochSeconds) {
  return epochSeconds ? new Date(epochSeconds * 1000).toLocaleTimeString("en-GB") : "–";
}

function cell(value, cls) {
  return el("td", cls ? { class: cls } : {}, value);
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

async function getJSON(url) {
  const answer = await fetch(url, { cache: "no-store" });
  const body = await answer.json();
  if (!answer.ok) throw new Error(body.error || `${answer.status} ${answer.statusText}`);
  return body;
}

function renderOverview(data) {
  document.getElementById("redis").textContent = data.redis;
  document.getElementById("no-crawls").hidden = data.crawls.length > 0;
  fill(document.querySelector("#crawls tbody"), data.crawls.map((c) => {
    const link = el("a", { href: `#${encodeURIComponent(c.crawl)}` }, c.crawl);
    const row = el("tr", { "data-crawl": c.crawl },
      el("td", {}, link), el("td", {}, el("span", { class: `state ${c.state}` }, c.state)),
      cell(fmt(c.done), "num"), cell(fmt(c.queued), "num"), cell(fmt(c.in_progress), "num"),
      cell(fmt(c.seeds_waiting), "num"), cell(fmt(c.items), "num"),
      cell(fmt(c.pages_per_minute), "num"), cell(duration(c.eta_seconds), "num"),
      cell(`${c.nodes_alive} alive${c.nodes_dead ? `, ${c.nodes_dead} dead` : ""}`, "num"),
      cell(fmt(c.dead_letters), "num"));
    if (c.crawl === selected) row.classList.add("selected");
    return row;
  }));
}

function renderDetail(d) {
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-name").textContent = d.crawl;
  const state = document.getElementById("detail-state");
  state.textContent = d.state;
  state.className = `state ${d.state}`;
  const counters = d.partitions > 1 ? [...COUNTERS, ...PARTITION_COUNTERS] : COUNTERS;
  document.getElementById("counters").replaceChildren(...counters.map(([key, label]) =>
    el("div", { class: "card" }, el("span", { class: "label" }, label),
      el("span", { class: "value", "data-counter": key },
        key === "eta_seconds" ? duration(d[key]) : fmt(d[key])))));
  drawChart(d.chart);
  document.getElementById("nodes-summary").textContent =
    `${d.nodes_alive} alive, ${d.nodes_dead} dead`;
  fill(document.querySelector("#nodes tbody"), d.nodes.map((n) => el("tr", {},
    cell(n.node, "wrap"), cell(n.host || "–"),
    el("td", {}, el("span", { class: `state ${n.alive ? "running" : "DEAD"}` },
      n.alive ? "alive" : "dead")),
    cell(`${fmt(n.last_beat_seconds_ago)} s ago`, "num"), cell(fmt(n.ppm), "num"),
    cell(fmt(n.pages), "num"), cell(fmt(n.items), "num"), cell(fmt(n.in_progress), "num"),
    cell(fmt(n.prefetched), "num"), cell(fmt(n.errors), "num"))));
  document.getElementById("dead-summary").textContent = d.dead_letters > d.dead.length
    ? `(newest ${d.dead.length} of ${fmt(d.dead_letters)})` : `(${fmt(d.dead_letters)})`;
  fill(document.querySelector("#dead tbody"), d.dead.map((letter) => el("tr", {},
    cell(clock(letter.time)), cell(letter.reason || "–", "wrap"),
    cell(letter.entry || "", "entry"), cell(letter.node || "–", "wrap"))));
  fill(document.querySelector("#items tbody"), d.latest_items.map(({ time, item }) => {
    const others = Object.entries(item).filter(([k]) => k !== "url" && k !== "title")
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join("  ");
    return el("tr", {}, cell(clock(time)), cell(item.url ?? "–", "url"),
      cell(item.title ?? "–", "title"), cell(others.length > 160 ? `${others.slice(0, 160)}…` : others, "small"));
  }));
}

// The top of an axis with four gridlines at round values (600, 1,200, ...) above `value`.
function niceMax(value) {
  if (!(value > 0)) return 4;
  const quarter = value / 4;
  const power = 10 ** Math.floor(Math.log10(quarter));
  for (const m of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) {
    if (m * power >= quarter) return 4 * m * power;
  }
  return 40 * power;
}

// Pages/min (left axis) and queue length (right axis) over the span of the points
// (at least a minute, at most the hour the nodes keep). A point marked "gap" follows a
// time no node was sampling: the lines break there.
function drawChart(points) {
  const chart = document.getElementById("chart");
  const { width, height, left, right, top, bottom } = CHART;
  const span = Math.max(60, ...points.map((p) => -p.t));
  const ppmMax = niceMax(Math.max(0, ...points.map((p) => p.ppm ?? 0)));
  const queueMax = niceMax(Math.max(0, ...points.map((p) => p.queued)));
  const x = (t) => left + (width - left - right) * (1 + t / span);
  const y = (v, max) => top + (height - top - bottom) * (1 - v / max);
  const parts = [];
  for (let i = 0; i <= 4; i++) {
    const gy = top + (height - top - bottom) * i / 4;
    parts.push(svg("line", { class: "grid", x1: left, x2: width - right, y1: gy, y2: gy }));
    parts.push(svg("text", { class: "axis", x: left - 6, y: gy + 4, "text-anchor": "end" },
      fmt(ppmMax * (4 - i) / 4)));
    parts.push(svg("text", { class: "axis", x: width - right + 6, y: gy + 4 },
      fmt(queueMax * (4 - i) / 4)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = -span + span * i / 4;
    parts.push(svg("text", { class: "axis", x: x(t), y: height - 8, "text-anchor": "middle" },
      i === 4 ? "now" : `-${duration(-t)}`));
  }
  let drawn = 0;
  for (const [key, cls, max] of [["queued", "queue", queueMax], ["ppm", "ppm", ppmMax]]) {
    let run = [];
    const flush = () => {
      if (run.length > 1) {
        parts.push(svg("polyline", { class: `line-${cls}`, points: run.join(" ") }));
      } else if (run.length === 1) {
        const [cx, cy] = run[0].split(",");
        parts.push(svg("circle", { class: `dot-${cls}`, cx, cy, r: 3 }));
      }
      drawn += run.length;
      run = [];
    };
    for (const p of points) {
      if (p.gap || p[key] === null) flush();
      if (p[key] !== null) run.push(`${x(p.t).toFixed(1)},${y(p[key], max).toFixed(1)}`);
    }
    flush();
  }
  chart.replaceChildren(...parts);
  chart.setAttribute("data-points", String(drawn));
  document.getElementById("chart-span").textContent =
    span >= 3600 ? "last hour" : `last ${duration(span)}`;
}

function showError(message) {
  const box = document.getElementById("error");
  box.hidden = !message;
  box.textContent = message ? `Cannot refresh: ${message}. Trying again.` : "";
}

async function refresh() {
  clearTimeout(timer);
  try {
    const all = await getJSON("/api/crawls");
    if (!all.crawls.some((c) => c.crawl === selected)) {
      selected = all.crawls.length ? all.crawls[0].crawl : null;
    }
    renderOverview(all);
    if (selected) renderDetail(await getJSON(`/api/crawls/${encodeURIComponent(selected)}`));
    else document.getElementById("detail").hidden = true;
    document.getElementById("updated").textContent = new Date().toLocaleTimeString("en-GB");
    document.body.setAttribute("data-loaded", "1");
    showError(null);
  } catch (error) {
    showError(error.message);
  } finally {
    timer = setTimeout(refresh, REFRESH_MS);
  }
}

window.addEventListener("hashchange", () => {
  selected = decodeURIComponent(location.hash.slice(1)) || null;
  refresh();
});
refresh();
