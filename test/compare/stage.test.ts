import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { CompareStage, LatencyHistogram, MismatchSample, defaultCompareOptions } from '../../src/compare';
import type { HttpRequest, HttpResponse } from '../../src/http';
import type { ShadowResponse } from '../../src/replay';
import { analyze, defaultThresholds } from '../../src/report/analysis';
import { fakeAnswer, fakeRequest, fakeResponse } from '../support/requests';

const SHADOW = 'http://shadow:1';

/** The stage with its diff queue worked off (a run does this as it goes, and at exit). */
function flushed(stage: CompareStage): CompareStage {
  stage.flush();
  return stage;
}
const BASE = 'http://baseline:1';

function request(url: string, startUs = 0): HttpRequest {
  return fakeRequest(url, { headers: ['Host', 'api'], startUs });
}

function prodResponse(body: unknown, status = 200, latencyUs = 1000): HttpResponse {
  return fakeResponse(JSON.stringify(body), { status, endUs: latencyUs, headers: ['Content-Type', 'application/json', 'Date', new Date().toUTCString()] });
}

function shadowResponse(target: string, body: unknown, status = 200, latencyUs = 1000, gzip = false): ShadowResponse {
  const json = Buffer.from(JSON.stringify(body));
  const headers: Record<string, string> = { 'content-type': 'application/json', date: 'Mon, 01 Jan 2024 00:00:00 GMT' };
  if (gzip) headers['content-encoding'] = 'gzip';
  return fakeAnswer(target, gzip ? gzipSync(json) : json, { status, headers, latencyUs });
}

test('joins production and shadow halves in either order, and diffs them', () => {
  const stage = new CompareStage([SHADOW], null);
  const a = request('/users/1');
  stage.exchange({ request: a, response: prodResponse({ id: 1, age: 30 }), responseMissing: null });
  assert.equal(stage.pendingJoins, 1);
  stage.replayed(a, [shadowResponse(SHADOW, { id: 1, age: 31 })]);
  const b = request('/users/2');
  stage.replayed(b, [shadowResponse(SHADOW, { age: 30, id: 2 }, 200, 1000, true)]); // reordered keys, gzip
  stage.exchange({ request: b, response: prodResponse({ id: 2, age: 30 }), responseMissing: null });
  assert.equal(stage.pendingJoins, 0);
  const r = flushed(stage).results({}, true);
  assert.equal(r.endpoints.length, 1);
  const e = r.endpoints[0];
  assert.equal(e.key, 'GET /users/{id}');
  assert.equal(e.shadows[0].compared, 2);
  assert.equal(e.shadows[0].mismatched, 1);
  assert.deepEqual(Object.keys(e.shadows[0].fields), ['$.age']);
  assert.deepEqual(e.shadows[0].signatures, { '$.age': 1 });
});

test('every exchange lands somewhere: not replayed, failed shadow and missing production are counted apart', () => {
  const stage = new CompareStage([SHADOW], null);
  const a = request('/x');
  stage.replayed(a, []); // refused before reaching the target (e.g. unreplayable)
  stage.exchange({ request: a, response: prodResponse({}), responseMissing: null });
  const b = request('/x');
  stage.replayed(b, [{ target: SHADOW, statusCode: null, headers: null, body: null, bodySize: 0, latencyUs: 5e6, outcome: 'shadowTimeout', error: 'timeout' }]);
  stage.exchange({ request: b, response: prodResponse({}), responseMissing: null });
  const c = request('/x');
  stage.replayed(c, [shadowResponse(SHADOW, {})]);
  stage.exchange({ request: c, response: null, responseMissing: 'closed' });
  const s = flushed(stage).results({}, true).endpoints[0];
  assert.deepEqual(s.shadows[0].skipped, { notReplayed: 1, shadowFailed: 1, productionMissing: 1, busy: 0 });
  assert.equal(s.shadows[0].timeouts, 1);
  assert.equal(s.shadows[0].attempts, 2);
  assert.equal(s.production.missing, 1);
  assert.equal(s.production.attempts, 2);
});

test('repeated identical requests teach noise; a planted change is flagged, noise is not', () => {
  const stage = new CompareStage([SHADOW], null);
  for (let i = 0; i < 60; i++) {
    const req = request(`/users/${i % 3}`);
    const body = { id: i % 3, age: 30, ts: Date.now() + i, requestId: `r-${i}` };
    stage.exchange({ request: req, response: prodResponse(body), responseMissing: null });
    stage.replayed(req, [shadowResponse(SHADOW, { ...body, age: 31, ts: body.ts + 7, requestId: `s-${i}` })]);
  }
  const r = flushed(stage).results({}, true);
  const e = r.endpoints[0];
  assert.equal(e.noise.fromRepeats, 57); // the first answer to each of the 3 ids has no predecessor
  assert.deepEqual(Object.keys(e.noise.fields).sort(), ['$.requestId', '$.ts']);
  const a = analyze(r);
  const fields = a.targets[0].endpoints[0].fields;
  assert.deepEqual(fields.filter((f) => f.flagged).map((f) => f.path), ['$.age']);
  assert.equal(a.targets[0].endpoints[0].mismatchRate, 1);
  assert.equal(a.verdict.pass, false);
});

