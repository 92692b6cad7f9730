// The family-links parts of a phone's Me pane, from GET /me: who holds my record, requests
// waiting for my answer, requests I sent, and the latest notices.
"use strict";

import { bilingual, h, localTime } from "./common.js";

const PROXY_REASONS = {
  minor: ["未成年", "minor"], elderly: ["60 岁以上", "aged 60+"],
  unable: ["无法自行申报", "cannot apply themselves"],
};
const SENT_STATUS = {
  pending: ["等待同意", "waiting"], approved: ["已同意", "approved"],
  declined: ["已拒绝", "declined"], lapsed: ["已过期", "lapsed"],
};
const NOTICES = {
  claim_taken_over: ["本人实名核验后收回了你声明的档案",
    "the person verified their real name and took back the record you declared"],
  holder_removed: ["本人已将你移出其档案", "the person removed your hold on their record"],
  holder_added: ["又有人持有你持有的档案", "another login now holds a record you hold"],
  link_requested: ["有人申请持有你持有的档案", "someone asks to hold a record you hold"],
  link_approved: ["关联申请已通过", "your request was approved"],
  link_declined: ["关联申请被拒绝", "your request was declined"],
};

function labelled(table, key) {
  const [zh, en] = table[key] || [key, ""];
  return bilingual(zh, en);
}

export function orEmpty(items, zh, en) {
  return items.length ? items : [h("p", { class: "empty" }, ...bilingual(zh, en))];
}

export function button(testid, attrs, zh, en, onClick) {
  const el = h("button", { type: "button", "data-testid": testid, ...attrs }, ...bilingual(zh, en));
  el.addEventListener("click", onClick);
  return el;
}

/** Someone asks to hold a record I hold: who, for whom, why; approve or decline. */
export function requestCard(platform, request, answer) {
  const id = { "data-request-id": request.id };
  return h("div", { class: "card link", "data-testid": `${platform}-link-request`, ...id },
    h("div", { class: "head" },
      h("span", { class: "name" }, request.name_masked),
      h("span", { class: "tag" }, ...labelled(PROXY_REASONS, request.proxy_reason))),
    h("dl", {},
      h("dt", {}, "申请人 By"),
      h("dd", {}, `${request.requester_name_masked || "—"} · ${request.requester_platform}`),
      h("dt", {}, "手机 Phone"), h("dd", { class: "mono" }, request.requester_phone_masked || "—"),
      h("dt", {}, "截止 Until"), h("dd", {}, localTime(request.expires_at))),
    h("div", { class: "actions" },
      button(`${platform}-approve-request`, { class: "primary", ...id }, "同意", "Approve",
        () => answer(request.id, "approve")),
      button(`${platform}-decline-request`, { class: "ghost", ...id }, "拒绝", "Decline",
        () => answer(request.id, "decline"))));
}

export function sentCard(platform, sent) {
  // A lapsed request still says pending (the API shows every request alike): its date tells.
  const lapsed = sent.status === "pending" && new Date(sent.expires_at) <= new Date();
  return h("div", {
    class: "card link", "data-testid": `${platform}-sent-request`, "data-request-id": sent.id,
    "data-status": sent.status,
  }, h("div", { class: "head" },
    h("span", { class: "name" }, sent.name_masked),
    h("span", { class: `tag ${sent.status}` },
      ...labelled(SENT_STATUS, lapsed ? "lapsed" : sent.status))),
  h("p", { class: "empty" }, `${localTime(sent.created_at)} → ${localTime(sent.expires_at)}`));
}

/** Another login holding my record, as its own self or as a family member. */
export function holderCard(platform, holder, removable, remove) {
  const head = h("div", { class: "head" },
    h("span", { class: "name" }, holder.name_masked || "—"),
    h("span", {},
      h("span", { class: "tag" }, holder.platform),
      h("span", { class: "tag" }, ...(holder.relation === "self"
        ? bilingual("本人登录", "own login") : bilingual("作为家人", "as family"))),
      holder.verified
        ? h("span", { class: "tag verified" }, ...bilingual("已实名", "verified")) : null));
  const card = h("div", {
    class: "card link", "data-testid": `${platform}-holder`, "data-holder-id": holder.id,
    "data-relation": holder.relation, "data-platform": holder.platform,
  }, head, h("dl", {},
    h("dt", {}, "手机 Phone"), h("dd", { class: "mono" }, holder.phone_masked || "—"),
    h("dt", {}, "始于 Since"), h("dd", {}, localTime(holder.since))));
  if (removable) {
    card.append(button(`${platform}-remove-holder`, { class: "danger", "data-holder-id": holder.id },
      "移除", "Remove", () => remove(holder.id)));
  }
  return card;
}

export function noticeItem(platform, notice) {
  return h("li", { "data-testid": `${platform}-notice-item`, "data-kind": notice.kind },
    h("span", { class: "when" }, localTime(notice.at)), " ", h("b", {}, notice.name_masked), " ",
    ...labelled(NOTICES, notice.kind));
}

export const NOTICES_SHOWN = 5;
