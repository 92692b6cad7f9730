// The operator desk: a sampling-site scanner and a lab's result upload, beside the phones.
"use strict";

import {
  CONFIG, CallFailed, bilingual, failure, h, hex, localTime, readJson, renderError, runExclusive,
  send, stateBadge, uniqueId,
} from "./common.js";

const SCAN_STATUS = {
  bound: ["已绑定", "bound"],
  duplicate: ["本轮已采样", "duplicate"],
  invalid: ["无效码", "invalid"],
  expired: ["码已过期", "expired"],
  revoked: ["码已作废", "revoked"],
  tube_full: ["试管已满", "tube full"],
  tube_closed: ["试管已封", "tube closed"],
  tube_unavailable: ["试管不可用", "tube unavailable"],
};

const LAB_STATUS = {
  accepted: ["已接收", "accepted"],
  unknown_tube: ["未知试管", "unknown tube"],
  tube_open: ["试管未封", "tube still open"],
  already_final: ["已有结果，请走更正", "already final: amend it"],
  tested_in_future: ["检测时间在未来", "tested in the future"],
  duplicate_in_batch: ["批内重复", "duplicate in batch"],
  amended: ["已更正", "amended"],
  unchanged: ["无变化", "unchanged"],
};

function statusTag(table, status, testid) {
  const [zh, en] = table[status] || [status, ""];
  const good = status === "bound" || status === "accepted" || status === "amended";
  return h("span", { class: `status ${good ? "good" : "bad"}`, "data-testid": testid,
    "data-status": status }, ...bilingual(zh, en));
}

function panel(name) {
  const root = document.querySelector(`[data-testid="${name}-panel"]`);
  const $ = (id) => root.querySelector(`[data-testid="${name}-${id}"]`);
  const run = (action) => runExclusive(
    root, (err) => renderError($("error"), err, `${name}-error-code`), action);
  return { root, $, run };
}

