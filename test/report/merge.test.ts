// Merging result directories, in process: one traffic set compared whole and in three parts by
// the real compare stage gives the same totals and verdict once the parts are merged; the
// exchange-id list is lossless and finds the exchanges counted in more than one directory;
// directories that cannot be merged are refused with the directory named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CompareStage, LatencyHistogram, defaultCompareOptions } from '../../src/compare';
import type { ResultsJson } from '../../src/compare';
import { ConfigError } from '../../src/config/error';
import { analyze } from '../../src/report/analysis';
import { addCounts, findDuplicates, mergeResults, mergedSamples } from '../../src/report/merge';
import { IDS_FILE, OutputDir, RESULTS_FILE, ResultsFile, SAMPLES_FILE, forEachLine, idLine } from '../../src/report/outdir';
import { Redactor, defaultRedactOptions } from '../../src/traffic/redact';
import { fakeAnswer, fakeRequest, fakeResponse } from '../support/requests';

const SHADOW = 'http://shadow:1';
const OTHER = 'http://shadow:2';
const BASE = 'http://baseline:1';

/** Exchange i of a traffic set: four endpoints, a planted field change on /users, 5xx on
 * /reports, spread-out latencies; every request distinct (no repeat noise to learn). */
function feed(stage: CompareStage, i: number): void {
  const kind = i % 4;
  const url = ['/users/', '/orders/', '/reports/', '/search?q='][kind] + i;
  const req = fakeRequest(url, { startUs: 0 });
  const body = { id: i, name: `n${i}`, total: i * 3 };
  const prodUs = 200 + ((i * 7919) % 40_000);
  stage.exchange({ request: req, response: fakeResponse(JSON.stringify(body), { endUs: prodUs }), responseMissing: null });
  const shadowBody = kind === 0 ? { ...body, name: `m${i}` } : body;
  const shadowUs = prodUs * (kind === 3 ? 4 : 1) + ((i * 104_729) % 3000);
  stage.replayed(req, [
    fakeAnswer(SHADOW, JSON.stringify(shadowBody), { status: kind === 2 && i % 8 === 2 ? 500 : 200, latencyUs: shadowUs }),
    fakeAnswer(BASE, JSON.stringify(body), { latencyUs: prodUs + 50 }),
  ]);
}

function compared(indexes: number[]): ResultsJson {
  const stage = new CompareStage([SHADOW, BASE], BASE, { ...defaultCompareOptions(), latencyWarmup: 0 });
  for (const i of indexes) feed(stage, i);
  stage.flush();
  const seen = indexes.length;
  return stage.results({ seen, replayed: seen, notReplayed: { queueFull: 1 }, pending: 0, shadows: [{ target: SHADOW, sent: seen, byStatusClass: { '2xx': seen } }] }, true);
}

