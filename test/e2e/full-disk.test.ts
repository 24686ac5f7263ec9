// A full disk under a running mirror: results, samples and the summary cannot be written, yet
// every request is still mirrored, each failure is logged, the summary reaches the log and the
// run exits 0. The disk is a 64 KB tmpfs filled up after the capture started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startProduction, startShadow } from '../support/servers';
import { captureSkipReason, smallDisk, startCli, until } from '../support/tools';
import { sendGets } from '../ops/helpers';

test('full disk: run keeps mirroring, logs each failed write, exits 0 with the summary in the log', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const disk = smallDisk(t, '64k');
  if (disk === null) return;
  const prod = await startProduction();
  const shadow = await startShadow();
  t.after(async () => {
    await prod.close();
    await shadow.close();
  });
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--out', path.join(disk, 'out'), '--summary-json', path.join(disk, 'summary.json'), '--no-wire-timing',
    '--stats-interval', '0', '--admin', 'off']);
  assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());
  // Fill what is left of the disk: from now on every write there fails with ENOSPC.
  try {
    fs.writeFileSync(path.join(disk, 'filler'), Buffer.alloc(64 * 1024));
  } catch (e) {
    assert.equal((e as NodeJS.ErrnoException).code, 'ENOSPC');
  }
  const N = 300;
  const statuses = await sendGets(prod.port, N);
  assert.equal(statuses.length, N);
  assert.ok(await until(() => shadow.requests.length >= N, 30_000), `shadow got ${shadow.requests.length} of ${N}`);
  // results.json is rewritten every 5 s: let one attempt fail.
  assert.ok(await cli.waitForLine(/cannot write comparison results/, 15_000), cli.stdout().slice(-2000));
  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());

  const lines = cli.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; err?: string; stats?: { seen: number; replayed: number } });
  const summary = lines.find((l) => l.msg === 'summary');
  assert.ok(summary?.stats, 'the summary reaches the log');
  assert.equal(summary.stats.seen, N);
  assert.equal(summary.stats.replayed, N, 'every request mirrored');
  assert.equal(shadow.requests.length, N);
  assert.ok(lines.some((l) => /cannot write --summary-json/.test(l.msg) && /ENOSPC/.test(l.err ?? '')), 'the summary write failure is logged');
  assert.equal(lines.filter((l) => /cannot write samples/.test(l.msg)).length, 1, 'a failed sample write is logged once');
  assert.ok(!fs.readdirSync(path.join(disk, 'out')).some((f) => f.includes('.tmp-')), 'no temp file left behind');
});
