// The hil dashboard: a reader of the run's frames (docs/reference/ui-protocol.md) and a form
// for its actions. Plain JavaScript, no build step; uPlot draws the time series.
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token");
const MAX_POINTS = 30000; // samples kept per series (100 min at 5 frames a second)
const MAX_EVENT_ROWS = 400;
const ROUTINE = new Set(["write_accepted", "input"]); // summarised unless asked for
const state = {
  hello: null, ws: null, t: [], sig: {}, soc: [], plots: [], zoomed: new Set(),
  marks: [], bands: [], watched: null, pointRows: new Map(),
  faultsShown: null, // the active faults' list as last drawn
  frames: 0, // frames received (benchmarks/ui_page.py reads it)
};

const $ = (id) => document.getElementById(id);
function el(tag, attrs = {}, ...kids) {
  const ns = ["svg", "rect", "line", "circle", "text", "g", "path", "polyline"].includes(tag);
  const e = ns ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}
function fmt(v, unit = "", digits = 1) {
  if (v === null || v === undefined) return "–";
  if (typeof v !== "number") return String(v);
  const d = unit === "Hz" || unit === "pu" ? 3 : digits;
  return numberFormat(d).format(v) + (unit ? " " + unit : "");
}
const FORMATS = new Map(); // one Intl formatter per digit count (toLocaleString builds one a call)
function numberFormat(d) {
  let f = FORMATS.get(d);
  if (!f) FORMATS.set(d, (f = new Intl.NumberFormat("en-US", { maximumFractionDigits: d, minimumFractionDigits: 0 })));
  return f;
}
function fmtT(t) { return t === null || t === undefined ? "–" : t.toFixed(1) + " s"; }