test('three parts merged = the whole: counts, fields, signatures, noise, histograms, accounting and verdict', () => {
  const all = Array.from({ length: 1200 }, (_, i) => i);
  const whole = compared(all);
  const parts = [0, 1, 2].map((p) => compared(all.filter((i) => i % 3 === p)));
  const merged = mergeResults(['a', 'b', 'c'], parts);

  const byKey = (r: ResultsJson) => new Map(r.endpoints.map((e) => [e.key, e]));
  const w = byKey(whole);
  const m = byKey(merged);
  assert.deepEqual([...m.keys()].sort(), [...w.keys()].sort());
  for (const [key, we] of w) {
    const me = m.get(key)!;
    // Noise is learned per run (every comparison up to 200 per endpoint, then one in ten), so
    // parts hold the sum of their own samples: more than one run over the same traffic.
    const partsNoise = parts.reduce((n, p) => n + (p.endpoints.find((e) => e.key === key)?.noise.comparisons ?? 0), 0);
    assert.equal(me.noise.comparisons, partsNoise, key);
    assert.ok(me.noise.comparisons >= we.noise.comparisons, key);
    const counts = (e: typeof we) => ({
      production: { ...e.production, latency: undefined }, noise: { ...e.noise, comparisons: 0, fromBaseline: 0 },
      shadows: e.shadows.map((s) => ({ ...s, latency: undefined })),
      baseline: e.baseline && { ...e.baseline, latency: undefined },
    });
    assert.deepEqual(counts(me), counts(we), key);
    // Histograms merge exactly: the same counts in the same buckets, the same sum/min/max.
    for (const [a, b] of [[me.production.latency, we.production.latency], [me.shadows[0].latency, we.shadows[0].latency]]) {
      const ha = LatencyHistogram.fromJSON(a);
      const hb = LatencyHistogram.fromJSON(b);
      assert.deepEqual(ha.summary(), hb.summary(), key);
      assert.deepEqual(ha.buckets(), hb.buckets(), key);
      assert.deepEqual(ha.quantileBounds([0.5, 0.9, 0.99], 0.95), hb.quantileBounds([0.5, 0.9, 0.99], 0.95), key);
    }
  }
  const counters = { ...merged.counters, cpuMs: 0 };
  assert.deepEqual(counters, { ...whole.counters, cpuMs: 0 });
  assert.equal((merged.accounting as { seen: number }).seen, 1200);
  assert.deepEqual((merged.accounting as { notReplayed: unknown }).notReplayed, { queueFull: 3 });
  assert.deepEqual((merged.accounting as { shadows: unknown }).shadows, [{ target: SHADOW, sent: 1200, byStatusClass: { '2xx': 1200 } }]);

  const aw = analyze(whole);
  const am = analyze(merged);
  assert.equal(aw.verdict.pass, false, 'precondition: the planted regressions fail the whole');
  const failing = (a: typeof aw) => [...new Set(a.verdict.reasons.map((r) => r.slice(0, r.indexOf(': '))))].sort();
  assert.deepEqual(failing(aw), ['GET /reports/{id}', 'GET /search', 'GET /users/{id}'], aw.verdict.reasons.join('\n'));
  assert.match(aw.verdict.reasons.join('\n'), /GET \/search: p\d+ latency/);
  assert.deepEqual(am.verdict, aw.verdict);
  // Everything judged, but the noise sample sizes (see above; the noise rates are 0 in both).
  const judged = (a: typeof aw) => a.targets.map((t) => ({
    ...t, endpoints: t.endpoints.map((e) => ({
      ...e, noise: null, fields: e.fields.map((f) => ({ ...f, noiseComparisons: null })),
    })),
  }));
  assert.deepEqual(judged(am), judged(aw));
});

test('the merge keeps the run window spanning all parts, and complete only when all are', () => {
  const a = compared([1, 2, 3]);
  const b = compared([4, 5]);
  a.startedAt = '2026-01-01T10:00:00.000Z'; a.updatedAt = '2026-01-01T10:05:00.000Z';
  b.startedAt = '2026-01-01T09:59:00.000Z'; b.updatedAt = '2026-01-01T10:03:00.000Z'; b.complete = false;
  const m = mergeResults(['a', 'b'], [a, b]);
  assert.deepEqual([m.startedAt, m.updatedAt, m.complete], ['2026-01-01T09:59:00.000Z', '2026-01-01T10:05:00.000Z', false]);
});

test('shadows listed in another order merge slot by slot; different shadow sets or baselines are refused, naming both directories', () => {
  const mk = (targets: string[], baseline: string | null): ResultsJson => {
    const stage = new CompareStage(targets, baseline, { ...defaultCompareOptions(), latencyWarmup: 0 });
    const req = fakeRequest('/x');
    stage.exchange({ request: req, response: fakeResponse('{"a":1}'), responseMissing: null });
    stage.replayed(req, targets.map((t) => fakeAnswer(t, t === OTHER ? '{"a":2}' : '{"a":1}')));
    stage.flush();
    return stage.results({}, true);
  };
  const m = mergeResults(['one', 'two'], [mk([SHADOW, OTHER], null), mk([OTHER, SHADOW], null)]);
  assert.deepEqual(m.shadows, [SHADOW, OTHER]);
  assert.deepEqual(m.endpoints[0].shadows.map((s) => [s.target, s.compared, s.mismatched]), [[SHADOW, 2, 0], [OTHER, 2, 2]]);

  assert.throws(() => mergeResults(['/r/one', '/r/two'], [mk([SHADOW], null), mk([SHADOW, OTHER], null)]),
    (e: Error) => e instanceof ConfigError && /shadow sets differ/.test(e.message) && e.message.includes('/r/one') && e.message.includes('/r/two'));
  assert.throws(() => mergeResults(['/r/one', '/r/two'], [mk([SHADOW, BASE], BASE), mk([SHADOW], null)]),
    (e: Error) => e instanceof ConfigError && /baselines differ/.test(e.message) && e.message.includes('/r/two'));
});

