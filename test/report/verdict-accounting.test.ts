// Comparisons and verdicts at the edges: errors without comparisons, per-user answers,
// truncated diffs, full field tables, duplicate targets, join overflow.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CompareStage, defaultCompareOptions } from '../../src/compare';
import type { HttpRequest, HttpResponse } from '../../src/http';
import type { ShadowResponse } from '../../src/replay';
import { analyze } from '../../src/report/analysis';
import { fakeAnswer, fakeRequest, fakeResponse } from '../support/requests';

const SHADOW = 'http://shadow:1';
const BASE = 'http://baseline:1';

function req(url: string, headers: string[] = ['Host', 'api']): HttpRequest {
  return fakeRequest(url, { headers });
}

function prod(body: unknown, status = 200): HttpResponse {
  return fakeResponse(JSON.stringify(body), { status });
}

function answer(target: string, body: unknown, status = 200): ShadowResponse {
  return fakeAnswer(target, JSON.stringify(body), { status });
}

function timeout(target: string): ShadowResponse {
  return { target, statusCode: null, headers: null, body: null, bodySize: 0, latencyUs: 10e6, outcome: 'shadowTimeout', error: 'timeout' };
}

test('an endpoint where the shadow times out on every request is judged on its errors: verdict FAIL', () => {
  const stage = new CompareStage([SHADOW], null);
  for (let i = 0; i < 50; i++) {
    const a = req('/health');
    stage.exchange({ request: a, response: prod({ ok: true }), responseMissing: null });
    stage.replayed(a, [answer(SHADOW, { ok: true })]);
    const b = req('/search?q=' + i);
    stage.exchange({ request: b, response: prod({ hits: [] }), responseMissing: null });
    stage.replayed(b, [timeout(SHADOW)]); // the new version hangs on /search
  }
  stage.flush();
  const a = analyze(stage.results({}, true));
  const search = a.targets[0].endpoints.find((e) => e.key === 'GET /search');
  assert.equal(search?.shadow.errorRate, 1, 'precondition: 100% shadow errors on /search');
  assert.equal(a.verdict.pass, false, `verdict passed with 50/50 shadow timeouts on /search: ${JSON.stringify(a.verdict)}`);
});

test('repeat-noise keys on who asked: per-user fields are not noise, a cross-user data bug fails', () => {
  // GET /api/me answers per Authorization; requestKey() is method+Host+target+body only, so
  // two users' answers are taken for the same request answered differently.
  const stage = new CompareStage([SHADOW], null);
  for (let i = 0; i < 100; i++) {
    const r = req('/api/me', ['Host', 'api', 'Authorization', `Bearer user-${i}`]);
    stage.exchange({ request: r, response: prod({ id: i, name: `user-${i}` }), responseMissing: null });
    // The shadow serves the *previous* user's profile to everyone.
    stage.replayed(r, [answer(SHADOW, { id: i, name: `user-${i - 1}` })]);
  }
  stage.flush();
  const a = analyze(stage.results({}, true));
  const me = a.targets[0].endpoints[0];
  assert.equal(me.rawMismatchRate, 1, 'precondition: every exchange differs at $.name');
  assert.equal(a.verdict.pass, false, `verdict passed although every /api/me answer names the wrong user; fields: ${JSON.stringify(me.fields.map((f) => [f.path, f.rate, f.noiseRate, f.flagged]))}`);
});

test('maxDiffs truncation: a regression after 100 noise diffs still counts for its field', () => {
  const stage = new CompareStage([SHADOW, BASE], BASE);
  const items = (salt: number) => Array.from({ length: 150 }, (_, i) => ({ id: i, ts: `${salt}-${i}` }));
  for (let n = 0; n < 60; n++) {
    const r = req('/list');
    stage.exchange({ request: r, response: prod({ items: items(n * 3), total: 150 }), responseMissing: null });
    stage.replayed(r, [answer(SHADOW, { items: items(n * 3 + 1), total: 149 }), answer(BASE, { items: items(n * 3 + 2), total: 150 })]);
  }
  stage.flush();
  const res = stage.results({}, true);
  const s = res.endpoints[0].shadows[0];
  assert.ok('$.total' in s.fields, `$.total (off by one in all 60 exchanges) is not recorded: fields ${JSON.stringify(Object.keys(s.fields))}`);
  const a = analyze(res);
  assert.equal(a.verdict.pass, false, 'verdict passed with $.total wrong in every exchange');
});

test('field-table overflow: differences at paths without room count against the shadow', () => {
  const stage = new CompareStage([SHADOW, BASE], BASE);
  const letters = (k: number) => { let s = ''; do { s = String.fromCharCode(97 + (k % 26)) + s; k = Math.floor(k / 26); } while (k > 0); return s; };
  for (let n = 0; n < 80; n++) {
    // The first requests carry 50 per-request words each with a volatile value (noise on every side).
    const words: Record<string, number> = {};
    if (n < 5) for (let k = 0; k < 50; k++) words[letters(n * 50 + k)] = Math.random();
    const r = req('/stats');
    const later = n >= 5;
    stage.exchange({ request: r, response: prod({ words, total: 10 }), responseMissing: null });
    const noisy = Object.fromEntries(Object.keys(words).map((k) => [k, Math.random()]));
    stage.replayed(r, [answer(SHADOW, { words: noisy, total: later ? 11 : 10 }), answer(BASE, { words: noisy, total: 10 })]);
  }
  stage.flush();
  const res = stage.results({}, true);
  const a = analyze(res);
  const ep = a.targets[0].endpoints[0];
  assert.ok(ep.fieldsOverflow > 0, 'precondition: the field table overflowed');
  assert.equal(a.verdict.pass, false, `verdict passed with $.total wrong in 75 of 80 exchanges (raw mismatch ${ep.rawMismatchRate}, overflow ${ep.fieldsOverflow})`);
});

test('a shadow listed twice is compared in both slots (and the CLI refuses it)', () => {
  const stage = new CompareStage([SHADOW, SHADOW], null);
  const r = req('/x');
  stage.exchange({ request: r, response: prod({ a: 1 }), responseMissing: null });
  stage.replayed(r, [answer(SHADOW, { a: 1 }), answer(SHADOW, { a: 1 })]);
  stage.flush();
  const e = stage.results({}, true).endpoints[0];
  assert.deepEqual(e.shadows.map((s) => s.compared), [1, 1]);
});

test('joinOverflow: a dropped join\'s other half is dropped too, counted once', () => {
  const opts = { ...defaultCompareOptions(), maxPendingJoins: 2 };
  const stage = new CompareStage([SHADOW], null, opts);
  const a = req('/a'), b = req('/b'), c = req('/c');
  stage.replayed(a, [answer(SHADOW, {})]);
  stage.replayed(b, [answer(SHADOW, {})]);
  stage.replayed(c, [answer(SHADOW, {})]); // drops a's join: 1 overflow
  stage.exchange({ request: a, response: prod({}), responseMissing: null }); // a waits again, for nothing; drops b
  // a's replay side already came and went: its new join can never complete, and it holds a slot.
  assert.equal(stage.counters.joinOverflow, 1, `one request lost to overflow counted ${stage.counters.joinOverflow} times; pending ${stage.pendingJoins}`);
});
