// One simulated phone: a WeChat or Alipay user running our mini-program.
"use strict";

import {
  CONFIG, CallFailed, bilingual, emulator, failure, h, readJson, renderError, runExclusive, send,
} from "./common.js";
import {
  NOTICES_SHOWN, button, holderCard, noticeItem, orEmpty, requestCard, sentCard,
} from "./links.js";
import { codeCard, noCode, pushCard, resultsList } from "./screens.js";
import { createSubscriptions } from "./subscriptions.js";

export const ID_TYPES = [
  ["cn_id", "居民身份证", "Mainland ID card"],
  ["passport", "护照", "Passport"],
  ["hk_macau_permit", "港澳通行证", "HK/Macau permit"],
  ["taiwan_permit", "台湾通行证", "Taiwan permit"],
];
const ID_TYPE_LABEL = Object.fromEntries(ID_TYPES.map(([v, zh, en]) => [v, `${zh} ${en}`]));

// One entry per platform: how the phone gets a login code, a phone proof and a real-name proof
// from the emulator (what wx.login / my.getAuthCode, getPhoneNumber and the real-name pages do),
// how our API wants them, and how the emulator names the recipient of a message it received.
const PLATFORMS = {
  wechat: {
    subjectField: "openid",
    emulatorLogin: (subject) => ["/_emulator/wechat/login", subject ? { openid: subject } : {}],
    loginBody: (answer) => ({ code: answer.code }),
    phoneProof: async (subject, phone) =>
      ({ code: (await emulator("/_emulator/wechat/phone", { openid: subject, phone })).code }),
    // The user agrees on the city service's real-name page; its extraData.code is the proof.
    realNameProof: async (subject) =>
      ({ code: (await emulator("/_emulator/wechat/real-name-code", { openid: subject })).code }),
    recipient: (message) => message.touser || message.recipient,
  },
  alipay: {
    subjectField: "user_id",
    emulatorLogin: (subject) => ["/_emulator/alipay/login", subject ? { user_id: subject } : {}],
    loginBody: (answer) => ({ auth_code: answer.auth_code }),
    phoneProof: async (subject, phone) =>
      ({ response: (await emulator("/_emulator/alipay/phone", { user_id: subject, phone })).response }),
    // my.startAPVerify(certify_id): this user's face in front of the camera.
    realNameProof: async (subject, started) => {
      const body = { certify_id: started.certify_id, user_id: subject };
      if (!(await emulator("/_emulator/alipay/certify/complete", body)).passed) {
        // What my.startAPVerify reports; the mini-program stops there.
        throw new CallFailed("face_check_failed", "刷脸认证未通过 / the face check did not pass", 0);
      }
      return { certify_id: started.certify_id };
    },
    recipient: (message) => message.to,
  },
};

