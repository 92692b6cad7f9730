// The registration code: saved per account and resident, shown offline, never once expired,
// replaced on re-issue, cleared on logout; adapters.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { api, TOKEN, OTHER_TOKEN, rejection, fakeWx, fakeMy, fakeTime, clientFor } = require('./fakes.js');

// Everything the code screen shows, as the server sends it.
const CODE = {
  token: 'eyJhbGciOiJFZERTQSJ9.code.sig',
  code_id: 'c_first',
  expires_at: '2022-05-02T08:00:00+08:00',
  name_masked: '张*丰',
  png_url: '/api/v1/residents/r1/code.png',
  svg_url: '/api/v1/residents/r1/code.svg',
  image_url: '/api/v1/code-images/r1.first.1651392000.mac.png',
};
const KEY = 'miniapp.code.a_first.r1'; // <prefix><account id>.<resident id>
const NETWORK_DOWN = { fail: { errMsg: 'request:fail' } };

test('a fetched code is cached and shown offline when the network fails', async () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: CODE }, NETWORK_DOWN]);
  const time = fakeTime('2022-05-01T09:00:00+08:00');
  const client = clientFor(api.fromWx(wx), time);

  const online = await client.getCode('r1');
  assert.deepEqual(online, { code: CODE, offline: false });
  assert.equal(wx.calls[0].url, 'https://api.example.cn/api/v1/residents/r1/code');

  const offline = await client.getCode('r1');
  assert.equal(offline.offline, true);
  assert.deepEqual(offline.code, CODE);
  assert.equal(offline.error.network, true);
  assert.deepEqual(client.cachedCode('r1'), CODE);
  assert.equal(client.cachedCode('someone-else'), null);
});

test('the cache survives the client: a new client (app restart) reads it from storage', async () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: CODE }, NETWORK_DOWN]);
  const time = fakeTime('2022-05-01T09:00:00+08:00');
  await clientFor(api.fromWx(wx), time).getCode('r1');

  const restarted = clientFor(api.fromWx(wx), time);
  assert.deepEqual(restarted.cachedCode('r1'), CODE);
});

test('the cached code is also shown when the server sheds load', async () => {
  const my = fakeMy([
    { status: 200, headers: {}, data: CODE },
    { status: 503, headers: { 'Retry-After': '1' }, data: rejection('overloaded', 1) },
  ]);
  const client = clientFor(api.fromMy(my), fakeTime('2022-05-01T09:00:00+08:00'));

  await client.getCode('r1');
  const shown = await client.getCode('r1');

  assert.equal(shown.offline, true);
  assert.equal(shown.error.code, 'overloaded');
  assert.deepEqual(shown.code, CODE);
});

test('an expired cached code is not shown', async () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: CODE }, NETWORK_DOWN]);
  const time = fakeTime('2022-05-01T09:00:00+08:00');
  const client = clientFor(api.fromWx(wx), time);
  await client.getCode('r1');

  time.advance(24 * 3600 * 1000); // now 2022-05-02T09:00+08:00, an hour past expires_at

  assert.equal(client.cachedCode('r1'), null);
  await assert.rejects(client.getCode('r1'), (err) => {
    assert.equal(err.network, true);
    assert.equal(err.cachedCode, null);
    return true;
  });
});

test('a code with an unreadable expiry is not shown', () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: {} }]);
  wx.setStorageSync(KEY, Object.assign({}, CODE, { expires_at: 'soon' }));
  assert.equal(clientFor(api.fromWx(wx), fakeTime()).cachedCode('r1'), null);
});

test('an error that is not overload (404) is not covered up with the cached code', async () => {
  const wx = fakeWx([
    { statusCode: 200, header: {}, data: CODE },
    { statusCode: 404, header: {}, data: { code: 'not_found', message: 'gone', detail: null } },
  ]);
  const client = clientFor(api.fromWx(wx), fakeTime('2022-05-01T09:00:00+08:00'));
  await client.getCode('r1');

  await assert.rejects(client.getCode('r1'), (err) => {
    assert.equal(err.code, 'not_found');
    assert.deepEqual(err.cachedCode, CODE);
    return true;
  });
});

test('storage holds the code fields only, never the bearer token', async () => {
  const wx = fakeWx([
    { statusCode: 200, header: {}, data: Object.assign({ extra: 'x' }, CODE) },
  ]);
  await clientFor(api.fromWx(wx), fakeTime()).getCode('r1');

  const stored = JSON.stringify(wx.store);
  assert.ok(!stored.includes('secret-bearer-token'));
  assert.deepEqual(JSON.parse(wx.store[KEY]), CODE);
});

test('Alipay storage uses the {key, data} form', async () => {
  const my = fakeMy([{ status: 200, headers: {}, data: CODE }]);
  const client = clientFor(api.fromMy(my), fakeTime('2022-05-01T09:00:00+08:00'));
  await client.getCode('r1');
  assert.deepEqual(JSON.parse(my.store[KEY]), CODE);
  client.forgetCode('r1');
  assert.equal(client.cachedCode('r1'), null);
});

