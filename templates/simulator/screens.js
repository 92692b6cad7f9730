// What a phone's Code, Results and Messages tabs show, built from the API's answers.
"use strict";

import { bilingual, h, localTime, stateBadge } from "./common.js";

/** The code card: the QR image (a blob URL), who it is for, until when, what it encodes. */
export function codeCard(platform, code, imageUrl) {
  const t = (name) => `${platform}-code-${name}`;
  return h("div", { class: "codecard", "data-testid": `${platform}-code`, "data-state": "shown" },
    h("div", { class: "qr" },
      h("img", { src: imageUrl, alt: "核酸码 registration code", "data-testid": t("img"),
        width: "220", height: "220" })),
    // Only the masked name: residents share screenshots of this screen, and the ID number is
    // the H5 lookup's second factor.
    h("div", { class: "codewho" },
      h("span", { class: "name", "data-testid": t("name") }, code.name_masked)),
    h("p", { class: "expiry" }, ...bilingual("有效期至", "valid until"), " ",
      h("span", { "data-testid": t("expires"), "data-value": code.expires_at },
        localTime(code.expires_at))),
    h("details", { class: "tokenbox" },
      h("summary", {}, ...bilingual("码内容", "what a scanner reads")),
      h("code", { class: "token", "data-testid": t("token") }, code.token)));
}

export function noCode(platform, zh, en) {
  return h("div", { class: "codecard empty", "data-testid": `${platform}-code`,
    "data-state": "none" }, h("p", { class: "empty" }, ...bilingual(zh, en)));
}

function resultFacts(result) {
  return h("dl", {},
    h("dt", {}, "试管 Tube"), h("dd", { class: "mono" }, result.tube_no),
    h("dt", {}, "采样点 Site"), h("dd", {}, result.site),
    h("dt", {}, "轮次 Round"), h("dd", {}, result.round),
    h("dt", {}, "采样 Sampled"), h("dd", {}, localTime(result.sampled_at)),
    h("dt", {}, "检测 Tested"), h("dd", {}, localTime(result.tested_at)));
}

function residentResults(platform, resident) {
  const latest = resident.latest;
  const isSelf = resident.relation === "self";
  const head = h("div", { class: "head" },
    h("span", { class: "name" }, resident.name_masked,
      h("span", { class: isSelf ? "tag self" : "tag" },
        ...(isSelf ? bilingual("本人", "Self") : bilingual("家人", "Family")))),
    latest ? stateBadge(latest.state, `${platform}-result-state`)
      : h("span", { class: "state none", "data-testid": `${platform}-result-state`,
        "data-state": "none" }, ...bilingual("暂无", "None")));
  const body = [head];
  if (latest) {
    body.push(resultFacts(latest));
    if (latest.overdue) {
      body.push(h("p", { class: "overdue", "data-testid": `${platform}-result-overdue` },
        ...bilingual("已超过 48 小时仍未出结果，请联系采样点。",
          "Pending for over 48 hours: ask the sampling site.")));
    }
    if (latest.guidance) body.push(h("p", { class: "guidance" }, latest.guidance));
  } else {
    body.push(h("p", { class: "empty" }, ...bilingual("还没有采样记录", "Not sampled yet")));
  }
  if (resident.history.length) {
    body.push(h("details", { class: "history" },
      h("summary", {}, ...bilingual(`历史 ${resident.history.length} 次`, "history")),
      h("ul", {}, resident.history.map((r) => h("li", {},
        `${localTime(r.sampled_at)} · `, stateBadge(r.state), ` · ${r.site} · ${r.tube_no}`)))));
  }
  return h("div", { class: "card result", "data-testid": `${platform}-result-card`,
    "data-resident-id": resident.id, "data-state": latest ? latest.state : "none" }, ...body);
}

export function resultsList(platform, answer) {
  if (!answer.residents.length) {
    return [h("p", { class: "empty" },
      ...bilingual("先在「我的」中声明本人信息", "Declare your profile under Me first"))];
  }
  return answer.residents.map((r) => residentResults(platform, r));
}

// The template fields of miniapp_api/notify/messages.py, per platform, with what they mean.
const FIELD_LABELS = {
  thing1: "受检人 Person", phrase2: "结果 Result", time3: "检测时间 Tested",
  character_string4: "试管 Tube", thing5: "轮次 Round",
  keyword1: "受检人 Person", keyword2: "结果 Result", keyword3: "检测时间 Tested",
  keyword4: "试管 Tube", keyword5: "轮次 Round",
};

/** One push as the platform received it (WeChat: {key: {value}}; Alipay: {key: value}). */
export function pushCard(platform, message) {
  // Template fields are numbered (thing1 … thing5, keyword1 … keyword5): show them in order.
  const order = (key) => Number((key.match(/\d+$/) || ["99"])[0]);
  const entries = Object.entries(message.data || {}).sort(([a], [b]) => order(a) - order(b));
  const rows = entries.map(([key, v]) => [
    h("dt", {}, FIELD_LABELS[key] || key),
    h("dd", { "data-field": key }, typeof v === "object" && v !== null ? v.value : String(v)),
  ]);
  return h("div", { class: "card push", "data-testid": `${platform}-push`,
    "data-template": message.template_id },
    h("div", { class: "head" },
      h("span", { class: "name" }, ...bilingual("核酸检测结果通知", "Test result")),
      h("span", { class: "tag mono" }, message.template_id)),
    h("dl", {}, ...rows.flat()),
    h("p", { class: "hint mono" }, `page: ${message.page || "—"}`));
}