test('a field that varies in value may not vanish: presence is judged against presence noise', () => {
  const stage = new CompareStage([SHADOW], null);
  for (let i = 0; i < 60; i++) {
    const req = request(`/r/${i % 2}`);
    const body = { id: i % 2, ts: 1000 + i };
    stage.exchange({ request: req, response: prodResponse(body), responseMissing: null });
    stage.replayed(req, [shadowResponse(SHADOW, i % 2 === 0 ? { id: 0 } : { ...body, ts: 5000 + i })]);
  }
  const f = analyze(flushed(stage).results({}, true)).targets[0].endpoints[0].fields.find((x) => x.path === '$.ts');
  assert.deepEqual(f?.kinds, { missing: 30, value: 30 });
  assert.equal(f?.flagged, true); // 30 of 60 missing, never missing in production
});

test('a time-derived field that differs a little more often across hosts than across repeats is still noise', () => {
  const stage = new CompareStage([SHADOW], null);
  for (let i = 0; i < 400; i++) {
    const req = request(`/t/${i % 4}`);
    const body = { id: i % 4, at: Math.floor(i / 4.6) }; // repeats of an id sometimes share a timestamp
    stage.exchange({ request: req, response: prodResponse(body), responseMissing: null });
    stage.replayed(req, [shadowResponse(SHADOW, { ...body, at: i % 50 === 0 ? body.at : body.at + 1 })]);
  }
  const f = analyze(flushed(stage).results({}, true)).targets[0].endpoints[0].fields.find((x) => x.path === '$.at');
  assert.ok(f !== undefined && f.rate > 0.95 && f.noiseRate > 0.5 && f.noiseRate < 0.9, JSON.stringify(f));
  assert.equal(f.flagged, false);
});

test('a baseline target teaches noise and is not judged itself', () => {
  const stage = new CompareStage([SHADOW, BASE], BASE);
  for (let i = 0; i < 30; i++) {
    const req = request(`/orders/${1000 + i}`); // never repeated: only the baseline can teach noise
    const body = { id: i, total: 10, at: `t${i}` };
    stage.exchange({ request: req, response: prodResponse(body), responseMissing: null });
    stage.replayed(req, [shadowResponse(SHADOW, { ...body, at: `s${i}` }), shadowResponse(BASE, { ...body, at: `b${i}` })]);
  }
  const r = flushed(stage).results({}, true);
  assert.deepEqual(r.shadows, [SHADOW]);
  const e = r.endpoints[0];
  assert.equal(e.noise.fromBaseline, 30);
  assert.equal(e.noise.fromRepeats, 0);
  assert.equal(e.baseline?.attempts, 30);
  assert.equal(e.shadows.length, 1);
  const a = analyze(r);
  assert.equal(a.targets[0].endpoints[0].fields[0].path, '$.at');
  assert.equal(a.targets[0].endpoints[0].fields[0].flagged, false);
  assert.equal(a.verdict.pass, true, a.verdict.reasons.join('; '));
});

test('caps hold: endpoints, fields per endpoint, pending joins, samples', () => {
  const opts = { ...defaultCompareOptions(), maxEndpoints: 2, maxFieldsPerEndpoint: 3, maxPendingJoins: 5 };
  const written: MismatchSample[] = [];
  const sink = { get hasRoom() { return written.length < 4; }, write: (s: MismatchSample) => { written.push(s); return true; } };
  const stage = new CompareStage([SHADOW], null, opts, sink);
  for (let i = 0; i < 20; i++) {
    const req = request(`/e${i % 4}/x`);
    const prod: Record<string, number> = {};
    const shadow: Record<string, number> = {};
    for (let f = 0; f < 10; f++) { prod[`f${f}`] = 1; shadow[`f${f}`] = 2; }
    stage.exchange({ request: req, response: prodResponse(prod), responseMissing: null });
    stage.replayed(req, [shadowResponse(SHADOW, shadow)]);
  }
  for (let i = 0; i < 8; i++) stage.exchange({ request: request('/lonely'), response: null, responseMissing: 'gap' });
  const r = flushed(stage).results({}, true);
  assert.equal(r.endpoints.length, 3); // two learned + 'GET {other}'
  assert.ok(r.endpoints.some((e) => e.key === 'GET {other}'));
  assert.equal(r.counters.endpointOverflow, 10);
  for (const e of r.endpoints) assert.ok(Object.keys(e.shadows[0].fields).length <= 3);
  assert.ok(r.endpoints.every((e) => e.shadows[0].overflow > 0));
  assert.equal(stage.pendingJoins, 5);
  assert.equal(r.counters.joinOverflow, 3);
  assert.equal(written.length, 4);
  assert.ok(r.counters.samplesDropped > 0);
});

