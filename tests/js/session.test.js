// Re-login on 401 (one for every waiting call), dedupe of identical GETs, login and helpers.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { api, TOKEN, rejection, fakeWx, fakeMy, fakeTime, clientFor } = require('./fakes.js');

const FRESH = 'a_first.wechat.fresh-secret';
const UNAUTHORIZED = { statusCode: 401, header: {}, data: { code: 'unauthorized', message: 'x', detail: null } };

/** Answers 401 to the old token and 200 (echoing the path) to the fresh one. */
function sessionServer(opts) {
  if (opts.url.endsWith('/api/v1/auth/wechat')) {
    return { statusCode: 200, header: {}, data: { token: FRESH, expires_in: 3600 } };
  }
  if (opts.header.Authorization !== `Bearer ${FRESH}`) return UNAUTHORIZED;
  return { statusCode: 200, header: {}, data: { path: opts.url } };
}

test('three calls that meet a 401 share one re-login, then each is sent once more', async () => {
  const wx = fakeWx([sessionServer]);
  let relogins = 0;
  const kept = [];
  const client = clientFor(api.fromWx(wx), fakeTime(), {
    onToken: (t) => kept.push(t),
    relogin: () => {
      relogins += 1;
      return new Promise((resolve) => setTimeout(() => resolve(FRESH), 5));
    },
  });

  const answers = await Promise.all([client.me(), client.results(), client.subscriptions()]);

  assert.equal(relogins, 1);
  assert.deepEqual(answers.map((a) => a.path.replace('https://api.example.cn', '')), [
    '/api/v1/me', '/api/v1/results', '/api/v1/me/subscriptions',
  ]);
  assert.equal(wx.calls.length, 6); // three 401s, three retries with the fresh token
  assert.ok(wx.calls.slice(3).every((c) => c.header.Authorization === `Bearer ${FRESH}`));
  assert.deepEqual(kept, [FRESH]);
});

test('with platformCode the client logs in itself: one platform code for all waiting calls', async () => {
  const wx = fakeWx([sessionServer]);
  const codes = [];
  const client = clientFor(api.fromWx(wx), fakeTime(), {
    platformCode: () => {
      codes.push(`code-${codes.length}`); // a wx.login code works once
      return Promise.resolve(codes[codes.length - 1]);
    },
  });

  await Promise.all([client.me(), client.exportData(), client.history({ limit: 5 })]);

  assert.deepEqual(codes, ['code-0']);
  const logins = wx.calls.filter((c) => c.url.endsWith('/api/v1/auth/wechat'));
  assert.equal(logins.length, 1);
  assert.deepEqual(logins[0].data, { code: 'code-0' });
  assert.equal(logins[0].header.Authorization, undefined); // login sends no session
  assert.equal(client.account(), 'a_first');
});

test('a call that met a 401 after another re-logged in just resends with the new token', async () => {
  const wx = fakeWx([sessionServer]);
  let relogins = 0;
  const client = clientFor(api.fromWx(wx), fakeTime(), {
    relogin: () => { relogins += 1; return Promise.resolve(FRESH); },
  });
  await client.me();
  assert.equal(relogins, 1);
  // a stale 401 for a request sent with the old token cannot happen twice: the fresh token now
  await client.results();
  assert.equal(relogins, 1);
});

test('a second 401 after the re-login is not retried again; a failed re-login surfaces the 401', async () => {
  const wx = fakeWx([UNAUTHORIZED]);
  let relogins = 0;
  const client = clientFor(api.fromWx(wx), fakeTime(), {
    relogin: () => { relogins += 1; return Promise.resolve(FRESH); },
  });
  await assert.rejects(client.me(), (err) => err.status === 401 && err.attempts === 1);
  assert.equal(relogins, 1);
  assert.equal(wx.calls.length, 2);

  const failing = clientFor(api.fromWx(fakeWx([UNAUTHORIZED])), fakeTime(), {
    relogin: () => Promise.reject(new Error('user cancelled')),
  });
  await assert.rejects(failing.me(), (err) => {
    assert.equal(err.status, 401);
    assert.equal(err.reloginError.message, 'user cancelled');
    return true;
  });
});

test('without a re-login hook a 401 surfaces at once', async () => {
  const wx = fakeWx([UNAUTHORIZED]);
  await assert.rejects(clientFor(api.fromWx(wx), fakeTime()).me(), (err) => err.status === 401);
  assert.equal(wx.calls.length, 1);
});

