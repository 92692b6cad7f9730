// The client's language: sent as Accept-Language on every request, and the titles of
// alternativesView in it.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { api, fakeWx, fakeMy, fakeTime, clientFor, rejection } = require('./fakes.js');

const OK = { statusCode: 200, header: {}, data: { token: 'a_first.wechat.fresh' } };
const NOW = Date.parse('2022-05-01T09:00:00+08:00');
const VALID = { token: 't', expires_at: '2022-05-01T20:00:00+08:00' };
const ALTERNATIVES = [
  { kind: 'saved_code', offline: true, message: 'server text 1' },
  { kind: 'other_platform', platform: 'alipay', status: 'ok', message: 'server text 2' },
  { kind: 'h5_lookup', url: 'https://h.example.cn/lookup', message: 'server text 3' },
  { kind: 'push', message: 'server text 4' },
];

function refused() {
  return new api.ApiError(503, rejection('overloaded', 3, { alternatives: ALTERNATIVES }), {}, NOW);
}

async function sentLanguages(options) {
  const wx = fakeWx([OK]);
  const client = clientFor(api.fromWx(wx), fakeTime(), options);
  await client.me();
  await client.login('wx-code');
  await client.request({ path: '/api/v1/me', method: 'PUT', data: {} });
  return wx.calls.map((call) => call.header['Accept-Language']);
}

test('every request asks for Chinese by default', async () => {
  assert.deepEqual(await sentLanguages(), ['zh-CN', 'zh-CN', 'zh-CN']);
});

test('language: en asks for English on every request', async () => {
  assert.deepEqual(await sentLanguages({ language: 'en' }), ['en', 'en', 'en']);
});

test('a request that names its own Accept-Language keeps it', async () => {
  const wx = fakeWx([OK]);
  const client = clientFor(api.fromWx(wx), fakeTime(), { language: 'en' });
  await client.request({ path: '/api/v1/me', headers: { 'accept-language': 'zh-TW' } });
  const sent = wx.calls[0].header;
  assert.equal(sent['accept-language'], 'zh-TW');
  assert.equal(sent['Accept-Language'], undefined);
});

test('the Alipay adapter sends it too', async () => {
  const my = fakeMy([{ status: 200, headers: {}, data: {} }]);
  const client = clientFor(api.fromMy(my), fakeTime(), { language: 'en' });
  await client.me();
  assert.equal(my.calls[0].headers['Accept-Language'], 'en');
});

test('an unknown language is refused when the client is made', () => {
  assert.throws(() => clientFor(api.fromWx(fakeWx([OK])), fakeTime(), { language: 'fr' }), TypeError);
  assert.throws(() => api.alternativesView(refused(), { language: 'zh-CN' }), TypeError);
});

test('the client says which language it speaks', () => {
  assert.equal(clientFor(api.fromWx(fakeWx([OK])), fakeTime()).language, 'zh');
  assert.equal(clientFor(api.fromWx(fakeWx([OK])), fakeTime(), { language: 'en' }).language, 'en');
});

test('alternativesView titles are Chinese by default and English when asked', () => {
  const opts = { cachedCode: VALID, now: () => NOW };
  const zh = api.alternativesView(refused(), opts).map((item) => item.title);
  const en = api.alternativesView(refused(), Object.assign({ language: 'en' }, opts)).map((item) => item.title);
  assert.deepEqual(zh, ['出示已保存的登记码', '使用支付宝小程序', '网页查询', '结果出来后会通知您']);
  assert.deepEqual(en, [
    'Show your saved registration code',
    'Use the Alipay mini-program',
    'Look up on the web',
    'You will be notified of your result',
  ]);
  for (const title of en) assert.ok(!/[\u4e00-\u9fff]/.test(title), title);
});

test('the texts stay the server\'s, in whatever language it answered', () => {
  const view = api.alternativesView(refused(), { language: 'en', now: () => NOW });
  assert.deepEqual(view.map((item) => item.text), [
    'server text 2', 'server text 3', 'server text 1', 'server text 4',
  ]);
  assert.equal(view[2].title, 'Show a screenshot of your registration code');
});

test('the client\'s alternativesView uses the client\'s language; an option overrides it', () => {
  const client = clientFor(api.fromWx(fakeWx([OK])), fakeTime(), { language: 'en' });
  const view = client.alternativesView(refused(), { cachedCode: VALID, now: () => NOW });
  assert.equal(view[0].title, 'Show your saved registration code');
  assert.equal(view[0].action.type, 'show_code');
  const chinese = client.alternativesView(refused(), { language: 'zh', now: () => NOW });
  assert.equal(chinese[0].title, '使用支付宝小程序');
});

test('without a server message, the saved code\'s text is in the language asked', () => {
  const bare = new api.ApiError(0, { message: 'request:fail' }, {}, NOW);
  const [item] = api.alternativesView(bare, { cachedCode: VALID, now: () => NOW, language: 'en' });
  assert.equal(item.text, 'Works without the network, even when it is busy.');
});