test('a full diff queue skips exchanges (counted as busy) but keeps their latency and errors', () => {
  const stage = new CompareStage([SHADOW], null, { ...defaultCompareOptions(), maxQueued: 10, latencyWarmup: 5 });
  for (let n = 0; n < 50; n++) {
    const req = request(`/q/${n}`);
    stage.exchange({ request: req, response: prodResponse({ n }), responseMissing: null });
    stage.replayed(req, [shadowResponse(SHADOW, { n: n + 1 })]);
  }
  assert.equal(stage.queued, 10);
  const s = flushed(stage).results({}, true).endpoints[0].shadows[0];
  assert.deepEqual([s.compared, s.skipped.busy, s.attempts], [10, 40, 50]);
  assert.equal(s.latency.max, 1000);
  // The first 5 were not timed (warm-up), on either side.
  const e = stage.results({}, true).endpoints[0];
  assert.deepEqual([LatencyHistogram.fromJSON(s.latency).count, LatencyHistogram.fromJSON(e.production.latency).count], [45, 45]);
});

test('an answer written behind others on a pipelined connection is compared but its latency is not judged (counted)', () => {
  const stage = new CompareStage([SHADOW], null, { ...defaultCompareOptions(), latencyWarmup: 0 });
  for (let n = 0; n < 12; n++) {
    const req = request(`/p/${n}`);
    stage.exchange({ request: req, response: prodResponse({ n }), responseMissing: null });
    const answer = shadowResponse(SHADOW, { n }, 200, n % 3 === 0 ? 1000 : 90_000);
    if (n % 3 !== 0) answer.queued = true; // waited 89 ms behind the one before it
    stage.replayed(req, [answer]);
    if (n % 3 === 0) stage.wire(req, 0, 900); // timed from the capture, as --wire-timing does
  }
  const r = flushed(stage).results({}, true);
  const s = r.endpoints[0].shadows[0];
  assert.deepEqual([s.compared, s.attempts], [12, 12]);
  assert.deepEqual([LatencyHistogram.fromJSON(s.latency).count, s.latency.max], [4, 1000]);
  assert.equal(LatencyHistogram.fromJSON(r.endpoints[0].production.latency).count, 12);
  assert.equal(r.counters.latencyQueued, 8);
  const asked = analyze(r, { ...defaultThresholds, latencyReference: 'production', minLatencySamples: 4 });
  assert.ok(asked.verdict.notes.some((note) => note.startsWith('8 shadow answer(s) were not timed')), asked.verdict.notes.join('\n'));
  assert.equal(asked.targets[0].endpoints[0].latencyReference, 'production');
  // Unasked, a capture-timed shadow is judged against production, but not when pipelined: its
  // load was not production's.
  const unasked = analyze(r, { ...defaultThresholds, minLatencySamples: 4 });
  assert.equal(unasked.targets[0].endpoints[0].latencyReference, null);
  assert.ok(unasked.verdict.notes.some((note) => note.startsWith('latency not judged: pipelining')), unasked.verdict.notes.join('\n'));
  // A recording replayed pipelined: its notes do not claim production's latencies judged it.
  const recording = analyze({ ...r, source: { kind: 'recording', recording: 'r', files: [] } }, { ...defaultThresholds, minLatencySamples: 4 });
  assert.equal(recording.targets[0].endpoints[0].latencyReference, null);
  assert.deepEqual(recording.verdict.notes.filter((note) => note.startsWith('latency')).map((note) => note.slice(0, 32)), ['latency not judged: pipelining g']);
  r.counters.latencyQueued = 0;
  assert.equal(analyze(r, { ...defaultThresholds, minLatencySamples: 4 }).targets[0].endpoints[0].latencyReference, 'production');
});