export function createPhone(platform) {
  const spec = PLATFORMS[platform];
  const root = document.querySelector(`[data-testid="${platform}-device"]`);
  const $ = (id) => root.querySelector(`[data-testid="${platform}-${id}"]`);
  const subjectKey = `simulator.${platform}.${spec.subjectField}`;
  const tokenKey = `simulator.${platform}.token`;
  const phone = { platform, selfId: null, code: null, onSelfChange: () => {} };
  const log = [];
  let me = null;
  let codeImageUrl = null;
  let pushesSeen = 0;

  function subject() { return localStorage.getItem(subjectKey); }
  function token() { return sessionStorage.getItem(tokenKey); }

  function note(method, path, status) {
    log.unshift({ text: `${method} ${path} → ${status}`, fail: !(status >= 200 && status < 300) });
    log.length = Math.min(log.length, 6);
    $("log").replaceChildren(...log.map((e) => h("li", { class: e.fail ? "fail" : "" }, e.text)));
  }

  async function call(method, path, body, { auth = true } = {}) {
    const headers = {};
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (auth && token()) headers.Authorization = `Bearer ${token()}`;
    let response;
    try {
      response = await send(path, {
        method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      note(method, path, "network error");
      throw err;
    }
    note(method, path, response.status);
    if (!response.ok) {
      if (response.status === 401 && path !== "/api/v1/auth/logout") {
        sessionStorage.removeItem(tokenKey);
        setLoggedIn(false);
      }
      const err = await failure(response);
      // A consent is missing or was withdrawn: GET /me says which; show them to agree to.
      if (err.code === "consent_required") await refresh().catch(() => {});
      throw err;
    }
    return response;
  }

  async function api(method, path, body, options) {
    return readJson(await call(method, path, body, options));
  }

  function showError(err) { renderError($("error"), err, `${platform}-error-code`); }

  function showNotice(zh, en) {
    const box = $("notice");
    if (!zh) { box.hidden = true; return; }
    box.replaceChildren(...bilingual(zh, en));
    box.hidden = false;
  }

  function setLoggedIn(on) {
    root.querySelector("[data-needs-login]").disabled = !on;
    $("logout").disabled = !on;
    if (!on) {
      renderMe(null);
      clearCode("登录后出示核酸码", "Log in to show your code");
      $("results").replaceChildren(h("p", { class: "empty" }, ...bilingual("尚未登录", "Not logged in")));
    }
  }

  function showSubject() {
    const s = subject();
    $("subject").textContent = s || "—（首次登录时生成 / created at first log in）";
    $("subject-bar").textContent = s || "";
  }

  // --- tabs -----------------------------------------------------------------------------

  function openTab(name) {
    for (const tab of root.querySelectorAll("[data-tab]")) {
      tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
    }
    for (const pane of root.querySelectorAll("[data-pane]")) pane.hidden = pane.dataset.pane !== name;
    root.dataset.tab = name;
    if (name === "messages") {
      pushesSeen = Number($("push-list").dataset.count || 0);
      badge();
      // The page asks again on show when the launch could not read the config.
      if (subscriptions.failed()) run(subscriptions.load);
    }
    // Opening a tab loads it, as the mini-program's page would on show.
    if (!token()) return;
    if (name === "code" && !phone.code && holder()) run(showCode);
    if (name === "results") run(loadResults);
  }

  function badge() {
    const unseen = Number($("push-list").dataset.count || 0) - pushesSeen;
    const box = $("push-badge");
    box.textContent = unseen > 0 ? String(unseen) : "";
    box.hidden = unseen <= 0;
  }

  // --- Me: account, profile, family -----------------------------------------------------

  function residentCard(resident, removable) {
    const isSelf = resident.relation === "self";
    const head = h("div", { class: "head" },
      h("span", { class: "name" }, resident.name_masked),
      h("span", {},
        h("span", { class: isSelf ? "tag self" : "tag" },
          ...(isSelf ? bilingual("本人", "Self") : bilingual("家人", "Family"))),
        resident.verified ? h("span", {
          class: "tag verified", "data-testid": `${platform}-self-verified`,
        }, ...bilingual("已实名", "verified")) : null));
    const dl = h("dl", {},
      h("dt", {}, "证件 ID"), h("dd", {}, `${ID_TYPE_LABEL[resident.id_type] || resident.id_type}`),
      h("dt", {}, "号码 No."), h("dd", { class: "mono" }, resident.id_masked),
      h("dt", {}, "手机 Phone"), h("dd", { class: "mono" }, resident.phone_masked || "—"),
      h("dt", {}, "居民 ID"), h("dd", { class: "mono" }, resident.id));
    const card = h("div", {
      class: "card", "data-testid": `${platform}-${isSelf ? "self" : "dependent"}-card`,
      "data-resident-id": resident.id,
    }, head, dl);
    if (removable) {
      const remove = h("button", {
        type: "button", class: "danger", "data-testid": `${platform}-remove-dependent`,
        "data-resident-id": resident.id,
      }, ...bilingual("移除", "Remove"));
      remove.addEventListener("click", () => run(() => removeDependent(resident.id)));
      head.append(remove);
    }
    return card;
  }

  function renderMe(found) {
    me = found;
    const box = $("me");
    const selfId = me && me.self ? me.self.id : null;
    if (!me) {
      box.replaceChildren(h("p", { class: "empty" }, ...bilingual("尚未登录", "Not logged in")));
    } else {
      const account = h("div", { class: "card", "data-testid": `${platform}-account-card` },
        h("div", { class: "head" },
          h("span", {}, ...bilingual("账号", "Account")),
          h("span", { class: "tag" }, me.account.platform)),
        h("dl", {},
          h("dt", {}, "账号 ID"), h("dd", { class: "mono" }, me.account.id),
          h("dt", {}, "手机 Phone"),
          h("dd", { class: "mono", "data-testid": `${platform}-account-phone` },
            me.account.phone_masked || "未绑定 not bound")));
      const self = me.self
        ? residentCard(me.self, false)
        : h("p", { class: "empty" }, ...bilingual("尚未声明本人信息", "No profile declared yet"));
      const family = me.dependents.length
        ? me.dependents.map((d) => residentCard(d, true))
        : [h("p", { class: "empty" }, ...bilingual("没有家人", "No family members"))];
      box.replaceChildren(account, self, ...family, ...me.consents.map(consentItem));
    }
    renderConsentStep(me ? me.consents_required : []);
    $("self-id").textContent = selfId || "—";
    $("self-id").dataset.value = selfId || "";
    renderLinks();
    renderHolders();
    phone.selfId = selfId;
    phone.onSelfChange();
  }

  // --- Consents: asked after login, before any write of an ID number -----------------------

  function consentItem(c) {
    const active = !c.withdrawn_at;
    const state = active ? (c.current ? "已同意 agreed" : "旧版本 older version") : "已撤回 withdrawn";
    const item = h("p", {
      class: "empty", "data-testid": `${platform}-consent-item`, "data-kind": c.kind,
      "data-active": String(active),
    }, `同意 consent: ${c.kind} ${c.document_version} · ${state}`);
    if (active && c.kind !== "guardian") {
      const withdraw = h("button", {
        type: "button", class: "ghost", "data-testid": `${platform}-withdraw-consent`,
        "data-document": c.kind,
      }, ...bilingual("撤回", "Withdraw"));
      withdraw.addEventListener("click", () => run(() => withdrawConsent(c.kind)));
      item.append(" ", withdraw);
    }
    return item;
  }

  /** What the mini-program shows at first launch (and whenever a document changed): the
   * documents to agree to, each opening its page, and one "agree" button. */
  function renderConsentStep(required) {
    const step = $("consent");
    step.hidden = !required.length;
    step.dataset.documents = required.map((d) => d.name).join(" ");
    $("consent-documents").replaceChildren(...required.map((d) => h("li", {},
      h("a", { href: d.url, target: "_blank", rel: "noopener", "data-document": d.name },
        `《${d.title_zh}》`, h("span", { class: "en" }, d.title_en)),
      h("span", { class: "hint" }, ` ${d.version}`))));
  }

  async function agree() {
    for (const d of (me && me.consents_required) || []) {
      await api("POST", "/api/v1/me/consents", { document: d.name, version: d.version });
    }
    await refresh();
    showNotice("已同意", "Agreed");
  }

  async function withdrawConsent(document) {
    const answer = await api("DELETE", `/api/v1/me/consents/${encodeURIComponent(document)}`);
    clearCode(answer.meaning.zh, answer.meaning.en);
    await refresh();
    showNotice(answer.meaning.zh, answer.meaning.en);
  }

  function renderLinks() {
    const answer = (id, verb) => run(() => answerRequest(id, verb));
    const remove = (id) => run(() => removeHolder(id));
    // What the API allows: any family holder; an unverified own login once I am verified.
    const removable = (x) => x.relation === "dependent" || (me.self.verified && !x.verified);
    $("link-requests").replaceChildren(...orEmpty(
      me ? me.link_requests.map((r) => requestCard(platform, r, answer)) : [],
      "没有等你同意的申请", "No requests waiting for you"));
    $("sent-requests").replaceChildren(...orEmpty(
      me ? me.sent_requests.map((r) => sentCard(platform, r)) : [],
      "没有发出的申请", "No requests sent"));
    $("holders").replaceChildren(...orEmpty(
      me && me.self ? me.holders.map((x) => holderCard(platform, x, removable(x), remove)) : [],
      "只有你自己", "Only you"));
    $("notices").replaceChildren(...orEmpty(
      me ? me.notices.slice(0, NOTICES_SHOWN).map((n) => noticeItem(platform, n)) : [],
      "没有通知", "No notices"));
  }

  async function refresh() {
    renderMe(await api("GET", "/api/v1/me"));
  }

  async function login() {
    const [path, body] = spec.emulatorLogin(subject());
    const answer = await emulator(path, body);
    localStorage.setItem(subjectKey, answer[spec.subjectField]);
    showSubject();
    const session = await api("POST", `/api/v1/auth/${platform}`, spec.loginBody(answer));
    sessionStorage.setItem(tokenKey, session.token);
    setLoggedIn(true);
    await refresh();
    showNotice("已登录", "Logged in");
  }

  /** The platforms' reviewers log in with a name and a password, to a sandbox of synthetic
   * people (POST /api/v1/auth/review; README, For platform review). */
  async function reviewLogin() {
    const session = await api("POST", "/api/v1/auth/review", CONFIG.review);
    sessionStorage.setItem(tokenKey, session.token);
    setLoggedIn(true);
    await refresh();
    showNotice("已以审核员登录：演示数据，每次登录重置", "Logged in as reviewer: a sandbox, reset at each login");
  }

  async function logout() {
    try { await api("POST", "/api/v1/auth/logout"); } finally {
      sessionStorage.removeItem(tokenKey);
      setLoggedIn(false);
    }
    showNotice("已退出", "Logged out");
  }

  async function newPerson() {
    if (token()) await logout();
    localStorage.removeItem(subjectKey);
    showSubject();
    renderPushes([]);
    realNameStatus("unknown", "未在本页设置", "not set from this page");
    showNotice("下次登录将是另一个平台用户", "The next log in is another platform user");
  }

  async function bindPhone() {
    const number = $("phone").value.trim();
    const proof = await spec.phoneProof(subject(), number);
    const bound = await api("POST", "/api/v1/me/phone", proof);
    await refresh();
    showNotice(`手机号已绑定 ${bound.phone_masked}`, "Phone bound");
  }

  function profileForm() {
    return {
      name: $("name").value.trim(), id_type: $("id-type").value, id_number: $("id-number").value.trim(),
    };
  }

  async function declare() {
    await api("PUT", "/api/v1/me/profile", profileForm());
    await refresh();
    showNotice("本人信息已保存", "Profile saved");
  }

  /** Start the platform's real-name check, pass it on the phone, declare with its proof. */
  async function verifyAndDeclare() {
    const person = profileForm();
    const started = await api("POST", "/api/v1/me/real-name", person);
    const proof = await spec.realNameProof(subject(), started);
    await api("PUT", "/api/v1/me/profile", { ...person, real_name_proof: proof });
    await refresh();
    showNotice("已实名核验并保存本人信息", "Real name verified, profile declared");
  }

  function realNamePath() {
    if (!subject()) throw new CallFailed("no_subject", "先登录 / log in first", 0);
    return `/_emulator/${platform}/users/${encodeURIComponent(subject())}/real-name`;
  }

  function realNameStatus(state, zh, en) {
    $("real-name-status").dataset.state = state;
    $("real-name-status").replaceChildren(...bilingual(zh, en));
  }

  async function setRealName() {
    const name = $("real-name-name").value.trim() || $("name").value.trim();
    const idNumber = $("real-name-id-number").value.trim() || $("id-number").value.trim();
    await emulator(realNamePath(), { name, id_number: idNumber }, "PUT");
    realNameStatus("set", "已设为平台实名", "the platform's real-name record is set");
  }

  async function clearRealName() {
    await emulator(realNamePath(), undefined, "DELETE");
    realNameStatus("none", "平台上未实名", "no real name on the platform");
  }

  async function addDependent() {
    const body = {
      name: $("dep-name").value.trim(), id_type: $("dep-id-type").value,
      id_number: $("dep-id-number").value.trim(), guardian_consent: $("dep-guardian").checked,
      unable_to_apply: $("dep-unable").checked,
    };
    if ($("dep-birth").value) body.birth_date = $("dep-birth").value;
    const added = await api("POST", "/api/v1/me/dependents", body);
    await refresh();
    for (const id of ["dep-name", "dep-id-number", "dep-birth"]) $(id).value = "";
    $("dep-guardian").checked = false;
    $("dep-unable").checked = false;
    if (added.status === "pending") {
      showNotice("已发送关联申请，等待持有人同意", "request sent, waiting for the holder's approval");
    } else {
      showNotice("已添加家人", "Family member added");
    }
  }

  async function answerRequest(requestId, verb) {
    await call("POST", `/api/v1/me/link-requests/${encodeURIComponent(requestId)}/${verb}`);
    await refresh();
    if (verb === "approve") {
      showNotice("已同意，对方现在也持有此档案", "Approved: they hold the record too");
    } else {
      showNotice("已拒绝", "Declined");
    }
  }

  async function removeHolder(holderId) {
    await call("DELETE", `/api/v1/me/holders/${encodeURIComponent(holderId)}`);
    await refresh();
    showNotice("已移除，对方会收到通知", "Removed; they are told");
  }

  async function removeDependent(residentId) {
    await api("DELETE", `/api/v1/me/dependents/${encodeURIComponent(residentId)}`);
    await refresh();
    showNotice("已移除家人", "Family member removed");
  }

  // --- Code: the image a resident shows or screenshots ------------------------------------

  function renderHolders() {
    const select = $("code-holder");
    const before = select.value;
    const people = me && me.self ? [me.self, ...me.dependents] : [];
    select.replaceChildren(...people.map((r) => h("option", { value: r.id },
      r.relation === "self" ? `本人 Self · ${r.name_masked}` : `家人 Family · ${r.name_masked}`)));
    if (people.some((r) => r.id === before)) select.value = before;
    if (!people.length) clearCode("先在「我的」中声明本人信息", "Declare your profile under Me first");
    else if (phone.code && phone.code.residentId !== select.value) clearCode(
      "点「出示核酸码」", "Tap Show code");
  }

  function holder() { return $("code-holder").value; }

  function clearCode(zh, en) {
    if (codeImageUrl) URL.revokeObjectURL(codeImageUrl);
    codeImageUrl = null;
    phone.code = null;
    $("code-box").replaceChildren(noCode(platform, zh, en));
  }

  async function renderCode(code, residentId) {
    // The PNG needs our Bearer header, so an <img src> cannot load it: fetch it and show the
    // bytes as a blob URL. The API names it under its public base URL, which may be another
    // host (a proxy's); this page is served by the app itself, so the path is what to fetch.
    const image = await (await call("GET", new URL(code.png_url, location.href).pathname)).blob();
    if (codeImageUrl) URL.revokeObjectURL(codeImageUrl);
    codeImageUrl = URL.createObjectURL(image);
    phone.code = { ...code, residentId };
    $("code-box").replaceChildren(codeCard(platform, code, codeImageUrl));
  }

  async function showCode() {
    const residentId = holder();
    if (!residentId) throw new CallFailed("no_profile", "先声明本人信息 / declare your profile first", 0);
    await renderCode(await api("GET", `/api/v1/residents/${encodeURIComponent(residentId)}/code`),
      residentId);
  }

  async function reissueCode() {
    const residentId = holder();
    if (!residentId) throw new CallFailed("no_profile", "先声明本人信息 / declare your profile first", 0);
    await renderCode(await api("POST", `/api/v1/residents/${encodeURIComponent(residentId)}/code`),
      residentId);
    showNotice("已生成新码，旧码（含截图）作废", "New code issued: the old one (and its screenshots) is void");
  }

  // --- Results ------------------------------------------------------------------------------

  async function loadResults() {
    const answer = await api("GET", "/api/v1/results");
    $("results").replaceChildren(...resultsList(platform, answer));
    $("results").dataset.loaded = "true";
  }

  // --- Messages: subscribe (subscriptions.js), and what the platform delivered ---------------

  const subscriptions = createSubscriptions(platform, { $, api, showNotice });

  function renderPushes(mine) {
    const list = $("push-list");
    const before = Number(list.dataset.count || 0);
    if (mine.length === before && list.dataset.owner === (subject() || "")) return false;
    list.dataset.count = String(mine.length);
    list.dataset.owner = subject() || "";
    list.replaceChildren(...(mine.length
      ? mine.slice().reverse().map((m) => pushCard(platform, m))
      : [h("p", { class: "empty" }, ...bilingual("还没有收到推送", "No messages yet"))]));
    if (root.dataset.tab === "messages") pushesSeen = mine.length;
    if (mine.length < pushesSeen) pushesSeen = mine.length;
    badge();
    return mine.length > before;
  }

  /** Everything the emulator received; keeps what was sent to this phone's platform user. */
  phone.receiveMessages = (all) => {
    const me_ = subject();
    const mine = me_ ? all.filter((m) => m.platform === platform && spec.recipient(m) === me_) : [];
    // A new push is what makes a resident open the results: load them as the tap would.
    if (renderPushes(mine) && token()) loadResults().catch(() => {});
  };

  phone.hasSubject = () => Boolean(subject());

  // Runs one user action: one at a time per phone, errors shown in this phone.
  function run(action) {
    return runExclusive(root, (err) => { showError(err); if (!err) showNotice(null); }, action);
  }

  for (const select of root.querySelectorAll("[data-id-types]")) {
    select.replaceChildren(...ID_TYPES.map(([v, zh, en]) => h("option", { value: v }, `${zh} ${en}`)));
  }
  const actions = {
    login, logout, agree, "new-person": newPerson, "review-login": reviewLogin, "bind-phone": bindPhone, declare,
    "verify-declare": verifyAndDeclare, "set-real-name": setRealName,
    "clear-real-name": clearRealName, "refresh-me": refresh,
    "add-dependent": addDependent, "show-code": showCode, "reissue-code": reissueCode,
    "refresh-results": loadResults, subscribe: subscriptions.subscribe,
  };
  for (const [name, action] of Object.entries(actions)) {
    // The reviewer's button exists only where review mode has the demo reviewer.
    $(name)?.addEventListener("click", () => run(action));
  }
  for (const tab of root.querySelectorAll("[data-tab]")) {
    tab.addEventListener("click", () => openTab(tab.dataset.tab));
  }
  $("code-holder").addEventListener("change", () => { if (token()) run(showCode); });

  /** Start as the mini-program launches; the promise settles once its config is read (or
   * could not be). */
  phone.start = () => {
    showSubject();
    setLoggedIn(false);
    renderPushes([]);
    openTab("me");
    const configured = subscriptions.load();
    if (CONFIG.enabled[platform] && token()) {
      setLoggedIn(true);
      run(refresh);
    }
    return configured;
  };
  return phone;
}