test('identical GETs in flight share one request and one answer', async () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: { ok: 1 } }]);
  const client = clientFor(api.fromWx(wx), fakeTime());

  const [a, b, c] = await Promise.all([client.me(), client.me(), client.me()]);
  const codes = await Promise.all([client.getCode('r1'), client.getCode('r1')]);

  assert.deepEqual([a, b, c], [{ ok: 1 }, { ok: 1 }, { ok: 1 }]);
  assert.equal(wx.calls.length, 2); // one /me, one /code
  assert.deepEqual(codes[0], codes[1]);

  await client.me(); // once settled, the next one is a new request
  assert.equal(wx.calls.length, 3);
});

test('different GETs, other accounts and writes are never merged', async () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: {} }]);
  const client = clientFor(api.fromWx(wx), fakeTime());
  const other = clientFor(api.fromWx(wx), fakeTime(), { token: 'a_second.wechat.s' });

  await Promise.all([
    client.me(), client.results(), other.me(),
    client.request({ path: '/api/v1/me/consents', method: 'POST', data: {} }),
    client.request({ path: '/api/v1/me/consents', method: 'POST', data: {} }),
    client.request({ path: '/api/v1/me', dedupe: false }),
  ]);

  assert.equal(wx.calls.length, 6);
});

test('login picks the platform\'s route and body, and keeps the token', async () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: { token: FRESH } }]);
  const my = fakeMy([{ status: 200, headers: {}, data: { token: 'a_9.alipay.s' } }]);
  const kept = [];
  const onWechat = clientFor(api.fromWx(wx), fakeTime(), { token: null, onToken: (t) => kept.push(t) });
  const onAlipay = clientFor(api.fromMy(my), fakeTime(), { token: null });

  await onWechat.login('wx-code');
  await onAlipay.login('auth-code');

  assert.equal(wx.calls[0].url, 'https://api.example.cn/api/v1/auth/wechat');
  assert.deepEqual(wx.calls[0].data, { code: 'wx-code' });
  assert.equal(my.calls[0].url, 'https://api.example.cn/api/v1/auth/alipay');
  assert.deepEqual(my.calls[0].data, { auth_code: 'auth-code' });
  assert.deepEqual(kept, [FRESH]);
  assert.equal(onAlipay.account(), 'a_9');
});

test('wxLoginCode and myAuthCode wrap the platforms\' callbacks', async () => {
  const wx = { login: (o) => o.success({ code: 'c1' }) };
  const my = { getAuthCode: (o) => { assert.equal(o.scopes, 'auth_base'); o.success({ authCode: 'a1' }); } };
  assert.equal(await api.wxLoginCode(wx), 'c1');
  assert.equal(await api.myAuthCode(my), 'a1');
  await assert.rejects(api.wxLoginCode({ login: (o) => o.fail({ errMsg: 'login:fail' }) }), /login:fail/);
});

test('accountOf reads the account id in front of a token, nothing else', () => {
  assert.equal(api.accountOf(TOKEN), 'a_first');
  assert.equal(api.accountOf('a_1.secret'), 'a_1'); // the format before the platform was added
  assert.equal(api.accountOf('opaque'), null);
  assert.equal(api.accountOf('{x}.wechat.s'), null);
  assert.equal(api.accountOf(''), null);
  assert.equal(api.accountOf(null), null);
});

