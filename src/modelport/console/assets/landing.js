// The landing page: the server (version, protocols and ports, control mode) and every
// model version with its state, reason, platform, tensors and batching.
"use strict";
header("/");

async function showServer() {
  const info = await api("/console/overview.json");
  const host = location.hostname.includes(":") ? "[" + location.hostname + "]" : location.hostname;
  const rows = [
    ["HTTP", "V2 REST, /predict, TF Serving REST, SageMaker, Vertex", location.origin],
    ["gRPC", "V2 GRPCInferenceService", info.ports.grpc ? host + ":" + info.ports.grpc : "off"],
    ["Metrics", "Prometheus", info.metrics ? location.origin + "/metrics" + (info.ports.metrics ? " and :" + info.ports.metrics : "") : "off"],
  ];
  const table = el("table", {}, el("tr", {}, el("th", { text: "protocol" }), el("th", { text: "speaks" }), el("th", { text: "address" })),
    ...rows.map(([name, speaks, where]) => el("tr", {}, el("td", { text: name }), el("td", { text: speaks }), el("td", { class: "mono", text: where }))));
  const mode = el("p", { class: "muted", text: "Model control mode: " + info.model_control_mode + (info.keys ? " · API keys required" : "") });
  document.getElementById("server").replaceChildren(el("h2", { text: "Server" }), table, mode);
  return info;
}

function tensors(list) {
  return el("div", {}, ...(list || []).map((t) => el("div", { class: "mono", text: t.name + " " + t.datatype + " " + shape(t) })));
}

function batching(row) {
  const b = row.dynamic_batching;
  if (!b) return el("span", { class: "muted", text: row.max_batch_size ? "max batch " + row.max_batch_size : "none" });
  return el("span", { text: "dynamic, max " + row.max_batch_size + ", delay " + b.max_queue_delay_microseconds + " µs" });
}

function controls(row, info) {
  if (!info.admin.includes(row.name)) return el("span"); // explicit mode, and this key may
  const act = async (what, button) => {
    button.disabled = true;
    try { await api("/v2/repository/models/" + encodeURIComponent(row.name) + "/" + what, { method: "POST" }); }
    catch (e) { alert(what + " failed: " + e.message); }
    await showModels(info);
  };
  const loaded = row.state === "READY";
  const button = el("button", { class: "secondary", text: loaded ? "Unload" : "Load", "data-action": loaded ? "unload" : "load" });
  button.addEventListener("click", () => act(loaded ? "unload" : "load", button));
  return button;
}

async function showModels(info) {
  const rows = await api("/v2/models");
  const head = el("tr", {}, ...["model", "version", "state", "platform", "inputs", "outputs", "batching", ""].map((h) => el("th", { text: h })));
  const body = rows.map((row) => {
    const name = row.state === "READY"
      ? el("a", { href: "/console/models/" + encodeURIComponent(row.name), text: row.name })
      : el("span", { text: row.name });
    const state = el("td", {}, el("span", { class: "state " + row.state, text: row.state }));
    if (row.reason) state.append(el("div", { class: row.state === "READY" ? "muted" : "reason", text: row.reason }));
    return el("tr", { "data-model": row.name },
      el("td", {}, name), el("td", { text: row.version || "–" }), state,
      el("td", { class: "mono", text: row.platform || "" }), el("td", {}, tensors(row.inputs)),
      el("td", {}, tensors(row.outputs)), el("td", {}, batching(row)), el("td", {}, controls(row, info)));
  });
  const table = rows.length ? el("table", { id: "model-table" }, head, ...body) : el("p", { text: "No models." });
  document.getElementById("models").replaceChildren(el("h2", { text: "Models" }), table);
}

(async () => {
  try { await showModels(await showServer()); }
  catch (e) { document.getElementById("models").append(el("p", { class: "error", text: e.message })); }
})();
