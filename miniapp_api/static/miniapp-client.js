/**
 * miniapp-client.js: the API client of the WeChat and Alipay mini-programs (README, "For
 * mini-program teams"). Dependency-free CommonJS in ES2017: no DOM, no fetch, no `?.` or `??`;
 * the QR encoder it draws codes with is vendored beside it (vendor/qrcode.js, loaded on first use).
 * Served at /static/miniapp-client.js (types: /static/miniapp-client.d.ts); copy both files and
 * vendor/qrcode.js into the mini-program (e.g. utils/) and require it.
 *
 *   const api = require('./utils/miniapp-client.js');
 *   const client = api.createClient({ adapter: api.fromWx(wx),      // api.fromMy(my) on Alipay
 *     baseUrl: 'https://api.example.cn',
 *     token: wx.getStorageSync('token'), onToken: (t) => wx.setStorageSync('token', t || ''),
 *     platformCode: () => api.wxLoginCode(wx),     // re-login on 401, once for all waiting calls
 *     language: 'zh' });                            // messages and guidance: 'zh' (default) or 'en'
 *   const saved = client.cachedCode(residentId);    // show at once, even offline; null if expired
 *   client.getCode(residentId)                      // {code, offline}: falls back to the saved code
 *     .then(({ code, offline }) => page.setData({ code, offline,
 *       matrix: client.qrMatrix(code.token) }))     // draw it: works offline, needs no header
 *     .catch((err) => page.setData({ message: err.message,
 *       alternatives: client.alternativesView(err, { cachedCode: err.cachedCode }) }));
 *
 * Overload contract: waits honour Retry-After (plus 0-50% jitter, never less), only GET or
 * `retryable: true` requests are retried, a retry budget keeps retries to a small share of
 * requests, and a waiting-room place is kept by sending its ticket back (X-Queue-Ticket).
 */
'use strict';

const IDEMPOTENT = ['GET', 'HEAD'];
// 502/504: the front door's answer for a node that failed mid-request or did not answer in time.
const OVERLOAD_STATUSES = [429, 502, 503, 504];
// Saved codes: `miniapp.code.<account id>.<resident id>`, and per account the list of its
// residents with a saved code (`miniapp.codes.<account id>`), so logout can clear them all.
const CODE_KEY_PREFIX = 'miniapp.code.';
const CODE_INDEX_PREFIX = 'miniapp.codes.';
// What the code screen shows, as the server sends it; nothing else is saved.
const CODE_FIELDS = ['token', 'code_id', 'expires_at', 'name_masked', 'png_url', 'svg_url', 'image_url'];
const DEFAULT_TIMEOUT_MS = 5000; // WeChat's own default is 60 s: far too long to show a saved code
const DEFAULT_OFFLINE_AFTER_MS = 3000; // getCode with a saved code gives up on the network sooner
const DEFAULT_QUEUE_WAIT_SECONDS = 180; // the most a call waits in the waiting room, in all
const QR_ERROR_CORRECTION = 'M'; // as the server's images (miniapp_api/codes/qr.py)
const QR_MAX_VERSION = 10;
const QR_QUIET_MODULES = 4;
const ACCOUNT_HINT = /^[A-Za-z0-9_-]{1,64}$/;
// The languages of the API's words (messages, guidance, alternatives), as Accept-Language sends
// them; the server answers Simplified Chinese unless English is asked for.
const LANGUAGE_TAGS = { zh: 'zh-CN', en: 'en' };
const DEFAULT_LANGUAGE = 'zh';

/** `value` if it is one of the languages (undefined: the default), else a TypeError. */
function languageOf(value) {
  if (value === undefined || value === null) return DEFAULT_LANGUAGE;
  if (!Object.prototype.hasOwnProperty.call(LANGUAGE_TAGS, value)) {
    throw new TypeError(`language must be 'zh' or 'en', not ${JSON.stringify(value)}`);
  }
  return value;
}

