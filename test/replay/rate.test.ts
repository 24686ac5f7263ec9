// --rate: a token bucket per shadow. Live capture ('drop') refuses what goes beyond the
// ceiling at once, counted as rateLimited; a file ('wait') is slowed down and loses nothing.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { HttpRequest } from '../../src/http';
import { ReplayOutcome, Replayer } from '../../src/replay';
import { TokenBucket } from '../../src/replay/rate';
import { fakeConnection, fakeRequest } from '../support/requests';

const conn = fakeConnection();

function request(url: string, index = 0): HttpRequest {
  return fakeRequest(url, { conn, index });
}

describe('replay: rate ceiling', () => {
  let server: http.Server;
  let origin = '';
  /** performance.now() of every request the shadow received. */
  let received: number[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      received.push(performance.now());
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

  it('live capture: 3× the ceiling for 10 s, the shadow gets the ceiling, the rest is rateLimited', { timeout: 60_000 }, async (t) => {
    received = [];
    const rate = 500;
    const seconds = 10;
    const replayer = new Replayer({ targets: [origin], ratePerSecond: rate, whenFull: 'drop', timeoutMs: 5000 });
    const outcomes: Record<string, number> = {};
    let settled = 0;
    let offered = 0;
    let allSettled: () => void = () => {};
    const done = (outcome: ReplayOutcome): void => {
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (++settled === offered && offered === 3 * rate * seconds) allSettled();
    };
    const finished = new Promise<void>((resolve) => { allSettled = resolve; });
    const start = performance.now();
    await new Promise<void>((resolve) => {
      const tick = (): void => {
        const elapsed = performance.now() - start;
        // Offered evenly at 3× the rate, by the clock (timers are late, the count is not).
        const due = Math.min(3 * rate * seconds, Math.floor((elapsed * 3 * rate) / 1000));
        while (offered < due) replayer.submit(request(`/r/${offered}`, offered++), done);
        if (offered >= 3 * rate * seconds) resolve();
        else setTimeout(tick, 2);
      };
      tick();
    });
    await finished;
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    const expected = rate * seconds;
    t.diagnostic(`offered ${offered}, shadow received ${received.length}, rateLimited ${outcomes.rateLimited ?? 0}`);
    assert.ok(Math.abs(received.length - expected) <= expected * 0.05, `received ${received.length}, expected ${expected} ± 5%`);
    assert.equal(received.length + (outcomes.rateLimited ?? 0), offered, JSON.stringify(outcomes));
    assert.deepEqual(outcomes, { replayed: received.length, rateLimited: offered - received.length });
    assert.equal(stats.rateLimited, offered - received.length);
    assert.equal(stats.sent, received.length);
    // Evenly spread: no second of the run carries much more than the ceiling (plus the burst).
    const perSecond = new Array(seconds + 1).fill(0);
    for (const t of received) perSecond[Math.min(seconds, Math.floor((t - start) / 1000))]++;
    assert.ok(Math.max(...perSecond) <= rate * 1.1 + rate / 20, `per second: ${perSecond}`);
  });

  it('a file: requests beyond the ceiling are delayed, none dropped', { timeout: 30_000 }, async (t) => {
    received = [];
    const rate = 200;
    const n = 300;
    const replayer = new Replayer({ targets: [origin], ratePerSecond: rate, whenFull: 'wait', timeoutMs: 5000 });
    const outcomes: ReplayOutcome[] = [];
    const start = performance.now();
    await new Promise<void>((resolve) => {
      for (let i = 0; i < n; i++) {
        replayer.submit(request(`/w/${i}`, i), (outcome) => {
          outcomes.push(outcome);
          if (outcomes.length === n) resolve();
        });
      }
    });
    const elapsed = performance.now() - start;
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.equal(outcomes.filter((o) => o === 'replayed').length, n);
    assert.equal(received.length, n);
    assert.equal(stats.rateLimited, 0);
    // The burst (rate/20 = 10) goes at once, the other 290 at 200/s: 1.45 s.
    const ideal = ((n - rate / 20) / rate) * 1000;
    t.diagnostic(`${n} requests at ${rate}/s took ${elapsed.toFixed(0)} ms (ideal ${ideal} ms)`);
    assert.ok(elapsed >= ideal * 0.95 && elapsed <= ideal + 1000, `took ${elapsed.toFixed(0)} ms, ideal ${ideal} ms`);
    const firstHalfSecond = received.filter((t) => t - start < 500).length;
    assert.ok(firstHalfSecond <= rate / 20 + rate / 2 + 5, `${firstHalfSecond} in the first 500 ms`);
  });

  it('without a rate, nothing is held back (the default)', async () => {
    received = [];
    const replayer = new Replayer({ targets: [origin], whenFull: 'drop', timeoutMs: 5000 });
    const outcomes: ReplayOutcome[] = [];
    await new Promise<void>((resolve) => {
      for (let i = 0; i < 200; i++) {
        replayer.submit(request(`/d/${i}`, i), (outcome) => {
          outcomes.push(outcome);
          if (outcomes.length === 200) resolve();
        });
      }
    });
    await replayer.drain(1000);
    assert.deepEqual(new Set(outcomes), new Set(['replayed']));
    assert.equal(replayer.stats()[0].rateLimited, 0);
  });
});

describe('replay: token bucket (own clock)', () => {
  it('starts with a burst of max(1, rate/20) and refills at the rate', () => {
    const bucket = new TokenBucket(200, 0);
    assert.equal(bucket.burst, 10);
    for (let i = 0; i < 10; i++) assert.ok(bucket.take(0), `token ${i} of the burst`);
    assert.equal(bucket.take(0), false);
    assert.equal(bucket.waitMs(0), 5); // one token every 1000/200 ms
    assert.equal(bucket.take(4), false);
    assert.ok(bucket.take(5));
    // A long pause refills no more than the burst.
    let taken = 0;
    while (bucket.take(60_000)) taken++;
    assert.equal(taken, 10);
  });

  it('a slow rate still holds one token', () => {
    const bucket = new TokenBucket(2, 0);
    assert.equal(bucket.burst, 1);
    assert.ok(bucket.take(0));
    assert.equal(bucket.take(499), false);
    assert.ok(bucket.take(500));
  });

  it('a refund gives a token back, never beyond the burst', () => {
    const bucket = new TokenBucket(20, 0);
    assert.ok(bucket.take(0));
    assert.equal(bucket.take(0), false);
    bucket.refund();
    assert.ok(bucket.take(0));
    bucket.refund();
    bucket.refund();
    assert.ok(bucket.take(0));
    assert.equal(bucket.take(0), false);
  });
});
