// The comparison's shortcuts held to the full work they skip: the same diffs, counts and
// endpoints for the same exchanges.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { CompareStage, MismatchSample, defaultCompareOptions } from '../../src/compare';
import { DiffOptions, FieldDiff, defaultDiffOptions, diffHeaders, diffJson, diffResponses } from '../../src/compare/diff';
import { diffHeaderLists, sameComparedHeaders } from '../../src/compare/diff/headers';
import { EndpointClassifier } from '../../src/compare/endpoints';
import { isGrpcContentType } from '../../src/compare/grpc';
import { joinedHeaderValue } from '../../src/http';
import { fakeAnswer, fakeRequest, fakeResponse } from '../support/requests';
import { rng } from '../support/packets';

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

// Names in several cases, ignored ones (Date, Server, X-Request-Id), the ones with their own
// rules (Set-Cookie, Vary) and one that an ignorePaths entry names.
const NAMES = ['Content-Type', 'content-type', 'CONTENT-TYPE', 'Cache-Control', 'Date', 'Server', 'X-Request-Id', 'Set-Cookie', 'set-cookie',
  'Vary', 'ETag', 'X-Feature', 'x-feature', 'X-Skipped', 'Link'];
const VALUES = ['application/json', ' application/json ', 'a, b', 'b, a', 'b,a', 'sid=1; Path=/', 'sid=2; Max-Age=5', 'tok=3', '[redacted]',
  'Accept-Encoding', 'accept-encoding, Origin', 'Origin', '', 'no-store'];

function headerList(r: () => number): string[] {
  const out: string[] = [];
  const n = Math.floor(r() * 6);
  for (let i = 0; i < n; i++) out.push(pick(r, NAMES), pick(r, VALUES));
  return out;
}

/** A shadow's list made from production's: the same, recased, reordered, with a value or a
 * header changed, added or dropped — or unrelated. */
function variant(r: () => number, e: string[]): string[] {
  const a = e.slice();
  const what = Math.floor(r() * 7);
  if (what === 1 && a.length > 0) { const i = 2 * Math.floor(r() * (a.length / 2)); a[i] = a[i]!.toUpperCase(); }
  else if (what === 2 && a.length > 0) { const i = 2 * Math.floor(r() * (a.length / 2)); a[i + 1] = pick(r, VALUES); }
  else if (what === 3) a.push(pick(r, NAMES), pick(r, VALUES));
  else if (what === 4 && a.length > 0) a.splice(2 * Math.floor(r() * (a.length / 2)), 2);
  else if (what === 5 && a.length >= 4) a.push(...a.splice(0, 2));
  else if (what === 6) return headerList(r);
  return a;
}

const OPTION_SETS: Array<[string, DiffOptions]> = [
  ['defaults', defaultDiffOptions()],
  ['ignorePaths header.x-skipped', { ...defaultDiffOptions(), ignorePaths: new Set(['header.x-skipped']) }],
  ['ignoreHeaders link', { ...defaultDiffOptions(), ignoreHeaders: new Set(['link']) }],
  ['masked production', { ...defaultDiffOptions(), maskedProduction: true }],
];

test('headers: the one-walk check never hides a difference the full comparison finds', () => {
  for (const [label, opts] of OPTION_SETS) {
    const r = rng(label.length);
    let fast = 0, full = 0;
    for (let k = 0; k < 4000; k++) {
      const e = headerList(r), a = variant(r, e);
      const viaFastPath: FieldDiff[] = [], viaFullComparison: FieldDiff[] = [];
      diffHeaders(e, a, opts, viaFastPath);
      diffHeaderLists(e, a, opts, viaFullComparison);
      assert.deepEqual(viaFastPath, viaFullComparison, `${label}: ${JSON.stringify(e)} vs ${JSON.stringify(a)}`);
      if (sameComparedHeaders(e, a, opts)) {
        fast++;
        assert.deepEqual(viaFullComparison, [], `${label}: told equal, yet ${JSON.stringify(viaFullComparison)}`);
      } else full++;
    }
    // Both ways were taken many times (else this test held nothing).
    assert.ok(fast > 500 && full > 500, `${label}: fast ${fast}, full ${full}`);
  }
});