test('a storage that throws (quota) does not break fetching the code', async () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: CODE }]);
  wx.setStorageSync = () => {
    throw new Error('setStorageSync:fail exceed storage max size');
  };
  const got = await clientFor(api.fromWx(wx), fakeTime()).getCode('r1');
  assert.deepEqual(got.code, CODE);
});

// --- response shapes of the two platforms ---------------------------------------------------

test('wx: statusCode, header and a JSON string body are normalised', async () => {
  const wx = fakeWx([
    { statusCode: 201, header: { 'Content-Type': 'application/json' }, data: '{"a":1}' },
  ]);
  const res = await api.fromWx(wx).request({ url: 'u', method: 'GET', headers: {} });
  assert.deepEqual(res, { status: 201, headers: { 'Content-Type': 'application/json' }, data: { a: 1 } });
});

test('my: an HTTP error reported through fail (error 19) with its status is a rejection', async () => {
  const my = fakeMy([
    {
      fail: {
        error: 19,
        errorMessage: 'http status error',
        status: 429,
        headers: { 'Retry-After': '5' },
        data: JSON.stringify(rejection('rate_limited', 5, { reason: 'user_quota' })),
      },
    },
    { status: 200, headers: {}, data: { ok: true } },
  ]);
  const time = fakeTime();
  const client = clientFor(api.fromMy(my), time, { random: () => 0 });

  const res = await client.request({ path: '/x' });

  assert.deepEqual(res.data, { ok: true });
  assert.deepEqual(time.sleeps, [5000]);
});

test('my: the rejection from fail keeps code, detail and alternatives', async () => {
  const alternatives = [{ kind: 'push', message: 'we will notify you' }];
  const my = fakeMy([
    {
      fail: {
        error: 19,
        status: 503,
        headers: { 'retry-after': '2' },
        data: rejection('platform_throttled', 2, { alternatives }),
      },
    },
  ]);
  const client = clientFor(api.fromMy(my), fakeTime(), { maxAttempts: 1 });
  await assert.rejects(client.request({ path: '/x' }), (err) => {
    assert.equal(err.status, 503);
    assert.equal(err.code, 'platform_throttled');
    assert.equal(err.retryAfter, 2);
    assert.deepEqual(err.alternatives, alternatives);
    return true;
  });
});

test('my: a fail without a status is a network failure', async () => {
  const my = fakeMy([{ fail: { error: 12, errorMessage: 'network error' } }]);
  await assert.rejects(api.fromMy(my).request({ url: 'u', method: 'GET', headers: {} }), (err) => {
    assert.equal(err.network, true);
    assert.equal(err.message, 'network error');
    return true;
  });
});

test('an HTTP-date Retry-After is understood', async () => {
  const time = fakeTime('2022-05-01T08:00:00Z');
  const wx = fakeWx([
    { statusCode: 503, header: { 'retry-after': 'Sun, 01 May 2022 08:00:09 GMT' }, data: '' },
    { statusCode: 200, header: {}, data: {} },
  ]);
  await clientFor(api.fromWx(wx), time, { random: () => 0 }).request({ path: '/x' });
  assert.deepEqual(time.sleeps, [9000]);
});

// --- per account, re-issue, logout, 401, timeout, 304 ------------------------------------------

const OK_CODE = { statusCode: 200, header: { ETag: '"v1"' }, data: CODE };
const NEW_CODE = Object.assign({}, CODE, { token: 'eyJ.new.sig', code_id: 'c_second' });

test('a second login on the same phone does not see the first one\'s code', async () => {
  const wx = fakeWx([OK_CODE, NETWORK_DOWN]);
  const time = fakeTime('2022-05-01T09:00:00+08:00');
  await clientFor(api.fromWx(wx), time).getCode('r1');

  const second = clientFor(api.fromWx(wx), time, { token: OTHER_TOKEN });

  assert.equal(second.cachedCode('r1'), null);
  await assert.rejects(second.getCode('r1'), (err) => err.network && err.cachedCode === null);
  // and the first one's is still there for the first account
  assert.equal(clientFor(api.fromWx(wx), time).cachedCode('r1').token, CODE.token);
});

test('without an account in the token nothing is saved (never shared between logins)', async () => {
  const wx = fakeWx([OK_CODE]);
  const client = clientFor(api.fromWx(wx), fakeTime(), { token: 'opaque-old-format' });
  const got = await client.getCode('r1');
  assert.equal(got.code.token, CODE.token);
  assert.deepEqual(wx.store, {});
  assert.equal(client.cachedCode('r1'), null);
});

test('a re-issue replaces the saved code, so the void one is never shown again', async () => {
  const wx = fakeWx([OK_CODE, { statusCode: 201, header: {}, data: NEW_CODE }, NETWORK_DOWN]);
  const client = clientFor(api.fromWx(wx), fakeTime('2022-05-01T09:00:00+08:00'));
  await client.getCode('r1');

  const reissued = await client.reissueCode('r1');
  const offline = await client.getCode('r1');

  assert.equal(wx.calls[1].method, 'POST');
  assert.equal(reissued.code_id, 'c_second');
  assert.equal(offline.offline, true);
  assert.equal(offline.code.token, 'eyJ.new.sig');
});

