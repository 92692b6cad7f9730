// alternativesView: what a page shows when a request is refused.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { api, rejection } = require('./fakes.js');

const NOW = Date.parse('2022-05-01T09:00:00+08:00');
const VALID = { token: 't', expires_at: '2022-05-01T20:00:00+08:00', png_url: '/p', svg_url: '/s' };
const EXPIRED = Object.assign({}, VALID, { expires_at: '2022-05-01T08:59:59+08:00' });

// As the server might list them: not in the order the page should show them.
const ALTERNATIVES = [
  { kind: 'push', message: 'result by push' },
  { kind: 'other_platform', platform: 'wechat', status: 'busy', message: 'wechat busy' },
  { kind: 'saved_code', offline: true, message: 'your saved code works' },
  { kind: 'h5_lookup', url: 'https://h.example.cn/lookup', message: 'look up on the web' },
  { kind: 'other_platform', platform: 'alipay', status: 'ok', message: 'alipay works' },
  { kind: 'other_platform', platform: 'unionpay', status: 'down', message: 'down' },
];

function refused(alternatives) {
  const body = rejection('overloaded', 3, { alternatives });
  return new api.ApiError(503, body, { 'Retry-After': '3' }, NOW);
}

test('with a valid cached code, it comes first and can be shown', () => {
  const view = api.alternativesView(refused(ALTERNATIVES), { cachedCode: VALID, now: () => NOW });

  assert.deepEqual(
    view.map((item) => [item.kind, item.action && item.action.type]),
    [
      ['saved_code', 'show_code'],
      ['other_platform', 'switch_platform'],
      ['h5_lookup', 'copy_link'],
      ['other_platform', 'switch_platform'],
      ['push', null],
    ]
  );
  assert.deepEqual(view[0].action.code, VALID);
  assert.equal(view[0].text, 'your saved code works');
  assert.equal(view[1].title, '使用支付宝小程序');
  assert.equal(view[1].action.platform, 'alipay');
  assert.equal(view[2].action.url, 'https://h.example.cn/lookup');
  assert.equal(view[3].text, 'wechat busy');
  for (const item of view) assert.deepEqual(Object.keys(item), ['kind', 'title', 'text', 'action']);
});

test('a platform that is down is left out', () => {
  const view = api.alternativesView(refused(ALTERNATIVES), { now: () => NOW });
  assert.ok(!view.some((item) => item.text === 'down'));
});

test('without a valid cached code, the saved code is only a hint, after what works now', () => {
  for (const cachedCode of [null, EXPIRED]) {
    const view = api.alternativesView(refused(ALTERNATIVES), { cachedCode, now: () => NOW });
    assert.deepEqual(
      view.map((item) => item.kind),
      ['other_platform', 'h5_lookup', 'saved_code', 'other_platform', 'push']
    );
    assert.equal(view[2].action, null);
    assert.ok(!view.some((item) => item.action && item.action.type === 'show_code'));
  }
});

test('a network failure has no alternatives but still offers the cached code', () => {
  const offline = new api.ApiError(0, { message: 'request:fail' }, {}, NOW);
  assert.deepEqual(api.alternativesView(offline, { now: () => NOW }), []);
  const view = api.alternativesView(offline, { cachedCode: VALID, now: () => NOW });
  assert.deepEqual(view.map((item) => item.kind), ['saved_code']);
});

test('unknown kinds are kept last, with the server text', () => {
  const view = api.alternativesView(
    refused([{ kind: 'hotline', message: 'call 12345' }, { kind: 'push', message: 'p' }]),
    { now: () => NOW }
  );
  assert.deepEqual(
    view.map((item) => [item.kind, item.text]),
    [
      ['push', 'p'],
      ['hotline', 'call 12345'],
    ]
  );
});
