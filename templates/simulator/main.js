// The page: two phones, the operator desk, the same-person check, platform faults.
"use strict";

import { bilingual, emulator, emulatorGet, h } from "./common.js";
import { createLabPanel, createStaffPanel } from "./operators.js";
import { createPhone } from "./phone.js";

// How often the phones look for pushes the emulator received (the worker idles ~1 s).
const MESSAGE_POLL_MS = 1000;

const FAULTS = [
  { platform: "wechat", api: "jscode2session", errcode: 45011,
    zh: "微信登录限流 45011", en: "WeChat login throttled (45011)" },
  { platform: "wechat", api: "jscode2session", errcode: -1,
    zh: "微信登录系统错误 -1", en: "WeChat login system error (-1)" },
  { platform: "wechat", api: "getuserphonenumber", errcode: 45011,
    zh: "微信手机号限流 45011", en: "WeChat phone throttled (45011)" },
  { platform: "alipay", api: "alipay.system.oauth.token", errcode: "20000",
    zh: "支付宝登录繁忙 20000", en: "Alipay login busy (20000)" },
  { platform: "wechat", api: "jscode2session", latency_ms: 1500,
    zh: "微信登录变慢 1.5 秒", en: "WeChat login 1.5 s slow" },
  { platform: "wechat", api: "subscribe_send", errcode: 43101,
    zh: "微信推送：用户拒收 43101", en: "WeChat push refused by user (43101)" },
];

function sameSubject(phones) {
  const ids = { wechat: phones.wechat.selfId, alipay: phones.alipay.selfId };
  for (const p of ["wechat", "alipay"]) {
    document.querySelector(`[data-testid="same-person-${p}"]`).textContent = ids[p] || "—";
  }
  const verdict = document.querySelector('[data-testid="same-person-verdict"]');
  verdict.className = "verdict";
  if (!ids.wechat || !ids.alipay) {
    verdict.replaceChildren(...bilingual("尚未都声明", "not declared on both yet"));
    verdict.dataset.state = "pending";
  } else if (ids.wechat === ids.alipay) {
    verdict.replaceChildren(...bilingual("✓ 是同一个居民", "same resident"));
    verdict.classList.add("same");
    verdict.dataset.state = "same";
  } else {
    verdict.replaceChildren(...bilingual("✗ 不是同一个居民", "different residents"));
    verdict.classList.add("differ");
    verdict.dataset.state = "different";
  }
}

function setUpFaults() {
  const select = document.querySelector('[data-testid="fault-preset"]');
  const status = document.querySelector('[data-testid="fault-status"]');
  select.replaceChildren(...FAULTS.map((f, i) => h("option", { value: String(i) }, `${f.zh} / ${f.en}`)));
  const say = (...parts) => status.replaceChildren(...parts);
  document.querySelector('[data-testid="fault-inject"]').addEventListener("click", async () => {
    const f = FAULTS[Number(select.value)];
    const body = { platform: f.platform, api: f.api, rate: 1.0 };
    if (f.errcode !== undefined) body.errcode = f.errcode;
    if (f.latency_ms !== undefined) body.latency_ms = f.latency_ms;
    try {
      await emulator("/_emulator/faults", body);
      say(...bilingual(`已注入：${f.zh}`, `injected: ${f.en} on ${f.platform} ${f.api}`));
      status.dataset.state = "injected";
    } catch (err) {
      say(`${err.code}: ${err.message}`);
    }
  });
  document.querySelector('[data-testid="fault-clear"]').addEventListener("click", async () => {
    try {
      // An entry without errcode or latency is no fault; other emulator state stays untouched.
      const seen = new Set();
      for (const f of FAULTS) {
        const key = `${f.platform} ${f.api}`;
        if (seen.has(key)) continue;
        seen.add(key);
        await emulator("/_emulator/faults", { platform: f.platform, api: f.api, latency_ms: 0 });
      }
      say(...bilingual("无故障", "no fault injected"));
      status.dataset.state = "clear";
    } catch (err) {
      say(`${err.code}: ${err.message}`);
    }
  });
}

/** The platforms deliver pushes to the phone; here the phones read what the emulator got. */
function pollMessages(phones) {
  const state = document.querySelector('[data-testid="push-feed"]');
  async function once() {
    if (Object.values(phones).some((p) => p.hasSubject())) {
      try {
        const { messages } = await emulatorGet("/_emulator/messages");
        for (const p of Object.values(phones)) p.receiveMessages(messages);
        state.dataset.state = "ok";
      } catch (err) {
        state.dataset.state = "unreachable";
      }
    }
    setTimeout(once, MESSAGE_POLL_MS);
  }
  once();
}

const phones = { wechat: createPhone("wechat"), alipay: createPhone("alipay") };
for (const p of Object.values(phones)) p.onSelfChange = () => sameSubject(phones);
createStaffPanel(phones, createLabPanel());
setUpFaults();
// Each phone reads its app config at launch, as each mini-program does.
const started = Object.values(phones).map((p) => p.start());
pollMessages(phones);
// Ready (tests wait for it) once both phones know their templates, or that they cannot.
await Promise.all(started);
document.body.dataset.ready = "true";
