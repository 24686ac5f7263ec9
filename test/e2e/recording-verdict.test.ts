// Test a release from a recording: record the planted-regression API on lo with --bodies, stop
// production, then replay the recording with --out against an identical-but-noisy shadow
// (verdict passes, nothing flagged) and against the regressed shadow (verdict fails, naming
// exactly the planted regressions, the slower search included). No production is running while
// the recording is replayed. Damaged, truncated and future-version recordings are refused, exit 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { API_ENDPOINTS, ApiServer, driveApiMix, startApi } from '../support/api';
import { captureSkipReason, runCli, startCli, startCpuHog, type CliHandle } from '../support/tools';
import type { Analysis, EndpointAnalysis } from '../../src/report/analysis';

const REQUESTS = 3000;

function flaggedPaths(e: EndpointAnalysis | undefined): string[] {
  assert.ok(e, 'endpoint missing from the report');
  return e.fields.filter((f) => f.flagged).map((f) => f.path).sort();
}

test('a recording with production\'s answers judges a release: identical shadow passes, regressed shadow fails on exactly the planted regressions', { timeout: 150_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-recverdict-'));
  const servers: ApiServer[] = [];
  let recorder: CliHandle | null = null;
  t.after(async () => {
    if (recorder) await recorder.stop('SIGKILL', 5_000).catch(() => undefined);
    await Promise.all(servers.map((s) => s.close()));
    if (process.env.SHADOWTAP_KEEP_TEST_DIR) console.log(`kept ${dir}`); else fs.rmSync(dir, { recursive: true, force: true });
  });

  // Record: small parts, so that the recording is a directory of several rotated parts.
  const prod = await startApi({ name: 'api-prod/1.0' });
  const recDir = path.join(dir, 'rec');
  fs.mkdirSync(recDir);
  const recording = path.join(recDir, 'traffic.rec');
  const recSummary = path.join(dir, 'record.json');
  recorder = startCli(['record', '--interface', 'lo', '--port', String(prod.port), '--output', recording, '--bodies',
    '--max-file-mb', '2', '--max-files', '100', '--summary-json', recSummary, '--stats-interval', '1']);
  const rec = recorder;
  assert.ok(await Promise.race([rec.waitForLine(/recording started/, 30_000), rec.exited.then(() => null)]), rec.stderr() + rec.stdout());
  const mix = await driveApiMix(prod.port, { requests: REQUESTS, concurrency: 8, perSecond: 400 });
  assert.equal(mix.sent, REQUESTS);
  const recordedSoFar = (): number => Math.max(0, ...rec.stdout().split('\n').filter((l) => l.includes('"msg":"stats"'))
    .map((l) => Number(JSON.parse(l).stats.recorded)));
  for (const deadline = Date.now() + 30_000; recordedSoFar() < REQUESTS && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 50));
  assert.equal(await rec.stop('SIGINT', 30_000), 0, rec.stderr());
  recorder = null;
  // Production is gone from here on: everything below works from the recording alone.
  await prod.close();
  servers.splice(0);

  const summary = JSON.parse(fs.readFileSync(recSummary, 'utf8'));
  assert.deepEqual({ seen: summary.seen, recorded: summary.recorded }, { seen: REQUESTS, recorded: REQUESTS });
  const parts = fs.readdirSync(recDir).sort();
  assert.ok(parts.length >= 2, `expected rotated parts, got ${parts.join(', ')}`);
  for (const p of parts) {
    const file = path.join(recDir, p);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600, p);
    assert.deepEqual([...fs.readFileSync(file).subarray(0, 2)], [0x1f, 0x8b], `${p} is gzip`);
  }
  assert.ok(summary.recording.bytesOnDisk < summary.recording.bytes / 2, `compressed: ${summary.recording.bytesOnDisk} of ${summary.recording.bytes} bytes`);
  t.diagnostic(`recording: ${parts.length} parts, ${summary.recording.bytes} bytes of JSON lines, ${summary.recording.bytesOnDisk} on disk`);

  const replay = async (shadow: ApiServer, input: string, out: string): Promise<void> => {
    const before = shadow.requests;
    const r = await runCli(['replay', input, '--shadow', shadow.url, '--out', out, '--stats-interval', '0', '--summary-json', `${out}.summary.json`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(shadow.requests - before, REQUESTS, 'every recorded request reached the shadow');
  };

  // Busy neighbours on every core from here on: the shadow is timed by shadowtap as its client,
  // production from the recorded capture, and the verdict must hold up under scheduling noise.
  const hog = startCpuHog();
  t.after(() => hog.stop());

  // (a) The identical shadow (different Server, gzip, reordered keys, its own noise).
  const good = await startApi({ name: 'api-shadow/2.0', gzip: true, reorderKeys: true });
  servers.push(good);
  const goodDir = path.join(dir, 'good');
  await replay(good, recording, goodDir);
  const goodReport = await runCli(['report', goodDir, '--json']);
  assert.equal(goodReport.code, 0, goodReport.stderr);
  const ga = JSON.parse(goodReport.stdout) as Analysis;
  assert.equal(ga.complete, true);
  assert.equal(ga.targets[0].compared, REQUESTS, 'every exchange compared');
  assert.equal(ga.targets[0].flaggedFields, 0, JSON.stringify(ga.targets[0].endpoints.map((e) => [e.key, flaggedPaths(e), e.problems])));
  assert.ok(ga.targets[0].endpoints.every((e) => e.noise.fromRepeats > 0 && e.latencyReference === 'production'));
  const goodVerdict = await runCli(['verdict', goodDir]);
  assert.equal(goodVerdict.code, 0, goodVerdict.stdout);
  assert.match(goodVerdict.stdout, /^PASS/);

  // (b) The regressed shadow, replaying the directory of parts.
  const bad = await startApi({
    name: 'api-shadow/2.0', gzip: true, reorderKeys: true,
    planted: { changedValue: true, removedField: true, typeChange: true, failing: true, slow: true },
  });
  servers.push(bad);
  const badDir = path.join(dir, 'bad');
  await replay(bad, recDir, badDir);
  const report = await runCli(['report', badDir, '--json']);
  assert.equal(report.code, 0, report.stderr);
  const a = JSON.parse(report.stdout) as Analysis;
  const eps = new Map(a.targets[0].endpoints.map((e) => [e.key, e]));
  for (const [key, n] of Object.entries(mix.byEndpoint)) assert.equal(eps.get(key)?.traffic, n, key);
  assert.equal(a.targets[0].compared, REQUESTS);
  assert.deepEqual(flaggedPaths(eps.get(API_ENDPOINTS.users)), ['$.age', '$.email']);
  assert.deepEqual(flaggedPaths(eps.get(API_ENDPOINTS.orders)), ['$.total']);
  assert.deepEqual(flaggedPaths(eps.get(API_ENDPOINTS.reports)), ['$.error', '$.id', '$.rows', '$.ts', 'status']);
  assert.match(eps.get(API_ENDPOINTS.reports)?.problems.join('\n') ?? '', /error rate 100\.0% on the shadow vs 0\.0% in production/);
  const search = eps.get(API_ENDPOINTS.search);
  assert.deepEqual(flaggedPaths(search), []);
  assert.match(search?.problems.join('\n') ?? '', /p\d+ latency ≥ .* on the shadow vs ≤ .* on production/);
  for (const key of [API_ENDPOINTS.health, API_ENDPOINTS.css]) {
    assert.deepEqual(flaggedPaths(eps.get(key)), [], key);
    assert.deepEqual(eps.get(key)?.problems, [], key);
  }
  const named = async (out: string): Promise<string[]> => {
    const verdict = await runCli(['verdict', out]);
    assert.equal(verdict.code, 1, verdict.stdout + verdict.stderr);
    assert.match(verdict.stdout, /^FAIL/);
    return [...new Set(verdict.stdout.split('\n').map((l) => l.trim()).filter((l) => l.startsWith('- ')).map((l) => l.slice(2, l.indexOf(': '))))].sort();
  };
  const planted = [API_ENDPOINTS.orders, API_ENDPOINTS.reports, API_ENDPOINTS.search, API_ENDPOINTS.users].sort();
  assert.deepEqual(await named(badDir), planted);

  // --baseline as live: a second instance of production's version, replayed to as well, teaches
  // noise and is the latency reference (as fast as they take it: both are timed alike).
  const baseline = await startApi({ name: 'api-prod/1.0' });
  servers.push(baseline);
  const baseDir = path.join(dir, 'bad-baseline');
  const rb = await runCli(['replay', recording, '--shadow', bad.url, '--baseline', baseline.url, '--out', baseDir, '--speed', '0', '--stats-interval', '0']);
  assert.equal(rb.code, 0, rb.stderr);
  assert.equal(baseline.requests, REQUESTS);
  const ab = JSON.parse((await runCli(['report', baseDir, '--json'])).stdout) as Analysis;
  assert.ok(ab.targets[0].endpoints.every((e) => e.noise.fromBaseline > 0 && e.latencyReference === 'baseline'));
  assert.match(ab.targets[0].endpoints.find((e) => e.key === API_ENDPOINTS.search)?.problems.join('\n') ?? '', /latency ≥ .* on the shadow vs ≤ .* on the baseline/);
  assert.deepEqual(await named(baseDir), planted);

  // Refused recordings: one line naming the problem, exit 2.
  const refused = async (file: string, re: RegExp): Promise<void> => {
    const r = await runCli(['replay', file, '--shadow', good.url, '--speed', '0', '--stats-interval', '0', '--log-level', 'error']);
    assert.equal(r.code, 2, `${file}: ${r.stdout}${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], re);
  };
  const first = fs.readFileSync(recording);
  const corrupt = path.join(dir, 'corrupt.rec');
  const damaged = Buffer.from(first);
  damaged.fill(0x55, Math.floor(damaged.length * 0.3), Math.floor(damaged.length * 0.3) + 64);
  fs.writeFileSync(corrupt, damaged);
  await refused(corrupt, /^shadowtap: --file: .*corrupt\.rec.*a corrupt recording/);
  const truncated = path.join(dir, 'truncated.rec');
  fs.writeFileSync(truncated, first.subarray(0, 12));
  await refused(truncated, /^shadowtap: --file: .*truncated\.rec: the recording's header line is cut short/);
  const future = path.join(dir, 'future.rec');
  fs.writeFileSync(future, zlib.gzipSync(`${JSON.stringify({ format: 'shadowtap-recording', version: 2, createdAt: new Date().toISOString(), redacted: true, recording: 'f', part: 0 })}\n{}\n`));
  await refused(future, /^shadowtap: --file: .*future\.rec: recording format version 2 is newer than this shadowtap reads \(1\)/);
});