// -- connection ------------------------------------------------------------------------------
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`);
  state.ws = ws;
  ws.onopen = () => setLink("live", "");
  ws.onclose = () => { setLink("disconnected", "bad"); setTimeout(connect, 2000); };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "hello") onHello(msg);
    else if (msg.type === "frame") onFrame(msg);
    else if (msg.type === "device") onDevice(msg);
  };
}
function setLink(text, cls) { const l = $("status-link"); l.textContent = text; l.className = "tag " + cls; }
function watch(name) {
  state.watched = name;
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify({ watch: name }));
}

// -- hello: the layout -----------------------------------------------------------------------
function onHello(h) {
  state.hello = h;
  $("site").textContent = h.site;
  $("scenario").textContent = h.scenario ? `scenario ${h.scenario}` : "";
  $("mode").textContent = h.mode === "run" ? (h.realtime ? "run, real time" : "run, as fast as possible") : "serve";
  const canControl = !h.read_only && !!TOKEN;
  for (const c of document.querySelectorAll(".control")) c.classList.toggle("disabled", !canControl);
  $("control-state").textContent = h.read_only ? "read-only" : TOKEN ? "enabled" : "no token: read-only";
  document.querySelector(".clock-controls").style.display = h.realtime ? "" : "none";
  state.t = h.history.t.slice();
  state.sig = {};
  for (const s of h.key_signals) state.sig[s.name] = (h.history.signals[s.name] || []).slice();
  state.soc = h.diagram.cabinets.map(() => state.t.map(() => null));
  state.bands = expectationBands(h.expectations, h.duration_s);
  buildPlots(h);
  buildDiagram(h.diagram);
  buildExpectations(h.expectations);
  buildForms(h);
  buildDevices(h.devices);
  $("events").tBodies[0].innerHTML = "";
  state.marks = [];
  for (const ev of h.events) addEvent(ev);
}

// -- plots -----------------------------------------------------------------------------------
const COLORS = ["#1f6feb", "#1a7f37", "#b35900", "#6d28d9", "#c62828", "#0e7490", "#a16207", "#be185d"];
function marksPlugin() {
  return {
    hooks: {
      draw: [(u) => {
        const ctx = u.ctx, { left, top, width, height } = u.bbox;
        ctx.save();
        ctx.fillStyle = "rgba(31,111,235,0.07)";
        for (const [a, b] of state.bands) {
          const x0 = u.valToPos(a, "x", true), x1 = u.valToPos(b ?? u.scales.x.max, "x", true);
          const l = Math.max(x0, left), r = Math.min(x1, left + width);
          if (r > l) ctx.fillRect(l, top, r - l, height);
        }
        for (const [t, level] of state.marks) {
          if (t < u.scales.x.min || t > u.scales.x.max) continue;
          const x = u.valToPos(t, "x", true);
          ctx.strokeStyle = level === "fault" || level === "alarm" ? "#c62828" : level === "ui" ? "#6d28d9" : "#9ca3af";
          ctx.lineWidth = 1;
          ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + height); ctx.stroke();
        }
        ctx.restore();
      }],
    },
  };
}
// the expectations' windows as shaded bands: a window over the whole run marks nothing, and
// overlapping windows are merged (one shade, not a darker one where they overlap)
function expectationBands(list, duration) {
  const end = duration ?? Infinity;
  const spans = list
    .map((e) => [e.t0 ?? 0, e.t1 ?? end])
    .filter(([a, b]) => a > 0 || b < end)
    .sort((x, y) => x[0] - y[0]);
  const out = [];
  for (const [a, b] of spans) {
    const last = out[out.length - 1];
    if (last && a <= last[1]) last[1] = Math.max(last[1], b);
    else out.push([a, b]);
  }
  return out.map(([a, b]) => [a, Number.isFinite(b) ? b : null]);
}
// a y range never narrower than a thousandth of its level (nor than 1e-3): a flat signal
// (50.000 Hz, 0 kW) gets readable ticks instead of uPlot splitting a zero-width span
function yRange(u, min, max) {
  if (min === null || max === null || !Number.isFinite(min) || !Number.isFinite(max)) return [0, 1];
  const level = Math.max(Math.abs(min), Math.abs(max));
  const span = max - min;
  const pad = Math.max(span * 0.08, level * 1e-3, 1e-3);
  return [min - pad, max + pad];
}
function buildPlots(h) {
  for (const p of state.plots) p.u.destroy();
  state.plots = [];
  const box = $("plots");
  box.innerHTML = "";
  const width = Math.max(box.clientWidth - 10, 300);
  const mk = (title, names, labels, units, data) => {
    const div = el("div", { class: "plot", "data-title": title });
    box.append(div);
    const opts = {
      title, width, height: names.length > 1 ? 210 : 150, plugins: [marksPlugin()],
      scales: { x: { time: false }, y: { range: yRange } },
      axes: [{ label: "" }, { size: 60, space: 24 }],
      series: [{ label: "t s" }, ...names.map((n, i) => ({
        label: labels[i], stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: false },
        value: (u, v) => fmt(v, units[i]),
      }))],
      legend: { show: names.length > 1, live: true },
      cursor: { drag: { x: true, y: false } },
      hooks: { setSelect: [(u) => { if (u.select.width > 0) state.zoomed.add(u); }] },
    };
    const u = new uPlot(opts, data, div);
    div.addEventListener("dblclick", () => state.zoomed.delete(u));
    return u;
  };
  // one plot per unit (the powers share one, with a legend), the cabinets' SoC beside the site's
  const groups = new Map();
  const group = (unit) => {
    if (!groups.has(unit)) groups.set(unit, { names: [], labels: [], units: [], get: [] });
    return groups.get(unit);
  };
  for (const s of h.key_signals) {
    const g = group(s.unit || "");
    g.names.push(s.name); g.labels.push(s.label); g.units.push(s.unit); g.get.push(() => state.sig[s.name]);
  }
  h.diagram.cabinets.forEach((name, i) => {
    const g = group("%");
    g.names.push(name); g.labels.push(`${name} SoC`); g.units.push("%"); g.get.push(() => state.soc[i]);
  });
  for (const [unit, g] of groups) {
    const title = g.names.length === 1 ? `${g.labels[0]} (${unit || "–"})` : TITLES[unit] || unit;
    const data = () => [state.t, ...g.get.map((f) => f())];
    const u = mk(title, g.names, g.labels, g.units, data());
    state.plots.push({ u, data });
  }
}
const TITLES = { kW: "power (kW)", "%": "state of charge (%)", Hz: "frequency (Hz)", pu: "voltage (pu)" };
function windowed(data) {
  const w = Number($("window").value);
  const t = data[0];
  if (!w || !t.length) return data;
  const t0 = t[t.length - 1] - w;
  let i = 0;
  while (i < t.length && t[i] < t0) i++;
  return data.map((a) => a.slice(i));
}
function redrawPlots() {
  for (const p of state.plots) p.u.setData(windowed(p.data()), !state.zoomed.has(p.u));
}

// -- the one-line diagram ----------------------------------------------------------------
const D = {};
function buildDiagram(d) {
  const svg = $("diagram");
  svg.innerHTML = "";
  const perRow = 8;
  const cabs = d.cabinets, rows = Math.max(1, Math.ceil(cabs.length / perRow));
  const sources = [{ id: "grid", label: "Grid" }, ...d.gensets.map((g) => ({ id: g, label: g })),
    ...d.pv.map((p) => ({ id: p, label: p }))];
  const W = Math.max(560, 70 * Math.max(perRow, sources.length) + 40);
  const busY = 150, H = busY + 60 + rows * 96 + 90;
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const step = (W - 40) / Math.max(sources.length, 1);
  sources.forEach((s, i) => {
    const x = 20 + step * (i + 0.5);
    const g = el("g", { id: `dg-${s.id}` });
    g.append(el("line", { class: "wire", x1: x, y1: 62, x2: x, y2: busY, id: `dw-${s.id}` }));
    if (s.id === "grid") {
      g.append(el("circle", { class: "box", cx: x, cy: 30, r: 18, id: `db-${s.id}` }));
      g.append(el("text", { x: x, y: 34, "text-anchor": "middle", text: "Grid" }));
      g.append(el("rect", { class: "breaker closed", x: x - 8, y: 92, width: 16, height: 16, id: "breaker" }));
      g.append(el("text", { x: x + 14, y: 104, class: "small", text: "PCC", id: "breaker-label" }));
    } else {
      g.append(el("rect", { class: "box", x: x - 28, y: 12, width: 56, height: 36, id: `db-${s.id}` }));
      g.append(el("text", { x: x, y: 28, "text-anchor": "middle", text: s.label }));
    }
    g.append(el("text", { x: x, y: 76, "text-anchor": "middle", class: "small", id: `dv-${s.id}`, text: "" }));
    g.append(el("text", { x: x, y: 88, "text-anchor": "middle", class: "small", id: `ds-${s.id}`, text: "" }));
    svg.append(g);
  });
  svg.append(el("line", { class: "bus", x1: 16, y1: busY, x2: W - 16, y2: busY, id: "bus" }));
  svg.append(el("text", { x: 18, y: busY - 6, class: "small", id: "bus-label", text: "site bus" }));
  // storage cabinets below the bus
  const cstep = (W - 40) / Math.min(perRow, Math.max(cabs.length, 1));
  cabs.forEach((c, i) => {
    const row = Math.floor(i / perRow), col = i % perRow;
    const x = 20 + cstep * (col + 0.5), y0 = busY + 40 + row * 96;
    const g = el("g", { id: `dg-${c}` });
    g.append(el("polyline", { class: "wire", points: `${x},${busY} ${x},${y0}`, id: `dw-${c}` }));
    g.append(el("rect", { class: "box", x: x - 30, y: y0, width: 60, height: 62, id: `db-${c}` }));
    g.append(el("text", { x: x, y: y0 + 13, "text-anchor": "middle", text: c }));
    g.append(el("rect", { class: "soc-bg", x: x - 24, y: y0 + 18, width: 48, height: 7 }));
    g.append(el("rect", { class: "soc", x: x - 24, y: y0 + 18, width: 0, height: 7, id: `dsoc-${c}` }));
    g.append(el("text", { x: x, y: y0 + 37, "text-anchor": "middle", class: "small", id: `dv-${c}`, text: "" }));
    g.append(el("text", { x: x, y: y0 + 50, "text-anchor": "middle", class: "small", id: `ds-${c}`, text: "" }));
    svg.append(g);
  });
  // the loads on the right end of the bus, under the cabinets
  const ly = busY + 40 + rows * 96, loads = [["it", "IT load"], ...(d.cooling ? [["cooling", "cooling"]] : []),
    ...(d.ups ? [["ups", "UPS"]] : [])];
  loads.forEach(([id, label], i) => {
    const x = 20 + 110 * (i + 0.5) + 10;
    svg.append(el("polyline", { class: "wire on", points: `${x},${busY} ${x},${busY + 24} ${W - 30 - i * 6},${busY + 24} ${W - 30 - i * 6},${ly - 6} ${x},${ly - 6} ${x},${ly}`, id: `dw-${id}`, style: "display:none" }));
    const g = el("g", { id: `dg-${id}` });
    g.append(el("rect", { class: "box run", x: x - 48, y: ly, width: 96, height: 40, id: `db-${id}` }));
    g.append(el("text", { x: x, y: ly + 15, "text-anchor": "middle", text: label }));
    g.append(el("text", { x: x, y: ly + 31, "text-anchor": "middle", class: "small", id: `dv-${id}`, text: "" }));
    svg.append(g);
  });
}
function stateClass(name) {
  if (["RUNNING", "THROTTLED", "CLOSED", "CONNECTED"].includes(name)) return "run";
  if (["FAULT", "FAIL_TO_START"].includes(name)) return "fault";
  if (["STARTING", "CRANKING", "COOLDOWN", "PRECHARGE", "INITIALIZING"].includes(name)) return "warn";
  return "off";
}
// written only when they change (each write to the page costs a style and layout pass)
function setText(id, text) { const e = $(id); if (e && e.textContent !== text) e.textContent = text; }
function setClass(id, cls) { const e = $(id); if (e && e.getAttribute("class") !== cls) e.setAttribute("class", cls); }
function updateDiagram(f) {
  const g = f.grid;
  setClass("breaker", `breaker ${g.breaker_closed ? "closed" : "open"}`);
  setText("breaker-label", g.breaker_closed ? "PCC closed" : "PCC open");
  setClass("db-grid", `box ${g.available ? "run" : "fault"}`);
  setText("dv-grid", fmt(g.p_import_kw, "kW", 0));
  setText("ds-grid", g.available ? `${fmt(g.v_pu, "pu")} ${fmt(g.f_hz, "Hz")}` : "grid down");
  const flow = Math.abs(g.p_import_kw || 0) > 1 && g.breaker_closed;
  setClass("dw-grid", `wire ${flow ? ((g.p_import_kw > 0) ? "on" : "rev") : ""}`);
  setText("bus-label", g.bus_dead ? "site bus: DEAD" : g.breaker_closed ? "site bus" : "site bus: islanded");
  for (const gs of f.gensets) {
    setClass(`db-${gs.name}`, `box ${stateClass(gs.state)}`);
    setText(`dv-${gs.name}`, fmt(gs.p_kw, "kW", 0));
    setText(`ds-${gs.name}`, gs.state);
    setClass(`dw-${gs.name}`, `wire ${(gs.p_kw || 0) > 1 ? "on" : ""}`);
  }
  for (const pv of (state.hello ? state.hello.diagram.pv : [])) {
    setText(`dv-${pv}`, fmt(f.pv.p_kw, "kW", 0));
    setText(`ds-${pv}`, f.pv.tripped ? "tripped" : "");
    setClass(`db-${pv}`, `box ${f.pv.tripped ? "fault" : (f.pv.p_kw || 0) > 1 ? "run" : "off"}`);
    setClass(`dw-${pv}`, `wire ${(f.pv.p_kw || 0) > 1 ? "on" : ""}`);
  }
  for (const c of f.cabinets) {
    const cls = c.bms_state === "FAULT" || c.state === "FAULT" ? "fault" : c.alarms ? "warn" : stateClass(c.state);
    setClass(`db-${c.name}`, `box ${cls}`);
    setText(`dv-${c.name}`, `${fmt(c.p_kw, "kW", 0)} · ${fmt(c.soc_pct, "%", 0)}`);
    setText(`ds-${c.name}`, c.state + (c.contactor !== "CLOSED" ? ` · ${c.contactor}` : ""));
    const bar = $(`dsoc-${c.name}`);
    if (bar) bar.setAttribute("width", String(48 * Math.max(0, Math.min(100, c.soc_pct || 0)) / 100));
    setClass(`dw-${c.name}`, `wire ${(c.p_kw || 0) > 1 ? "on" : (c.p_kw || 0) < -1 ? "rev" : ""}`);
  }
  setText("dv-it", `${fmt(f.load.p_it_kw, "kW", 0)}${f.load.racks_dark ? ` · ${f.load.racks_dark} racks dark` : ""}`);
  setClass("db-it", `box ${f.load.racks_dark ? "fault" : "run"}`);
  setText("dv-cooling", fmt(f.load.p_cooling_kw, "kW", 0));
  setText("dv-ups", f.load.ups_on_battery ? "on battery" : "online");
  setClass("db-ups", `box ${f.load.ups_on_battery ? "warn" : "run"}`);
}

// -- frames ----------------------------------------------------------------------------------
function onFrame(f) {
  state.frames++;
  setText("status-t", fmtT(f.t) + (f.paused ? " (paused)" : ""));
  setText("status-ticks", f.ticks.toLocaleString("en-US"));
  setText("status-lag", fmt(f.lag_ms, "ms", 1));
  setText("status-p99", fmt(f.late_p99_ms, "ms", 1));
  setText("status-speed", f.speed ? `${f.speed}×` : "as fast as possible");
  if (!state.hello) return;
  state.t.push(f.t);
  for (const s of state.hello.key_signals) state.sig[s.name].push(f.signals[s.name]);
  f.cabinets.forEach((c, i) => state.soc[i] && state.soc[i].push(c.soc_pct));
  if (state.t.length > MAX_POINTS) {
    const cut = state.t.length - MAX_POINTS;
    state.t.splice(0, cut);
    for (const k in state.sig) state.sig[k].splice(0, cut);
    for (const a of state.soc) a.splice(0, cut);
  }
  for (const ev of f.events) addEvent(ev);
  setText("writes-ok", f.writes.accepted.toLocaleString("en-US"));
  setText("writes-refused", f.writes.rejected.toLocaleString("en-US"));
  updateDiagram(f);
  updateExpectations(f.expectations);
  const faults = f.faults.map((x) => `${x.type} on ${x.target} (${x.layer}) since ${fmtT(x.since)}`);
  if (faults.join("\n") !== state.faultsShown) { // the list is rebuilt only when it changes
    state.faultsShown = faults.join("\n");
    const ul = $("faults");
    ul.innerHTML = "";
    for (const text of faults) ul.append(el("li", { text }));
    if (!faults.length) ul.append(el("li", { class: "small", text: "none", style: "color:#6b7280" }));
  }
  redrawPlots();
}

function addEvent(ev) {
  const body = $("events").tBodies[0];
  if (ROUTINE.has(ev.kind)) {
    if (!$("routine").checked) return; // counted in the frame's writes, listed when asked
  } else { // every other event is marked on the plots (coloured by its level)
    state.marks.push([ev.t, ev.level]);
    if (state.marks.length > 2000) state.marks.shift();
  }
  const tr = el("tr", { class: ev.level, "data-kind": ev.kind },
    el("td", { class: "num", text: fmtT(ev.t) }), el("td", { text: ev.kind }), el("td", { text: ev.source }),
    el("td", { text: ev.target }), el("td", { text: ev.detail }));
  body.prepend(tr);
  while (body.rows.length > MAX_EVENT_ROWS) body.deleteRow(body.rows.length - 1);
}

// -- expectations ----------------------------------------------------------------------------
function buildExpectations(list) {
  const body = $("expectations").tBodies[0];
  body.innerHTML = "";
  if (!list.length) body.append(el("tr", {}, el("td", { class: "small", text: "none (no scenario)" })));
  for (const e of list) {
    body.append(el("tr", { "data-name": e.name },
      el("td", { text: e.name, title: e.condition }), el("td", { class: "pending", text: "pending" }),
      el("td", { class: "small", text: e.condition })));
  }
}
function updateExpectations(list) {
  const body = $("expectations").tBodies[0];
  for (const e of list) {
    const tr = body.querySelector(`tr[data-name="${CSS.escape(e.name)}"]`);
    if (!tr) continue;
    const td = tr.cells[1];
    const text = e.status + (e.first_violation_s !== null && e.first_violation_s !== undefined
      ? ` (first at ${fmtT(e.first_violation_s)})` : "");
    if (td.textContent !== text) { td.className = e.status; td.textContent = text; }
  }
}

// -- control ---------------------------------------------------------------------------------
function paramFields(box, params, skip = []) {
  box.innerHTML = "";
  for (const [name, p] of Object.entries(params)) {
    if (skip.includes(name)) continue;
    const hint = p.description || (p.default !== undefined && p.default !== null ? `default ${p.default}` : "");
    box.append(el("label", {}, `${name} `, el("input", { name, "data-param": name, placeholder: hint })));
  }
}
function collect(box) {
  const out = {};
  for (const i of box.querySelectorAll("input[data-param]")) if (i.value.trim() !== "") out[i.name] = parseValue(i.value);
  return out;
}
function parseValue(v) { const s = v.trim(); return /^-?\d+(\.\d+)?(e-?\d+)?$/i.test(s) ? Number(s) : s; }
function buildForms(h) {
  const ft = $("fault-type");
  ft.innerHTML = "";
  for (const f of h.faults) ft.append(el("option", { value: f.type, text: `${f.type} (${f.layer})` }));
  ft.onchange = () => faultChanged(h);
  faultChanged(h);
  const an = $("action-name");
  an.innerHTML = "";
  for (const a of h.actions) if (a.name !== "fault") an.append(el("option", { value: a.name, text: a.name }));
  an.onchange = () => actionChanged(h);
  actionChanged(h);
}
function faultChanged(h) {
  const f = h.faults.find((x) => x.type === $("fault-type").value);
  if (!f) return;
  const tg = $("fault-target");
  tg.innerHTML = "";
  if (f.kinds.includes("ems")) tg.append(el("option", { value: "ems", text: "ems (the controller link)" }));
  else {
    for (const d of h.devices) if (f.kinds.includes(d.kind)) tg.append(el("option", { value: d.name, text: d.name }));
    for (const k of f.kinds) if (h.devices.some((d) => d.kind === k)) tg.append(el("option", { value: k, text: `every ${k}` }));
    tg.append(el("option", { value: "all", text: "all" }));
  }
  paramFields($("fault-params"), f.params);
  setText("fault-summary", f.summary);
}
function actionChanged(h) {
  const a = h.actions.find((x) => x.name === $("action-name").value);
  if (!a) return;
  const box = $("action-params");
  if (a.name === "set") {
    box.innerHTML = "";
    const dl = el("datalist", { id: "inputs" });
    for (const n of h.inputs) dl.append(el("option", { value: n }));
    box.append(dl, el("label", {}, "input ", el("input", { id: "set-input", list: "inputs", placeholder: "e.g. pcs[0].p_set_kw" })),
      el("label", {}, "value ", el("input", { id: "set-value", placeholder: "e.g. 100 kW" })));
  } else if (a.name === "smoothing") {
    box.innerHTML = "";
    box.append(el("label", {}, "on ", el("input", { id: "smoothing-on", type: "checkbox", style: "width:auto" })));
  } else paramFields(box, a.params);
  setText("action-summary", a.summary);
}
async function send(action) {
  setText("action-error", "");
  setText("action-result", "sending…");
  let res, body;
  try {
    res = await fetch("/api/action", {
      method: "POST", headers: { "Content-Type": "application/json", "X-HIL-Token": TOKEN || "" },
      body: JSON.stringify({ action }),
    });
    body = await res.json();
  } catch (e) {
    setText("action-result", "");
    setText("action-error", `could not send: ${e}`);
    return false;
  }
  if (body.ok) { setText("action-result", `done: ${body.done}`); return true; }
  setText("action-result", "");
  setText("action-error", body.problems.map((p) => (p.where ? `${p.where}: ` : "") + p.message).join("\n"));
  return false;
}
$("fault-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const spec = { type: $("fault-type").value, target: $("fault-target").value, ...collect($("fault-params")) };
  const d = $("fault-duration").value.trim();
  if (d) spec.duration = parseValue(d);
  send({ fault: spec });
});
$("action-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const name = $("action-name").value;
  if (name === "set") send({ set: { [$("set-input").value.trim()]: parseValue($("set-value").value) } });
  else if (name === "smoothing") send({ smoothing: $("smoothing-on").checked });
  else send({ [name]: collect($("action-params")) });
});
$("pause").onclick = () => send({ clock: "pause" });
$("resume").onclick = () => send({ clock: "resume" });
$("set-speed").onclick = () => send({ speed: Number($("speed").value) });
$("window").onchange = () => { state.zoomed.clear(); redrawPlots(); };
// unticked: the routine rows already listed go too; ticked: the next ones are listed
$("routine").onchange = () => {
  if ($("routine").checked) return;
  for (const tr of [...$("events").tBodies[0].rows]) if (ROUTINE.has(tr.dataset.kind)) tr.remove();
};

// -- devices ---------------------------------------------------------------------------------
function buildDevices(devices) {
  const sel = $("device-select");
  sel.innerHTML = "";
  for (const d of devices) sel.append(el("option", { value: d.name, text: `${d.name} (${d.kind}, unit ${d.unit_id})` }));
  sel.onchange = () => showDevice(devices.find((d) => d.name === sel.value));
  if (devices.length) showDevice(devices.find((d) => d.name === state.watched) || devices[0]);
}
function showDevice(d) {
  $("device-select").value = d.name;
  const body = $("points").tBodies[0];
  body.innerHTML = "";
  state.pointRows = new Map();
  for (const p of d.points) {
    const v = el("td", { class: "num", text: "…" });
    const tr = el("tr", { "data-key": p.key }, el("td", { text: p.key + (p.writable ? " ✎" : "") }),
      el("td", { class: "num", text: String(p.address) }), el("td", { class: "small", text: p.opcua || "–" }),
      v, el("td", { text: p.unit }));
    body.append(tr);
    state.pointRows.set(p.key, { tr, v, text: "…", mark: "" });
  }
  watch(d.name);
}
function onDevice(m) {
  if (m.name !== state.watched) return;
  const faulted = new Set(m.faulted);
  // only what changed is written: a PCS has hundreds of points, most of them still from one
  // frame to the next, and every write to the page costs a layout (the browser shares the
  // bench's cores when it runs on the bench machine)
  for (const [key, row] of state.pointRows) {
    const v = m.values[key];
    const text = typeof v === "number" ? fmt(v, "", 3) : v === null || v === undefined ? "n/a" : String(v);
    const mark = m.frozen ? "stale" : faulted.has(key) ? "faulted" : "";
    if (row.text !== text) { row.v.textContent = text; row.text = text; }
    if (row.mark !== mark) {
      row.tr.className = mark;
      row.tr.title = mark === "stale" ? "registers frozen (stale)" : mark ? "faulted: stuck or biased" : "";
      row.mark = mark;
    }
  }
}

window.addEventListener("resize", () => { if (state.hello) buildPlots(state.hello); });
connect();
