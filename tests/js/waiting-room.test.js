// The waiting room end to end: wait as told, send the ticket back, up to a bound, then a
// typed WaitingRoomError that keeps the place.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { api, fakeWx, fakeTime, clientFor } = require('./fakes.js');

/** The server's 503 waiting_room (miniapp_api/overload/waiting_room.py). */
function queued(ticket, wait, position) {
  return {
    statusCode: 503,
    header: { 'Retry-After': String(wait) },
    data: {
      code: 'waiting_room',
      message: 'in the queue',
      detail: {
        reason: 'waiting_room', retry_after: wait, ticket, ticket_status: 'new',
        position, estimated_wait: wait,
      },
    },
  };
}
const SAVED = { statusCode: 200, header: {}, data: { id: 'r_1' } };

test('a profile write waits its turn, echoes X-Queue-Ticket and goes through', async () => {
  const wx = fakeWx([queued('w1.100.mac', 20, 40), queued('w1.100.mac', 5, 3), SAVED]);
  const time = fakeTime();
  const places = [];
  const client = clientFor(api.fromWx(wx), time, { random: () => 0 });

  const saved = await client.putProfile(
    { name: '张三', id_type: 'cn_id', id_number: 'x' },
    { onQueue: (place) => places.push(place) }
  );

  assert.deepEqual(saved, { id: 'r_1' });
  assert.equal(wx.calls.length, 3);
  assert.equal(wx.calls[0].header['X-Queue-Ticket'], undefined);
  assert.equal(wx.calls[1].header['X-Queue-Ticket'], 'w1.100.mac');
  assert.equal(wx.calls[2].header['X-Queue-Ticket'], 'w1.100.mac');
  assert.ok(wx.calls.every((c) => c.method === 'PUT')); // queued, not served: safe to resend
  assert.deepEqual(time.sleeps, [20000, 5000]); // as told (Retry-After), never sooner
  assert.deepEqual(places, [
    { position: 40, estimatedWait: 20, ticket: 'w1.100.mac' },
    { position: 3, estimatedWait: 5, ticket: 'w1.100.mac' },
  ]);
});

test('waiting is outside the attempts and the retry budget', async () => {
  const steps = [];
  for (let i = 0; i < 6; i += 1) steps.push(queued('w1.t.m', 10, 6 - i));
  steps.push(SAVED);
  const wx = fakeWx(steps);
  const client = clientFor(api.fromWx(wx), fakeTime(), {
    maxAttempts: 1, retryBudget: { ratio: 0, minRetries: 0 },
  });
  await client.addDependent({ name: 'd' });
  assert.equal(wx.calls.length, 7);
});

test('a wait past maxQueueWaitSeconds surfaces a WaitingRoomError that keeps the place', async () => {
  const wx = fakeWx([queued('w1.500.mac', 50, 120), queued('w1.500.mac', 50, 60), queued('w1.500.mac', 50, 10)]);
  const time = fakeTime();
  const client = clientFor(api.fromWx(wx), time, { maxQueueWaitSeconds: 120, random: () => 0 });

  await assert.rejects(client.putProfile({ name: 'n' }), (err) => {
    assert.ok(err instanceof api.WaitingRoomError);
    assert.ok(err instanceof api.ApiError);
    assert.equal(err.name, 'WaitingRoomError');
    assert.equal(err.code, 'waiting_room');
    assert.equal(err.ticket, 'w1.500.mac');
    assert.equal(err.position, 10);
    assert.equal(err.estimatedWait, 50);
    assert.equal(err.waited, 100);
    return true;
  });
  assert.deepEqual(time.sleeps, [50000, 50000]); // a third 50 s would pass 120 s
  assert.equal(wx.calls.length, 3);
});

test('the page resumes later with the kept ticket', async () => {
  const wx = fakeWx([SAVED]);
  const client = clientFor(api.fromWx(wx), fakeTime());
  await client.putProfile({ name: 'n' }, { ticket: 'w1.500.mac' });
  assert.equal(wx.calls[0].header['X-Queue-Ticket'], 'w1.500.mac');
});

test('queue: false rejects at once with the place, without waiting', async () => {
  const wx = fakeWx([queued('w1.9.m', 30, 9)]);
  const time = fakeTime();
  await assert.rejects(
    clientFor(api.fromWx(wx), time).addDependent({ name: 'd' }, { queue: false }),
    (err) => err instanceof api.WaitingRoomError && err.position === 9 && err.waited === 0
  );
  assert.deepEqual(time.sleeps, []);
});
