import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import * as zlib from 'node:zlib';
import { headerList } from '../../src/replay';
import { headerValue, joinedHeaderValue } from '../../src/http';
import {
  ComparableResponse, DiffOptions, FieldDiff, canonicalJson, defaultDiffOptions, defaultIgnoredHeaders, diffHeaders, diffJson,
  diffResponses, diffText, isIdKey, newDiffStats, truncateString,
} from '../../src/compare/diff';

function opts(over: Partial<DiffOptions> = {}): DiffOptions {
  return { ...defaultDiffOptions(), ...over };
}
function dj(e: unknown, a: unknown, o: Partial<DiffOptions> = {}): FieldDiff[] {
  const out: FieldDiff[] = [];
  diffJson(e, a, opts(o), out);
  return out;
}
function dt(e: string, a: string, maxEdits?: number): FieldDiff[] {
  const out: FieldDiff[] = [];
  diffText(e, a, out, maxEdits === undefined ? {} : { maxEdits });
  return out;
}

// A realistic order document as an API would return it.
function order(): Record<string, unknown> {
  return {
    id: 'ord_8842', status: 'shipped', createdAt: '2024-05-01T10:22:31Z',
    customer: { id: 1042, name: 'Ada Lovelace', email: 'ada@example.com', vip: true, tags: ['early-adopter', 'eu'] },
    items: [
      { sku: 'BK-1042', title: 'Notes on the Analytical Engine', qty: 2, price: 39.95 },
      { sku: 'MG-0007', title: 'Mug', qty: 1, price: 12.5 },
      { sku: 'PN-0311', title: 'Pen', qty: 3, price: 2.2 },
    ],
    totals: { net: 108.0, vat: 20.52, gross: 128.52, currency: 'EUR' },
    shipping: null,
    meta: { generatedAt: '2024-05-01T10:22:31.123Z', version: 3 },
  };
}
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