test('a code fetched before a re-issue ended does not overwrite the new one', async () => {
  let release;
  const slow = new Promise((resolve) => { release = resolve; });
  const wx = fakeWx([
    (opts) => {
      slow.then(() => opts.success(OK_CODE)); // the old code, answered late
      return { hang: true };
    },
    { statusCode: 201, header: {}, data: NEW_CODE },
  ]);
  const client = clientFor(api.fromWx(wx), fakeTime('2022-05-01T09:00:00+08:00'));

  const pending = client.getCode('r1');
  await client.reissueCode('r1');
  release();
  await pending;

  assert.equal(client.cachedCode('r1').token, 'eyJ.new.sig');
});

test('logout clears every code the account saved, and the token', async () => {
  const tokens = [];
  const wx = fakeWx([OK_CODE, OK_CODE, { statusCode: 204, header: {}, data: '' }]);
  const time = fakeTime('2022-05-01T09:00:00+08:00');
  const client = clientFor(api.fromWx(wx), time, { onToken: (t) => tokens.push(t) });
  await client.getCode('r1');
  await client.getCode('r2');
  assert.ok(client.cachedCode('r2'));

  const out = await client.logout();

  assert.deepEqual(out, { ended: true });
  assert.equal(wx.calls[2].url, 'https://api.example.cn/api/v1/auth/logout');
  assert.equal(wx.calls[2].header.Authorization, `Bearer ${TOKEN}`);
  assert.deepEqual(tokens, [null]);
  assert.equal(client.account(), null);
  assert.deepEqual(Object.keys(wx.store), []); // codes and the account's index
  assert.equal(clientFor(api.fromWx(wx), time).cachedCode('r1'), null);
});

test('logout forgets the codes even when the server cannot be reached', async () => {
  const wx = fakeWx([OK_CODE, NETWORK_DOWN]);
  const client = clientFor(api.fromWx(wx), fakeTime('2022-05-01T09:00:00+08:00'));
  await client.getCode('r1');
  const out = await client.logout();
  assert.deepEqual(out, { ended: false });
  assert.deepEqual(wx.store, {});
});

test('a 401 (session ended, no re-login possible) still shows the saved code', async () => {
  const wx = fakeWx([
    OK_CODE,
    { statusCode: 401, header: {}, data: { code: 'unauthorized', message: 'log in', detail: null } },
  ]);
  const client = clientFor(api.fromWx(wx), fakeTime('2022-05-01T09:00:00+08:00'));
  await client.getCode('r1');

  const shown = await client.getCode('r1');

  assert.equal(shown.offline, true);
  assert.equal(shown.error.status, 401);
  assert.equal(shown.code.token, CODE.token);
});

test('a hanging network falls back to the saved code after offlineAfter, in one attempt', async () => {
  const wx = fakeWx([OK_CODE, { hang: true }]);
  const time = fakeTime('2022-05-01T09:00:00+08:00');
  const client = clientFor(api.fromWx(wx), time, { timeout: 5000, offlineAfter: 30 });
  await client.getCode('r1');

  const started = Date.now();
  const shown = await client.getCode('r1');

  assert.equal(shown.offline, true);
  assert.equal(shown.error.timeout, true);
  assert.equal(shown.error.network, true);
  assert.equal(wx.calls.length, 2); // no retry: the saved code is shown instead
  assert.equal(wx.calls[1].timeout, 30); // the platform is told too
  assert.equal(wx.tasks[1].aborted, true); // and the request is abandoned
  assert.deepEqual(time.sleeps, []);
  assert.ok(Date.now() - started < 4000, 'fell back long before the 5 s timeout');
});

test('every request has a default timeout of a few seconds, not the platform\'s 60 s', async () => {
  const wx = fakeWx([OK_CODE]);
  await clientFor(api.fromWx(wx), fakeTime(), { timeout: undefined }).getCode('r1');
  assert.equal(wx.calls[0].timeout, 5000);
});

test('a timeout without a saved code is a network error, retried as one (GET)', async () => {
  const wx = fakeWx([{ hang: true }, OK_CODE]);
  const time = fakeTime('2022-05-01T09:00:00+08:00');
  const client = clientFor(api.fromWx(wx), time, { timeout: 20, random: () => 0 });

  const got = await client.getCode('r1');

  assert.equal(got.offline, false);
  assert.equal(wx.calls.length, 2);
  assert.deepEqual(time.sleeps, [1000]);
});

test('the saved code\'s ETag is sent; a 304 shows the saved code without a body', async () => {
  const wx = fakeWx([OK_CODE, { statusCode: 304, header: { ETag: '"v1"' }, data: '' }]);
  const client = clientFor(api.fromWx(wx), fakeTime('2022-05-01T09:00:00+08:00'));
  await client.getCode('r1');

  const again = await client.getCode('r1');

  assert.equal(wx.calls[0].header['If-None-Match'], undefined);
  assert.equal(wx.calls[1].header['If-None-Match'], '"v1"');
  assert.deepEqual(again, { code: Object.assign({}, CODE, { etag: '"v1"' }), offline: false });
});
