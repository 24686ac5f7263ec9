// `report DIR…` and `verdict DIR…` over real runs: production traffic is recorded on lo (real
// capture, --bodies), the recording is split into three parts as a fleet would share it out,
// and each part is replayed with --out against the same regressed shadow. The merged report of
// the three directories must give what one run over the whole recording gives: the same
// endpoints, totals, flagged fields, accounting and verdict, production's latency quantiles
// identical (the same recorded latencies, histograms merged exactly). Two overlapping parts (a
// redelivery) are reported as exchanges counted twice, named from the exchanges.ids lists;
// different shadow sets and a missing directory are refused with exit 2, naming them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import { API_ENDPOINTS, driveApiMix } from '../support/api';
import { captureSkipReason, runCli, startCli, type CliHandle } from '../support/tools';
import type { Analysis, EndpointAnalysis } from '../../src/report/analysis';

const REQUESTS = 900;
const SLOW_SEARCH_MS = 150;
/** The same thresholds for every report: latency judged on fewer samples, and only a clear slowdown. */
const THRESHOLDS = ['--min-latency-samples', '50', '--min-latency-delta-ms', '50'];

interface Server { url: string; port: number; requests: number; close(): Promise<void> }

/** The mix's paths answered as a pure function of the request (no Date header, no random
 * ids): every run compares the same answers. `regressed`: /users' age is off by one,
 * /reports fail with 500, /search is slow. */
function startServer(regressed: boolean): Promise<Server> {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    res.sendDate = false;
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, value: unknown): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(value));
    };
    const id = url.pathname.split('/')[2] ?? '';
    if (url.pathname.startsWith('/users/')) return send(200, { id, name: `user-${id}`, age: 20 + (id.length * 7) + (regressed ? 1 : 0) });
    if (url.pathname.startsWith('/orders/')) return send(200, { id, total: id.length * 3.5, items: [id.slice(0, 4), id.slice(-4)] });
    if (url.pathname.startsWith('/reports/')) return regressed ? send(500, { error: 'boom' }) : send(200, { id, rows: Number(id) * 2 });
    if (url.pathname === '/search') {
      const answer = (): void => send(200, { q: url.searchParams.get('q'), hits: 3 });
      if (regressed) setTimeout(answer, SLOW_SEARCH_MS);
      else answer();
      return;
    }
    if (url.pathname === '/health') return send(200, { ok: true });
    return send(200, { css: url.pathname });
  });
  server.keepAliveTimeout = 30_000;
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const port = (server.address() as AddressInfo).port;
    resolve({
      port, url: `http://127.0.0.1:${port}`, get requests() { return requests; },
      close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
    });
  }));
}

/** A recording's header and exchange lines (the parts in order). */
function recordingLines(dir: string): { header: string; lines: string[] } {
  const parts = fs.readdirSync(dir).sort((a, b) => (a.length - b.length) || a.localeCompare(b));
  let header = '';
  const lines: string[] = [];
  for (const p of parts) {
    const all = zlib.gunzipSync(fs.readFileSync(path.join(dir, p))).toString('utf8').split('\n').filter((l) => l !== '');
    if (header === '') header = all[0];
    lines.push(...all.slice(1));
  }
  return { header, lines };
}

function writePart(file: string, header: string, lines: string[]): void {
  fs.writeFileSync(file, zlib.gzipSync(`${header}\n${lines.join('\n')}\n`));
}

/** The failing endpoints a verdict names (its `- ENDPOINT: …` lines). */
function failingNamed(stdout: string): string[] {
  return [...new Set(stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('- ')).map((l) => l.slice(2, l.indexOf(': '))))].sort();
}

/** What must not depend on how the traffic was split. */
function totals(e: EndpointAnalysis) {
  return {
    traffic: e.traffic, compared: e.compared, judged: e.judged, mismatchRate: e.mismatchRate, rawMismatchRate: e.rawMismatchRate,
    skipped: e.skipped, bodiesNotCompared: e.bodiesNotCompared,
    fields: e.fields.map((f) => ({ path: f.path, diffs: f.diffs, kinds: f.kinds, flagged: f.flagged })),
    production: { attempts: e.production.attempts, errors: e.production.errors, count: e.production.count },
    shadow: { attempts: e.shadow.attempts, errors: e.shadow.errors, status5xx: e.shadow.status5xx, timeouts: e.shadow.timeouts, count: e.shadow.count },
    failing: e.problems.length > 0,
  };
}