test('damaged results name their directory', () => {
  const good = compared([1, 2]);
  const damaged = compared([1, 2]);
  damaged.endpoints[0].production.latency.hdr = 'not-a-histogram';
  for (const order of [[good, damaged], [damaged, good]]) {
    const names = order.map((p) => (p === good ? '/r/good' : '/r/damaged'));
    assert.throws(() => mergeResults(names, order),
      (e: Error) => e instanceof ConfigError && e.message.startsWith('<dir>: /r/damaged: damaged results (latency histogram JSON: bad hdr payload'), names.join());
  }
  const noCounts = compared([1]); // an endpoint the good one has too
  (noCounts.endpoints[0].shadows[0] as { skipped: unknown }).skipped = null;
  assert.throws(() => mergeResults(['/r/good', '/r/nulls'], [good, noCounts]), (e: Error) => e instanceof ConfigError && e.message.includes('/r/nulls: damaged results'));
});

test('accounting adds key by key, per-target lists by target; values that disagree are marked', () => {
  const into: Record<string, unknown> = { seen: 3, notReplayed: { queueFull: 1 }, shadows: [{ target: 'a', sent: 2, byStatusClass: { '2xx': 2 } }], mode: 'x' };
  addCounts(into, { seen: 4, notReplayed: { filtered: 2, queueFull: 1 }, shadows: [{ target: 'b', sent: 1 }, { target: 'a', sent: 5, byStatusClass: { '5xx': 1 } }], mode: 'y' });
  assert.deepEqual(into, {
    seen: 7, notReplayed: { queueFull: 2, filtered: 2 },
    shadows: [{ target: 'a', sent: 7, byStatusClass: { '2xx': 2, '5xx': 1 } }, { target: 'b', sent: 1 }], mode: '(differs between directories)',
  });
});

function tmp(t: { after: (fn: () => void) => void }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-merge-unit-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A result directory written by the real writer, its ids listed through compared(). */
function resultDir(dir: string, ids: string[], tail = ''): ResultsJson {
  const out = new OutputDir(dir, new Redactor(defaultRedactOptions()), undefined, { recordIds: true });
  const results = new ResultsFile(out, (complete) => ({ ...compared([1]), complete }), (err) => { throw err; }, 60_000);
  for (const id of ids) out.compared(id);
  results.finish();
  if (tail !== '') fs.appendFileSync(path.join(dir, IDS_FILE), tail);
  return JSON.parse(fs.readFileSync(path.join(dir, RESULTS_FILE), 'utf8')) as ResultsJson;
}

test('exchanges.ids: one line per id, lossless for any id, counted in results.json', (t) => {
  const dir = path.join(tmp(t), 'r');
  const odd = ['plain/1/0', 'with space', 'new\nline', '100%', '%41', 'ünï', '\ud800lone'];
  const r = resultDir(dir, odd);
  assert.deepEqual(r.ids, { file: IDS_FILE, written: odd.length, lost: 0 });
  const lines: string[] = [];
  forEachLine(path.join(dir, IDS_FILE), (l) => { lines.push(l); });
  assert.deepEqual(lines, odd.map(idLine));
  assert.equal(new Set(lines).size, odd.length, 'distinct ids stay distinct');
  assert.ok(lines.every((l) => /^[\x21-\x7e]+$/.test(l)), JSON.stringify(lines));
  assert.deepEqual(lines.slice(0, 5), ['plain/1/0', 'with%20space', 'new%0Aline', '100%25', '%2541']);
  assert.equal(fs.statSync(path.join(dir, IDS_FILE)).mode & 0o777, 0o600);
});

test('duplicates: ids in two directories, or twice in one, are found, counted and named', (t) => {
  const root = tmp(t);
  const dirs = ['w1', 'w2', 'w3', 'w4'].map((d) => path.join(root, d));
  const ids = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `rec/${from + i}/0`);
  const parts = [
    resultDir(dirs[0], ids(0, 5000)),
    resultDir(dirs[1], [...ids(4990, 9000), 'rec/9000/0', 'rec/9000/0']), // 10 redelivered from w1, one twice in itself
    resultDir(dirs[2], ids(9001, 12_000), 'rec/torn-by-a-kill'),
  ];
  fs.mkdirSync(dirs[3]);
  fs.copyFileSync(path.join(dirs[0], RESULTS_FILE), path.join(dirs[3], RESULTS_FILE)); // no ids file
  const d = findDuplicates(dirs, [...parts, parts[0]]);
  assert.ok(d !== null);
  assert.equal(d.exchanges, 11);
  assert.equal(d.countedTwice, 11);
  assert.equal(d.ids, 5000 + 4012 + 2999);
  assert.equal(d.notChecked, 1, 'the torn last line');
  assert.deepEqual(d.uncheckedDirectories, [dirs[3]]);
  assert.equal(d.checkedDirectories, 3);
  assert.equal(d.first.length, 10);
  assert.deepEqual(d.first[0], { id: 'rec/4990/0', dirs: [dirs[0], dirs[1]] });

  const none = findDuplicates(dirs.slice(0, 1), parts.slice(0, 1));
  assert.equal(none?.exchanges, 0);
  assert.equal(findDuplicates([dirs[3]], [parts[0]]), null, 'no ids file anywhere: nothing to check');
});

