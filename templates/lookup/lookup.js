"use strict";
// The H5 lookup page: posts the code and ID ending as JSON, shows the result or what to do.
// Everything from the server is put in with textContent, never as HTML.
(() => {
  const STATES = {
    negative: ["阴性", "Negative"],
    positive: ["阳性", "Positive"],
    pending: ["待出结果", "Pending"],
    retest_required: ["需单管复检", "Single-tube re-test"],
    invalid: ["样本无效", "Invalid sample"],
  };
  const ERRORS = {
    not_found: "未找到匹配的结果。请核对登记码和证件号码后4位；登记码重新生成后，只有最新的可用。",
    code_expired: "登记码已过期。请在微信或支付宝小程序中获取新的登记码，您的结果不会丢失。",
    rate_limited: "尝试次数过多，请稍后再试。",
    validation_failed: "请检查输入：登记码为二维码中的完整文字，证件号码后4位为4个数字或字母。",
    malformed_json: "请求格式有误，请刷新页面后重试。",
    unsupported_media_type: "请求格式有误，请刷新页面后重试。",
    temporarily_unavailable: "服务暂时部分不可用，请稍后再试。",
    overloaded: "服务当前繁忙，请稍后再试。",
    results_unavailable: "暂时无法显示结果。结果出来后会推送给您，请稍后再试。",
  };
  const TIME = new Intl.DateTimeFormat("zh-CN", {
    timeZone: "Asia/Shanghai",
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    hourCycle: "h23",
  });

  const $ = (id) => document.getElementById(id);
  const form = $("lookup-form");
  const submit = form.querySelector("button[type=submit]");
  const errorBox = $("error");
  const retryBox = $("retry");
  const resultBox = $("result");
  let timer = null;

  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  };
  const when = (iso) => (iso ? TIME.format(new Date(iso)) : "—");

  function badge(state) {
    const [zh, en] = STATES[state] || [state, state];
    const node = el("span", zh, "badge");
    node.dataset.state = state;
    node.append(el("span", en, "en"));
    return node;
  }

  function clear() {
    errorBox.hidden = true;
    resultBox.hidden = true;
    retryBox.hidden = true;
    $("alternatives").hidden = true;
    $("alternatives-list").replaceChildren();
    if (timer !== null) clearInterval(timer);
    timer = null;
  }

  function showResult(body) {
    $("name").textContent = body.name_masked;
    const latest = $("latest");
    latest.replaceChildren();
    if (body.latest) {
      const r = body.latest;
      latest.dataset.state = r.state;
      latest.append(badge(r.state));
      const facts = el("dl");
      for (const [zh, en, value] of [
        ["采样时间", "Sampled", when(r.sampled_at)],
        ["检测时间", "Tested", when(r.tested_at)],
        ["采样点", "Site", r.site],
        ["批次", "Round", r.round],
        ["管号", "Tube", r.tube_no],
      ]) {
        facts.append(el("dt", `${zh} ${en}`), el("dd", value));
      }
      latest.append(facts);
      if (r.overdue) {
        latest.append(el("p", "采样已超过48小时仍无结果。 Still no result over 48 hours after sampling.", "overdue"));
      }
      if (r.guidance) latest.append(el("p", r.guidance, "guidance"));
    } else {
      latest.dataset.state = "none";
      latest.append(el("p", "暂无采样记录。"), el("p", "No sampling on record yet.", "en"));
    }
    const history = $("history");
    history.replaceChildren();
    for (const r of body.history) {
      const item = el("li");
      item.dataset.state = r.state;
      item.append(el("span", when(r.sampled_at)), badge(r.state), el("span", r.site));
      history.append(item);
    }
    $("history-box").hidden = body.history.length === 0;
    resultBox.hidden = false;
  }

  function countdown(seconds) {
    let left = seconds;
    retryBox.dataset.seconds = String(seconds);
    retryBox.hidden = false;
    submit.disabled = true;
    const tick = () => {
      if (left <= 0) {
        clearInterval(timer);
        timer = null;
        retryBox.textContent = "现在可以再试一次。 You can try again now.";
        submit.disabled = false;
        return;
      }
      const m = Math.floor(left / 60);
      const s = String(left % 60).padStart(2, "0");
      retryBox.textContent = m > 0
        ? `请在 ${m} 分 ${s} 秒后再试。 Try again in ${m} min ${s} s.`
        : `请在 ${left} 秒后再试。 Try again in ${left} s.`;
      left -= 1;
    };
    tick();
    timer = setInterval(tick, 1000);
  }

  function showError(code, zh, en, retryAfter, alternatives) {
    errorBox.dataset.code = code;
    $("error-zh").textContent = zh;
    $("error-en").textContent = en;
    errorBox.hidden = false;
    if (retryAfter > 0) countdown(retryAfter);
    if (alternatives.length > 0) {
      $("alternatives-list").replaceChildren(
        ...alternatives.map((a) => {
          const item = el("li", a.message);
          item.dataset.kind = a.kind;
          return item;
        }),
      );
      $("alternatives").hidden = false;
    }
  }

  function showFailure(response, body) {
    const code = (body && body.code) || "error";
    const detail = body && body.detail && typeof body.detail === "object" ? body.detail : {};
    const retryAfter = parseInt(response.headers.get("Retry-After") || detail.retry_after || "0", 10);
    showError(
      code,
      ERRORS[code] || "出错了，请稍后再试。",
      (body && body.message) || `HTTP ${response.status}`,
      Number.isFinite(retryAfter) ? retryAfter : 0,
      Array.isArray(detail.alternatives) ? detail.alternatives : [],
    );
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    clear();
    form.dataset.busy = "true";
    submit.disabled = true;
    const payload = {
      code: $("code").value.replace(/\s+/g, ""),
      id_last4: $("last4").value.trim().toUpperCase(),
    };
    try {
      const response = await fetch(form.action, {
        method: "POST",
        headers: { "Content-Type": "application/json", "X-Client-Channel": "h5" },
        body: JSON.stringify(payload),
        credentials: "omit",
        cache: "no-store",
      });
      const body = await response.json().catch(() => null);
      if (response.ok && body) showResult(body);
      else showFailure(response, body);
    } catch (error) {
      showError("network", "网络连接失败，请稍后再试。", "Could not reach the service; try again shortly.", 0, []);
    } finally {
      form.dataset.busy = "false";
      if (timer === null) submit.disabled = false;
    }
  });

  document.body.dataset.ready = "true";
})();