/** An error response or a network failure, in the server's {code, message, detail} shape. */
class ApiError extends Error {
  constructor(status, body, headers, nowMs) {
    const data = body && typeof body === 'object' ? body : {};
    super(typeof data.message === 'string' ? data.message : `HTTP ${status}`);
    this.name = 'ApiError';
    this.status = status; // 0 for a network failure or a timeout
    this.code = typeof data.code === 'string' ? data.code : status ? `http_${status}` : 'network_error';
    this.detail = data.detail && typeof data.detail === 'object' ? data.detail : {};
    this.network = status === 0;
    this.timeout = false;
    this.overload = this.network || OVERLOAD_STATUSES.indexOf(status) >= 0;
    this.retryAfter = parseRetryAfter(header(headers, 'retry-after'), this.detail.retry_after, nowMs);
    this.ticket = typeof this.detail.ticket === 'string' ? this.detail.ticket : null;
    this.alternatives = Array.isArray(this.detail.alternatives) ? this.detail.alternatives : [];
    this.requestId = header(headers, 'x-request-id') || null; // quote it to support
    this.attempts = 0;
    this.budgetExhausted = false;
    this.cachedCode = null;
    this.reloginError = null;
  }
}

/**
 * The waiting room's 503 (code `waiting_room`) that the client stopped waiting for: the wait
 * was longer than `maxQueueWaitSeconds`. `ticket` keeps the place: pass it back as
 * `request({..., ticket})` (or the helper's `{ticket}` option) to resume.
 */
class WaitingRoomError extends ApiError {
  constructor(status, body, headers, nowMs) {
    super(status, body, headers, nowMs);
    this.name = 'WaitingRoomError';
    this.position = typeof this.detail.position === 'number' ? this.detail.position : null;
    this.estimatedWait = typeof this.detail.estimated_wait === 'number'
      ? this.detail.estimated_wait
      : this.retryAfter;
    this.waited = 0; // seconds this call already spent in the queue
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

/** The account id a session token names (`<account id>.<platform>.<secret>`), or null. */
function accountOf(token) {
  if (typeof token !== 'string') return null;
  const dot = token.indexOf('.');
  if (dot <= 0 || dot === token.length - 1) return null;
  const account = token.slice(0, dot);
  return ACCOUNT_HINT.test(account) ? account : null;
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

/** Hands the platform's RequestTask to whoever may abort it (the client's timeout). */
function handOver(opts, task) {
  if (typeof opts.onTask === 'function' && task) opts.onTask(task);
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
        const binary = opts.responseType === 'arraybuffer';
        handOver(opts, wx.request({
          url: opts.url, method: opts.method, data: opts.data, header: opts.headers,
          timeout: opts.timeout, responseType: binary ? 'arraybuffer' : 'text',
          dataType: binary ? 'other' : 'json',
          success: (res) => resolve(response(res.statusCode, res.header, res.data)),
          fail: (err) => reject(networkError(err && err.errMsg)),
        }));
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
        handOver(opts, my.request({
          url: opts.url, method: opts.method, data: opts.data, headers: opts.headers,
          timeout: opts.timeout, dataType: opts.responseType === 'arraybuffer' ? 'arraybuffer' : 'json',
          success: (res) => resolve(response(res.status, res.headers, res.data)),
          fail: (err) => {
            const status = err && (err.status || err.statusCode);
            if (status) resolve(response(status, err.headers, err.data));
            else reject(networkError(err && (err.errorMessage || `error ${err.error}`)));
          },
        }));
      }),
  };
}

/** A fresh wx.login code, for `platformCode` (each code works once: the client asks per re-login). */
function wxLoginCode(wx) {
  return new Promise((resolve, reject) => {
    wx.login({ success: (res) => resolve(res.code), fail: (err) => reject(networkError(err && err.errMsg)) });
  });
}