test('a list with a failed write is named as incomplete', (t) => {
  const root = tmp(t);
  const r = resultDir(path.join(root, 'a'), ['x/1/0']);
  const lost = { ...r, ids: { file: IDS_FILE, written: 1, lost: 3 } };
  const d = findDuplicates([path.join(root, 'a')], [lost]);
  assert.deepEqual(d?.incompleteDirectories, [path.join(root, 'a')]);
});

test('ResultsFile.flush(): ids appended and counted before results.json; false when results.json cannot be written', (t) => {
  const dir = path.join(tmp(t), 'worker');
  const out = new OutputDir(dir, new Redactor(defaultRedactOptions()), undefined, { recordIds: true });
  const errors: string[] = [];
  const results = new ResultsFile(out, (complete) => ({ ...compared([1]), complete }), (err) => errors.push(err.message), 3_600_000);
  const idsOnDisk = (): string[] => { const l: string[] = []; forEachLine(path.join(dir, IDS_FILE), (x) => { l.push(x); }); return l; };
  out.compared('a/1/0');
  out.compared('a/1/1');
  assert.deepEqual(idsOnDisk(), [], 'buffered until the next write');
  assert.equal(results.flush(), true);
  assert.deepEqual(idsOnDisk(), ['a/1/0', 'a/1/1']);
  const written = () => (JSON.parse(fs.readFileSync(path.join(dir, RESULTS_FILE), 'utf8')) as ResultsJson).ids;
  assert.deepEqual(written(), { file: IDS_FILE, written: 2, lost: 0 });
  // results.json replaced by a directory: the write fails, flush says so (do not acknowledge).
  fs.rmSync(path.join(dir, RESULTS_FILE));
  fs.mkdirSync(path.join(dir, RESULTS_FILE));
  fs.writeFileSync(path.join(dir, RESULTS_FILE, 'x'), '');
  out.compared('a/2/0');
  assert.equal(results.flush(), false);
  assert.equal(errors.length, 1);
  assert.deepEqual(idsOnDisk(), ['a/1/0', 'a/1/1', 'a/2/0'], 'the list still holds at least what results.json will count');
  fs.rmSync(path.join(dir, RESULTS_FILE), { recursive: true });
  results.finish();
  assert.deepEqual(written(), { file: IDS_FILE, written: 3, lost: 0 });
});

test('OutputDir without recordIds keeps no list, and compared() says why it cannot', (t) => {
  const dir = path.join(tmp(t), 'plain');
  const out = new OutputDir(dir, new Redactor(defaultRedactOptions()));
  assert.throws(() => out.compared('a'), /without recordIds/);
  out.close();
  assert.equal(fs.existsSync(path.join(dir, IDS_FILE)), false);
});

test('samples: taken from every directory in turn, 1,000 at most as for one run; a torn last line skipped', (t) => {
  const root = tmp(t);
  const line = (dir: number, i: number) => JSON.stringify({
    target: SHADOW, endpoint: `GET /d${dir}`, request: { method: 'GET', url: `/d${dir}/${i}`, headers: [], body: null },
    production: { status: 200, headers: [], body: '{}', latencyMs: 1 }, shadow: { status: 200, headers: [], body: '{}', latencyMs: 1 }, diffs: [],
  });
  const dirs = [0, 1, 2].map((d) => {
    const dir = path.join(root, `w${d}`);
    fs.mkdirSync(dir);
    const n = d === 2 ? 50 : 600;
    fs.writeFileSync(path.join(dir, SAMPLES_FILE), `${Array.from({ length: n }, (_, i) => line(d, i)).join('\n')}\n${line(d, n).slice(0, 40)}`);
    return dir;
  });
  const samples = mergedSamples(dirs);
  assert.equal(samples.length, 1000, 'a third of the 1,000 each, and what the short one leaves to the others');
  assert.deepEqual([0, 1].map((d) => samples.filter((x) => x.endpoint === `GET /d${d}`).length), [475, 475]);
  assert.deepEqual(samples.slice(0, 6).map((x) => x.request.url), ['/d0/0', '/d1/0', '/d2/0', '/d0/1', '/d1/1', '/d2/1']);
  assert.equal(samples.filter((x) => x.endpoint === 'GET /d2').length, 50, 'the torn line is not a sample');
});