test('headers: names differing only in case, repeats, ignored headers and padding are equal at once', () => {
  const opts = defaultDiffOptions();
  assert.equal(sameComparedHeaders(['Content-Type', 'application/json', 'Date', 'a', 'Server', 'x'], ['content-type', ' application/json', 'Date', 'b'], opts), true);
  assert.equal(sameComparedHeaders(['Link', 'a', 'Link', 'b'], ['link', 'a', 'LINK', 'b'], opts), true);
  assert.equal(sameComparedHeaders(['Link', 'a', 'Link', 'b'], ['Link', 'b', 'Link', 'a'], opts), false); // the full comparison decides
  assert.equal(sameComparedHeaders(['Link', 'a'], [], opts), false);
  assert.equal(sameComparedHeaders([], ['Date', 'x'], opts), true);
});

/** Production's and a shadow's answer: JSON of every shape of difference, text, bytes, gzip. */
function responsePairs(): Array<[string, Parameters<typeof diffResponses>[0], Parameters<typeof diffResponses>[1]]> {
  const json = (body: unknown, headers: string[] = ['Content-Type', 'application/json'], status = 200) => ({ status, headers, body: Buffer.from(JSON.stringify(body)) });
  const many = (n: number, d: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`f${i}`, i + d]));
  return [
    ['one field', json({ ok: true, name: 'prod' }), json({ ok: true, name: 'shadow' })],
    ['nested, arrays, types, missing, extra', json({ a: { b: [1, 2, { c: 'x' }] }, gone: { deep: [1] }, t: 1, users: { 'u-81f2': { n: 1 }, 'u-93a1': { n: 2 } } }),
      json({ a: { b: [1, 3, { c: 'y' }, 4] }, t: '1', added: [1, 2], users: { 'u-81f2': { n: 5 }, 'u-93a1': { n: 2 } } })],
    ['past maxDiffs', json(many(150, 0)), json(many(150, 1))],
    ['long values', json({ s: 'x'.repeat(500), o: many(40, 0) }), json({ s: 'y'.repeat(500), o: many(40, 1) })],
    ['status and headers', json({ a: 1 }, ['Content-Type', 'application/json', 'X-Feature', 'on'], 200), json({ a: 1 }, ['Content-Type', 'application/json', 'X-Feature', 'off'], 503)],
    ['text', { status: 200, headers: ['Content-Type', 'text/plain'], body: Buffer.from('a\nb\nc\n') }, { status: 200, headers: ['Content-Type', 'text/plain'], body: Buffer.from('a\nB\nc\nd\n') }],
    ['bytes', { status: 200, headers: ['Content-Type', 'image/png'], body: Buffer.from([1, 2, 3]) }, { status: 200, headers: ['Content-Type', 'image/png'], body: Buffer.from([1, 2, 4]) }],
    ['gzip on one side', json({ a: [1, 2] }), { status: 200, headers: ['Content-Type', 'application/json', 'Content-Encoding', 'gzip'], body: gzipSync(JSON.stringify({ a: [2, 1] })) }],
  ];
}

