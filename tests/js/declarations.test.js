// miniapp-client.d.ts declares what the module exports and what a client has: no more, no less
// (tsc checks a page against the declarations: `make contract`).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const { api, fakeWx, fakeTime, clientFor } = require('./fakes.js');

const DTS = fs.readFileSync(
  path.join(__dirname, '..', '..', 'miniapp_api', 'static', 'miniapp-client.d.ts'), 'utf8'
);

function block(name) {
  const start = DTS.indexOf(`export interface ${name} {`);
  assert.ok(start >= 0, name);
  return DTS.slice(start, DTS.indexOf('\n}\n', start));
}

test('every export is declared, and every declared export exists', () => {
  const declared = [...DTS.matchAll(/^export (?:function|class) (\w+)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(declared, Object.keys(api).sort());
});

test('the Client interface lists exactly the client\'s members', () => {
  const members = [...block('Client').matchAll(/^ {2}(\w+)[<(:]/gm)].map((m) => m[1]).sort();
  const client = clientFor(api.fromWx(fakeWx([{ statusCode: 200, header: {}, data: {} }])), fakeTime());
  assert.deepEqual(members, Object.keys(client).sort());
});

test('the ClientOptions interface names every option the module reads', () => {
  const source = fs.readFileSync(
    path.join(__dirname, '..', '..', 'miniapp_api', 'static', 'miniapp-client.js'), 'utf8'
  );
  const read = new Set([...source.matchAll(/options\.(\w+)/g)].map((m) => m[1]));
  const declared = new Set([...block('ClientOptions').matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]));
  assert.deepEqual([...read].filter((name) => !declared.has(name)), []);
});
