/**
 * The live dashboard served at `/`: one self-contained page (inline CSS and JS, canvas charts, no
 * external assets). It connects to `/live` and redraws on every snapshot.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Riptide — live</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
  :root { --bg:#0f1419; --panel:#1a2129; --fg:#e6edf3; --dim:#8b949e; --a:#4fc3f7; --b:#ffb74d; --c:#e57373; --ok:#81c784; }
  * { box-sizing: border-box; }
  body { margin:0; padding:16px; background:var(--bg); color:var(--fg); font:14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  header { display:flex; align-items:baseline; gap:16px; margin-bottom:12px; }
  h1 { font-size:20px; margin:0; }
  h2 { font-size:13px; margin:0 0 8px; color:var(--dim); font-weight:600; text-transform:uppercase; letter-spacing:.05em; }
  #status { padding:2px 8px; border-radius:10px; background:#333; font-size:12px; }
  #status.live { background:#1b5e20; } #status.closed { background:#7f1d1d; }
  .grid { display:grid; grid-template-columns: repeat(6, 1fr); gap:12px; }
  .panel { background:var(--panel); border-radius:8px; padding:12px; }
  .figure .v { font-size:26px; font-weight:700; font-variant-numeric: tabular-nums; }
  .figure .u { color:var(--dim); font-size:12px; }
  .wide { grid-column: span 3; } .full { grid-column: span 6; } .half { grid-column: span 3; }
  canvas { width:100%; display:block; }
  table { width:100%; border-collapse:collapse; font-variant-numeric: tabular-nums; }
  td { padding:3px 0; } td.n { text-align:right; font-weight:600; }
  .bar { height:10px; background:var(--a); border-radius:2px; min-width:1px; }
  th { text-align:left; color:var(--dim); font-weight:600; font-size:12px; padding:3px 0; } th.n { text-align:right; }
  .legend span { margin-right:12px; font-size:12px; } .legend i { display:inline-block; width:10px; height:10px; margin-right:4px; border-radius:2px; }
</style>
</head>
<body>
<header><h1>Riptide</h1><span id="pipeline" class="u"></span><span id="status">connecting…</span><span id="elapsed" style="color:var(--dim)"></span></header>
<div class="grid">
  <div class="panel figure"><h2>Throughput</h2><div class="v" id="throughput">–</div><div class="u">events/s</div></div>
  <div class="panel figure"><h2>Processed</h2><div class="v" id="processed">–</div><div class="u">events</div></div>
  <div class="panel figure"><h2>Latency p50</h2><div class="v" id="p50">–</div><div class="u" id="p50Unit">ms</div></div>
  <div class="panel figure"><h2>Latency p99</h2><div class="v" id="p99">–</div><div class="u" id="p99Unit">ms</div></div>
  <div class="panel figure"><h2>Watermark delay</h2><div class="v" id="wmdelay">–</div><div class="u" id="wmdelayUnit">behind wall clock</div></div>
  <div class="panel figure"><h2>Event loop p99</h2><div class="v" id="loop">–</div><div class="u">ms delay</div></div>
  <div class="panel wide"><h2>Throughput (events/s)</h2><canvas id="rateChart" height="180"></canvas></div>
  <div class="panel wide"><h2>Latency (ms, <span id="latWindow">last 5 s</span>)</h2><div class="legend"><span><i style="background:var(--a)"></i>p50</span><span><i style="background:var(--c)"></i>p99</span></div><canvas id="latChart" height="160"></canvas></div>
  <div class="panel half"><h2>Input ring fill per worker</h2><canvas id="ringChart" height="160"></canvas></div>
  <div class="panel half"><h2>Outputs</h2><table>
    <tr><td>Windows</td><td class="n" id="c-window">0</td></tr>
    <tr><td>Late</td><td class="n" id="c-late">0</td></tr>
    <tr><td>Invalid</td><td class="n" id="c-invalid">0</td></tr>
    <tr><td>Anomaly</td><td class="n" id="c-anomaly">0</td></tr>
    <tr><td>Dead letters (DLQ)</td><td class="n" id="c-dlq">0</td></tr>
    <tr><td>Worker restarts</td><td class="n" id="c-restarts">0</td></tr>
  </table></div>
  <div class="panel half"><h2>Consumer lag per partition <span id="lagTotal" style="text-transform:none;font-weight:400"></span></h2>
    <table id="lagTable"><thead><tr><th>Partition</th><th class="n">Records behind</th><th style="width:45%"></th></tr></thead><tbody><tr><td colspan="3" style="color:var(--dim)">not a Kafka source</td></tr></tbody></table></div>
  <div class="panel half"><h2>Latency by stage (ms, <span id="stageWindow">last 5 s</span>)</h2>
    <table id="stageTable"><thead><tr><th>Stage</th><th class="n">p50</th><th class="n">p99</th><th style="padding-left:12px">from → to</th></tr></thead><tbody>
      <tr id="stage-source"><td>source</td><td class="n">–</td><td class="n">–</td><td style="padding-left:12px;color:var(--dim)">entered (Kafka timestamp) → handed to a shard</td></tr>
      <tr id="stage-processed"><td>processed</td><td class="n">–</td><td class="n">–</td><td style="padding-left:12px;color:var(--dim)">entered → processed by its shard</td></tr>
      <tr id="stage-acknowledged"><td>acknowledged</td><td class="n">–</td><td class="n">–</td><td style="padding-left:12px;color:var(--dim)">processed → acknowledged to the coordinator</td></tr>
    </tbody></table></div>
  <div class="panel half"><h2>Shards</h2>
    <table id="shardTable"><thead><tr><th>Worker</th><th class="n">events/s</th><th class="n">ring</th><th class="n">state entries</th><th class="n">state size</th></tr></thead><tbody></tbody></table></div>
  <div class="panel full"><h2>Driver density per geohash-5 region (last emitted window) <span id="regionInfo" style="text-transform:none;font-weight:400"></span></h2><canvas id="mapChart" height="360"></canvas></div>
</div>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const history = [];
let regions = null;
const MAX_POINTS = 240;

function fmt(n, digits) {
  if (n === null || n === undefined || !isFinite(n)) return "–";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + " M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + " k";
  return n.toFixed(digits ?? 0);
}

function fmtAge(ms) {
  if (ms === null || !isFinite(ms)) return ["–", "behind wall clock"];
  const s = ms / 1000;
  if (Math.abs(s) < 120) return [s.toFixed(1), "s behind wall clock"];
  if (Math.abs(s) < 7200) return [(s / 60).toFixed(1), "min behind wall clock"];
  if (Math.abs(s) < 172800) return [(s / 3600).toFixed(1), "h behind wall clock"];
  return [(s / 86400).toFixed(0), "days behind wall clock (event time is not now)"];
}

function setupCanvas(c) {
  const dpr = window.devicePixelRatio || 1;
  const w = c.clientWidth, h = c.height / (c._dpr || 1);
  if (c._w !== w || c._dpr !== dpr) { c._w = w; c._h = h; c._dpr = dpr; c.width = w * dpr; c.height = h * dpr; c.style.height = h + "px"; }
  const ctx = c.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, c._w, c._h);
  return { ctx, w: c._w, h: c._h };
}

function lineChart(canvas, series) {
  const { ctx, w, h } = setupCanvas(canvas);
  const pad = { l: 56, r: 8, t: 8, b: 18 };
  let max = 0;
  for (const s of series) for (const v of s.values) if (isFinite(v) && v > max) max = v;
  max = max > 0 ? max * 1.1 : 1;
  ctx.strokeStyle = "#2d333b"; ctx.fillStyle = "#8b949e"; ctx.font = "11px system-ui"; ctx.lineWidth = 1;
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (h - pad.t - pad.b) * (1 - i / 4);
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(w - pad.r, y); ctx.stroke();
    ctx.fillText(fmt(max * i / 4, max < 10 ? 2 : 0), 4, y + 4);
  }
  const n = Math.max(2, series[0].values.length);
  for (const s of series) {
    ctx.strokeStyle = s.color; ctx.lineWidth = 2; ctx.beginPath();
    s.values.forEach((v, i) => {
      const x = pad.l + (w - pad.l - pad.r) * (i / (n - 1));
      const y = pad.t + (h - pad.t - pad.b) * (1 - (isFinite(v) ? v : 0) / max);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  ctx.fillStyle = "#8b949e";
  ctx.fillText("last " + Math.round(n / 2) + " s", w - 70, h - 4);
}

function ringChart(canvas, fills) {
  const { ctx, w, h } = setupCanvas(canvas);
  const n = fills.length || 1, gap = 6, bw = Math.max(4, (w - 40 - gap * n) / n);
  ctx.font = "11px system-ui";
  fills.forEach((f, i) => {
    const x = 36 + i * (bw + gap), bh = (h - 24) * Math.min(1, f);
    ctx.fillStyle = "#2d333b"; ctx.fillRect(x, 4, bw, h - 24);
    ctx.fillStyle = f > 0.8 ? "#e57373" : f > 0.5 ? "#ffb74d" : "#81c784";
    ctx.fillRect(x, 4 + (h - 24) - bh, bw, bh);
    ctx.fillStyle = "#8b949e"; ctx.fillText("w" + i + " " + Math.round(f * 100) + "%", x + bw / 2 - 16, h - 6);
  });
  ctx.fillStyle = "#8b949e"; ctx.fillText("100%", 0, 12); ctx.fillText("0%", 8, h - 20);
}

function fmtBytes(b) {
  if (!isFinite(b)) return "–";
  return b >= 1073741824 ? (b / 1073741824).toFixed(2) + " GiB" : b >= 1048576 ? (b / 1048576).toFixed(1) + " MiB" : (b / 1024).toFixed(0) + " KiB";
}

function row(cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c && c.bar !== undefined) { const d = document.createElement("div"); d.className = "bar"; d.style.width = (100 * c.bar).toFixed(1) + "%"; td.appendChild(d); }
    else { td.textContent = c.text; if (c.n) td.className = "n"; }
    tr.appendChild(td);
  }
  return tr;
}

function lagTable(lag) {
  const body = $("lagTable").tBodies[0];
  if (!lag) return;
  const max = lag.reduce((m, x) => Math.max(m, x.lag), 0) || 1;
  const total = lag.reduce((s, x) => s + x.lag, 0);
  $("lagTotal").textContent = "— " + fmt(total) + " records behind in total";
  body.replaceChildren(...(lag.length === 0
    ? [row([{ text: "no partition assigned yet" }])]
    : lag.map((x) => { const r = row([{ text: "p" + x.partition }, { text: fmt(x.lag), n: true }, { bar: x.lag / max }]); r.id = "lag-p" + x.partition; return r; })));
}

function shardTable(s) {
  const rows = s.ringFill.map((f, w) => row([{ text: "w" + w }, { text: fmt((s.rateByWorker || [])[w]), n: true }, { text: Math.round(f * 100) + "%", n: true },
    { text: fmt((s.stateEntries || [])[w]), n: true }, { text: fmtBytes((s.stateBytes || [])[w]), n: true }]));
  $("shardTable").tBodies[0].replaceChildren(...rows);
}

function color(t) { return "hsl(" + (200 - 190 * t) + ", 85%, " + (25 + 40 * t) + "%)"; }

// Regions are grouped by their geohash-3 prefix (~150 km: a city and its surroundings); the busiest
// groups are drawn side by side, each a grid of its geohash-5 cells on its own scale.
function mapChart(canvas, r) {
  const { ctx, w, h } = setupCanvas(canvas);
  ctx.font = "12px system-ui";
  if (!r || r.cells.length === 0) { ctx.fillStyle = "#8b949e"; ctx.fillText("no window emitted yet", 12, 24); return; }
  let maxC = 1;
  const groups = new Map();
  for (const c of r.cells) {
    maxC = Math.max(maxC, c[5]);
    const k = c[0].slice(0, 3);
    let g = groups.get(k);
    if (!g) { g = { key: k, cells: [], total: 0, minLat: 90, maxLat: -90, minLon: 180, maxLon: -180 }; groups.set(k, g); }
    g.cells.push(c); g.total += c[5];
    g.minLat = Math.min(g.minLat, c[1]); g.minLon = Math.min(g.minLon, c[2]); g.maxLat = Math.max(g.maxLat, c[3]); g.maxLon = Math.max(g.maxLon, c[4]);
  }
  const top = [...groups.values()].sort((a, b) => b.total - a.total).slice(0, 8);
  const cols = Math.min(4, top.length), rows = Math.ceil(top.length / cols);
  const legendW = 110, pw = (w - legendW) / cols, ph = h / rows;
  top.forEach((g, i) => {
    const px = (i % cols) * pw, py = Math.floor(i / cols) * ph;
    const kx = Math.cos(((g.minLat + g.maxLat) / 2) * Math.PI / 180);
    const spanX = Math.max((g.maxLon - g.minLon) * kx, 0.01), spanY = Math.max(g.maxLat - g.minLat, 0.01);
    const s = Math.min((pw - 16) / spanX, (ph - 40) / spanY);
    const ox = px + 8 + (pw - 16 - spanX * s) / 2, oy = py + 30;
    ctx.strokeStyle = "#2d333b"; ctx.strokeRect(px + 2, py + 2, pw - 4, ph - 4);
    for (const c of g.cells) {
      ctx.fillStyle = color(Math.sqrt(c[5] / maxC));
      const x = ox + (c[2] - g.minLon) * kx * s, y = oy + (g.maxLat - c[3]) * s;
      ctx.fillRect(x, y, Math.max(1, (c[4] - c[2]) * kx * s - 1), Math.max(1, (c[3] - c[1]) * s - 1));
    }
    ctx.fillStyle = "#e6edf3";
    ctx.font = "11px system-ui";
    ctx.fillText(g.key + "  " + ((g.minLat + g.maxLat) / 2).toFixed(2) + ", " + ((g.minLon + g.maxLon) / 2).toFixed(2) + "  ·  " + fmt(g.total) + " fixes", px + 10, py + 18);
    ctx.font = "12px system-ui";
  });
  const lx = w - legendW + 10;
  for (let i = 0; i <= 10; i++) { ctx.fillStyle = color(i / 10); ctx.fillRect(lx, h - 20 - i * 14, 16, 13); }
  ctx.fillStyle = "#e6edf3"; ctx.fillText(fmt(maxC) + " fixes", lx + 22, h - 20 - 10 * 14 + 11); ctx.fillText("0", lx + 22, h - 8);
  ctx.fillText("per region", lx, h - 20 - 11 * 14 + 4);
  $("regionInfo").textContent = "— " + r.cells.length + " regions in " + groups.size + " areas (busiest " + top.length + " shown), window from " +
    new Date(r.windowStart).toISOString().slice(0, 19).replace("T", " ") + " UTC (event time)";
}

// The latency of the last few seconds (a live view: the whole run's quantiles hardly move once it
// is long); the whole run's beside it.
function recent(s) {
  return s.recentLatencyMs || { p50: s.latencyMs.p50, p99: s.latencyMs.p99, seconds: null };
}

function stageTable(stages) {
  if (!stages) return;
  for (const name of ["source", "processed", "acknowledged"]) {
    const tr = $("stage-" + name), q = stages[name];
    if (!tr || !q) continue;
    tr.cells[1].textContent = q.p50 === null ? "–" : fmt(q.p50, 2);
    tr.cells[2].textContent = q.p99 === null ? "–" : fmt(q.p99, 2);
  }
}

function render() {
  const last = history[history.length - 1];
  if (!last) return;
  $("throughput").textContent = isFinite(last.rate) ? Math.round(last.rate).toLocaleString("en-US") : "–";
  $("processed").textContent = fmt(last.processed);
  const r = recent(last);
  const windowText = r.seconds ? "last " + r.seconds + " s" : "whole run";
  $("p50").textContent = r.p50 === null ? "–" : fmt(r.p50, 2);
  $("p99").textContent = r.p99 === null ? "–" : fmt(r.p99, 2);
  $("p50Unit").textContent = "ms, " + windowText + " (run " + fmt(last.latencyMs.p50, 2) + ")";
  $("p99Unit").textContent = "ms, " + windowText + " (run " + fmt(last.latencyMs.p99, 2) + ")";
  $("latWindow").textContent = windowText; $("stageWindow").textContent = windowText;
  stageTable(last.stagesMs);
  const age = fmtAge(last.watermarkDelayMs);
  $("wmdelay").textContent = age[0]; $("wmdelayUnit").textContent = age[1];
  $("loop").textContent = fmt(last.eventLoopDelayP99Ms, 1);
  $("elapsed").textContent = last.elapsedSeconds.toFixed(1) + " s" + (last.ready ? "" : " (not ready)");
  const o = last.outputs;
  $("c-window").textContent = fmt(o.window || 0); $("c-late").textContent = fmt(o.late || 0);
  $("c-invalid").textContent = fmt(o.invalid || 0); $("c-anomaly").textContent = fmt(o.anomaly || 0);
  $("c-dlq").textContent = fmt(last.deadLetters); $("c-restarts").textContent = fmt(last.workerRestarts);
  lineChart($("rateChart"), [{ color: "#4fc3f7", values: history.map((s) => s.rate) }]);
  lineChart($("latChart"), [{ color: "#4fc3f7", values: history.map((s) => recent(s).p50 ?? NaN) }, { color: "#e57373", values: history.map((s) => recent(s).p99 ?? NaN) }]);
  ringChart($("ringChart"), last.ringFill);
  lagTable(last.lag);
  shardTable(last);
  mapChart($("mapChart"), regions);
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/live");
  ws.onopen = () => { $("status").textContent = "live"; $("status").className = "live"; };
  ws.onclose = () => { $("status").textContent = "disconnected (run ended?)"; $("status").className = "closed"; setTimeout(connect, 2000); };
  ws.onmessage = (ev) => {
    const m = JSON.parse(ev.data);
    if (m.type === "hello") {
      $("pipeline").textContent = m.processor + " ← " + m.topic;
      history.length = 0; history.push(...m.history);
      if (m.regions) regions = m.regions;
    } else if (m.type === "snapshot") {
      history.push(m);
      if (history.length > MAX_POINTS) history.shift();
      if (m.regions) regions = m.regions;
    }
    render();
  };
}
window.addEventListener("resize", render);
connect();
</script>
</body>
</html>
`;
