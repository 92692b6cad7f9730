// Shared by the phones and the operator desk: DOM building, HTTP calls, labels.
"use strict";

export const CONFIG = window.SIMULATOR;

/** An error from our API or the emulator, with the fields the page shows. */
export class CallFailed extends Error {
  constructor(code, message, status, retryAfter) {
    super(message);
    this.code = code; this.status = status; this.retryAfter = retryAfter;
  }
}

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v; else el.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

export function bilingual(zh, en) {
  return [zh, h("span", { class: "en" }, en)];
}

export async function readJson(response) {
  const text = await response.text();
  if (!text) return null;
  try { return JSON.parse(text); } catch { return { message: text }; }
}

/** A failed answer of our API as a CallFailed: its error code, message and Retry-After. */
export async function failure(response) {
  const found = await readJson(response);
  return new CallFailed(
    (found && found.code) || `http_${response.status}`,
    (found && found.message) || response.statusText, response.status,
    response.headers.get("Retry-After"));
}

/** fetch() that turns "no answer at all" into a CallFailed. */
export async function send(url, init) {
  try {
    return await fetch(url, init);
  } catch (err) {
    throw new CallFailed("network_error", `无法访问 / cannot reach ${url}`, 0);
  }
}

async function emulatorCall(path, init) {
  const url = CONFIG.emulatorUrl + path;
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new CallFailed("emulator_unreachable",
      `平台模拟器无法访问 / cannot reach the emulator at ${CONFIG.emulatorUrl}`, 0);
  }
  const found = await readJson(response);
  if (!response.ok) {
    throw new CallFailed("emulator_error",
      (found && (found.error || found.message)) || response.statusText, response.status);
  }
  return found;
}

/** A control call to the platform emulator (what the phone's platform would do). */
export function emulator(path, body, method = "POST") {
  if (body === undefined) return emulatorCall(path, { method });
  return emulatorCall(path, {
    method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
}

export function emulatorGet(path) {
  return emulatorCall(path, { method: "GET" });
}

/** An error box: the code, the HTTP status, the message and any Retry-After. */
export function renderError(box, err, testid) {
  if (!err) { box.hidden = true; box.replaceChildren(); return; }
  const parts = [h("strong", { "data-testid": testid }, err.code || "error")];
  if (err.status) parts.push(` · HTTP ${err.status}`);
  parts.push(h("br"), err.message || String(err));
  if (err.retryAfter) {
    parts.push(h("br"), `请 ${err.retryAfter} 秒后重试 `,
      h("span", { class: "en" }, `Retry-After: ${err.retryAfter} s`));
  }
  box.replaceChildren(...parts);
  box.hidden = false;
}

/**
 * Runs one user action on `root`: one at a time, `data-busy` while it runs (tests wait on it),
 * errors shown by `onError`.
 */
export async function runExclusive(root, onError, action) {
  if (root.dataset.busy === "true") return;
  root.dataset.busy = "true";
  onError(null);
  try { await action(); } catch (err) { onError(err); } finally { root.dataset.busy = "false"; }
}

export function localTime(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** A client id or idempotency key: unique per action, printable, within the API's patterns. */
export function uniqueId(prefix) {
  const random = crypto.getRandomValues(new Uint8Array(6));
  return `${prefix}-${Date.now().toString(36)}-${hex(random)}`;
}

export function hex(bytes) {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
}

export const RESULT_STATES = {
  negative: ["阴性", "Negative"],
  positive: ["阳性", "Positive"],
  pending: ["检测中", "Pending"],
  retest_required: ["需复检", "Re-test needed"],
  invalid: ["需重新采样", "Invalid sample"],
};

export function stateBadge(state, testid) {
  const [zh, en] = RESULT_STATES[state] || [state, ""];
  return h("span", { class: `state ${state}`, "data-testid": testid, "data-state": state },
    ...bilingual(zh, en));
}