test('diffs without values keep every path, place and count of the full diff', () => {
  const shownValues: DiffOptions = { ...defaultDiffOptions(), showValue: (at, v) => (typeof v === 'string' ? `<${at}>` : v) };
  for (const [label, p, s] of responsePairs()) {
    const full = diffResponses(p, s, shownValues, '/x');
    const counted = diffResponses(p, s, { ...shownValues, values: false }, '/x');
    assert.ok(full.diffs.length > 0, label);
    const where = (d: FieldDiff) => ({ path: d.path, at: d.at, kind: d.kind });
    assert.deepEqual(counted.diffs.map(where), full.diffs.map(where), label);
    const { containerValues, ...rest } = counted;
    assert.deepEqual({ ...rest, diffs: null }, { ...full, diffs: null }, label);
    // Diffs whose left-out value was an object or array are counted (the stage diffs those with
    // values): as many as the values as they are (small here, so never shortened to text) show.
    const isContainer = (v: unknown) => typeof v === 'object' && v !== null;
    const raw = diffResponses(p, s, { ...defaultDiffOptions(), showValue: (_at, v) => v }, '/x');
    const containers = raw.diffs.filter((d) => d.path.startsWith('$') && (isContainer(d.expected) || isContainer(d.actual))).length;
    assert.equal(containerValues ?? 0, containers, label);
    if (label.startsWith('nested')) assert.equal(containers, 2, 'the missing $.gone and the extra $.added');
    for (const d of counted.diffs) {
      if (d.path.startsWith('$') || d.kind === 'binary') assert.ok(!('expected' in d) && !('actual' in d), `${label}: ${JSON.stringify(d)}`);
    }
  }
});

test('endpoints remembered per target are the ones the classifier gives each exchange, overflow included', () => {
  const maxEndpoints = 4;
  const stage = new CompareStage(['http://shadow:1'], null, { ...defaultCompareOptions(), maxEndpoints });
  const reference = new EndpointClassifier([], { maxEndpoints });
  const expected = new Map<string, number>();
  let overflowed = 0;
  const r = rng(7);
  const targets = ['/api/items?id=7', '/api/items?id=8', '/users/12', '/users/13/', '/orders/abc-123', '/health', '/a/b/c', '/x?y', '/pkg.Svc/Get'];
  for (let i = 0; i < 3000; i++) {
    const url = pick(r, targets);
    const method = pick(r, ['GET', 'get', 'POST', 'BREW']);
    const headers = url.startsWith('/pkg.') ? ['Host', 'x', 'Content-Type', 'application/grpc'] : ['Host', 'x'];
    const req = fakeRequest(url, { method, headers });
    const before = reference.overflowed;
    const key = reference.classify(method, url, isGrpcContentType(joinedHeaderValue(headers, 'content-type')));
    overflowed += reference.overflowed - before;
    expected.set(key, (expected.get(key) ?? 0) + 1);
    stage.exchange({ request: req, response: null, responseMissing: 'closed' });
    stage.replayed(req, []);
  }
  const results = stage.results({}, true);
  assert.deepEqual(new Map(results.endpoints.map((e) => [e.key, e.production.missing])), expected);
  assert.equal(results.counters.endpointOverflow, overflowed);
  assert.ok(overflowed > 100 && expected.size > maxEndpoints, `overflowed ${overflowed}, keys ${[...expected.keys()]}`);
});

test('a sample shows the values of the full diff, redacted as the sink asks', () => {
  const written: MismatchSample[] = [];
  const sink = { hasRoom: true, write: (s: MismatchSample) => { written.push(s); return true; }, prepareValue: (at: string, v: unknown) => (at === '$.secret' ? '[redacted]' : v) };
  const stage = new CompareStage(['http://shadow:1'], null, defaultCompareOptions(), sink);
  const prodBody = { secret: 's1', name: 'prod', list: [1, 2, 3], nested: { long: 'x'.repeat(300) } };
  const shadowBody = { secret: 's2', name: 'shadow', list: [1, 2], nested: { long: 'y'.repeat(300) }, extra: true };
  const req = fakeRequest('/things/1');
  const prod = fakeResponse(JSON.stringify(prodBody));
  const answer = fakeAnswer('http://shadow:1', JSON.stringify(shadowBody));
  stage.exchange({ request: req, response: prod, responseMissing: null });
  stage.replayed(req, [answer]);
  stage.flush();
  assert.equal(written.length, 1);
  const full = diffResponses({ status: 200, headers: prod.headers, body: prod.body! }, { status: 200, headers: answer.headers!, body: answer.body! },
    { ...defaultDiffOptions(), showValue: sink.prepareValue }, req.url);
  assert.deepEqual(written[0]!.diffs, full.diffs);
  const secret = written[0]!.diffs.find((d) => d.at === '$.secret');
  assert.deepEqual(secret, { path: '$.secret', at: '$.secret', kind: 'value', expected: '[redacted]', actual: '[redacted]' });
  assert.equal(written[0]!.diffs.find((d) => d.at === '$.name')?.actual, 'shadow');
  assert.match(String(written[0]!.diffs.find((d) => d.at === '$.nested.long')?.expected), /^x{200}…\(\+100 chars\)$/);
});

