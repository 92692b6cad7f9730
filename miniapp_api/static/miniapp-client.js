/**
 * miniapp-client.js: the client half of overload protection (README, "Overload"), for the WeChat and
 * Alipay mini-programs. Dependency-free CommonJS in ES2017: no DOM, no fetch, no `?.` or `??`.
 * Served at /static/miniapp-client.js; copy it into the mini-program (e.g. utils/) and require it.
 *
 *   const api = require('./utils/miniapp-client.js');
 *   const client = api.createClient({ adapter: api.fromWx(wx),      // api.fromMy(my) on Alipay
 *     baseUrl: 'https://api.example.cn', token: () => getApp().globalData.token });
 *   const saved = client.cachedCode(residentId);    // show at once, even offline; null if expired
 *   client.getCode(residentId)                      // {code, offline}: falls back to the saved code
 *     .then(({ code, offline }) => page.setData({ code, offline }))
 *     .catch((err) => page.setData({ message: err.message,
 *       alternatives: api.alternativesView(err, { cachedCode: err.cachedCode }) }));
 *
 * Waits honour Retry-After (plus 0-50% jitter, never less), only GET or `retryable: true`
 * requests are retried, and a retry budget keeps retries to a small share of requests.
 */
'use strict';

const IDEMPOTENT = ['GET', 'HEAD'];
// 502/504: the front door's answer for a node that failed mid-request or did not answer in time.
const OVERLOAD_STATUSES = [429, 502, 503, 504];
const CODE_KEY_PREFIX = 'miniapp.code.';