describe('diffJson', () => {
  it('equal documents and reordered keys give no diff', () => {
    assert.deepEqual(dj(order(), order()), []);
    const o = order();
    const reordered = Object.fromEntries(Object.entries(o).reverse().map(([k, v]) =>
      [k, v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).reverse()) : v]));
    assert.deepEqual(dj(o, reordered), []);
  });

  it('value changes at nested paths, with generalised and concrete locations', () => {
    const a = order() as any;
    a.status = 'pending';
    a.customer.vip = false;
    a.items[1].price = 13;
    a.totals.currency = 'USD';
    assert.deepEqual(dj(order(), a), [
      { path: '$.status', at: '$.status', kind: 'value', expected: 'shipped', actual: 'pending' },
      { path: '$.customer.vip', at: '$.customer.vip', kind: 'value', expected: true, actual: false },
      { path: '$.items[*].price', at: '$.items[1].price', kind: 'value', expected: 12.5, actual: 13 },
      { path: '$.totals.currency', at: '$.totals.currency', kind: 'value', expected: 'EUR', actual: 'USD' },
    ]);
  });

  it('type changes: number vs string, object vs array, null vs object, bool vs string', () => {
    const a = order() as any;
    a.customer.id = '1042';
    a.customer.tags = { 0: 'early-adopter' };
    a.shipping = { carrier: 'DHL' };
    a.customer.vip = 'true';
    a.meta = null;
    const d = dj(order(), a);
    assert.deepEqual(d.map((x) => [x.kind, x.at, x.expected, x.actual]), [
      ['type', '$.customer.id', 1042, '1042'],
      ['type', '$.customer.vip', true, 'true'],
      ['type', '$.customer.tags', ['early-adopter', 'eu'], { 0: 'early-adopter' }],
      ['type', '$.shipping', null, { carrier: 'DHL' }],
      ['type', '$.meta', { generatedAt: '2024-05-01T10:22:31.123Z', version: 3 }, null],
    ]);
    assert.deepEqual(dj([1], { 0: 1 }).map((x) => x.kind), ['type']);
    assert.deepEqual(dj({}, []).map((x) => x.kind), ['type']);
  });

  it('missing and extra fields', () => {
    const a = order() as any;
    delete a.customer.email;
    a.customer.phone = '+44 20 7946 0000';
    delete a.meta;
    assert.deepEqual(dj(order(), a), [
      { path: '$.customer.email', at: '$.customer.email', kind: 'missing', expected: 'ada@example.com' },
      { path: '$.customer.phone', at: '$.customer.phone', kind: 'extra', actual: '+44 20 7946 0000' },
      { path: '$.meta', at: '$.meta', kind: 'missing', expected: { generatedAt: '2024-05-01T10:22:31.123Z', version: 3 } },
    ]);
    // A field that is null on one side and absent on the other is missing, not equal.
    assert.deepEqual(dj({ a: null }, {}), [{ path: '$.a', at: '$.a', kind: 'missing', expected: null }]);
  });

  it('odd keys are bracket-quoted so paths stay unambiguous', () => {
    const d = dj({ 'a.b': 1, 'with space': 2, '': 3, '*': 4 }, { 'a.b': 2, 'with space': 3, '': 4, '*': 5 });
    assert.deepEqual(d.map((x) => x.at), ['$["a.b"]', '$["with space"]', '$[""]', '$["*"]']);
  });

  it('ordered arrays: element-wise, length differences as missing/extra at [*]', () => {
    const shorter = order() as any;
    shorter.items.pop();
    assert.deepEqual(dj(order(), shorter), [
      { path: '$.items[*]', at: '$.items[2]', kind: 'missing', expected: { sku: 'PN-0311', title: 'Pen', qty: 3, price: 2.2 } },
    ]);
    const longer = order() as any;
    longer.customer.tags.push('beta', 'newsletter');
    assert.deepEqual(dj(order(), longer), [
      { path: '$.customer.tags[*]', at: '$.customer.tags[2]', kind: 'extra', actual: 'beta' },
      { path: '$.customer.tags[*]', at: '$.customer.tags[3]', kind: 'extra', actual: 'newsletter' },
    ]);
    // Swapped elements are a difference when order matters.
    const swapped = order() as any;
    swapped.customer.tags.reverse();
    assert.deepEqual(dj(order(), swapped).map((x) => x.at), ['$.customer.tags[0]', '$.customer.tags[1]']);
    // Nested arrays.
    assert.deepEqual(dj({ m: [[1, 2], [3]] }, { m: [[1, 2], [3, 4]] }), [{ path: '$.m[*][*]', at: '$.m[1][1]', kind: 'extra', actual: 4 }]);
  });

  it('unordered arrays: multiset by canonical JSON, duplicates counted', () => {
    const o = { unorderedArrays: new Set(['$.customer.tags', '$.items']) };
    const shuffled = order() as any;
    shuffled.customer.tags.reverse();
    shuffled.items = [shuffled.items[2], shuffled.items[0], Object.fromEntries(Object.entries(shuffled.items[1]).reverse())];
    assert.deepEqual(dj(order(), shuffled, o), []);
    const changed = order() as any;
    changed.items.reverse();
    changed.items[0].price = 2.5; // the pen, now first
    changed.items.push(clone(changed.items[1]));
    assert.deepEqual(dj(order(), changed, o), [
      { path: '$.items[*]', at: '$.items[2]', kind: 'missing', expected: { sku: 'PN-0311', title: 'Pen', qty: 3, price: 2.2 } },
      { path: '$.items[*]', at: '$.items[0]', kind: 'extra', actual: { sku: 'PN-0311', title: 'Pen', qty: 3, price: 2.5 } },
      { path: '$.items[*]', at: '$.items[3]', kind: 'extra', actual: { sku: 'MG-0007', title: 'Mug', qty: 1, price: 12.5 } },
    ]);
    assert.deepEqual(dj({ t: ['a', 'a', 'b'] }, { t: ['b', 'a'] }, { unorderedArrays: new Set(['$.t']) }),
      [{ path: '$.t[*]', at: '$.t[1]', kind: 'missing', expected: 'a' }]);
    // Only the configured path is unordered; nested paths use the generalised form.
    assert.deepEqual(dj({ g: [{ ids: [1, 2] }] }, { g: [{ ids: [2, 1] }] }, { unorderedArrays: new Set(['$.g[*].ids']) }), []);
    assert.equal(dj({ g: [{ ids: [1, 2] }] }, { g: [{ ids: [2, 1] }] }).length, 2);
  });

  it('id-keyed maps generalise to {key}', () => {
    const users = (name: string) => ({
      users: {
        '550e8400-e29b-41d4-a716-446655440000': { name, age: 36 },
        '6ba7b810-9dad-11d1-80b4-00c04fd430c8': { name, age: 41 },
      },
      byNumber: { '1042': { n: name }, '77': { n: name } },
      byHex: { '5f3a9c2e1b7d': { n: name } },
      byToken: { 'dGhpcyBpcyBhIHRva2Vu7Q': { n: name } },
      byCode: { 'u-81f2': { name }, 'u-9a3c': { name } },
      byDay: { '2024-05-01': name, '2024-05-02': name },
    });
    const d = dj(users('Ada'), users('Grace'));
    assert.deepEqual(d.map((x) => [x.path, x.at]), [
      ['$.users.{key}.name', '$.users.550e8400-e29b-41d4-a716-446655440000.name'],
      ['$.users.{key}.name', '$.users.6ba7b810-9dad-11d1-80b4-00c04fd430c8.name'],
      ['$.byNumber.{key}.n', '$.byNumber.77.n'], // integer-like keys enumerate in numeric order
      ['$.byNumber.{key}.n', '$.byNumber.1042.n'],
      ['$.byHex.{key}.n', '$.byHex.5f3a9c2e1b7d.n'],
      ['$.byToken.{key}.n', '$.byToken.dGhpcyBpcyBhIHRva2Vu7Q.n'],
      ['$.byCode.{key}.name', '$.byCode.u-81f2.name'],
      ['$.byCode.{key}.name', '$.byCode.u-9a3c.name'],
      ['$.byDay.{key}', '$.byDay.2024-05-01'],
      ['$.byDay.{key}', '$.byDay.2024-05-02'],
    ]);
    // Different ids on the two sides: missing/extra, still one generalised path.
    assert.deepEqual(dj({ s: { '1001': 1 } }, { s: { '1002': 1 } }).map((x) => [x.kind, x.path, x.at]),
      [['missing', '$.s.{key}', '$.s.1001'], ['extra', '$.s.{key}', '$.s.1002']]);
  });

  it('ordinary field names are not ids', () => {
    for (const k of ['name', 'createdAt', 'lastModifiedTimestamp', 'deadbeef', 'line1', 'sha256', 'ipv6', 'x', 'ETag', 'utf8'])
      assert.equal(isIdKey(k), false, k);
    for (const k of ['0', '1042', '550e8400e29b41d4a716446655440000', '5f3a9c2e', 'dGhpcyBpcyBhIHRva2Vu7Q', 'tok_4eC39HqLyjWDarjtT1zdp7dc'])
      assert.equal(isIdKey(k), true, k);
    // Mixed objects keep their field names; only the id-like keys generalise.
    assert.deepEqual(dj({ line1: 'a', line2: 'b', sha256: 'x' }, { line1: 'A', line2: 'b', sha256: 'y' }).map((x) => x.path), ['$.line1', '$.sha256']);
    assert.deepEqual(dj({ name: 'a', '1042': 1 }, { name: 'a', '1042': 2 }).map((x) => x.path), ['$.{key}']);
    // A single short code is not enough to call an object a map.
    assert.deepEqual(dj({ 'v2-beta': 1 }, { 'v2-beta': 2 }).map((x) => x.path), ['$.v2-beta']);
  });

  it('numbers: exact by default, NaN-safe, tolerance per path or *', () => {
    assert.deepEqual(dj({ p: 0.1 + 0.2 }, { p: 0.3 }).map((x) => x.kind), ['value']);
    assert.deepEqual(dj({ p: NaN }, { p: NaN }), []);
    assert.deepEqual(dj({ p: NaN }, { p: 1 }).map((x) => x.kind), ['value']);
    assert.deepEqual(dj({ p: 0 }, { p: -0 }), []);
    const tol = { numericTolerance: new Map([['$.items[*].price', 0.01]]) };
    const a = order() as any;
    a.items[0].price = 39.955;
    a.items[1].price = 12.6;
    a.totals.vat = 20.525;
    assert.deepEqual(dj(order(), a, tol).map((x) => x.at), ['$.items[1].price', '$.totals.vat']);
    assert.deepEqual(dj(order(), a, { numericTolerance: new Map([['*', 0.2]]) }), []);
    // A path entry wins over '*'.
    assert.deepEqual(dj(order(), a, { numericTolerance: new Map([['*', 0.2], ['$.items[*].price', 0]]) }).map((x) => x.at),
      ['$.items[0].price', '$.items[1].price']);
    assert.deepEqual(dj({ p: Infinity }, { p: Infinity }, { numericTolerance: new Map([['*', 1]]) }), []);
  });

  it('ignorePaths: generalised and concrete, whole subtrees, array elements', () => {
    const a = order() as any;
    a.meta.generatedAt = '2024-05-01T10:22:32.456Z';
    a.items[0].title = 'Notes';
    a.items[1].title = 'Cup';
    a.customer.tags.push('x');
    assert.deepEqual(dj(order(), a, { ignorePaths: new Set(['$.meta.generatedAt', '$.items[*].title', '$.customer.tags[*]']) }), []);
    assert.deepEqual(dj(order(), a, { ignorePaths: new Set(['$.meta', '$.items[0].title', '$.customer.tags']) }).map((x) => x.at), ['$.items[1].title']);
    assert.deepEqual(dj(order(), a, { ignorePaths: new Set(['$']) }), []);
    // Missing/extra fields are ignored too.
    assert.deepEqual(dj({ a: 1, t: 1 }, { a: 1, u: 2 }, { ignorePaths: new Set(['$.t', '$.u']) }), []);
  });

  it('long strings are truncated in expected/actual', () => {
    const long = 'x'.repeat(5000);
    const [d] = dj({ s: long }, { s: long + 'y' });
    assert.equal(d!.expected, 'x'.repeat(200) + '…(+4800 chars)');
    assert.equal((d!.actual as string).length < 220, true);
    // Never split a surrogate pair.
    assert.equal(truncateString('a'.repeat(199) + '😀' + 'b'.repeat(10)), 'a'.repeat(199) + '…(+12 chars)');
    // Big containers shown as truncated JSON text.
    const [m] = dj({ big: Array.from({ length: 100 }, (_, i) => ({ i })) }, {});
    assert.equal(typeof m!.expected, 'string');
    assert.match(m!.expected as string, /^\[\{"i":0\},/);
  });

  it('maxDiffs stops recording and counts the rest', () => {
    const e = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}x`, i]));
    const a = Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`f${i}x`, -i - 1]));
    const out: FieldDiff[] = [];
    const stats = newDiffStats();
    diffJson(e, a, opts({ maxDiffs: 10 }), out, stats);
    assert.equal(out.length, 10);
    assert.equal(stats.truncated, 40);
  });

  it('depth limit: deeper subtrees compare as a whole and are counted', () => {
    const deep = (leaf: number): unknown => { let v: unknown = leaf; for (let i = 0; i < 100; i++) v = { n: v }; return v; };
    const out: FieldDiff[] = [];
    const stats = newDiffStats();
    diffJson(deep(1), deep(2), opts({ maxDepth: 10 }), out, stats);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.path, '$' + '.n'.repeat(10));
    assert.equal(stats.depthLimited, 1);
    const s2 = newDiffStats();
    const o2: FieldDiff[] = [];
    diffJson(deep(1), deep(1), opts({ maxDepth: 10 }), o2, s2);
    assert.deepEqual(o2, []);
    // Very deep documents (beyond what recursion could take) do not throw.
    let v: unknown = 1, w: unknown = 2;
    for (let i = 0; i < 50_000; i++) { v = [v]; w = [w]; }
    const o3: FieldDiff[] = [];
    assert.doesNotThrow(() => diffJson(v, w, opts(), o3));
    assert.equal(o3.length, 1);
  });

  it('canonicalJson sorts keys and handles non-finite numbers', () => {
    assert.equal(canonicalJson({ b: 1, a: [{ d: 1, c: 2 }] }), '{"a":[{"c":2,"d":1}],"b":1}');
    assert.equal(canonicalJson([NaN, Infinity, -Infinity, undefined]), '["NaN","Infinity","-Infinity",null]');
  });

  it('speed: equal 50 KB documents (diagnostic)', (t) => {
    const doc = {
      page: 1,
      users: Object.fromEntries(Array.from({ length: 180 }, (_, i) => [`${100000 + i}`, {
        name: `User ${i}`, email: `user${i}@example.com`, active: i % 3 !== 0, score: i * 1.5,
        roles: ['reader', i % 5 ? 'writer' : 'admin'], address: { city: 'Berlin', zip: `10${i}`, geo: [52.52, 13.405] },
      }])),
      items: Array.from({ length: 220 }, (_, i) => ({ id: i, sku: `SKU-${i}`, price: i + 0.99, tags: ['a', 'b'], stock: { wh1: i, wh2: i * 2 } })),
    };
    const text = JSON.stringify(doc);
    assert.ok(text.length > 45_000 && text.length < 60_000, String(text.length));
    const a = JSON.parse(text), b = JSON.parse(text);
    const o = opts();
    const out: FieldDiff[] = [];
    for (let i = 0; i < 200; i++) diffJson(a, b, o, out); // warm up
    const n = 2000;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) diffJson(a, b, o, out);
    const us = Number(process.hrtime.bigint() - t0) / 1000 / n;
    assert.equal(out.length, 0);
    t.diagnostic(`diffJson equal ${text.length} B document: ${us.toFixed(1)} µs per diff`);
  });
});

describe('diffText', () => {
  const base = ['<html>', '<head><title>Orders</title></head>', '<body>', '<h1>Orders</h1>', '<ul>', '<li>ord_1</li>', '<li>ord_2</li>', '</ul>', '</body>', '</html>', ''].join('\n');

  it('equal text gives no diff', () => {
    assert.deepEqual(dt(base, base), []);
  });

  it('a changed line', () => {
    assert.deepEqual(dt(base, base.replace('ord_2', 'ord_3')), [
      { path: 'body', at: 'line 7', kind: 'text', expected: '<li>ord_2</li>', actual: '<li>ord_3</li>' },
    ]);
  });

  it('inserted and deleted lines, each hunk once', () => {
    const ins = base.replace('<li>ord_2</li>', '<li>ord_2</li>\n<li>ord_9</li>\n<li>ord_10</li>');
    assert.deepEqual(dt(base, ins), [{ path: 'body', at: 'line 8', kind: 'text', expected: '', actual: '<li>ord_9</li>\n<li>ord_10</li>' }]);
    const del = base.replace('<h1>Orders</h1>\n', '');
    assert.deepEqual(dt(base, del), [{ path: 'body', at: 'line 4', kind: 'text', expected: '<h1>Orders</h1>', actual: '' }]);
    const both = base.replace('<title>Orders</title>', '<title>Orders!</title>').replace('<li>ord_1</li>\n', '') + '<!-- shadow -->\n';
    assert.deepEqual(dt(base, both).map((d) => [d.at, d.expected, d.actual]), [
      ['line 2', '<head><title>Orders</title></head>', '<head><title>Orders!</title></head>'],
      ['line 6', '<li>ord_1</li>', ''],
      ['line 11', '', '<!-- shadow -->'],
    ]);
  });

  it('only the final newline differs', () => {
    assert.deepEqual(dt('a\nb\n', 'a\nb'), [{ path: 'body', at: 'line 2', kind: 'text', expected: '"\\n"', actual: '"b"' }]);
  });

  it('matches a brute-force LCS on random inputs', () => {
    let seed = 7;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let round = 0; round < 300; round++) {
      const e = Array.from({ length: rnd(12) }, () => 'abcd'[rnd(4)]!);
      const a = Array.from({ length: rnd(12) }, () => 'abcd'[rnd(4)]!);
      const lcs: number[][] = Array.from({ length: e.length + 1 }, () => new Array<number>(a.length + 1).fill(0));
      for (let i = e.length - 1; i >= 0; i--) for (let j = a.length - 1; j >= 0; j--)
        lcs[i]![j] = e[i] === a[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
      const d = dt(e.join('\n'), a.join('\n'));
      if (e.join('\n') === a.join('\n')) { assert.deepEqual(d, []); continue; }
      if (e.length === 0 || a.length === 0) continue; // '' is one empty line: checked elsewhere
      const count = (s: unknown): number => (s === '' ? 0 : String(s).split('\n').length);
      const deleted = d.reduce((s, x) => s + count(x.expected), 0);
      const inserted = d.reduce((s, x) => s + count(x.actual), 0);
      assert.equal(deleted, e.length - lcs[0]![0]!, `${e} / ${a}`);
      assert.equal(inserted, a.length - lcs[0]![0]!, `${e} / ${a}`);
      // Hunks in order, deleted lines really are production's lines at that place.
      let last = 0;
      for (const x of d) {
        const n = Number(x.at.slice(5));
        assert.ok(n > last || (n === last && x.expected === ''), `${x.at} after ${last}`);
        if (x.expected !== '') assert.equal(x.expected, e.slice(n - 1, n - 1 + count(x.expected)).join('\n'));
        last = n;
      }
    }
  });

  it('falls back to the first differing line when the edit distance is too large', () => {
    const e = Array.from({ length: 500 }, (_, i) => `line ${i}`).join('\n');
    const a = Array.from({ length: 500 }, (_, i) => (i < 3 ? `line ${i}` : `other ${i}`)).join('\n');
    const out: FieldDiff[] = [];
    const stats = newDiffStats();
    diffText(e, a, out, { maxEdits: 50 }, stats);
    assert.equal(out.length, 1);
    assert.equal(out[0]!.at, 'line 4');
    assert.match(out[0]!.expected as string, /^line 3\nline 4\n/);
    assert.match(out[0]!.actual as string, /^other 3\n/);
    assert.equal((out[0]!.expected as string).length <= 220, true);
    assert.equal(stats.textFallbacks, 1);
    // With room for the edits the same input diffs as one hunk too (every line changed).
    assert.equal(dt(e, a).length, 1);
  });

  it('huge inputs stay fast: 200k lines, a few changes', (t) => {
    const lines = Array.from({ length: 200_000 }, (_, i) => `row ${i},${(i * 7919) % 10007}`);
    const changed = [...lines];
    changed[1000] = 'changed';
    changed.splice(150_000, 0, 'inserted');
    const t0 = process.hrtime.bigint();
    const d = dt(lines.join('\n'), changed.join('\n'));
    t.diagnostic(`diffText 200k lines: ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`);
    assert.deepEqual(d.map((x) => x.at), ['line 1001', 'line 150001']);
  });

  it('maxDiffs for text', () => {
    const out: FieldDiff[] = [];
    const stats = newDiffStats();
    diffText('a\nb\nc\nd\ne', 'A\nb\nC\nd\nE', out, { maxDiffs: 2 }, stats);
    assert.equal(out.length, 2);
    assert.equal(stats.truncated, 1);
  });
});

describe('diffHeaders', () => {
  const dh = (e: string[], a: string[], o: Partial<DiffOptions> = {}): FieldDiff[] => {
    const out: FieldDiff[] = [];
    diffHeaders(e, a, opts(o), out);
    return out;
  };
  const prod = [
    'Date', 'Tue, 14 May 2024 10:00:00 GMT', 'Server', 'nginx/1.24.0', 'Content-Type', 'application/json; charset=utf-8',
    'Content-Length', '1234', 'Cache-Control', 'private, max-age=0', 'X-Request-Id', 'a1b2c3', 'Vary', 'Accept-Encoding',
    'Vary', 'Origin', 'Set-Cookie', 'session=abc; Path=/; HttpOnly; Expires=Tue, 14 May 2024 11:00:00 GMT',
    'Set-Cookie', 'csrf=xyz; Path=/', 'Content-Encoding', 'gzip', 'ETag', 'W/"5e-abc"',
  ];

  it('case-insensitive names, multi-values, ignored headers, cookie values: no diff', () => {
    const shadow = [
      'date', 'Tue, 14 May 2024 10:00:07 GMT', 'server', 'envoy', 'content-type', 'application/json; charset=utf-8',
      'transfer-encoding', 'chunked', 'cache-control', 'max-age=0, private', 'x-request-id', 'zz9', 'vary', 'Origin',
      'set-cookie', 'csrf=other; Path=/', 'set-cookie', 'session=def; Path=/; HttpOnly; Max-Age=3600', 'etag', '"other"',
    ];
    assert.deepEqual(dh(prod, shadow), []);
  });

  it('undici\'s header objects as the replay stage lists them (joined values, set-cookie arrays)', () => {
    assert.deepEqual(dh(prod, headerList({
      'content-type': 'application/json; charset=utf-8', 'cache-control': 'private, max-age=0', vary: 'Accept-Encoding, Origin',
      'set-cookie': ['session=1', 'csrf=2'],
    })), []);
  });

  it('value, missing and extra headers', () => {
    assert.deepEqual(dh(['Content-Type', 'text/html', 'Location', '/a', 'X-Frame-Options', 'DENY'], ['content-type', 'text/plain', 'location', '/a', 'x-new', '1']), [
      { path: 'header.content-type', at: 'header.content-type', kind: 'header', expected: 'text/html', actual: 'text/plain' },
      { path: 'header.x-frame-options', at: 'header.x-frame-options', kind: 'missing', expected: 'DENY' },
      { path: 'header.x-new', at: 'header.x-new', kind: 'extra', actual: '1' },
    ]);
    // Repeated values are a list: a value more on one side is a difference.
    assert.deepEqual(dh(['Link', '</a>; rel=preload', 'Link', '</b>; rel=preload'], ['link', '</a>; rel=preload']).map((d) => d.kind), ['header']);
  });

  it('set-cookie by name: missing and extra cookies, values never shown', () => {
    assert.deepEqual(dh(['Set-Cookie', 'session=secret1; HttpOnly', 'Set-Cookie', 'lang=en'], ['set-cookie', 'session=secret2; HttpOnly', 'set-cookie', 'theme=dark']), [
      { path: 'header.set-cookie', at: 'header.set-cookie["lang"]', kind: 'missing', expected: 'lang' },
      { path: 'header.set-cookie', at: 'header.set-cookie["theme"]', kind: 'extra', actual: 'theme' },
    ]);
    assert.deepEqual(dh(['Set-Cookie', 'a=1'], []).map((d) => [d.kind, d.at]), [['missing', 'header.set-cookie["a"]']]);
    assert.deepEqual(dh([], ['set-cookie', 'b=1']).map((d) => [d.kind, d.at]), [['extra', 'header.set-cookie["b"]']]);
  });

  it('vary: token set, accept-encoding alone is not a difference', () => {
    assert.deepEqual(dh(['Vary', 'Accept-Encoding'], []), []);
    assert.deepEqual(dh([], ['vary', 'accept-encoding']), []);
    assert.deepEqual(dh(['Vary', 'Origin, Accept'], ['vary', 'accept, origin, Accept-Encoding']), []);
    assert.deepEqual(dh(['Vary', 'Origin'], ['vary', 'Accept-Encoding']).map((d) => d.kind), ['header']);
    assert.deepEqual(dh(['Vary', 'Origin'], []).map((d) => d.kind), ['missing']);
  });

  it('ignoreHeaders and ignorePaths', () => {
    assert.deepEqual(dh(['X-Build', '1'], ['x-build', '2'], { ignoreHeaders: new Set(['x-build']) }), []);
    assert.deepEqual(dh(['X-Build', '1'], ['x-build', '2'], { ignorePaths: new Set(['header.x-build']) }), []);
    assert.deepEqual(dh(['Set-Cookie', 'a=1'], [], { ignorePaths: new Set(['header.set-cookie["a"]']) }), []);
    // With no ignore list, date and server differ.
    assert.deepEqual(dh(['Date', 'x', 'Server', 'a'], ['date', 'y', 'server', 'b'], { ignoreHeaders: new Set() }).map((d) => d.path), ['header.date', 'header.server']);
  });

  it('the default ignore list', () => {
    for (const h of ['date', 'server', 'x-request-id', 'request-id', 'x-correlation-id', 'x-amzn-trace-id', 'traceparent', 'tracestate', 'etag',
      'last-modified', 'age', 'expires', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'content-encoding']) {
      assert.ok(defaultIgnoredHeaders.has(h), h);
    }
    for (const h of ['set-cookie', 'vary', 'content-type', 'cache-control', 'location']) assert.ok(!defaultIgnoredHeaders.has(h), h);
  });

  it('joinedHeaderValue joins repeated values; headerValue takes the first', () => {
    assert.equal(joinedHeaderValue(['A', '1', 'a', ' 2 '], 'a'), '1, 2');
    assert.equal(joinedHeaderValue([], 'a'), null);
    assert.equal(headerValue(['A', '1', 'a', '2'], 'a'), '1');
  });
});

describe('diffResponses', () => {
  const body = JSON.stringify(order());
  const res = (over: Partial<ComparableResponse> = {}): ComparableResponse =>
    ({ status: 200, headers: ['Content-Type', 'application/json', 'Date', 'Mon, 13 May 2024 00:00:00 GMT'], body: Buffer.from(body), ...over });

  it('identical responses', () => {
    assert.deepEqual(diffResponses(res(), res(), opts()), { diffs: [], truncated: 0, overflowPaths: new Map(), bodyKind: 'json', decodeErrors: [], depthLimited: 0, textFallbacks: 0 });
  });

  it('status diff', () => {
    const r = diffResponses(res(), res({ status: 503 }), opts());
    assert.deepEqual(r.diffs, [{ path: 'status', at: 'status', kind: 'status', expected: 200, actual: 503 }]);
    assert.deepEqual(diffResponses(res(), res({ status: 503 }), opts({ ignorePaths: new Set(['status']) })).diffs, []);
  });

  it('gzip on one side only, equal bodies: no diff', () => {
    const gz = res({ headers: ['Content-Type', 'application/json', 'Content-Encoding', 'gzip', 'Content-Length', '300', 'Vary', 'Accept-Encoding'], body: zlib.gzipSync(body) });
    assert.deepEqual(diffResponses(gz, res(), opts()).diffs, []);
    assert.deepEqual(diffResponses(res(), gz, opts()).diffs, []);
    const br = res({ headers: ['content-type', 'application/json', 'content-encoding', 'br'], body: zlib.brotliCompressSync(body) });
    assert.deepEqual(diffResponses(gz, br, opts()).diffs, []);
    const raw = res({ headers: ['Content-Type', 'application/json', 'Content-Encoding', 'deflate'], body: zlib.deflateRawSync(body) });
    const wrapped = res({ headers: ['Content-Type', 'application/json', 'Content-Encoding', 'deflate'], body: zlib.deflateSync(body) });
    assert.deepEqual(diffResponses(raw, wrapped, opts()), { diffs: [], truncated: 0, overflowPaths: new Map(), bodyKind: 'json', decodeErrors: [], depthLimited: 0, textFallbacks: 0 });
  });

  it('JSON bodies diff structurally after decoding', () => {
    const changed = order() as any;
    changed.totals.gross = 128.53;
    const r = diffResponses(res({ headers: ['Content-Type', 'application/json', 'Content-Encoding', 'gzip'], body: zlib.gzipSync(body) }),
      res({ body: Buffer.from(JSON.stringify(changed, null, 2)) }), opts());
    assert.equal(r.bodyKind, 'json');
    assert.deepEqual(r.diffs, [{ path: '$.totals.gross', at: '$.totals.gross', kind: 'value', expected: 128.52, actual: 128.53 }]);
  });

  it('bad gzip: a decode error, not a throw; the raw bytes are compared', () => {
    const bad = res({ headers: ['Content-Type', 'application/json', 'Content-Encoding', 'gzip'], body: Buffer.from('{"oops":') });
    let r!: ReturnType<typeof diffResponses>;
    assert.doesNotThrow(() => { r = diffResponses(res(), bad, opts()); });
    assert.equal(r.decodeErrors.length, 1);
    assert.match(r.decodeErrors[0]!, /^shadow: gzip: /);
    assert.equal(r.bodyKind, 'text'); // JSON that does not parse falls back to lines
    assert.equal(r.diffs.length, 1);
    assert.equal(r.diffs[0]!.kind, 'text');
  });

  it('decompression bomb on both sides: capped, reported, compared raw', () => {
    const bomb = zlib.gzipSync(Buffer.alloc(8 << 20));
    const b = res({ headers: ['Content-Type', 'application/json', 'Content-Encoding', 'gzip'], body: bomb });
    const r = diffResponses(b, b, opts({ maxBodyBytes: 1 << 20 }));
    assert.deepEqual(r.decodeErrors, [`production: gzip: decoded size exceeds ${1 << 20} bytes`, `shadow: gzip: decoded size exceeds ${1 << 20} bytes`]);
    assert.deepEqual(r.diffs, []);
  });

  it('text bodies diff by lines', () => {
    const html = (x: string) => res({ headers: ['Content-Type', 'text/html; charset=utf-8'], body: Buffer.from(`<html>\n<body>\n<p>${x}</p>\n</body>\n</html>\n`) });
    const r = diffResponses(html('Hello'), html('Hallo'), opts());
    assert.equal(r.bodyKind, 'text');
    assert.deepEqual(r.diffs, [{ path: 'body', at: 'line 3', kind: 'text', expected: '<p>Hello</p>', actual: '<p>Hallo</p>' }]);
  });

  it('JSON vs an HTML error page: lines plus the content-type header', () => {
    const r = diffResponses(res(), res({ status: 502, headers: ['Content-Type', 'text/html'], body: Buffer.from('<h1>Bad Gateway</h1>\n') }), opts());
    assert.equal(r.bodyKind, 'text');
    assert.deepEqual(r.diffs.map((d) => d.kind), ['status', 'header', 'text']);
  });

  it('binary bodies: size and sha256', () => {
    const png = (n: number) => Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(n, 7)]);
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    const p = png(100), s = png(90);
    const r = diffResponses(res({ headers: ['Content-Type', 'image/png'], body: p }), res({ headers: ['Content-Type', 'image/png'], body: s }), opts());
    assert.equal(r.bodyKind, 'binary');
    assert.deepEqual(r.diffs, [{ path: 'body', at: 'body', kind: 'binary', expected: { size: 108, sha256: sha(p) }, actual: { size: 98, sha256: sha(s) } }]);
    assert.deepEqual(diffResponses(res({ headers: ['Content-Type', 'image/png'], body: p }), res({ headers: ['Content-Type', 'image/png'], body: Buffer.from(p) }), opts()).diffs, []);
  });

  it('maxDiffs across status, headers and body; ignorePaths body', () => {
    const a = order() as any;
    a.status = 'x'; a.id = 'y'; a.customer.name = 'z';
    const r = diffResponses(res(), res({ status: 500, headers: ['Content-Type', 'application/json', 'X-Extra', '1'], body: Buffer.from(JSON.stringify(a)) }), opts({ maxDiffs: 2 }));
    assert.deepEqual(r.diffs.map((d) => d.path), ['status', 'header.x-extra']);
    assert.equal(r.truncated, 3);
    assert.deepEqual(diffResponses(res(), res({ body: Buffer.from('{}') }), opts({ ignorePaths: new Set(['body']) })).diffs, []);
  });

  it('empty bodies (HEAD, 204) are equal whatever the headers claim', () => {
    const empty = res({ status: 204, headers: ['Content-Encoding', 'gzip'], body: Buffer.alloc(0) });
    assert.deepEqual(diffResponses(empty, res({ status: 204, headers: [], body: Buffer.alloc(0) }), opts()).diffs, []);
  });
});
