// Fake wx and my objects for the client tests: each answers from a script of responses and
// records every request it was given. Not a test file itself (node --test runs *.test.js).
'use strict';

const path = require('node:path');

const api = require(path.join(__dirname, '..', '..', 'miniapp_api', 'static', 'miniapp-client.js'));

// Session tokens as the server issues them: <account id>.<platform>.<secret>.
const TOKEN = 'a_first.wechat.secret-bearer-token';
const OTHER_TOKEN = 'a_second.wechat.another-secret';

/** A rejection body in the server's common error shape. */
function rejection(code, retryAfter, extra) {
  return {
    code,
    message: 'busy',
    detail: Object.assign({ retry_after: retryAfter, reason: 'system_quota' }, extra),
  };
}

/** The next step of a script: the last one repeats; a function step answers from the request. */
function nextStep(steps, opts) {
  const step = steps.length > 1 ? steps.shift() : steps[0];
  return typeof step === 'function' ? step(opts) : step;
}

/** A RequestTask: records abort(); {hang: true} steps never answer (a network that hangs). */
function answer(platform, opts, step) {
  const task = { aborted: false, abort: () => { task.aborted = true; } };
  platform.tasks.push(task);
  if (!step.hang) setImmediate(() => (step.fail ? opts.fail(step.fail) : opts.success(step)));
  return task;
}

/** wx: steps are {statusCode, header, data}, {fail: {errMsg}}, {hang: true} or opts => step. */
function fakeWx(steps) {
  const store = {};
  const wx = {
    calls: [],
    tasks: [],
    store,
    request(opts) {
      wx.calls.push(opts);
      return answer(wx, opts, nextStep(steps, opts));
    },
    getStorageSync: (key) => (key in store ? JSON.parse(store[key]) : ''),
    setStorageSync: (key, value) => {
      store[key] = JSON.stringify(value);
    },
    removeStorageSync: (key) => {
      delete store[key];
    },
  };
  return wx;
}

/** my: steps are {status, headers, data} (success), {fail: {...}}, {hang: true} or opts => step. */
function fakeMy(steps) {
  const store = {};
  const my = {
    calls: [],
    tasks: [],
    store,
    request(opts) {
      my.calls.push(opts);
      return answer(my, opts, nextStep(steps, opts));
    },
    getStorageSync: ({ key }) => ({ data: key in store ? JSON.parse(store[key]) : null }),
    setStorageSync: ({ key, data }) => {
      store[key] = JSON.stringify(data);
    },
    removeStorageSync: ({ key }) => {
      delete store[key];
    },
  };
  return my;
}

/** A clock that only moves when told, and a sleep that records and advances it. */
function fakeTime(startIso) {
  let ms = Date.parse(startIso || '2022-05-01T08:00:00+08:00');
  const sleeps = [];
  return {
    sleeps,
    now: () => ms,
    advance: (by) => {
      ms += by;
    },
    sleep: (by) => {
      sleeps.push(by);
      ms += by;
      return Promise.resolve();
    },
  };
}

/** A client over `adapter` with fake time; `overrides` replace any option. */
function clientFor(adapter, time, overrides) {
  return api.createClient(
    Object.assign(
      {
        adapter,
        baseUrl: 'https://api.example.cn/',
        token: TOKEN,
        now: time.now,
        sleep: time.sleep,
        random: () => 0.5,
      },
      overrides
    )
  );
}

module.exports = { api, TOKEN, OTHER_TOKEN, rejection, fakeWx, fakeMy, fakeTime, clientFor };
