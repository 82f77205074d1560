// Renders /api/v1/openapi.json as a readable page. Served by the Chartgate binary itself (no CDN),
// so it works offline. Text from the document is only ever inserted as text, never as HTML.
"use strict";

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) if (c != null) node.append(c instanceof Node ? c : String(c));
  return node;
}

function resolve(doc, schema) {
  let seen = 0;
  while (schema && schema.$ref && seen++ < 20) {
    const name = schema.$ref.replace("#/components/schemas/", "");
    schema = doc.components && doc.components.schemas ? doc.components.schemas[name] : undefined;
  }
  return schema || {};
}

// A compact, TypeScript-like description of a schema, following references a few levels deep.
function describe(doc, schema, depth) {
  if (!schema) return "any";
  if (schema.$ref) {
    const name = schema.$ref.replace("#/components/schemas/", "");
    if (depth > 3) return name;
    return name + " " + describe(doc, resolve(doc, schema), depth + 1);
  }
  const pad = "  ".repeat(depth + 1);
  if (schema.oneOf || schema.anyOf) {
    return (schema.oneOf || schema.anyOf).map((s) => describe(doc, s, depth)).join(" | ");
  }
  if (schema.enum) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
  let type = schema.type;
  if (Array.isArray(type)) type = type.filter((t) => t !== "null").join(" | ") + (type.includes("null") ? " | null" : "");
  if (type === "array" || (Array.isArray(schema.type) && schema.type.includes("array"))) {
    return describe(doc, schema.items, depth) + "[]";
  }
  if (schema.properties) {
    const required = new Set(schema.required || []);
    const lines = Object.entries(schema.properties).map(([name, prop]) => {
      const doc_ = prop.description ? "  // " + prop.description.split("\n")[0] : "";
      return pad + name + (required.has(name) ? "" : "?") + ": " + describe(doc, prop, depth + 1) + doc_;
    });
    return "{\n" + lines.join("\n") + "\n" + "  ".repeat(depth) + "}";
  }
  return type || "any";
}

function content(doc, body) {
  const out = [];
  for (const [type, media] of Object.entries((body && body.content) || {})) {
    out.push(el("div", {}, el("code", {}, type)), el("pre", {}, describe(doc, media.schema, 0)));
  }
  return out;
}

function operation(doc, path, method, op) {
  const role = op["x-role"];
  const who = role === "viewer" || role === "reviewer" ? role + "s and up" : role === "lead" ? "leads" : role;
  const auth = (op.security && op.security.length
    ? "needs " + op.security.map((s) => Object.keys(s).join("+")).join(" or ")
    : role === "github" ? "signed by GitHub" : "open") + (who && role !== "anyone" && role !== "github" ? " · " + who : "");
  const head = el("summary", {}, el("span", { class: "method " + method }, method), el("code", {}, path), " ",
    op.summary || "", el("span", { class: "auth" }, auth));
  const box = el("details", { class: "op", id: (op.operationId || method + path) });
  box.append(head);
  if (op.description && op.description !== op.summary) box.append(el("p", {}, op.description));
  if (op.parameters && op.parameters.length) {
    const table = el("table", {}, el("tr", {}, el("th", {}, "parameter"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "")));
    for (const p of op.parameters) {
      table.append(el("tr", {}, el("td", {}, el("code", {}, p.name + (p.required ? "" : "?"))), el("td", {}, p.in),
        el("td", {}, el("code", {}, describe(doc, p.schema, 0))), el("td", {}, p.description || "")));
    }
    box.append(el("h4", {}, "Parameters"), table);
  }
  if (op.requestBody) box.append(el("h4", {}, "Request body"), ...content(doc, op.requestBody));
  box.append(el("h4", {}, "Answers"));
  for (const [status, resp] of Object.entries(op.responses || {})) {
    box.append(el("p", {}, el("strong", {}, status), " ", resp.description || ""), ...content(doc, resp));
  }
  return box;
}

async function main() {
  const root = document.getElementById("docs");
  let doc;
  try {
    const resp = await fetch("/api/v1/openapi.json");
    doc = await resp.json();
  } catch (e) {
    root.textContent = "Could not load /api/v1/openapi.json: " + e;
    return;
  }
  root.textContent = "";
  if (doc.info && doc.info.description) root.append(el("p", {}, doc.info.description));
  const schemes = (doc.components && doc.components.securitySchemes) || {};
  const auth = el("ul", {});
  for (const [name, s] of Object.entries(schemes)) {
    auth.append(el("li", {}, el("code", {}, name), ": ", s.type === "http" ? "HTTP " + s.scheme : s.in + " " + s.name,
      s.description ? " — " + s.description : ""));
  }
  root.append(el("h2", {}, "authentication"), auth);
  const byTag = new Map();
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags && op.tags[0]) || "other";
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push([path, method, op]);
    }
  }
  const order = (doc.tags || []).map((t) => t.name);
  const tags = [...byTag.keys()].sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
  for (const tag of tags) {
    const info = (doc.tags || []).find((t) => t.name === tag);
    root.append(el("h2", { id: "tag-" + tag }, tag + (info && info.description ? " — " + info.description : "")));
    for (const [path, method, op] of byTag.get(tag)) root.append(operation(doc, path, method, op));
  }
  document.body.dataset.rendered = "true";
}

main();