test('report/verdict over a recording replayed in three parts = over the whole; overlapping parts show their duplicates', { timeout: 240_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-merge-'));
  const servers: Server[] = [];
  let recorder: CliHandle | null = null;
  t.after(async () => {
    if (recorder) await recorder.stop('SIGKILL', 5_000).catch(() => undefined);
    await Promise.all(servers.map((s) => s.close()));
    if (process.env.SHADOWTAP_KEEP_TEST_DIR) console.log(`kept ${dir}`); else fs.rmSync(dir, { recursive: true, force: true });
  });

  // Production, recorded from the capture on lo with its answers.
  const prod = await startServer(false);
  servers.push(prod);
  const recDir = path.join(dir, 'rec');
  fs.mkdirSync(recDir);
  const recSummary = path.join(dir, 'record.json');
  recorder = startCli(['record', '--interface', 'lo', '--port', String(prod.port), '--output', path.join(recDir, 'traffic.rec'), '--bodies',
    '--summary-json', recSummary, '--stats-interval', '1']);
  const rec = recorder;
  assert.ok(await Promise.race([rec.waitForLine(/recording started/, 30_000), rec.exited.then(() => null)]), rec.stderr() + rec.stdout());
  const mix = await driveApiMix(prod.port, { requests: REQUESTS, concurrency: 6, perSecond: 300 });
  const recordedSoFar = (): number => Math.max(0, ...rec.stdout().split('\n').filter((l) => l.includes('"msg":"stats"'))
    .map((l) => Number(JSON.parse(l).stats.recorded)));
  for (const deadline = Date.now() + 30_000; recordedSoFar() < REQUESTS && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await rec.stop('SIGINT', 30_000), 0, rec.stderr());
  recorder = null;
  assert.equal(JSON.parse(fs.readFileSync(recSummary, 'utf8')).recorded, REQUESTS);

  const { header, lines } = recordingLines(recDir);
  assert.equal(lines.length, REQUESTS);
  const recordingId = JSON.parse(header).recording as string;
  const parts = [0, 1, 2].map((k) => {
    const file = path.join(dir, `part${k}.rec`);
    writePart(file, header, lines.filter((_, i) => i % 3 === k));
    return file;
  });

  const shadow = await startServer(true);
  servers.push(shadow);
  const replay = async (input: string, out: string, target = shadow): Promise<string> => {
    const r = await runCli(['replay', input, '--shadow', target.url, '--out', out, '--record-ids', '--latency-warmup', '0', '--stats-interval', '0', '--log-level', 'warn']);
    assert.equal(r.code, 0, r.stderr);
    return out;
  };
  const whole = await replay(recDir, path.join(dir, 'whole'));
  const split: string[] = [];
  for (const [k, p] of parts.entries()) split.push(await replay(p, path.join(dir, `worker${k}`)));

  const reportJson = async (dirs: string[]): Promise<Analysis> => {
    const r = await runCli(['report', ...dirs, '--json', ...THRESHOLDS]);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as Analysis;
  };
  const one = await reportJson([whole]);
  const merged = await reportJson(split);
  assert.equal(one.merge, undefined, 'one directory reads as before');

  // The same endpoints, each with the same totals and judgement.
  const eps = (a: Analysis) => new Map(a.targets[0].endpoints.map((e) => [e.key, e]));
  const [oe, me] = [eps(one), eps(merged)];
  assert.deepEqual([...me.keys()].sort(), [...oe.keys()].sort());
  for (const [key, n] of Object.entries(mix.byEndpoint)) assert.equal(me.get(key)?.traffic, n, key);
  for (const [key, e] of oe) {
    const m = me.get(key)!;
    assert.deepEqual(totals(m), totals(e), key);
    // Production's latencies are the recorded ones: merged exactly, the same quantiles and bounds.
    assert.deepEqual(m.production.quantiles, e.production.quantiles, key);
    assert.deepEqual([m.production.p50, m.production.p99, m.production.max], [e.production.p50, e.production.p99, e.production.max], key);
    assert.ok(Math.abs(m.production.mean - e.production.mean) <= 1e-9 * e.production.mean, key);
  }
  assert.equal(merged.targets[0].compared, REQUESTS);
  assert.deepEqual([merged.targets[0].mismatched, merged.targets[0].flaggedFields], [one.targets[0].mismatched, one.targets[0].flaggedFields]);
  // The shadow was timed anew in each run: the slow search shows in both, by at least its delay.
  for (const a of [me, oe]) assert.ok(a.get(API_ENDPOINTS.search)!.shadow.p50 >= SLOW_SEARCH_MS * 1000, 'search p50 below its delay');

  // The ledger: per directory and in total.
  type Ledger = { seen: number; replayed: number; notReplayed: Record<string, number>; pending: number };
  const mergedLedger = merged.accounting as Ledger;
  const oneLedger = one.accounting as Ledger;
  assert.deepEqual([mergedLedger.seen, mergedLedger.replayed, mergedLedger.notReplayed, mergedLedger.pending],
    [oneLedger.seen, oneLedger.replayed, oneLedger.notReplayed, oneLedger.pending]);
  assert.equal(mergedLedger.seen, REQUESTS);
  assert.deepEqual(merged.merge?.directories.map((d) => [d.dir, (d.accounting as Ledger).seen, d.ids, d.complete]),
    split.map((d, k) => [d, lines.filter((_, i) => i % 3 === k).length, lines.filter((_, i) => i % 3 === k).length, true]));
  assert.deepEqual([merged.merge?.duplicates?.exchanges, merged.merge?.duplicates?.ids], [0, REQUESTS]);
  assert.ok(merged.startedAt <= merged.merge!.directories[0].startedAt && merged.updatedAt >= merged.merge!.directories[2].updatedAt);

  // The same verdict, naming the same endpoints.
  const verdict = async (dirs: string[]) => runCli(['verdict', ...dirs, ...THRESHOLDS]);
  const [vOne, vMerged] = [await verdict([whole]), await verdict(split)];
  assert.deepEqual([vMerged.code, vOne.code], [1, 1], vOne.stdout + vMerged.stdout + vMerged.stderr);
  const planted = [API_ENDPOINTS.reports, API_ENDPOINTS.search, API_ENDPOINTS.users].sort();
  assert.deepEqual(failingNamed(vOne.stdout), planted, vOne.stdout);
  assert.deepEqual(failingNamed(vMerged.stdout), planted, vMerged.stdout);
  assert.match(vMerged.stdout, /note: merged from 3 result directories/);
  assert.deepEqual(one.verdict.pass, merged.verdict.pass);

  // The table and the HTML page carry the per-directory ledger and the duplicate check.
  const table = await runCli(['report', ...split, ...THRESHOLDS, '--html', path.join(dir, 'merged.html')]);
  assert.equal(table.code, 0, table.stderr);
  assert.match(table.stdout, /merged from 3 result directories/);
  for (const d of split) assert.ok(table.stdout.includes(d), `${d} missing from the table`);
  assert.match(table.stdout, new RegExp(`\\ntotal\\s+seen ${REQUESTS}, replayed ${REQUESTS}, not replayed none\\s+${REQUESTS}`));
  assert.match(table.stdout, new RegExp(`duplicates: none among ${REQUESTS} ids in 3 directories`));
  const page = fs.readFileSync(path.join(dir, 'merged.html'), 'utf8');
  assert.match(page, /Merged from 3 result directories/);
  for (const d of split) assert.ok(page.includes(d), `${d} missing from the page`);
  assert.match(page, new RegExp(`No exchange counted twice among ${REQUESTS} ids`));
  assert.ok(page.includes('class="sample"'), 'mismatch samples from the parts are shown');

  // A worker killed before acknowledging: its last exchanges were redelivered to another.
  const cut = Math.floor(REQUESTS * 0.6);
  const overlap = 45;
  const early = path.join(dir, 'early.rec');
  const late = path.join(dir, 'late.rec');
  writePart(early, header, lines.slice(0, cut));
  writePart(late, header, lines.slice(cut - overlap));
  const redelivered = [await replay(early, path.join(dir, 'killed-worker')), await replay(late, path.join(dir, 'other-worker'))];
  const dup = await reportJson(redelivered);
  const d = dup.merge?.duplicates;
  assert.ok(d, 'duplicates checked');
  assert.deepEqual([d.exchanges, d.countedTwice, d.ids], [overlap, overlap, REQUESTS + overlap]);
  const idOf = (line: string): string => { const r = JSON.parse(line); return `${recordingId}/${r.conn}/${r.index}`; };
  const overlapIds = new Set(lines.slice(cut - overlap, cut).map(idOf));
  assert.equal(d.first.length, 10);
  assert.ok(d.first.every((x) => overlapIds.has(x.id)), `${JSON.stringify(d.first)} not among the redelivered ${[...overlapIds].join(' ')}`);
  assert.ok(d.first.every((x) => x.dirs.join() === redelivered.join()), JSON.stringify(d.first));
  assert.equal((dup.accounting as Ledger).seen, REQUESTS + overlap, 'the totals count them twice, and the report says so');
  assert.ok(dup.verdict.notes.some((n) => n.startsWith(`${overlap} exchange(s) were counted in more than one directory, ${overlap} count(s) too many`)), dup.verdict.notes.join('\n'));
  const dupTable = await runCli(['report', ...redelivered, ...THRESHOLDS]);
  assert.match(dupTable.stdout, new RegExp(`duplicates: ${overlap} exchange\\(s\\) counted in more than one directory`));
  assert.ok(dupTable.stdout.includes(`  ${d.first[0].id}: ${redelivered.join(', ')}`), dupTable.stdout);

  // Refused: a different shadow set; a missing directory. One line naming them, exit 2.
  const other = await startServer(true);
  servers.push(other);
  const elsewhere = await replay(parts[0], path.join(dir, 'elsewhere'), other);
  for (const cmd of ['report', 'verdict']) {
    const r = await runCli([cmd, split[1], elsewhere]);
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^shadowtap: <dir>: shadow sets differ: /);
    assert.ok(r.stderr.includes(split[1]) && r.stderr.includes(elsewhere) && r.stderr.includes(other.url), r.stderr);
    const missing = path.join(dir, 'never-written');
    const m = await runCli([cmd, split[0], missing, split[2]]);
    assert.equal(m.code, 2, m.stdout + m.stderr);
    assert.equal(m.stderr.trim().split('\n').length, 1, m.stderr);
    assert.match(m.stderr, new RegExp(`^shadowtap: <dir>: cannot read the results in ${missing}`));
    assert.equal(m.stdout, '');
  }
  const twice = await runCli(['report', split[0], split[0]]);
  assert.equal(twice.code, 2);
  assert.match(twice.stderr, /the same directory as/);
});
