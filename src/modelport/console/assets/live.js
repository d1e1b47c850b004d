// The live view: polls /console/live.json every second and charts the differences.
"use strict";
header("/console/live");
const HISTORY = 60;
const series = new Map(); // "model/version" -> { last, points: {name: []}, cards }
const METRICS = [["rps", "requests/s"], ["p50", "p50 ms"], ["p99", "p99 ms"], ["queue", "queue depth"], ["batch", "rows per batch"], ["errors", "failures/s"]];

function percentile(bounds, counts, q) {
  const total = counts.reduce((a, b) => a + b, 0);
  if (!total) return 0;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const before = seen;
    seen += counts[i];
    if (seen >= q * total) {
      const low = i === 0 ? 0 : bounds[i - 1], high = i < bounds.length ? bounds[i] : bounds[bounds.length - 1] * 2;
      return low + (high - low) * ((q * total - before) / counts[i]);
    }
  }
  return bounds[bounds.length - 1];
}

function card(key, name, label) {
  const value = el("div", { class: "value", "data-metric": name, text: "0" });
  const canvas = el("canvas", { class: "spark", width: "300", height: "48", "data-chart": name });
  return { box: el("div", { class: "card" }, el("div", { class: "muted", text: label }), value, canvas), value, canvas };
}

function draw(canvas, points) {
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const top = Math.max(...points, 1e-9);
  ctx.strokeStyle = "#2f6fde"; ctx.lineWidth = 2; ctx.beginPath();
  points.forEach((p, i) => {
    const x = (i / (HISTORY - 1)) * canvas.width, y = canvas.height - 2 - (p / top) * (canvas.height - 4);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
  canvas.dataset.points = String(points.length);
  canvas.dataset.last = String(points[points.length - 1] || 0);
}

function ensure(key) {
  if (series.has(key)) return series.get(key);
  const cards = {};
  const grid = el("div", { class: "cards" });
  for (const [name, label] of METRICS) { cards[name] = card(key, name, label); grid.append(cards[name].box); }
  const watch = el("p", { class: "watch" });
  document.getElementById("models").append(el("section", { "data-model": key }, el("h2", { text: key }), watch, grid));
  const entry = { last: null, points: Object.fromEntries(METRICS.map(([n]) => [n, []])), cards, watch };
  series.set(key, entry);
  return entry;
}

function update(entry, row, bounds, seconds) {
  const last = entry.last || row;
  const diff = (name) => Math.max(0, row[name] - last[name]);
  const latency = row.latency_buckets.map((c, i) => c - last.latency_buckets[i]);
  const values = {
    rps: diff("success") / seconds,
    p50: percentile(bounds.latency_ms, latency, 0.5),
    p99: percentile(bounds.latency_ms, latency, 0.99),
    queue: row.queue_depth,
    batch: diff("executions") ? diff("inferences") / diff("executions") : 0,
    errors: diff("fail") / seconds,
  };
  entry.last = row;
  watched(entry.watch, row);
  for (const [name] of METRICS) {
    const points = entry.points[name];
    points.push(values[name]);
    if (points.length > HISTORY) points.shift();
    entry.cards[name].value.textContent = values[name] >= 100 ? values[name].toFixed(0) : values[name].toFixed(2);
    draw(entry.cards[name].canvas, points);
  }
}

// Live quality (labels sent back) and drift (logging.drift): a badge per figure; PSI over
// 0.25 is a shift, over 0.1 a moderate change.
function watched(box, row) {
  const badges = [];
  for (const [name, value] of Object.entries(row.quality || {})) {
    if (name !== "labels") badges.push(el("span", { class: "badge", text: `live ${name} ${value.toFixed(3)}` }));
  }
  let worst = "stable";
  for (const [tensor, d] of Object.entries(row.drift || {})) {
    if (d.psi === undefined) continue;
    const level = d.psi > 0.25 ? "shift" : d.psi > 0.1 ? "moderate" : "stable";
    if (level === "shift" || (level === "moderate" && worst === "stable")) worst = level;
    const outside = d.out_of_range > 0 ? `, ${(100 * d.out_of_range).toFixed(1)}% out of range` : "";
    badges.push(el("span", { class: "badge drift-" + level, "data-tensor": tensor, text: `drift ${tensor}: PSI ${d.psi.toFixed(3)}${outside}` }));
  }
  box.replaceChildren(...badges);
  box.closest("section").dataset.drift = worst;
}

let previous = performance.now();
async function tick() {
  try {
    const now = performance.now();
    const live = await api("/console/live.json");
    const seconds = Math.max((now - previous) / 1000, 0.001);
    previous = now;
    for (const row of live.models) update(ensure(row.model + "/" + row.version), row, live.bounds, seconds);
    document.body.dataset.ticks = String(Number(document.body.dataset.ticks || 0) + 1);
  } catch (e) { /* the next tick tries again */ }
  setTimeout(tick, 1000);
}
tick();