test('each helper calls its route', async () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: {} }]);
  const client = clientFor(api.fromWx(wx), fakeTime());
  const calls = [
    [() => client.me(), 'GET', '/api/v1/me', undefined],
    [() => client.giveConsent('privacy', 'v1'), 'POST', '/api/v1/me/consents', { document: 'privacy', version: 'v1' }],
    [() => client.withdrawConsent('privacy'), 'DELETE', '/api/v1/me/consents/privacy', undefined],
    [() => client.startRealName({ name: 'n', id_type: 'cn_id', id_number: 'x' }), 'POST', '/api/v1/me/real-name', { name: 'n', id_type: 'cn_id', id_number: 'x' }],
    [() => client.putProfile({ name: 'n' }), 'PUT', '/api/v1/me/profile', { name: 'n' }],
    [() => client.bindPhone({ code: 'p' }), 'POST', '/api/v1/me/phone', { code: 'p' }],
    [() => client.addDependent({ name: 'd' }), 'POST', '/api/v1/me/dependents', { name: 'd' }],
    [() => client.removeDependent('r 2'), 'DELETE', '/api/v1/me/dependents/r%202', undefined],
    [() => client.approveLinkRequest('l_1'), 'POST', '/api/v1/me/link-requests/l_1/approve', undefined],
    [() => client.declineLinkRequest('l_1'), 'POST', '/api/v1/me/link-requests/l_1/decline', undefined],
    [() => client.removeHolder('h_1'), 'DELETE', '/api/v1/me/holders/h_1', undefined],
    [() => client.results(), 'GET', '/api/v1/results', undefined],
    [() => client.history({ limit: 10, cursor: 'x/y' }), 'GET', '/api/v1/results/history?limit=10&cursor=x%2Fy', undefined],
    [() => client.history(), 'GET', '/api/v1/results/history', undefined],
    [() => client.subscriptions(), 'GET', '/api/v1/me/subscriptions', undefined],
    [() => client.reportSubscriptions(['t1']), 'POST', '/api/v1/me/subscriptions', { accepted: ['t1'] }],
    [() => client.reportSubscriptions({ errMsg: 'requestSubscribeMessage:ok', t1: 'accept' }), 'POST', '/api/v1/me/subscriptions', { errMsg: 'requestSubscribeMessage:ok', t1: 'accept' }],
    [() => client.appConfig(), 'GET', '/api/v1/app/config', undefined],
    [() => client.legal(), 'GET', '/api/v1/legal', undefined],
    [() => client.exportData(), 'GET', '/api/v1/me/export', undefined],
    [() => client.reissueCode('r1'), 'POST', '/api/v1/residents/r1/code', undefined],
  ];
  for (const [call, method, path, data] of calls) {
    const before = wx.calls.length;
    await call();
    const sent = wx.calls[before];
    assert.equal(sent.method, method, path);
    assert.equal(sent.url, `https://api.example.cn${path}`);
    assert.deepEqual(sent.data, data, path);
  }
  // public routes carry no session
  assert.equal(wx.calls.find((c) => c.url.endsWith('/app/config')).header.Authorization, undefined);
});

test('deleting the account confirms it and forgets the login', async () => {
  const wx = fakeWx([
    { statusCode: 200, header: {}, data: { token: 't.o.k', expires_at: '2099-01-01T00:00:00Z' } },
    { statusCode: 200, header: {}, data: { residents_removed: 1 } },
  ]);
  const client = clientFor(api.fromWx(wx), fakeTime());
  await client.getCode('r1');
  const out = await client.deleteAccount();
  assert.deepEqual(out, { residents_removed: 1 });
  assert.deepEqual(wx.calls[1].data, { confirm: 'DELETE' });
  assert.equal(wx.calls[1].method, 'DELETE');
  assert.deepEqual(wx.store, {});
  assert.equal(client.account(), null);
});

test('results are asked for with If-None-Match; a 304 gives the same body from memory', async () => {
  const body = { items: [{ status: 'negative' }] };
  const wx = fakeWx([
    { statusCode: 200, header: { etag: 'W/"r1"' }, data: body },
    { statusCode: 304, header: { etag: 'W/"r1"' }, data: '' },
  ]);
  const client = clientFor(api.fromWx(wx), fakeTime());
  assert.deepEqual(await client.results(), body);
  assert.deepEqual(await client.results(), body);
  assert.equal(wx.calls[1].header['If-None-Match'], 'W/"r1"');
  assert.deepEqual(wx.store, {}); // results are never saved on the phone
});

test('a binary GET asks the platform for an ArrayBuffer', async () => {
  const wx = fakeWx([{ statusCode: 200, header: {}, data: new ArrayBuffer(4) }]);
  const my = fakeMy([{ status: 200, headers: {}, data: new ArrayBuffer(4) }]);
  const png = await clientFor(api.fromWx(wx), fakeTime()).request({ path: '/p.png', responseType: 'arraybuffer' });
  await clientFor(api.fromMy(my), fakeTime()).request({ path: '/p.png', responseType: 'arraybuffer' });
  assert.ok(png.data instanceof ArrayBuffer);
  assert.equal(wx.calls[0].responseType, 'arraybuffer');
  assert.equal(my.calls[0].dataType, 'arraybuffer');
});

test('an error keeps the server\'s request id for support', async () => {
  const wx = fakeWx([{ statusCode: 404, header: { 'X-Request-ID': 'abc123def456' }, data: rejection('not_found', 0) }]);
  await assert.rejects(clientFor(api.fromWx(wx), fakeTime()).me(), (err) => err.requestId === 'abc123def456');
});
