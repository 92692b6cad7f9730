// The registration code: cached per resident, shown offline, never once expired; adapters.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { api, rejection, fakeWx, fakeMy, fakeTime, clientFor } = require('./fakes.js');

const CODE = {
  token: 'eyJhbGciOiJFZERTQSJ9.code.sig',
  expires_at: '2022-05-02T08:00:00+08:00',
  png_url: '/api/v1/residents/r1/code.png',
  svg_url: '/api/v1/residents/r1/code.svg',
};
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
  wx.setStorageSync('miniapp.code.r1', Object.assign({}, CODE, { expires_at: 'soon' }));
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
  assert.deepEqual(JSON.parse(wx.store['miniapp.code.r1']), CODE);
});

test('Alipay storage uses the {key, data} form', async () => {
  const my = fakeMy([{ status: 200, headers: {}, data: CODE }]);
  const client = clientFor(api.fromMy(my), fakeTime('2022-05-01T09:00:00+08:00'));
  await client.getCode('r1');
  assert.deepEqual(JSON.parse(my.store['miniapp.code.r1']), CODE);
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
