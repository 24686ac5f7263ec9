// Wire timing (on by default where it can work): the replays to the shadow are captured too and timed from kernel timestamps,
// like production, so a slowdown is judged against production without any baseline; the
// captured replays are located in their TCP streams, never taken for production traffic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { API_ENDPOINTS, driveApiMix, startApi } from '../support/api';
import { captureSkipReason, runCli, startCli, startCpuHog } from '../support/tools';
import type { Analysis } from '../../src/report/analysis';

test('--wire-timing: shadow latency from the capture, judged against production; replays not mirrored again', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  // Busy neighbours on every core: the latency verdict must hold up under scheduling noise.
  const hog = startCpuHog();
  t.after(() => hog.stop());
  const prod = await startApi({ name: 'api/1.0' });
  const shadow = await startApi({ name: 'api/2.0', gzip: true, planted: { slow: true } });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-wire-'));
  t.after(async () => {
    await prod.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const out = path.join(dir, 'out');
  const summaryPath = path.join(dir, 'summary.json');
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', shadow.url,
    '--out', out, '--summary-json', summaryPath, '--stats-interval', '0', '--admin', 'off']);
  assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());
  const { sent } = await driveApiMix(prod.port, { requests: 2000, concurrency: 8, perSecond: 500 });
  const until = Date.now() + 30_000;
  while (shadow.requests < sent && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());

  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.equal(s.seen, sent, 'the captured replays are not production traffic');
  assert.equal(s.replayed, sent);
  // The replays' packets are located in their streams, never reassembled or parsed as requests.
  assert.equal(s.ownReplaysIgnored, 0);
  assert.ok(s.wireMarks.marked >= 2 * sent, `${s.wireMarks.marked} packets of replays located`);
  // A connection is located from its SYN: only a packet the capture dropped leaves one unanchored.
  if (s.capture.kernelDropped === 0 && s.capture.queueDropped === 0) assert.equal(s.wireMarks.unanchored, 0);
  assert.ok(s.wireTiming.timed >= sent * 0.95 && s.wireTiming.timed + s.wireTiming.untimed <= sent, JSON.stringify(s.wireTiming));
  assert.equal(shadow.requests, sent, 'nothing was replayed twice');
  assert.ok(s.compare.wireTimed >= (sent - 200) * 0.95, `${s.compare.wireTimed} exchanges timed on the wire`);

  const a = JSON.parse((await runCli(['report', out, '--json'])).stdout) as Analysis;
  const eps = new Map(a.targets[0].endpoints.map((e) => [e.key, e]));
  const search = eps.get(API_ENDPOINTS.search)!;
  assert.equal(search.shadow.timedOn, 'capture');
  assert.equal(search.latencyReference, 'production');
  // The planted slowdown is 20 ms → 40 ms: both sides timed alike, the ratio shows it.
  assert.ok(search.shadow.p50 / search.production.p50 > 1.7 && search.shadow.p50 / search.production.p50 < 2.3,
    `p50 ${search.production.p50} → ${search.shadow.p50} µs`);
  assert.match(search.problems.join('\n'), /p\d+ latency ≥ .* on the shadow vs ≤ .* on production/);
  for (const key of [API_ENDPOINTS.users, API_ENDPOINTS.orders, API_ENDPOINTS.health]) {
    assert.deepEqual(eps.get(key)?.problems, [], key);
  }
  const verdict = await runCli(['verdict', out]);
  assert.equal(verdict.code, 1);
  assert.match(verdict.stdout, /GET \/search: p\d+ latency/);
});
