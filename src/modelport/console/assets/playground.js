// A playground per model, built from its signature: draw a digit for a 784-value input,
// upload an image for an image input, a form for a row of features, else a V2 request to
// edit. Shows each output (top classes with probabilities, or values) and the latency.
"use strict";
header("");
const NAME = decodeURIComponent(location.pathname.split("/").pop());
let build = null; // () => V2 request body

function count(dims) { return dims.reduce((a, b) => a * b, 1); }
function fixed(spec) { return spec.shape.map((d) => (d < 0 ? 1 : d)); }

function kindOf(meta) {
  if (meta.inputs.length !== 1) return "json";
  const spec = meta.inputs[0];
  const dims = fixed(spec);
  if (!spec.datatype.startsWith("FP")) return "json";
  if (count(dims) === 784) return "digit";
  const inner = spec.shape.slice(1);
  if (inner.length === 3 && (inner[0] === 3 || inner[2] === 3) && inner.every((d) => d === 3 || d >= 16)) return "image";
  if (inner.length === 1 && inner[0] > 0 && inner[0] <= 256) return "tabular";
  return "json";
}

// --- drawing a digit --------------------------------------------------------------------
function digitInput(spec) {
  const canvas = el("canvas", { id: "pad", class: "draw", width: "280", height: "280", "aria-label": "drawing pad" });
  const ctx = canvas.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 280, 280); };
  clear();
  ctx.strokeStyle = "#fff"; ctx.lineWidth = 26; ctx.lineCap = "round"; ctx.lineJoin = "round";
  let drawing = false;
  const at = (e) => { const r = canvas.getBoundingClientRect(); return [(e.clientX - r.left) * 280 / r.width, (e.clientY - r.top) * 280 / r.height]; };
  canvas.addEventListener("pointerdown", (e) => { drawing = true; ctx.beginPath(); ctx.moveTo(...at(e)); canvas.setPointerCapture(e.pointerId); });
  canvas.addEventListener("pointermove", (e) => { if (drawing) { ctx.lineTo(...at(e)); ctx.stroke(); } });
  canvas.addEventListener("pointerup", () => { drawing = false; send(); });
  const style = el("select", { id: "style", "aria-label": "preprocessing" },
    el("option", { value: "digits", text: "like scikit-learn's digits (8x8, upscaled)" }),
    el("option", { value: "mnist", text: "like MNIST (20x20 centred)" }));
  build = () => ({ inputs: [{ name: spec.name, datatype: spec.datatype, shape: fixed(spec), data: digitPixels(canvas, style.value) }] });
  return el("div", {}, canvas, el("p", {}, el("button", { id: "clear", class: "secondary", text: "Clear", onclick: clear }), " ",
    el("button", { id: "send", text: "Predict", onclick: send })), el("p", { class: "muted" }, "Draw a digit; it is scaled to fill the frame ", style));
}

function inkBox(canvas) {
  const { data } = canvas.getContext("2d").getImageData(0, 0, 280, 280);
  let top = 280, left = 280, bottom = -1, right = -1;
  for (let y = 0; y < 280; y++) for (let x = 0; x < 280; x++) {
    if (data[(y * 280 + x) * 4] > 40) { top = Math.min(top, y); bottom = Math.max(bottom, y); left = Math.min(left, x); right = Math.max(right, x); }
  }
  return bottom < 0 ? null : { top, left, width: right - left + 1, height: bottom - top + 1 };
}

function fitted(canvas, size, fill) {
  // The ink scaled (aspect kept) so its longer side is `fill` pixels, centred in size x size.
  const out = el("canvas", { width: String(size), height: String(size) });
  const ctx = out.getContext("2d");
  ctx.fillStyle = "#000"; ctx.fillRect(0, 0, size, size);
  const box = inkBox(canvas);
  if (!box) return ctx;
  const scale = fill / Math.max(box.width, box.height);
  const w = box.width * scale, h = box.height * scale;
  ctx.imageSmoothingEnabled = true; ctx.imageSmoothingQuality = "high";
  ctx.drawImage(canvas, box.left, box.top, box.width, box.height, (size - w) / 2, (size - h) / 2, w, h);
  return ctx;
}