/** An error response or a network failure, in the server's {code, message, detail} shape. */
class ApiError extends Error {
  constructor(status, body, headers, nowMs) {
    const data = body && typeof body === 'object' ? body : {};
    super(typeof data.message === 'string' ? data.message : `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status; // 0 for a network failure
    this.code = typeof data.code === 'string' ? data.code : status ? `http_${status}` : 'network_error';
    this.detail = data.detail && typeof data.detail === 'object' ? data.detail : {};
    this.network = status === 0;
    this.overload = this.network || OVERLOAD_STATUSES.indexOf(status) >= 0;
    this.retryAfter = parseRetryAfter(header(headers, 'retry-after'), this.detail.retry_after, nowMs);
    this.ticket = typeof this.detail.ticket === 'string' ? this.detail.ticket : null;
    this.alternatives = Array.isArray(this.detail.alternatives) ? this.detail.alternatives : [];
    this.attempts = 0;
    this.budgetExhausted = false;
    this.cachedCode = null;
  }
}

/** Seconds from a Retry-After value (delta-seconds or HTTP-date), else from detail.retry_after. */
function parseRetryAfter(value, fallback, nowMs) {
  if (value !== undefined && value !== null && String(value).trim() !== '') {
    const text = String(value).trim();
    if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
    const at = Date.parse(text);
    if (!isNaN(at)) return Math.max(0, Math.ceil((at - nowMs) / 1000));
  }
  return typeof fallback === 'number' && fallback >= 0 ? fallback : null;
}

/** A header value by case-insensitive name (Retry-After, retry-after, RETRY-AFTER). */
function header(headers, name) {
  const wanted = name.toLowerCase();
  const key = Object.keys(headers || {}).find((k) => k.toLowerCase() === wanted);
  return key === undefined ? undefined : headers[key];
}

// --- platform adapters: one Promise-based request() resolving {status, headers, data} ---------

function response(status, headers, data) {
  let body = data;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch (e) {
      // not JSON (e.g. a gateway's HTML error page): keep the text
    }
  }
  return { status: Number(status), headers: headers || {}, data: body };
}

function networkError(message) {
  const error = new Error(String(message || 'network error'));
  error.network = true;
  return error;
}

/** Storage over the sync key-value API of a platform; failures (quota, private mode) are ignored. */
function syncStorage(get, set, remove) {
  const guard = (fn, fallback) => (...args) => {
    try {
      return fn(...args);
    } catch (e) {
      return fallback;
    }
  };
  return { get: guard(get, null), set: guard(set, undefined), remove: guard(remove, undefined) };
}

/** Adapter for WeChat: wx.request reports every HTTP status through `success`. */
function fromWx(wx) {
  return {
    channel: 'wechat',
    storage: syncStorage(
      (key) => wx.getStorageSync(key) || null, // '' when missing
      (key, value) => wx.setStorageSync(key, value),
      (key) => wx.removeStorageSync(key)
    ),
    request: (opts) =>
      new Promise((resolve, reject) => {
        wx.request({
          url: opts.url, method: opts.method, data: opts.data, header: opts.headers,
          timeout: opts.timeout,
          success: (res) => resolve(response(res.statusCode, res.header, res.data)),
          fail: (err) => reject(networkError(err && err.errMsg)),
        });
      }),
  };
}

/** Adapter for Alipay: my.request reports HTTP errors through `fail` (error 19) with the status. */
function fromMy(my) {
  return {
    channel: 'alipay',
    storage: syncStorage(
      (key) => {
        const res = my.getStorageSync({ key });
        return res && res.data !== undefined ? res.data : null;
      },
      (key, value) => my.setStorageSync({ key, data: value }),
      (key) => my.removeStorageSync({ key })
    ),
    request: (opts) =>
      new Promise((resolve, reject) => {
        my.request({
          url: opts.url, method: opts.method, data: opts.data, headers: opts.headers,
          timeout: opts.timeout, dataType: 'json',
          success: (res) => resolve(response(res.status, res.headers, res.data)),
          fail: (err) => {
            const status = err && (err.status || err.statusCode);
            if (status) resolve(response(status, err.headers, err.data));
            else reject(networkError(err && (err.errorMessage || `error ${err.error}`)));
          },
        });
      }),
  };
}

function memoryStorage() {
  const values = {};
  return {
    get: (key) => (key in values ? values[key] : null),
    set: (key, value) => { values[key] = value; },
    remove: (key) => { delete values[key]; },
  };
}

// --- retry budget ------------------------------------------------------------------------------

/**
 * Retries allowed in a sliding window: at most `ratio` of the requests started in the last
 * `windowMs`, but at least `minRetries`. A fleet of clients then adds at most ~ratio to the load
 * of an overloaded server instead of multiplying it.
 */
function createRetryBudget(opts) {
  const o = opts || {};
  const ratio = o.ratio === undefined ? 0.1 : o.ratio;
  const minRetries = o.minRetries === undefined ? 3 : o.minRetries;
  const windowMs = o.windowMs || 60000;
  const now = o.now || Date.now;
  const requests = [];
  const retries = [];
  const prune = (list) => {
    const cutoff = now() - windowMs;
    while (list.length && list[0] <= cutoff) list.shift();
  };
  const allowed = () => Math.max(minRetries, Math.floor(ratio * requests.length));
  return {
    recordRequest() {
      prune(requests);
      requests.push(now());
    },
    /** Takes one retry from the budget; false when it is spent. */
    tryRetry() {
      prune(requests);
      prune(retries);
      if (retries.length >= allowed()) return false;
      retries.push(now());
      return true;
    },
    remaining() {
      prune(requests);
      prune(retries);
      return Math.max(0, allowed() - retries.length);
    },
  };
}

// --- the client ----------------------------------------------------------------------------------

/** A valid code as cached ({token, expires_at, png_url, svg_url}), or null if missing or expired. */
function validCode(code, nowMs) {
  if (!code || typeof code !== 'object' || typeof code.token !== 'string') return null;
  return Date.parse(code.expires_at) > nowMs ? code : null;
}

/**
 * The API client.
 * @param {object} options adapter (fromWx/fromMy), baseUrl, token (string or function), and
 *   optionally storage {get,set,remove}, random () => [0,1), now () => ms,
 *   sleep (ms) => Promise, maxAttempts (3), maxWaitSeconds (30: longer Retry-After is not
 *   waited for), timeout (ms), retryBudget (options of createRetryBudget, or a budget), log (line).
 */
function createClient(options) {
  const adapter = options.adapter;
  const storage = options.storage || adapter.storage || memoryStorage();
  const baseUrl = String(options.baseUrl || '').replace(/\/+$/, '');
  const random = options.random || Math.random;
  const now = options.now || Date.now;
  const sleep = options.sleep || ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  const maxAttempts = options.maxAttempts || 3;
  const maxWaitSeconds = options.maxWaitSeconds || 30;
  const log = options.log || (() => {});
  const budget = options.retryBudget && typeof options.retryBudget.tryRetry === 'function'
    ? options.retryBudget
    : createRetryBudget(Object.assign({ now }, options.retryBudget));
  let token = options.token;

  function headers(req, method, ticket) {
    // No channel header: the server takes the channel from the session token it issued.
    const result = Object.assign({}, req.headers);
    const bearer = typeof token === 'function' ? token() : token;
    if (bearer) result.Authorization = `Bearer ${bearer}`;
    if (ticket) result['X-Queue-Ticket'] = ticket;
    if (req.data !== undefined && method !== 'GET') result['Content-Type'] = 'application/json';
    return result;
  }

  /** Milliseconds to wait before the next attempt, or null when waiting is not worth it. */
  function delay(error, attempt) {
    // Without a Retry-After (network failure, bare 503) back off exponentially from 1 s.
    const seconds = error.retryAfter !== null ? error.retryAfter : Math.pow(2, attempt - 1);
    if (seconds > maxWaitSeconds) return null;
    // Jitter only upwards, so the wait is never shorter than what the server asked for.
    return Math.ceil(seconds * 1000 * (1 + 0.5 * random()));
  }

  /**
   * Sends one API request, retrying overload rejections when allowed.
   * @param {{path: string, method?: string, data?: *, headers?: object, retryable?: boolean,
   *   ticket?: string}} req
   * @returns {Promise<{status, headers, data}>} a 2xx/3xx response; rejects with ApiError.
   */
  async function request(req) {
    const method = (req.method || 'GET').toUpperCase();
    const retryable = req.retryable === undefined ? IDEMPOTENT.indexOf(method) >= 0 : !!req.retryable;
    let ticket = req.ticket || null;
    budget.recordRequest();
    for (let attempt = 1; ; attempt += 1) {
      let error;
      try {
        const res = await adapter.request({
          url: baseUrl + req.path, method, data: req.data,
          headers: headers(req, method, ticket), timeout: options.timeout,
        });
        if (res.status >= 200 && res.status < 400) return res;
        error = new ApiError(res.status, res.data, res.headers, now());
      } catch (e) {
        if (!e.network) throw e;
        error = new ApiError(0, { message: e.message }, {}, now());
      }
      error.attempts = attempt;
      if (error.ticket) ticket = error.ticket; // a waiting-room place is kept by sending it back
      const wait = delay(error, attempt);
      if (!retryable || !error.overload || attempt >= maxAttempts || wait === null) throw error;
      if (!budget.tryRetry()) {
        error.budgetExhausted = true;
        throw error;
      }
      // Never the headers: they carry the bearer token.
      log(`retry ${method} ${req.path} in ${wait} ms after ${error.status || 'network'} ${error.code}`);
      await sleep(wait);
    }
  }

  /** The last code fetched for a resident, if it has not expired; works offline. */
  function cachedCode(residentId) {
    return validCode(storage.get(CODE_KEY_PREFIX + residentId), now());
  }

  /**
   * The resident's registration code: fresh from the server and cached, or the cached one with
   * `offline: true` when the network or the server is unavailable. Other errors reject, with
   * `err.cachedCode` set for alternativesView.
   */
  async function getCode(residentId) {
    try {
      const res = await request({ path: `/api/v1/residents/${encodeURIComponent(residentId)}/code` });
      const d = res.data || {};
      const code = { token: d.token, expires_at: d.expires_at, png_url: d.png_url, svg_url: d.svg_url };
      storage.set(CODE_KEY_PREFIX + residentId, code);
      return { code, offline: false };
    } catch (error) {
      const cached = cachedCode(residentId);
      if (cached && error instanceof ApiError && error.overload) return { code: cached, offline: true, error };
      if (error instanceof ApiError) error.cachedCode = cached;
      throw error;
    }
  }

  return {
    request,
    getCode,
    cachedCode,
    forgetCode: (residentId) => storage.remove(CODE_KEY_PREFIX + residentId),
    setToken: (value) => { token = value; },
    budget,
  };
}

// --- the alternatives, as a display model ----------------------------------------------------------

const PLATFORM_NAMES = { wechat: '微信', alipay: '支付宝' };

/**
 * What a page shows when a request is refused: an ordered list of {kind, title, text, action}.
 * The valid cached code comes first, then what works now (the other platform if ok, the H5
 * lookup), then hints (screenshot, busy platform, the push); a platform that is down is left out.
 * action: {type: 'show_code', code} | {type: 'switch_platform', platform} |
 *   {type: 'copy_link', url} | null.
 */
function alternativesView(rejection, opts) {
  const o = opts || {};
  const cached = validCode(o.cachedCode, (o.now || Date.now)());
  const given = (rejection && Array.isArray(rejection.alternatives) && rejection.alternatives) || [];
  const items = [];
  if (cached) {
    const saved = given.find((a) => a && a.kind === 'saved_code');
    items.push({ rank: 0, kind: 'saved_code', title: '出示已保存的登记码',
      text: (saved && saved.message) || '网络繁忙时也可使用，无需联网。',
      action: { type: 'show_code', code: cached } });
  }
  given.forEach((alt) => {
    if (!alt || typeof alt !== 'object') return;
    const text = typeof alt.message === 'string' ? alt.message : '';
    if (alt.kind === 'saved_code') {
      if (!cached) items.push({ rank: 3, kind: alt.kind, title: '出示截图保存的登记码', text, action: null });
    } else if (alt.kind === 'other_platform') {
      if (alt.status === 'down') return;
      const name = PLATFORM_NAMES[alt.platform] || alt.platform;
      items.push({ rank: alt.status === 'busy' ? 4 : 1, kind: alt.kind, title: `使用${name}小程序`,
        text, action: { type: 'switch_platform', platform: alt.platform } });
    } else if (alt.kind === 'h5_lookup') {
      items.push({ rank: 2, kind: alt.kind, title: '网页查询', text,
        action: alt.url ? { type: 'copy_link', url: alt.url } : null });
    } else if (alt.kind === 'push') {
      items.push({ rank: 5, kind: alt.kind, title: '结果出来后会通知您', text, action: null });
    } else {
      items.push({ rank: 6, kind: String(alt.kind), title: text, text, action: null });
    }
  });
  // Array.prototype.sort is stable since ES2019; sort on (rank, position) to not depend on it.
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => a.item.rank - b.item.rank || a.index - b.index)
    .map(({ item }) => ({ kind: item.kind, title: item.title, text: item.text, action: item.action }));
}

module.exports = {
  createClient,
  createRetryBudget,
  fromWx,
  fromMy,
  alternativesView,
  ApiError,
};
