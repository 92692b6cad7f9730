// Retry policy of the mini-program client: Retry-After, jitter, attempts, budget, idempotency.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { api, TOKEN, rejection, fakeWx, fakeMy, fakeTime, clientFor } = require('./fakes.js');

const OK = { statusCode: 200, header: {}, data: { ok: true } };

function wx503(retryAfter, extra) {
  return {
    statusCode: 503,
    header: { 'Retry-After': String(retryAfter) },
    data: rejection('overloaded', retryAfter, extra),
  };
}

test('a GET rejected with Retry-After waits at least that long, then succeeds', async () => {
  // the header wins over detail.retry_after (the same value from the server, unlike here)
  const rejected = { statusCode: 503, header: { 'Retry-After': '3' }, data: rejection('overloaded', 1) };
  const wx = fakeWx([rejected, OK]);
  const time = fakeTime();
  const client = clientFor(api.fromWx(wx), time, { random: () => 0 });

  const res = await client.request({ path: '/api/v1/results' });

  assert.equal(res.status, 200);
  assert.deepEqual(res.data, { ok: true });
  assert.equal(wx.calls.length, 2);
  assert.deepEqual(time.sleeps, [3000]);
});

test('jitter stays within [retry_after, 1.5 * retry_after]', async () => {
  const randoms = [0, 0.2, 0.5, 0.8, 0.999999];
  for (const r of randoms) {
    const time = fakeTime();
    const client = clientFor(api.fromWx(fakeWx([wx503(4), OK])), time, { random: () => r });
    await client.request({ path: '/api/v1/results' });
    assert.equal(time.sleeps.length, 1);
    assert.ok(time.sleeps[0] >= 4000, `slept ${time.sleeps[0]} ms, less than Retry-After`);
    assert.ok(time.sleeps[0] <= 6000, `slept ${time.sleeps[0]} ms, more than 1.5x`);
  }
  // and the jitter really spreads clients out
  const waits = new Set();
  for (const r of randoms) {
    const time = fakeTime();
    await clientFor(api.fromWx(fakeWx([wx503(4), OK])), time, { random: () => r }).request({
      path: '/x',
    });
    waits.add(time.sleeps[0]);
  }
  assert.equal(waits.size, randoms.length);
});

test('a lower-case retry-after header (Alipay) is honoured too', async () => {
  const my = fakeMy([
    { status: 429, headers: { 'retry-after': '7' }, data: rejection('rate_limited', 1) },
    { status: 200, headers: {}, data: {} },
  ]);
  const time = fakeTime();
  const client = clientFor(api.fromMy(my), time, { random: () => 0 });

  await client.request({ path: '/api/v1/me' });

  // the header wins over detail.retry_after
  assert.deepEqual(time.sleeps, [7000]);
});

test('without the header, detail.retry_after is used', async () => {
  const wx = fakeWx([{ statusCode: 503, header: {}, data: rejection('overloaded', 2) }, OK]);
  const time = fakeTime();
  await clientFor(api.fromWx(wx), time, { random: () => 0 }).request({ path: '/x' });
  assert.deepEqual(time.sleeps, [2000]);
});

test('a Retry-After longer than the client will wait is not retried, and not shortened', async () => {
  const wx = fakeWx([wx503(120), OK]);
  const time = fakeTime();
  const client = clientFor(api.fromWx(wx), time, { maxWaitSeconds: 30 });

  await assert.rejects(client.request({ path: '/x' }), (err) => {
    assert.equal(err.retryAfter, 120);
    return true;
  });
  assert.equal(wx.calls.length, 1);
  assert.deepEqual(time.sleeps, []);
});

test('attempts are capped and the last rejection surfaces with its alternatives', async () => {
  const alternatives = [{ kind: 'h5_lookup', url: 'https://h/lookup', message: 'web' }];
  const wx = fakeWx([wx503(1, { alternatives })]);
  const time = fakeTime();
  const client = clientFor(api.fromWx(wx), time, { maxAttempts: 3 });

  await assert.rejects(client.request({ path: '/x' }), (err) => {
    assert.ok(err instanceof api.ApiError);
    assert.equal(err.status, 503);
    assert.equal(err.code, 'overloaded');
    assert.equal(err.attempts, 3);
    assert.equal(err.overload, true);
    assert.deepEqual(err.alternatives, alternatives);
    return true;
  });
  assert.equal(wx.calls.length, 3);
  assert.equal(time.sleeps.length, 2);
});

test('a POST is not retried unless marked retryable', async () => {
  const wx = fakeWx([wx503(1), wx503(1), OK]);
  const time = fakeTime();
  const client = clientFor(api.fromWx(wx), time);

  await assert.rejects(client.request({ path: '/api/v1/me/dependents', method: 'POST', data: {} }));
  assert.equal(wx.calls.length, 1);
  assert.deepEqual(time.sleeps, []);

  const res = await client.request({ path: '/api/v1/x', method: 'post', data: {}, retryable: true });
  assert.equal(res.status, 200);
  assert.equal(wx.calls.length, 3);
});

test('a POST is not retried after a network failure either; a GET is, with back-off', async () => {
  const fail = { fail: { errMsg: 'request:fail timeout' } };
  const wx = fakeWx([fail]);
  const time = fakeTime();
  const client = clientFor(api.fromWx(wx), time, { random: () => 0 });

  await assert.rejects(client.request({ path: '/x', method: 'POST', data: {} }), (err) => {
    assert.equal(err.network, true);
    assert.equal(err.status, 0);
    assert.equal(err.code, 'network_error');
    return true;
  });
  assert.equal(wx.calls.length, 1);

  await assert.rejects(client.request({ path: '/x' }));
  assert.equal(wx.calls.length, 4);
  assert.deepEqual(time.sleeps, [1000, 2000]);
});