function digitPixels(canvas, style) {
  if (style === "mnist") return gray(fitted(canvas, 28, 20), 28);
  const grid = gray(fitted(canvas, 64, 64), 64); // then 8x8 block means, as scikit-learn's digits
  const small = [];
  for (let by = 0; by < 8; by++) for (let bx = 0; bx < 8; bx++) {
    let sum = 0;
    for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) sum += grid[(by * 8 + y) * 64 + bx * 8 + x];
    small.push(sum / 64);
  }
  return upscale(small, 8, 28);
}

function gray(ctx, size) {
  const { data } = ctx.getImageData(0, 0, size, size);
  const out = [];
  for (let i = 0; i < size * size; i++) out.push(data[i * 4] / 255);
  return out;
}

function upscale(values, from, to) {
  // Bilinear with corners aligned: scipy.ndimage.zoom(order=1), as the training data was made.
  const out = [];
  const step = (from - 1) / (to - 1);
  for (let i = 0; i < to; i++) for (let j = 0; j < to; j++) {
    const y = i * step, x = j * step, y0 = Math.floor(y), x0 = Math.floor(x);
    const y1 = Math.min(y0 + 1, from - 1), x1 = Math.min(x0 + 1, from - 1), dy = y - y0, dx = x - x0;
    const v = values[y0 * from + x0] * (1 - dy) * (1 - dx) + values[y0 * from + x1] * (1 - dy) * dx
      + values[y1 * from + x0] * dy * (1 - dx) + values[y1 * from + x1] * dy * dx;
    out.push(Math.min(1, Math.max(0, v)));
  }
  return out;
}

// --- an image file ----------------------------------------------------------------------
function imageInput(spec) {
  const inner = spec.shape.slice(1);
  const first = inner[0] === 3;
  const [h, w] = first ? [inner[1], inner[2]] : [inner[0], inner[1]];
  const preview = el("canvas", { width: String(w), height: String(h), style: "max-width:224px;border-radius:6px" });
  const file = el("input", { id: "file", type: "file", accept: "image/*", "aria-label": "image file" });
  file.addEventListener("change", async () => {
    const bitmap = await createImageBitmap(file.files[0]);
    preview.getContext("2d").drawImage(bitmap, 0, 0, w, h);
    send();
  });
  build = () => {
    const { data } = preview.getContext("2d").getImageData(0, 0, w, h);
    const values = new Array(3 * h * w);
    for (let p = 0; p < h * w; p++) for (let c = 0; c < 3; c++) values[first ? c * h * w + p : p * 3 + c] = data[p * 4 + c] / 255;
    return { inputs: [{ name: spec.name, datatype: spec.datatype, shape: [1, ...inner], data: values }] };
  };
  return el("div", {}, file, el("p", { class: "muted", text: "Resized to " + w + "x" + h + ", RGB in [0, 1]." }), preview);
}

// --- a row of features ------------------------------------------------------------------
function tabularInput(spec) {
  const n = spec.shape[1];
  const fields = [];
  for (let i = 0; i < n; i++) fields.push(el("input", { type: "number", step: "any", value: "0", "data-feature": String(i), "aria-label": "feature " + i }));
  const paste = el("textarea", { id: "paste", placeholder: "Paste a CSV row or a JSON list of " + n + " numbers", "aria-label": "paste a row" });
  paste.addEventListener("input", () => {
    const text = paste.value.trim();
    let values;
    try { values = text.startsWith("[") ? JSON.parse(text).flat() : text.split(/[,;\s]+/).map(Number); } catch (_) { return; }
    values.slice(0, n).forEach((v, i) => { fields[i].value = String(v); });
  });
  build = () => ({ inputs: [{ name: spec.name, datatype: spec.datatype, shape: [1, n], data: fields.map((f) => Number(f.value)) }] });
  const grid = el("div", { class: "fields" }, ...fields.map((f, i) => el("label", {}, "feature " + i, f)));
  return el("div", {}, paste, el("p", {}, el("button", { id: "send", text: "Predict", onclick: send })), grid);
}