/** A fresh my.getAuthCode auth code (silent scope), for `platformCode`. */
function myAuthCode(my) {
  return new Promise((resolve, reject) => {
    my.getAuthCode({
      scopes: 'auth_base',
      success: (res) => resolve(res.authCode),
      fail: (err) => reject(networkError(err && (err.errorMessage || `error ${err.error}`))),
    });
  });
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

// --- the QR symbol, drawn on the device ----------------------------------------------------------

/**
 * The modules of the code's QR symbol, dark = true, without the quiet zone: error correction M
 * and the smallest version that holds the token (at most 10), as the server's PNG and SVG.
 * `encoder` is the qrcode-generator factory (default: vendor/qrcode.js beside this file).
 */
function qrMatrix(token, encoder) {
  if (typeof token !== 'string' || !/^[\x21-\x7e]+$/.test(token)) {
    // A code token is a compact JWS: base64url and dots. Anything else is not ours to draw.
    throw new TypeError('not a code token');
  }
  // Loaded on first use: pages that never draw a code do not pay for it.
  const qrcode = encoder || require('./vendor/qrcode.js'); // eslint-disable-line global-require
  const qr = qrcode(0, QR_ERROR_CORRECTION);
  qr.addData(token, 'Byte');
  qr.make();
  const count = qr.getModuleCount();
  if ((count - 17) / 4 > QR_MAX_VERSION) throw new RangeError('the token needs a QR version above 10');
  const rows = [];
  for (let r = 0; r < count; r += 1) {
    const row = [];
    for (let c = 0; c < count; c += 1) row.push(qr.isDark(r, c));
    rows.push(row);
  }
  return rows;
}

/**
 * Draws a matrix of qrMatrix on a canvas 2D context (`canvas type="2d"`'s, or the
 * legacy createCanvasContext one of either platform: then `draw()` is called), black on
 * white with the 4-module quiet zone, in `size` px (default 240) at (x, y). Whole pixels per
 * module, centred, so no module blurs.
 */
function drawQr(ctx, matrix, opts) {
  const o = opts || {};
  const size = o.size || 240;
  const x = o.x || 0;
  const y = o.y || 0;
  const margin = o.margin === undefined ? QR_QUIET_MODULES : o.margin;
  const modules = matrix.length + 2 * margin;
  const cell = Math.max(1, Math.floor(size / modules));
  const offset = Math.floor((size - cell * modules) / 2) + cell * margin;
  ctx.fillStyle = o.light || '#ffffff';
  ctx.fillRect(x, y, size, size);
  ctx.fillStyle = o.dark || '#000000';
  for (let r = 0; r < matrix.length; r += 1) {
    for (let c = 0; c < matrix.length; c += 1) {
      if (matrix[r][c]) ctx.fillRect(x + offset + c * cell, y + offset + r * cell, cell, cell);
    }
  }
  if (typeof ctx.draw === 'function') ctx.draw();
}

// --- the client ----------------------------------------------------------------------------------

/** A valid code as saved ({token, expires_at, name_masked, ...}), or null if missing or expired. */
function validCode(code, nowMs) {
  if (!code || typeof code !== 'object' || typeof code.token !== 'string') return null;
  return Date.parse(code.expires_at) > nowMs ? code : null;
}

/** What the code screen shows, from a code body; `etag` to ask for it again cheaply. */
function codeFrom(body, etag) {
  const d = body && typeof body === 'object' ? body : {};
  const code = {};
  CODE_FIELDS.forEach((name) => {
    if (d[name] !== undefined) code[name] = d[name];
  });
  if (etag) code.etag = etag;
  return code;
}

function query(params) {
  const parts = Object.keys(params || {})
    .filter((k) => params[k] !== undefined && params[k] !== null)
    .map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(String(params[k]))}`);
  return parts.length ? `?${parts.join('&')}` : '';
}

/** Resolves like `promise`, or rejects with a timeout (a network failure) after `ms`. */
function withTimeout(promise, ms, onTimeout) {
  if (!ms) return promise;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      onTimeout();
      const error = networkError(`timeout after ${ms} ms`);
      error.timeout = true;
      reject(error);
    }, ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (error) => { clearTimeout(timer); reject(error); }
    );
  });
}

/**
 * The API client.
 * @param {object} options adapter (fromWx/fromMy), baseUrl, token (string or function), and
 *   optionally language ('zh' default, or 'en': sent as Accept-Language), onToken (token|null) => void (keep the session), relogin () => Promise<token>
 *   or platformCode () => Promise<code> (re-login on 401), storage {get,set,remove},
 *   random () => [0,1), now () => ms, sleep (ms) => Promise, maxAttempts (3), maxWaitSeconds
 *   (30: a longer Retry-After is not waited for), timeout (5000 ms), offlineAfter (3000 ms:
 *   getCode with a saved code), maxQueueWaitSeconds (180), retryBudget, log (line), qrcode.
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
  const timeout = options.timeout === undefined ? DEFAULT_TIMEOUT_MS : options.timeout;
  const offlineAfter = options.offlineAfter === undefined
    ? Math.min(DEFAULT_OFFLINE_AFTER_MS, timeout || DEFAULT_OFFLINE_AFTER_MS)
    : options.offlineAfter;
  const maxQueueWaitSeconds = options.maxQueueWaitSeconds === undefined
    ? DEFAULT_QUEUE_WAIT_SECONDS
    : options.maxQueueWaitSeconds;
  const language = languageOf(options.language);
  const log = options.log || (() => {});
  const onToken = options.onToken || (() => {});
  const budget = options.retryBudget && typeof options.retryBudget.tryRetry === 'function'
    ? options.retryBudget
    : createRetryBudget(Object.assign({ now }, options.retryBudget));
  let token = options.token;
  let relogging = null; // the one re-login in flight, shared by every call that met a 401
  const inFlight = {}; // identical GETs in flight: key -> promise
  const reissued = {}; // account.resident -> how many re-issues this client made (see getCode)
  let lastResults = null; // {account, etag, data} of GET /results, in memory only

  function bearer() {
    const value = typeof token === 'function' ? token() : token;
    return typeof value === 'string' && value ? value : null;
  }

  function useToken(value) {
    token = value || null;
    onToken(token);
  }

  function headers(req, method, sentToken, ticket) {
    // No channel header: the server takes the channel from the session token it issued.
    const result = Object.assign({}, req.headers);
    // Every request: error messages, guidance and rejections come back in this language.
    if (header(result, 'accept-language') === undefined) result['Accept-Language'] = LANGUAGE_TAGS[language];
    if (sentToken) result.Authorization = `Bearer ${sentToken}`;
    if (ticket) result['X-Queue-Ticket'] = ticket;
    if (req.data !== undefined && method !== 'GET') result['Content-Type'] = 'application/json';
    return result;
  }

  /** Milliseconds to wait before the next attempt, or null when waiting is not worth it. */
  function delay(error, attempt, longest) {
    // Without a Retry-After (network failure, bare 503) back off exponentially from 1 s.
    const seconds = error.retryAfter !== null ? error.retryAfter : Math.pow(2, attempt - 1);
    if (seconds > longest) return null;
    // Jitter only upwards, so the wait is never shorter than what the server asked for.
    return Math.ceil(seconds * 1000 * (1 + 0.5 * random()));
  }

  /** The re-login every call that met a 401 waits for: one at a time, whoever asks. */
  function relogin() {
    if (!relogging) {
      const fresh = options.relogin
        ? () => options.relogin()
        : () => Promise.resolve(options.platformCode()).then((code) => login(code)).then(() => bearer());
      relogging = Promise.resolve()
        .then(fresh)
        .then((value) => {
          if (typeof value !== 'string' || !value) throw new Error('the re-login gave no token');
          if (value !== bearer()) useToken(value);
          relogging = null;
          return value;
        }, (error) => {
          relogging = null;
          throw error;
        });
    }
    return relogging;
  }

  /** One attempt: the adapter's answer as {status, headers, data} or an ApiError to handle. */
  async function attempt(req, method, sentToken, ticket) {
    let task = null;
    const limit = req.timeout === undefined ? timeout : req.timeout;
    try {
      const res = await withTimeout(
        adapter.request({
          url: baseUrl + req.path, method, data: req.data, responseType: req.responseType,
          headers: headers(req, method, sentToken, ticket), timeout: limit || undefined,
          onTask: (t) => { task = t; },
        }),
        limit,
        () => { if (task && typeof task.abort === 'function') task.abort(); }
      );
      if (res.status >= 200 && res.status < 400) return { res };
      const Kind = res.data && res.data.code === 'waiting_room' ? WaitingRoomError : ApiError;
      return { error: new Kind(res.status, res.data, res.headers, now()) };
    } catch (e) {
      if (!e.network) throw e;
      const error = new ApiError(0, { message: e.message }, {}, now());
      error.timeout = !!e.timeout;
      return { error };
    }
  }

  /** Sends one request: retries overload rejections when allowed, waits in the waiting room,
   * re-logs in once on a 401. */
  async function send(req) {
    const method = (req.method || 'GET').toUpperCase();
    const retryable = req.retryable === undefined ? IDEMPOTENT.indexOf(method) >= 0 : !!req.retryable;
    const authed = req.auth !== false;
    const attempts = req.maxAttempts || maxAttempts;
    const canRelogin = authed && req.relogin !== false && !!(options.relogin || options.platformCode);
    let ticket = req.ticket || null;
    let queued = 0; // seconds spent in the waiting room
    let relogged = false;
    budget.recordRequest();
    for (let n = 1; ; n += 1) {
      const sentToken = authed ? bearer() : null;
      const outcome = await attempt(req, method, sentToken, ticket);
      if (outcome.res) return outcome.res;
      const error = outcome.error;
      error.attempts = n;
      if (error.status === 401 && canRelogin && !relogged) {
        relogged = true;
        // Another call may have re-logged in since this one was sent: then just send again.
        if (sentToken && bearer() && bearer() !== sentToken) { n -= 1; continue; }
        try {
          await relogin();
        } catch (reloginError) {
          error.reloginError = reloginError;
          throw error;
        }
        n -= 1;
        continue;
      }
      if (error.ticket) ticket = error.ticket; // a waiting-room place is kept by sending it back
      if (error instanceof WaitingRoomError) {
        // Not served, only queued: safe to send again whatever the method, and outside the
        // retry budget (the server chose when). Up to maxQueueWaitSeconds in all.
        error.waited = queued;
        const wait = delay(error, 1, maxQueueWaitSeconds - queued);
        if (wait === null || req.queue === false) throw error;
        if (typeof req.onQueue === 'function') {
          req.onQueue({ position: error.position, estimatedWait: error.estimatedWait, ticket });
        }
        log(`queued ${method} ${req.path}: waiting ${wait} ms`);
        await sleep(wait);
        queued += error.retryAfter !== null ? error.retryAfter : wait / 1000;
        n -= 1;
        continue;
      }
      const wait = delay(error, n, maxWaitSeconds);
      if (!retryable || !error.overload || n >= attempts || wait === null) throw error;
      if (!budget.tryRetry()) {
        error.budgetExhausted = true;
        throw error;
      }
      // Never the headers: they carry the bearer token.
      log(`retry ${method} ${req.path} in ${wait} ms after ${error.status || 'network'} ${error.code}`);
      await sleep(wait);
    }
  }

  /**
   * Sends one API request. Identical GETs in flight share one request and one answer.
   * @param {{path: string, method?: string, data?: *, headers?: object, retryable?: boolean,
   *   ticket?: string, auth?: boolean, timeout?: number, responseType?: 'arraybuffer',
   *   onQueue?: function, dedupe?: boolean}} req
   * @returns {Promise<{status, headers, data}>} a 2xx/3xx response; rejects with ApiError.
   */
  function request(req) {
    const method = (req.method || 'GET').toUpperCase();
    if (method !== 'GET' || req.dedupe === false) return send(req);
    const key = JSON.stringify([req.path, req.responseType || '', req.headers || {},
      req.auth === false ? '' : bearer(), req.timeout, req.maxAttempts]);
    if (!inFlight[key]) {
      const done = () => { delete inFlight[key]; };
      inFlight[key] = send(req).then((res) => { done(); return res; }, (error) => { done(); throw error; });
    }
    return inFlight[key];
  }

  async function json(req) {
    const res = await request(req);
    return res.data;
  }

  // --- saved codes, per account ---

  function account() {
    return accountOf(bearer());
  }

  function codeKey(accountId, residentId) {
    return `${CODE_KEY_PREFIX}${accountId}.${residentId}`;
  }

  function savedIds(accountId) {
    const ids = storage.get(CODE_INDEX_PREFIX + accountId);
    return Array.isArray(ids) ? ids : [];
  }

  function saveCode(accountId, residentId, code) {
    if (!accountId) return; // no account to keep it under: a code is never shared between logins
    storage.set(codeKey(accountId, residentId), code);
    const ids = savedIds(accountId);
    if (ids.indexOf(residentId) < 0) storage.set(CODE_INDEX_PREFIX + accountId, ids.concat([residentId]));
  }

  function savedCode(accountId, residentId) {
    return accountId ? validCode(storage.get(codeKey(accountId, residentId)), now()) : null;
  }

  /** The last code fetched for a resident by this login's account, if not expired; offline too. */
  function cachedCode(residentId) {
    return savedCode(account(), residentId);
  }

  function forgetCode(residentId) {
    const accountId = account();
    if (accountId) storage.remove(codeKey(accountId, residentId));
  }

  function clearCodes(accountId) {
    if (!accountId) return;
    savedIds(accountId).forEach((id) => storage.remove(codeKey(accountId, id)));
    storage.remove(CODE_INDEX_PREFIX + accountId);
  }

  /**
   * The resident's registration code: fresh from the server and saved, or the saved one with
   * `offline: true` when the network, the server or the session fails (with a saved code the
   * network gets `offlineAfter` ms and one attempt). Other errors reject, with
   * `err.cachedCode` set for alternativesView.
   */
  async function getCode(residentId) {
    const accountId = account();
    const saved = savedCode(accountId, residentId);
    const generation = reissued[`${accountId}.${residentId}`] || 0;
    try {
      const res = await request({
        path: `/api/v1/residents/${encodeURIComponent(residentId)}/code`,
        headers: saved && saved.etag ? { 'If-None-Match': saved.etag } : undefined,
        timeout: saved ? offlineAfter : undefined,
        maxAttempts: saved ? 1 : undefined,
      });
      if (res.status === 304 && saved) return { code: saved, offline: false };
      const code = codeFrom(res.data, header(res.headers, 'etag'));
      // A re-issue that ended while this was in flight made this code void: keep the new one.
      if ((reissued[`${accountId}.${residentId}`] || 0) === generation) saveCode(accountId, residentId, code);
      return { code, offline: false };
    } catch (error) {
      const fallback = savedCode(accountId, residentId);
      const covered = error instanceof ApiError && (error.overload || error.status === 401);
      if (fallback && covered) return { code: fallback, offline: true, error };
      if (error instanceof ApiError) error.cachedCode = fallback;
      throw error;
    }
  }

  /** A new code for the resident (the previous one is void); replaces the saved one. */
  async function reissueCode(residentId) {
    const accountId = account();
    const res = await request({
      path: `/api/v1/residents/${encodeURIComponent(residentId)}/code`, method: 'POST',
    });
    const code = codeFrom(res.data, header(res.headers, 'etag'));
    const key = `${accountId}.${residentId}`;
    reissued[key] = (reissued[key] || 0) + 1;
    saveCode(accountId, residentId, code);
    return code;
  }

  // --- the session ---

  /** Logs in with a platform code (wx.login's or my.getAuthCode's) on this adapter's platform. */
  async function login(code) {
    const wechat = adapter.channel !== 'alipay';
    const res = await request({
      path: wechat ? '/api/v1/auth/wechat' : '/api/v1/auth/alipay', method: 'POST', auth: false,
      data: wechat ? { code } : { auth_code: code },
    });
    if (res.data && typeof res.data.token === 'string') useToken(res.data.token);
    return res.data;
  }

  /** Ends the session and forgets what this login saved on the phone (codes, results). */
  async function endSession(path, extra) {
    const accountId = account();
    let ended = true;
    try {
      if (bearer()) await request(Object.assign({ path, method: 'POST', relogin: false }, extra));
    } catch (error) {
      // 401: it had ended already. Anything else: it ends on its own (its TTL); forget it here.
      ended = error instanceof ApiError && error.status === 401;
    }
    forgetLogin(accountId);
    return { ended };
  }

  function forgetLogin(accountId) {
    clearCodes(accountId);
    lastResults = null;
    Object.keys(inFlight).forEach((key) => { delete inFlight[key]; });
    useToken(null);
  }

  // --- results ---

  /** Latest result and history for self and dependents; asks with If-None-Match after the
   * first time (304: the same body, from memory; never saved on the phone). */
  async function results() {
    const accountId = account();
    const known = lastResults && lastResults.account === accountId && lastResults.etag ? lastResults : null;
    const res = await request({
      path: '/api/v1/results', headers: known ? { 'If-None-Match': known.etag } : undefined,
    });
    if (res.status === 304 && known) return known.data;
    const etag = header(res.headers, 'etag');
    lastResults = etag ? { account: accountId, etag, data: res.data } : null;
    return res.data;
  }

  const enc = encodeURIComponent;
  return {
    request,
    // session
    login,
    logout: () => endSession('/api/v1/auth/logout'),
    logoutEverywhere: () => endSession('/api/v1/me/sessions/revoke'),
    setToken: (value) => { token = value; },
    account,
    // the account and its people
    me: () => json({ path: '/api/v1/me' }),
    giveConsent: (document, version) => json({ path: '/api/v1/me/consents', method: 'POST', data: { document, version } }),
    withdrawConsent: (document) => json({ path: `/api/v1/me/consents/${enc(document)}`, method: 'DELETE' }),
    startRealName: (person) => json({ path: '/api/v1/me/real-name', method: 'POST', data: person }),
    putProfile: (profile, opts) => json(Object.assign({ path: '/api/v1/me/profile', method: 'PUT', data: profile }, opts)),
    bindPhone: (proof) => json({ path: '/api/v1/me/phone', method: 'POST', data: proof }),
    addDependent: (dependent, opts) => json(Object.assign({ path: '/api/v1/me/dependents', method: 'POST', data: dependent }, opts)),
    removeDependent: (residentId) => json({ path: `/api/v1/me/dependents/${enc(residentId)}`, method: 'DELETE' }),
    approveLinkRequest: (id) => json({ path: `/api/v1/me/link-requests/${enc(id)}/approve`, method: 'POST' }),
    declineLinkRequest: (id) => json({ path: `/api/v1/me/link-requests/${enc(id)}/decline`, method: 'POST' }),
    removeHolder: (holderId) => json({ path: `/api/v1/me/holders/${enc(holderId)}`, method: 'DELETE' }),
    // codes
    getCode,
    reissueCode,
    cachedCode,
    forgetCode,
    qrMatrix: (codeToken) => qrMatrix(codeToken, options.qrcode),
    // results
    results,
    history: (page) => json({ path: `/api/v1/results/history${query(page)}` }),
    // pushes
    subscriptions: () => json({ path: '/api/v1/me/subscriptions' }),
    /** Reports what requestSubscribeMessage gave: its raw result object, or accepted ids. */
    reportSubscriptions: (result) => json({
      path: '/api/v1/me/subscriptions', method: 'POST',
      data: Array.isArray(result) ? { accepted: result } : result,
    }),
    appConfig: () => json({ path: '/api/v1/app/config', auth: false }),
    legal: () => json({ path: '/api/v1/legal', auth: false }),
    // rights
    exportData: () => json({ path: '/api/v1/me/export' }),
    deleteAccount: async () => {
      const accountId = account();
      const out = await json({ path: '/api/v1/me', method: 'DELETE', data: { confirm: 'DELETE' } });
      forgetLogin(accountId);
      return out;
    },
    /** alternativesView in this client's language. */
    alternativesView: (rejection, opts) => alternativesView(rejection, Object.assign({ language }, opts)),
    language,
    budget,
  };
}

// --- the alternatives, as a display model ----------------------------------------------------------

// The titles, per language, keyed like the server's alternatives (`kind`); the text under each
// is the server's message, which the client's Accept-Language already put in that language.
const WORDS = {
  zh: {
    platforms: { wechat: '微信', alipay: '支付宝' },
    savedCode: '出示已保存的登记码',
    savedCodeText: '网络繁忙时也可使用，无需联网。',
    screenshot: '出示截图保存的登记码',
    otherPlatform: (name) => `使用${name}小程序`,
    h5Lookup: '网页查询',
    push: '结果出来后会通知您',
  },
  en: {
    platforms: { wechat: 'WeChat', alipay: 'Alipay' },
    savedCode: 'Show your saved registration code',
    savedCodeText: 'Works without the network, even when it is busy.',
    screenshot: 'Show a screenshot of your registration code',
    otherPlatform: (name) => `Use the ${name} mini-program`,
    h5Lookup: 'Look up on the web',
    push: 'You will be notified of your result',
  },
};

/**
 * What a page shows when a request is refused: an ordered list of {kind, title, text, action},
 * titles in `opts.language` ('zh' default, or 'en'; `client.alternativesView` passes the
 * client's). The valid cached code comes first, then what works now (the other platform if ok,
 * the H5 lookup), then hints (screenshot, busy platform, the push); a platform that is down is
 * left out. action: {type: 'show_code', code} | {type: 'switch_platform', platform} |
 *   {type: 'copy_link', url} | null.
 */
function alternativesView(rejection, opts) {
  const o = opts || {};
  const words = WORDS[languageOf(o.language)];
  const cached = validCode(o.cachedCode, (o.now || Date.now)());
  const given = (rejection && Array.isArray(rejection.alternatives) && rejection.alternatives) || [];
  const items = [];
  if (cached) {
    const saved = given.find((a) => a && a.kind === 'saved_code');
    items.push({ rank: 0, kind: 'saved_code', title: words.savedCode,
      text: (saved && saved.message) || words.savedCodeText,
      action: { type: 'show_code', code: cached } });
  }
  given.forEach((alt) => {
    if (!alt || typeof alt !== 'object') return;
    const text = typeof alt.message === 'string' ? alt.message : '';
    if (alt.kind === 'saved_code') {
      if (!cached) items.push({ rank: 3, kind: alt.kind, title: words.screenshot, text, action: null });
    } else if (alt.kind === 'other_platform') {
      if (alt.status === 'down') return;
      const name = words.platforms[alt.platform] || alt.platform;
      items.push({ rank: alt.status === 'busy' ? 4 : 1, kind: alt.kind, title: words.otherPlatform(name),
        text, action: { type: 'switch_platform', platform: alt.platform } });
    } else if (alt.kind === 'h5_lookup') {
      items.push({ rank: 2, kind: alt.kind, title: words.h5Lookup, text,
        action: alt.url ? { type: 'copy_link', url: alt.url } : null });
    } else if (alt.kind === 'push') {
      items.push({ rank: 5, kind: alt.kind, title: words.push, text, action: null });
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
  wxLoginCode,
  myAuthCode,
  accountOf,
  qrMatrix,
  drawQr,
  alternativesView,
  ApiError,
  WaitingRoomError,
};