test('diffs run in short slices within their CPU share, between other events', async (t) => {
  const share = 0.05;
  const stage = new CompareStage([SHADOW], null, { ...defaultCompareOptions(), cpuShare: share });
  const big = { rows: Array.from({ length: 3000 }, (_, i) => ({ i, v: `value-${i}` })) };
  const changed = { rows: big.rows.map((r) => ({ ...r, v: `${r.v}!` })) };
  for (let n = 0; n < 300; n++) {
    const req = request(`/big/${n}`);
    stage.exchange({ request: req, response: prodResponse(big), responseMissing: null });
    stage.replayed(req, [shadowResponse(SHADOW, changed)]);
  }
  // The loop must never be held by diff work for long: between two ticks of a 1 ms timer, this
  // process may use little CPU. On a busy machine a gap in wall time can also mean the process
  // was not scheduled, which is no fault of the stage, so each gap counts as blocked only as far
  // as the process used CPU in it (a diff run of 40 ms holds the loop for 40 ms of wall time
  // and of CPU; a gap where the process waited for a core costs no CPU).
  let longest = 0;
  let longestCpu = 0; // the longest gap, counting only what this process spent on a CPU
  let last = performance.now();
  let lastCpu = process.cpuUsage();
  const ticker = setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage(lastCpu);
    longest = Math.max(longest, now - last);
    // The process's CPU includes other threads (GC): never count more than the gap itself.
    longestCpu = Math.max(longestCpu, Math.min(now - last, (cpu.user + cpu.system) / 1000));
    last = now;
    lastCpu = process.cpuUsage();
  }, 1);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, 500));
  clearInterval(ticker);
  const wall = performance.now() - t0;
  const cpu = stage.counters.cpuMs;
  const done = 300 - stage.queued;
  t.diagnostic(`diffed ${done} of 300, ${cpu.toFixed(1)} ms in ${wall.toFixed(0)} ms; longest gap ${longest.toFixed(1)} ms, ${longestCpu.toFixed(1)} ms of it on a CPU`);
  assert.ok(done > 0 && stage.queued > 0, `diffed ${done} of 300`);
  // 50 ms of initial credit + the share of the wall time, + one diff's overshoot (timed in wall
  // time: a diff the scheduler interrupted lasts longer, but never longer than the loop's
  // longest gap).
  const overshoot = Math.max(cpu / done + 10, longest);
  assert.ok(cpu < 50 + wall * share + overshoot, `cpu ${cpu.toFixed(1)} ms in ${wall.toFixed(0)} ms`);
  assert.ok(longestCpu < 40, `the event loop was blocked ${longestCpu.toFixed(1)} ms of CPU (longest gap ${longest.toFixed(1)} ms)`);
});

test('analysis thresholds: too few exchanges are not judged; error-rate rise and slow p99 fail', () => {
  const stage = new CompareStage([SHADOW], null, { ...defaultCompareOptions(), latencyWarmup: 0 });
  for (let i = 0; i < 150; i++) {
    const ok = request(`/ok/${i % 2}`, 0);
    stage.exchange({ request: ok, response: prodResponse({ a: 1 }, 200, 30_000), responseMissing: null });
    stage.replayed(ok, [shadowResponse(SHADOW, { a: 1 }, 200, 62_000)]);
    const boom = request(`/boom/${i % 2}`);
    stage.exchange({ request: boom, response: prodResponse({ a: 1 }), responseMissing: null });
    stage.replayed(boom, [shadowResponse(SHADOW, { error: 'x' }, 500)]);
  }
  const few = request('/rare');
  stage.exchange({ request: few, response: prodResponse({ a: 1 }), responseMissing: null });
  stage.replayed(few, [shadowResponse(SHADOW, { a: 2 })]);
  const a = analyze(flushed(stage).results({}, true), { ...defaultThresholds, latencyReference: 'production' });
  const byKey = new Map(a.targets[0].endpoints.map((e) => [e.key, e]));
  assert.equal(byKey.get('GET /rare')?.judged, false);
  assert.match(byKey.get('GET /boom/{id}')?.problems.join() ?? '', /error rate 100\.0% on the shadow vs 0\.0%/);
  assert.match(byKey.get('GET /ok/{id}')?.problems.join() ?? '', /p\d+ latency ≥ 62\.\d ms on the shadow vs ≤ 30\.\d ms on production/);
  // A slowdown under the absolute floor passes.
  const lenient = analyze(flushed(stage).results({}, true), { ...defaultThresholds, latencyReference: 'production', minLatencyDeltaMs: 40 });
  assert.equal(lenient.targets[0].endpoints.find((e) => e.key === 'GET /ok/{id}')?.problems.length, 0);
  // By default latency is judged against a baseline only, and there is none here.
  const byDefault = analyze(flushed(stage).results({}, true));
  assert.equal(byDefault.targets[0].endpoints.find((e) => e.key === 'GET /ok/{id}')?.latencyReference, null);
  assert.ok(byDefault.verdict.notes.some((n) => n.startsWith('latency not judged')));
});