// --- anything else: the V2 request itself ------------------------------------------------
function jsonInput(meta) {
  const zeros = (spec) => new Array(count(fixed(spec))).fill(spec.datatype === "BYTES" ? "" : spec.datatype === "BOOL" ? false : 0);
  const request = { inputs: meta.inputs.map((s) => ({ name: s.name, datatype: s.datatype, shape: fixed(s), data: zeros(s) })) };
  const editor = el("textarea", { id: "request", "aria-label": "V2 request", rows: "12" });
  editor.value = JSON.stringify(request, null, 1);
  build = () => JSON.parse(editor.value);
  return el("div", {}, editor, el("p", {}, el("button", { id: "send", text: "Infer", onclick: send })));
}

// --- the answer -------------------------------------------------------------------------
function isScores(output, width) {
  // Class scores: a row of probabilities (non-negative, summing to 1), or named like scores.
  if (!output.datatype.startsWith("FP") || width < 2 || width > 1000) return false;
  const row = output.data.slice(0, width);
  const sum = row.reduce((a, b) => a + b, 0);
  return (row.every((p) => p >= 0) && Math.abs(sum - 1) < 0.01) || /prob|logit|score|class/i.test(output.name);
}

function showOutput(output) {
  const rows = output.shape.length > 1 ? output.shape[0] : 1;
  const width = output.data.length / rows;
  if (isScores(output, width)) {
    const first = output.data.slice(0, width).map((p, i) => [i, p]).sort((a, b) => b[1] - a[1]).slice(0, 5);
    const top = Math.max(...first.map((r) => Math.abs(r[1])), 1e-9);
    return el("div", { "data-output": output.name }, el("h3", { text: output.name }),
      el("p", {}, "Top class: ", el("strong", { id: "top-class", text: String(first[0][0]) })),
      el("table", {}, ...first.map(([i, p]) => el("tr", {}, el("td", { class: "mono", text: String(i) }), el("td", { class: "mono", text: p.toFixed(4) }),
        el("td", { style: "width:50%" }, el("div", { class: "bar", style: "width:" + (100 * Math.abs(p) / top).toFixed(1) + "%" }))))));
  }
  const shown = output.data.length > 50 ? output.data.slice(0, 50).join(", ") + ", …" : output.data.join(", ");
  return el("div", { "data-output": output.name }, el("h3", { text: output.name + " " + output.datatype + " " + shape(output) }),
    el("p", { class: "mono", "data-values": output.name, text: shown }));
}

async function send() {
  const box = document.getElementById("output");
  let body;
  try { body = build(); } catch (e) { box.replaceChildren(el("h2", { text: "Output" }), el("p", { class: "error", text: "Invalid request: " + e.message })); return; }
  const started = performance.now();
  try {
    const answer = await api("/v2/models/" + encodeURIComponent(NAME) + "/infer", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
    const ms = performance.now() - started;
    box.replaceChildren(el("h2", { text: "Output" }), el("p", { class: "muted" }, "Answered in ", el("span", { id: "latency", text: ms.toFixed(1) }), " ms by version " + answer.model_version),
      ...answer.outputs.map(showOutput));
  } catch (e) {
    box.replaceChildren(el("h2", { text: "Output" }), el("p", { class: "error", id: "error", text: e.status + ": " + e.message }));
  }
}

(async () => {
  const section = document.getElementById("model");
  try {
    const meta = await api("/v2/models/" + encodeURIComponent(NAME));
    document.title = "modelport · " + meta.name;
    const kind = kindOf(meta);
    section.replaceChildren(el("h2", { text: meta.name }), el("p", { class: "muted", text: meta.platform + " · versions " + meta.versions.join(", ") + " · " + kind + " playground" }),
      el("p", {}, el("a", { href: "/docs#/" + encodeURIComponent(meta.name), text: "API docs" }), " · ", el("a", { href: "/v2/models/" + encodeURIComponent(meta.name), text: "metadata JSON" })));
    const widget = kind === "digit" ? digitInput(meta.inputs[0]) : kind === "image" ? imageInput(meta.inputs[0])
      : kind === "tabular" ? tabularInput(meta.inputs[0]) : jsonInput(meta);
    document.getElementById("input").append(widget);
    document.body.dataset.kind = kind;
  } catch (e) { section.append(el("p", { class: "error", text: e.message })); }
})();