function newTubeNo() {
  const d = new Date();
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `T${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}` +
    `${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/** Sampling staff: log in, scan a phone's code into a tube, close the tube. */
export function createStaffPanel(phones, lab) {
  const { $, run } = panel("staff");
  const tokenKey = "simulator.staff.token";
  const siteKey = "simulator.staff.site";

  async function call(method, path, body) {
    const headers = { "Content-Type": "application/json" };
    const token = sessionStorage.getItem(tokenKey);
    if (token) headers.Authorization = `Bearer ${token}`;
    const response = await send(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 401) { sessionStorage.removeItem(tokenKey); showSession(); }
    if (!response.ok) throw await failure(response);
    return readJson(response);
  }

  function showSession() {
    const site = sessionStorage.getItem(tokenKey) ? sessionStorage.getItem(siteKey) : null;
    $("session").dataset.state = site ? "in" : "out";
    $("session").replaceChildren(...(site
      ? bilingual(`已登录 · ${site}`, "logged in")
      : bilingual("未登录", "not logged in")));
    for (const id of ["scan", "close-tube"]) $(id).disabled = !site;
  }

  async function login() {
    const answer = await call("POST", "/api/v1/staff/login", {
      username: $("username").value.trim(), password: $("password").value,
    });
    sessionStorage.setItem(tokenKey, answer.token);
    sessionStorage.setItem(siteKey, answer.site.name);
    showSession();
  }

  function scanned(item) {
    const facts = [];
    // The ID ending comes with a `bound` answer only (compare it with the ID card).
    if (item.person) {
      facts.push(item.person.id_last4
        ? `${item.person.name_masked} · 尾号 ${item.person.id_last4}`
        : item.person.name_masked);
    }
    if (item.tube) {
      facts.push(`试管 ${item.tube.tube_no}: ${item.tube.bound_count}/${item.tube.capacity}` +
        (item.tube.closed_at ? " · 已封 closed" : ""));
    }
    if (item.first_scan) {
      facts.push(h("span", { "data-testid": "staff-first-scan" },
        `首次采样 first: ${item.first_scan.site} ${localTime(item.first_scan.scanned_at)}`));
    }
    return h("li", { "data-testid": "staff-scan-item", "data-status": item.status },
      statusTag(SCAN_STATUS, item.status, "staff-scan-status"), " ",
      h("span", { class: "hint" }, item.message),
      ...facts.map((f) => h("div", { class: "fact" }, f)));
  }

  async function scan() {
    const source = $("source").value;
    const code = phones[source] && phones[source].code;
    if (!code) {
      throw new CallFailed("no_code_shown",
        "这部手机没有出示核酸码：先在手机的「核酸码」页出示 / that phone shows no code: open its Code tab", 0);
    }
    // A scanner reads the QR symbol's text: the signed token the phone's code image encodes.
    $("scanned").replaceChildren("读到 read: ", h("code", {}, code.token));
    $("scanned").hidden = false;
    const tubeNo = $("tube").value.trim();
    const answer = await call("POST", "/api/v1/sampling/scans", {
      items: [{
        client_id: uniqueId("sim"), tube_no: tubeNo, code: code.token,
        scanned_at: new Date().toISOString(), capacity: Number($("capacity").value),
      }],
    });
    const list = $("scans");
    if (list.dataset.empty !== "false") list.replaceChildren();
    list.dataset.empty = "false";
    list.prepend(...answer.items.map(scanned));
    while (list.children.length > 5) list.lastChild.remove();
    lab.suggestTube(tubeNo);
  }

  async function closeTube() {
    const tubeNo = $("tube").value.trim();
    const tube = await call("POST", `/api/v1/sampling/tubes/${encodeURIComponent(tubeNo)}/close`);
    $("tube-status").dataset.state = "closed";
    $("tube-status").dataset.tube = tube.tube_no;
    $("tube-status").replaceChildren(...bilingual(
      `已封管 ${tube.tube_no}（${tube.bound_count}/${tube.capacity}），可送检；已换新试管`,
      "closed and ready for the lab; a new tube number is ready"));
    lab.suggestTube(tube.tube_no);
    $("tube").value = newTubeNo();
  }

  if (CONFIG.demo) {
    $("username").value = CONFIG.demo.staff_username;
    $("password").value = CONFIG.demo.staff_password;
  }
  $("tube").value = newTubeNo();
  $("new-tube").addEventListener("click", () => { $("tube").value = newTubeNo(); });
  $("login").addEventListener("click", () => run(login));
  $("scan").addEventListener("click", () => run(scan));
  $("close-tube").addEventListener("click", () => run(closeTube));
  showSession();
}

/** The lab's signature (miniapp_api/lab/signing.py), computed with WebCrypto. */
async function sign(secret, method, path, timestamp, nonce, body) {
  if (!window.isSecureContext || !crypto.subtle) {
    throw new CallFailed("webcrypto_unavailable",
      "WebCrypto 只在安全上下文可用：请用 http://127.0.0.1 或 localhost 打开本页 / " +
      "WebCrypto needs a secure context: open this page on 127.0.0.1 or localhost", 0);
  }
  const utf8 = new TextEncoder();
  const bodyHash = hex(await crypto.subtle.digest("SHA-256", utf8.encode(body)));
  const toSign = [method, path, timestamp, nonce, bodyHash].join("\n");
  const key = await crypto.subtle.importKey(
    "raw", utf8.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return { toSign, signature: hex(await crypto.subtle.sign("HMAC", key, utf8.encode(toSign))) };
}

/** A lab: signed, idempotent result uploads and amendments. */
export function createLabPanel() {
  const { $, run } = panel("lab");
  let last = null; // the last upload, to re-send as a lab retries: same key, same body

  async function signedPost(path, body, idempotencyKey) {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const nonce = hex(crypto.getRandomValues(new Uint8Array(8)));
    const { toSign, signature } = await sign(
      $("secret").value, "POST", path, timestamp, nonce, body);
    $("string-to-sign").textContent = toSign;
    const headers = {
      "Content-Type": "application/json", "X-Lab-Id": $("id").value.trim(),
      "X-Timestamp": timestamp, "X-Nonce": nonce, "X-Signature": signature,
    };
    if (idempotencyKey) headers["Idempotency-Key"] = idempotencyKey;
    const response = await send(path, { method: "POST", headers, body });
    if (!response.ok) throw await failure(response);
    return { answer: await readJson(response),
      replayed: response.headers.get("Idempotent-Replayed") === "true" };
  }

  function showBatch({ answer, replayed }, key) {
    $("out").replaceChildren(
      h("p", { "data-testid": "lab-summary", "data-accepted": String(answer.accepted),
        "data-replayed": String(replayed) },
        ...bilingual(`接收 ${answer.accepted} · 拒绝 ${answer.rejected}`,
          `accepted ${answer.accepted}, rejected ${answer.rejected}`),
        replayed ? h("span", { class: "tag" }, "重放 replayed") : null),
      h("ul", { class: "items" }, answer.items.map((item) => h("li", {
        "data-testid": "lab-item", "data-status": item.status },
        h("span", { class: "mono" }, item.tube_no), " ",
        statusTag(LAB_STATUS, item.status, "lab-item-status"),
        item.people !== null && item.people !== undefined ? ` · ${item.people} 人 people` : "",
        item.current_result ? [" · ", stateBadge(item.current_result)] : null))),
      h("p", { class: "hint mono" }, `Idempotency-Key: ${key}`));
  }

  async function post() {
    const body = JSON.stringify({ results: [{
      tube_no: $("tube").value.trim(), result: $("result").value,
      tested_at: new Date().toISOString(),
    }] });
    last = { body, key: uniqueId("sim-batch") };
    showBatch(await signedPost("/api/v1/lab/results", last.body, last.key), last.key);
    $("resend").disabled = false;
  }

  async function resend() {
    showBatch(await signedPost("/api/v1/lab/results", last.body, last.key), last.key);
  }

  async function amend() {
    const tubeNo = $("tube").value.trim();
    const { answer } = await signedPost(
      `/api/v1/lab/results/${encodeURIComponent(tubeNo)}/amend`,
      JSON.stringify({ result: $("amend-result").value, tested_at: new Date().toISOString(),
        reason: $("amend-reason").value.trim() }),
      uniqueId("sim-amend"));
    $("amend-out").replaceChildren(
      h("p", { "data-testid": "lab-amend-status", "data-status": answer.status },
        h("span", { class: "mono" }, answer.tube_no), " ",
        statusTag(LAB_STATUS, answer.status), " ", stateBadge(answer.result),
        ` · v${answer.version}`,
        answer.people ? ` · 已重新通知 ${answer.people} 人 re-notified` : ""),
      h("ul", { class: "items" }, answer.history.map((a) => h("li", {},
        `${localTime(a.amended_at)} ${a.previous_result} → ${a.new_result}: ${a.reason}`))));
  }

  if (CONFIG.demo) {
    $("id").value = CONFIG.demo.lab_id;
    $("secret").value = CONFIG.demo.lab_secret;
  }
  $("post").addEventListener("click", () => run(post));
  $("resend").addEventListener("click", () => run(resend));
  $("amend").addEventListener("click", () => run(amend));
  return {
    /** The tube the staff just used: what the lab will test next. */
    suggestTube: (tubeNo) => { $("tube").value = tubeNo; },
  };
}