test('path segments: the table for ASCII keys quotes exactly the keys the regular expression does', () => {
  const plain = /^[^.[\]"'\s{}*$]+$/; // the rule of diff/json.ts
  const keys = [''];
  for (let c = 0; c < 0x3100; c++) keys.push(`a${String.fromCharCode(c)}b`, String.fromCharCode(c));
  keys.push('\ufeff', 'x\ufeff', 'ключ', 'a b', 'a\u00a0b');
  let quoted = 0;
  for (const k of keys) {
    const out: FieldDiff[] = [];
    diffJson({ [k]: 1 }, { [k]: 2 }, defaultDiffOptions(), out);
    const want = plain.test(k) ? `$.${k}` : `$[${JSON.stringify(k)}]`;
    assert.equal(out[0]?.at, want, JSON.stringify(k));
    if (!plain.test(k)) quoted++;
  }
  assert.ok(quoted > 40, `quoted ${quoted}`);
});

test('a differing object or array is diffed with its values where a sink shows them: one that cannot be shown fails the exchange, as always', () => {
  // Shows a container as a copy made through its JSON text, as redaction masks one: a subtree
  // nested beyond the stack cannot be.
  const prepareValue = (_at: string, v: unknown): unknown => (typeof v === 'object' && v !== null ? JSON.parse(JSON.stringify(v)) : v);
  const written: MismatchSample[] = [];
  const sink = { hasRoom: true, write: (s: MismatchSample) => { written.push(s); return true; }, prepareValue };
  const stage = new CompareStage(['http://shadow:1'], null, defaultCompareOptions(), sink);
  const deep = `{"a":${'['.repeat(50_000)}1${']'.repeat(50_000)},"n":1}`;
  const cases = [['/deep', deep, '{"n":2}'], ['/shallow', '{"a":{"b":1},"n":1}', '{"a":[1],"n":2}']];
  const full = { ...defaultDiffOptions(), showValue: prepareValue };
  for (const [url, p, s] of cases) {
    const req = fakeRequest(url!);
    const prod = fakeResponse(p!);
    const answer = fakeAnswer('http://shadow:1', s!);
    if (url === '/deep') assert.throws(() => diffResponses({ status: 200, headers: prod.headers, body: prod.body! }, { status: 200, headers: answer.headers!, body: answer.body! }, full), RangeError);
    stage.exchange({ request: req, response: prod, responseMissing: null });
    stage.replayed(req, [answer]);
  }
  stage.flush();
  const r = stage.results({}, true);
  assert.equal(r.counters.diffFailures, 1);
  const by = new Map(r.endpoints.map((e) => [e.key, e.shadows[0]!]));
  assert.equal(by.get('GET /deep')?.compared, 0);
  assert.equal(by.get('GET /shallow')?.compared, 1);
  assert.deepEqual(by.get('GET /shallow')?.fields, { '$.a': { diffs: 1, kinds: { type: 1 } }, '$.n': { diffs: 1, kinds: { value: 1 } } });
  assert.deepEqual(written.map((w) => w.diffs.find((d) => d.at === '$.a')), [{ path: '$.a', at: '$.a', kind: 'type', expected: { b: 1 }, actual: [1] }]);
});
