"use strict";
// The H5 lookup page: reads the registration code from a screenshot or the camera (or pasted
// text), posts it with the full ID number as JSON, shows the result or what to do.
// Everything from the server or an image is put in with textContent, never as HTML.
// Every message is shown in Chinese with its English beneath, from one answer: the page looks
// the answer's keys (error code, guidance_code, alternative kind) up in WORDS, which the
// server renders into the page from its message catalogue (miniapp_api/lookup/page.py).
(() => {
  const STATES = {
    negative: ["阴性", "Negative"],
    positive: ["阳性", "Positive"],
    pending: ["待出结果", "Pending"],
    retest_required: ["需单管复检", "Single-tube re-test"],
    invalid: ["样本无效", "Invalid sample"],
  };
  const WORDS = JSON.parse(document.getElementById("words").textContent);
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
  const codeField = $("code");
  const codeStatus = $("code-status");
  let timer = null;

  const el = (tag, text, className) => {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (className) node.className = className;
    return node;
  };
  const when = (iso) => (iso ? TIME.format(new Date(iso)) : "—");

  // Chinese, then English beneath; either may be missing.
  function both(tag, words, className) {
    const node = el(tag, words.zh, className);
    if (words.en) node.append(el("span", words.en, "en"));
    return node;
  }

  // What to do about a result (positive, re-test, invalid, overdue), by its guidance_code; the
  // answer's own guidance if the page does not know the code.
  function guidanceOf(r) {
    const words = WORDS.guidance[r.guidance_code];
    const fill = (text) => text.split("{site}").join(r.site);
    if (words) return both("p", { zh: fill(words.zh), en: fill(words.en) }, "guidance");
    return r.guidance ? el("p", r.guidance, "guidance") : null;
  }

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
      const guidance = guidanceOf(r);
      if (guidance) latest.append(guidance);
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

  // What works instead (the overload contract's alternatives), each in both languages.
  function alternativeItem(a) {
    const key = a.kind === "other_platform" ? `other_platform.${a.platform}.${a.status}` : a.kind;
    const item = both("li", WORDS.alternatives[key] || { zh: a.message });
    item.dataset.kind = a.kind;
    return item;
  }

  function showError(code, words, retryAfter, alternatives) {
    errorBox.dataset.code = code;
    $("error-zh").textContent = words.zh;
    $("error-en").textContent = words.en || "";
    errorBox.hidden = false;
    if (retryAfter > 0) countdown(retryAfter);
    if (alternatives.length > 0) {
      $("alternatives-list").replaceChildren(...alternatives.map(alternativeItem));
      $("alternatives").hidden = false;
    }
  }

  function showFailure(response, body) {
    const code = body && typeof body.code === "string" ? body.code : "error";
    const detail = body && body.detail && typeof body.detail === "object" ? body.detail : {};
    const retryAfter = parseInt(response.headers.get("Retry-After") || detail.retry_after || "0", 10);
    // A code the page does not know: the answer's own (Chinese) message and a general English line.
    const unknown = { zh: (body && body.message) || WORDS.errors.error.zh, en: WORDS.errors.error.en };
    showError(
      code,
      WORDS.errors[code] || unknown,
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
      code: codeField.value.replace(/\s+/g, ""),
      id_number: $("id-number").value.replace(/[\s-]+/g, "").toUpperCase(),
    };
    try {
      const response = await fetch(form.action, {
        method: "POST",
        // The page shows WORDS by the answer's keys; Chinese, its first language, is what an
        // answer with a key it does not know should speak, whatever the browser prefers.
        headers: { "Content-Type": "application/json", "Accept-Language": "zh-CN" },
        body: JSON.stringify(payload),
        credentials: "omit",
        cache: "no-store",
      });
      const body = await response.json().catch(() => null);
      if (response.ok && body) showResult(body);
      else showFailure(response, body);
    } catch (error) {
      showError("network", WORDS.errors.network, 0, []);
    } finally {
      form.dataset.busy = "false";
      if (timer === null) submit.disabled = false;
    }
  });

  // --- the code from a screenshot or the camera ------------------------------------------------
  // A screenshot is read here, in the browser, and never uploaded: BarcodeDetector where the
  // browser has one, else jsQR (vendored, served by us, loaded only when first needed).

  function codeState(state, zh, en) {
    codeStatus.dataset.state = state;
    codeStatus.querySelector(".zh").textContent = zh;
    codeStatus.querySelector(".en").textContent = en;
  }

  // What a registration code says about itself (masked name, expiry): shown so that a resident
  // with several family members' screenshots sees whose code was read. Null if not a code.
  function codeClaims(text) {
    const parts = text.split(".");
    if (parts.length !== 3 || !text.startsWith("ey")) return null;
    try {
      const b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      const bytes = Uint8Array.from(atob(b64 + "===".slice((b64.length + 3) % 4)), (c) => c.charCodeAt(0));
      const claims = JSON.parse(new TextDecoder().decode(bytes));
      return typeof claims.jti === "string" && typeof claims.exp === "number" ? claims : null;
    } catch (error) {
      return null;
    }
  }

  function accept(text) {
    const claims = codeClaims(text);
    if (!claims) {
      codeState("failed", "图中的二维码不是登记码，请选择登记码的截图。",
        "The QR code in this picture is not a registration code; pick a screenshot of your code.");
      return false;
    }
    codeField.value = text;
    const until = when(new Date(claims.exp * 1000).toISOString());
    codeState("decoded", `已读取 ${claims.n || ""} 的登记码（有效期至 ${until}）。`,
      `Code read: ${claims.n || ""}, valid until ${until}.`);
    $("id-number").focus();
    return true;
  }

  let jsqrLoading = null;
  function loadJsQR() {
    if (window.jsQR) return Promise.resolve(window.jsQR);
    if (jsqrLoading === null) {
      jsqrLoading = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = document.body.dataset.jsqr;
        script.onload = () => (window.jsQR ? resolve(window.jsQR) : reject(new Error("jsQR")));
        script.onerror = () => {
          jsqrLoading = null;
          script.remove();
          reject(new Error("jsQR did not load"));
        };
        document.head.append(script);
      });
    }
    return jsqrLoading;
  }

  async function nativeDetector() {
    if (!("BarcodeDetector" in window)) return null;
    try {
      const formats = await window.BarcodeDetector.getSupportedFormats();
      return formats.includes("qr_code") ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    } catch (error) {
      return null;
    }
  }

  // jsQR on pixels: a phone screenshot is scaled down to at most MAX_SIDE first (fast, and the
  // symbol keeps several pixels per module), then tried at half that size if need be.
  const MAX_SIDE = 1600;
  function jsqrRead(jsQR, source, width, height, canvas) {
    for (const factor of [1, 0.5]) {
      const scale = Math.min(1, MAX_SIDE / Math.max(width, height)) * factor;
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      const context = canvas.getContext("2d", { willReadFrequently: true });
      context.drawImage(source, 0, 0, canvas.width, canvas.height);
      const pixels = context.getImageData(0, 0, canvas.width, canvas.height);
      const found = jsQR(pixels.data, canvas.width, canvas.height);
      if (found && found.data) return found.data;
    }
    return null;
  }

  function imageOf(file) {
    if (window.createImageBitmap) return createImageBitmap(file);
    return new Promise((resolve, reject) => {
      const url = URL.createObjectURL(file);
      const image = new Image();
      image.onload = () => { URL.revokeObjectURL(url); resolve(image); };
      image.onerror = () => { URL.revokeObjectURL(url); reject(new Error("not an image")); };
      image.src = url;
    });
  }

  async function readScreenshot(file) {
    codeState("reading", "正在读取截图……", "Reading the screenshot…");
    let image;
    try {
      image = await imageOf(file);
    } catch (error) {
      codeState("failed", "无法打开这张图片，请选择登记码的截图。",
        "This picture cannot be opened; pick a screenshot of your code.");
      return;
    }
    let text = null;
    const detector = await nativeDetector();
    if (detector) {
      const found = await detector.detect(image).catch(() => []);
      if (found.length) text = found[0].rawValue;
    }
    if (text === null) {
      try {
        const jsQR = await loadJsQR();
        const width = image.naturalWidth || image.width;
        const height = image.naturalHeight || image.height;
        text = jsqrRead(jsQR, image, width, height, document.createElement("canvas"));
      } catch (error) {
        codeState("failed", "暂时无法识别截图，请粘贴二维码中的文字。",
          "The screenshot cannot be read right now; paste the text of the QR symbol instead.");
        return;
      }
    }
    if (text === null) {
      codeState("failed", "截图中未找到二维码。请截取完整的登记码页面，或用摄像头扫码。",
        "No QR code found in this picture. Screenshot the whole code screen, or scan it with the camera.");
      return;
    }
    accept(text);
  }

  const shot = $("shot");
  shot.addEventListener("click", () => { loadJsQR().catch(() => {}); });  // start early
  shot.addEventListener("change", () => {
    const file = shot.files && shot.files[0];
    if (file) readScreenshot(file).finally(() => { shot.value = ""; });
  });

  // The camera: BarcodeDetector on the video where the browser has it, else frames through jsQR.
  const video = $("camera-video");
  const cameraBox = $("camera-box");
  let stream = null;

  function stopCamera() {
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    cameraBox.hidden = true;
  }

  async function startCamera() {
    codeState("reading", "请将登记码对准摄像头……", "Point the camera at the code…");
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "environment" },
        audio: false,
      });
    } catch (error) {
      codeState("failed", "无法打开摄像头，请改用截图或粘贴文字。",
        "The camera cannot be opened; pick a screenshot or paste the text instead.");
      return;
    }
    video.srcObject = stream;
    cameraBox.hidden = false;
    await video.play().catch(() => {});
    const detector = await nativeDetector();
    let jsQR = null;
    if (!detector) {
      try {
        jsQR = await loadJsQR();
      } catch (error) {
        stopCamera();
        codeState("failed", "暂时无法扫码，请粘贴二维码中的文字。",
          "Scanning is not possible right now; paste the text of the QR symbol instead.");
        return;
      }
    }
    const canvas = document.createElement("canvas");
    const frame = async () => {
      if (!stream) return;
      let text = null;
      if (video.readyState >= 2) {
        if (detector) {
          const found = await detector.detect(video).catch(() => []);
          if (found.length) text = found[0].rawValue;
        } else {
          text = jsqrRead(jsQR, video, video.videoWidth, video.videoHeight, canvas);
        }
      }
      if (text !== null && codeClaims(text)) {
        stopCamera();
        accept(text);
        return;
      }
      setTimeout(frame, 200);
    };
    frame();
  }

  const camera = $("camera");
  if (window.isSecureContext && navigator.mediaDevices && navigator.mediaDevices.getUserMedia) {
    camera.hidden = false;
    camera.addEventListener("click", () => { if (!stream) startCamera(); });
    $("camera-stop").addEventListener("click", () => {
      stopCamera();
      codeState("none", "", "");
    });
  }
  codeField.addEventListener("input", () => codeState("none", "", ""));

  document.body.dataset.ready = "true";
})();