test('other errors (400, 401, 404, 500) are not retried', async () => {
  for (const status of [400, 401, 404, 500]) {
    const wx = fakeWx([{ statusCode: status, header: { 'Retry-After': '1' }, data: 'nope' }, OK]);
    const time = fakeTime();
    await assert.rejects(clientFor(api.fromWx(wx), time).request({ path: '/x' }), (err) => {
      assert.equal(err.status, status);
      assert.equal(err.code, `http_${status}`);
      return true;
    });
    assert.equal(wx.calls.length, 1);
  }
});

test('a waiting-room ticket is sent back as X-Queue-Ticket on the retry', async () => {
  const wx = fakeWx([
    wx503(2, { ticket: 'tkt-42', estimated_wait: 12, reason: 'waiting_room' }),
    OK,
  ]);
  const client = clientFor(api.fromWx(wx), fakeTime());

  await client.request({ path: '/api/v1/me/profile', method: 'PUT', data: {}, retryable: true });

  assert.equal(wx.calls.length, 2);
  assert.equal(wx.calls[0].header['X-Queue-Ticket'], undefined);
  assert.equal(wx.calls[1].header['X-Queue-Ticket'], 'tkt-42');
});

test('a ticket kept by the page can be passed in', async () => {
  const wx = fakeWx([OK]);
  await clientFor(api.fromWx(wx), fakeTime()).request({ path: '/x', ticket: 'tkt-7' });
  assert.equal(wx.calls[0].header['X-Queue-Ticket'], 'tkt-7');
});

test('every request carries the bearer token (the channel is the token\'s), never into the log', async () => {
  const lines = [];
  const wx = fakeWx([wx503(1), OK]);
  const client = clientFor(api.fromWx(wx), fakeTime(), { log: (line) => lines.push(line) });

  await client.request({ path: '/api/v1/me' });

  assert.equal(wx.calls[0].url, 'https://api.example.cn/api/v1/me');
  assert.equal(wx.calls[0].method, 'GET');
  assert.equal(wx.calls[0].header.Authorization, `Bearer ${TOKEN}`);
  assert.equal(wx.calls[0].header['X-Client-Channel'], undefined);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /retry GET \/api\/v1\/me/);
  assert.ok(!lines.join('\n').includes('secret-bearer-token'));
});

test('the Alipay adapter sends headers (not header)', async () => {
  const my = fakeMy([{ status: 200, headers: {}, data: {} }]);
  const client = clientFor(api.fromMy(my), fakeTime(), { token: () => 'tok-fn' });

  await client.request({ path: '/x', method: 'POST', data: { a: 1 } });

  assert.equal(my.calls[0].headers.Authorization, 'Bearer tok-fn');
  assert.equal(my.calls[0].headers['X-Client-Channel'], undefined);
  assert.equal(my.calls[0].headers['Content-Type'], 'application/json');
  assert.equal(my.calls[0].header, undefined);
});

test('the retry budget runs out and then rejections surface at once', async () => {
  const wx = fakeWx([wx503(1)]);
  const time = fakeTime();
  const client = clientFor(api.fromWx(wx), time, {
    maxAttempts: 2,
    retryBudget: { ratio: 0, minRetries: 2, windowMs: 60000 },
  });

  const outcomes = [];
  for (let i = 0; i < 5; i += 1) {
    await assert.rejects(client.request({ path: '/x' }), (err) => {
      outcomes.push([err.attempts, err.budgetExhausted]);
      return true;
    });
  }

  assert.deepEqual(outcomes, [
    [2, false],
    [2, false],
    [1, true],
    [1, true],
    [1, true],
  ]);
  assert.equal(wx.calls.length, 2 * 2 + 3);
  assert.equal(time.sleeps.length, 2);

  // the window slides: a minute later retries are allowed again
  time.advance(61000);
  await assert.rejects(client.request({ path: '/x' }), (err) => err.attempts === 2);
});

test('the budget allows retries for a share of the requests in the window', () => {
  const time = fakeTime();
  const budget = api.createRetryBudget({ ratio: 0.1, minRetries: 1, windowMs: 10000, now: time.now });
  for (let i = 0; i < 30; i += 1) budget.recordRequest();

  assert.equal(budget.remaining(), 3);
  assert.equal(budget.tryRetry(), true);
  assert.equal(budget.tryRetry(), true);
  assert.equal(budget.tryRetry(), true);
  assert.equal(budget.tryRetry(), false);

  time.advance(10001);
  // the requests left the window too: back to the minimum
  assert.equal(budget.remaining(), 1);
});

test('the front door\'s 502 and 504 (a node failed) are retried like a 503', async () => {
  for (const status of [502, 504]) {
    const failed = {
      statusCode: status,
      header: { 'Retry-After': '2' },
      data: rejection('temporarily_unavailable', 2),
    };
    const wx = fakeWx([failed, OK]);
    const time = fakeTime();
    const res = await clientFor(api.fromWx(wx), time, { random: () => 0 }).request({
      path: '/api/v1/results',
    });
    assert.equal(res.status, 200, `after a ${status}`);
    assert.equal(wx.calls.length, 2);
    assert.deepEqual(time.sleeps, [2000]);
  }
});
