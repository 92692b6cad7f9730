// A phone's subscription to result messages, as a mini-program team builds it: the templates
// from GET /api/v1/app/config (read at launch, never copied into the page), one platform
// prompt for all of them, and the platform's result object reported as it is (README, "Pushes:
// templates, subscriptions, pages").
"use strict";

import { CallFailed, bilingual, h } from "./common.js";

// Public, no login: what the mini-program reads at launch (appconfig/schemas.py, AppConfigOut).
const APP_CONFIG_PATH = "/api/v1/app/config";

function answers(ids, answer) {
  return Object.fromEntries(ids.map((id) => [id, answer]));
}

// What each platform's subscribe prompt returns when the user accepts every template offered.
const ACCEPT_ALL = {
  // wx.requestSubscribeMessage({ tmplIds }) success: errMsg and one answer per template id.
  wechat: (ids) => ({ errMsg: "requestSubscribeMessage:ok", ...answers(ids, "accept") }),
  // my.requestSubscribeMessage({ entityIds }) success, at a first prompt ("always keep" not
  // ticked): the lists of `result` say what this prompt subscribed, plus one answer per id.
  alipay: (ids) => ({
    behavior: "subscribe", keep: false, refuse: false, show: true,
    result: {
      subscribeEntityIds: ids, subscribedEntityIds: ids, unsubscribedEntityIds: [],
      currentSubscribedEntityIds: ids,
    },
    ...answers(ids, "accept"),
  }),
};

/** The Messages pane's subscription part of one phone. `$` finds the phone's elements, `api`
 * calls our API as the phone (`{ auth: false }` for a public route), `showNotice` confirms. */
export function createSubscriptions(platform, { $, api, showNotice }) {
  // This platform's templates from the app config ({id, kind, fields, page}); null until it
  // is read, and while it cannot be (configError says why).
  let templates = null;
  let configError = null;

  function resultTemplate() {
    return (templates || []).find((t) => t.kind === "result") || null;
  }

  function render() {
    const box = $("templates");
    // The result template is what the button subscribes to; without it there is nothing to ask.
    $("subscribe").disabled = !resultTemplate();
    box.dataset.result = resultTemplate() ? resultTemplate().id : "";
    if (configError) {
      box.dataset.state = "error";
      box.replaceChildren(...bilingual("读取配置失败，打开本页时重试",
        `cannot read ${APP_CONFIG_PATH} (${configError.code || "error"}${configError.status
          ? `, HTTP ${configError.status}` : ""}); opening this tab tries again`));
    } else if (!templates.length) {
      box.dataset.state = "none";
      box.replaceChildren(...bilingual("未配置", "not configured: nothing is pushed here"));
    } else {
      box.dataset.state = "ok";
      box.replaceChildren(...templates.flatMap((t, i) => [i ? " · " : "",
        h("span", { class: "mono", "data-kind": t.kind }, t.id),
        " ", h("span", { class: "tag" }, t.kind === "result" ? "结果 result" : "家人通知 notice")]));
    }
  }

  return {
    /** Read the templates, as the mini-program does at launch; a failure is shown where the
     * templates would be, and subscribing waits for them. */
    async load() {
      try {
        const found = await api("GET", APP_CONFIG_PATH, undefined, { auth: false });
        if (!found || typeof found !== "object" || !(platform in found)) {
          throw new CallFailed("bad_config", "配置格式不对 / not an app config", 0);
        }
        templates = found[platform] ? found[platform].templates : [];
        configError = null;
      } catch (err) {
        templates = null;
        configError = err;
      }
      render();
    },

    /** The launch could not read the config: the page asks again when shown. */
    failed: () => configError !== null,

    /** One prompt for every template of the config (results and family notices); the user
     * accepts them all, and the platform's result object is reported as it is. */
    async subscribe() {
      const ids = (templates || []).map((t) => t.id);
      if (!resultTemplate()) {
        throw new CallFailed("no_template", "没有可订阅的模板 / no template to subscribe to", 0);
      }
      const answer = await api("POST", "/api/v1/me/subscriptions", ACCEPT_ALL[platform](ids));
      const held = answer.subscriptions.find((s) => s.kind === "result");
      const remaining = held ? held.remaining : 0;
      const box = $("subscription");
      box.dataset.remaining = String(remaining);
      // Ids the API does not send here (a stale config, another platform's): nothing is
      // dropped silently, so neither is it here.
      box.dataset.ignored = answer.ignored.join(" ");
      box.replaceChildren(...bilingual(
        `已订阅：还可接收 ${remaining} 条结果通知`, `subscribed: ${remaining} message(s) allowed`),
      ...(answer.ignored.length ? [h("br"), `ignored: ${answer.ignored.join(", ")}`] : []));
      showNotice("已订阅结果通知", "Subscribed to result messages");
    },
  };
}
