// Shared by every console page: the API key (asked for once, kept for the tab), JSON
// calls to this server, and small DOM helpers. No framework, no build step.
"use strict";
const KEY = "modelport-api-key";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function headers(extra) {
  const key = sessionStorage.getItem(KEY);
  return Object.assign({}, extra || {}, key ? { Authorization: "Bearer " + key } : {});
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = headers(opts.headers);
  const response = await fetch(path, opts);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch (_) { body = { error: text }; }
  if (response.status === 401) askForKey();
  if (!response.ok) throw new ApiError(response.status, (body && body.error) || response.statusText);
  return body;
}

function askForKey() {
  const box = document.getElementById("keybox");
  if (!box || box.classList.contains("shown")) return;
  box.replaceChildren(
    el("span", { text: "This server needs an API key." }),
    el("input", { id: "apikey", type: "password", placeholder: "API key", "aria-label": "API key" }),
    el("button", { text: "Use key", onclick: () => {
      sessionStorage.setItem(KEY, document.getElementById("apikey").value.trim());
      location.reload();
    } }),
  );
  box.classList.add("shown");
}

function header(active) {
  const links = [["/", "Models"], ["/console/live", "Live"], ["/docs", "API docs"], ["/metrics", "Metrics"]];
  const nav = el("nav", {}, ...links.map(([href, label]) =>
    el("a", { href, text: label, "aria-current": active === href ? "page" : "false" })));
  const top = el("header", {}, el("h1", {}, el("a", { href: "/", text: "modelport" })), nav,
    el("span", { id: "version", class: "muted" }));
  document.body.prepend(el("div", { id: "keybox", class: "keybox" }));
  document.body.prepend(top);
  api("/console/overview.json").then((info) => {
    document.getElementById("version").textContent = "version " + info.version;
  }).catch(() => {});
}

function shape(spec) { return "[" + spec.shape.join(", ") + "]"; }
