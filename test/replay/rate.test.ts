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
    const burst = rate / 20; // README: a token bucket with a burst of max(1, rate/20)
    const createdAt = performance.now();
    const replayer = new Replayer({ targets: [origin], ratePerSecond: rate, whenFull: 'drop', timeoutMs: 5000 });
    const outcomes: Record<string, number> = {};
    /** performance.now() of every offer, and of every offer the limiter let through. */
    const offeredAt: number[] = [];
    const acceptedAt: number[] = [];
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
        while (offered < due) {
          const at = performance.now();
          let refused = false;
          let inside = true;
          replayer.submit(request(`/r/${offered}`, offered++), (o) => {
            if (inside && o === 'rateLimited') refused = true; // 'drop' refuses at once
            done(o);
          });
          inside = false;
          offeredAt.push(at);
          if (!refused) acceptedAt.push(at);
        }
        if (offered >= 3 * rate * seconds) resolve();
        else setTimeout(tick, 2);
      };
      tick();
    });
    await finished;
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    // What a token bucket of `rate`/s and `burst` lets through of these very offers: on a busy
    // machine the offers come late and in lumps, and a full bucket wastes what it cannot hold,
    // so the ceiling is judged against the offers as they were made, not against an ideal clock.
    let tokens = burst;
    let last = createdAt;
    let allowed = 0;
    for (const at of offeredAt) {
      tokens = Math.min(burst, tokens + ((at - last) * rate) / 1000);
      last = at;
      if (tokens >= 1) { tokens -= 1; allowed++; }
    }
    const offerSpan = offeredAt[offeredAt.length - 1] - start;
    t.diagnostic(`offered ${offered} over ${offerSpan.toFixed(0)} ms, shadow received ${received.length} (a token bucket allows ${allowed}; ideal ${rate * seconds}), rateLimited ${outcomes.rateLimited ?? 0}`);
    assert.ok(Math.abs(received.length - allowed) <= allowed * 0.02 + 5, `received ${received.length}, a ${rate}/s bucket allows ${allowed} of these offers`);
    // Never beyond the ceiling over the whole run.
    assert.ok(received.length <= burst + (rate * (offerSpan + (start - createdAt))) / 1000 + 2, `received ${received.length} in ${offerSpan.toFixed(0)} ms`);
    assert.equal(acceptedAt.length, received.length);
    assert.equal(received.length + (outcomes.rateLimited ?? 0), offered, JSON.stringify(outcomes));
    assert.deepEqual(outcomes, { replayed: received.length, rateLimited: offered - received.length });
    assert.equal(stats.rateLimited, offered - received.length);
    assert.equal(stats.sent, received.length);
    // Evenly spread: no second of the run lets through more than the ceiling plus the burst
    // (judged when the limiter let them through; arrival at the shadow may bunch on a busy machine).
    let worst = 0;
    for (let i = 0, j = 0; i < acceptedAt.length; i++) {
      while (acceptedAt[j] <= acceptedAt[i] - 1000) j++;
      worst = Math.max(worst, i - j + 1);
    }
    assert.ok(worst <= rate + burst + 2, `${worst} let through within one second`);
  });

  it('a file: requests beyond the ceiling are delayed, none dropped', { timeout: 30_000 }, async (t) => {
    received = [];
    const rate = 200;
    const n = 300;
    const replayer = new Replayer({ targets: [origin], ratePerSecond: rate, whenFull: 'wait', timeoutMs: 5000 });
    const outcomes: ReplayOutcome[] = [];
    // Loop stalls (this process not scheduled): beyond the 50 ms a full bucket holds, a stall
    // costs the pacing that much time, which is no fault of the pacer.
    let lostMs = 0;
    let lastTick = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      lostMs += Math.max(0, now - lastTick - 50);
      lastTick = now;
    }, 5);
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
    clearInterval(ticker);
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.equal(outcomes.filter((o) => o === 'replayed').length, n);
    assert.equal(received.length, n);
    assert.equal(stats.rateLimited, 0);
    // The burst (rate/20 = 10) goes at once, the other 290 at 200/s: 1.45 s. Never faster; slower
    // only by what loop stalls cost, plus a second (a pacer 2× too slow would take 2.9 s).
    const ideal = ((n - rate / 20) / rate) * 1000;
    t.diagnostic(`${n} requests at ${rate}/s took ${elapsed.toFixed(0)} ms (ideal ${ideal} ms, loop stalls cost up to ${lostMs.toFixed(0)} ms)`);
    assert.ok(elapsed >= ideal * 0.95 && elapsed <= ideal + 1000 + lostMs, `took ${elapsed.toFixed(0)} ms, ideal ${ideal} ms`);
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
