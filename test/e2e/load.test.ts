// Under full load (wrk flat out against a production nginx on loopback) shadowtap must account
// for every request production served, and say how many reached the shadow. nginx's access logs
// are the ground truth on both sides.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startNginx, type Nginx } from '../support/nginx';
import { captureSkipReason, freePort, runTool, startCli, type CliHandle } from '../support/tools';

test('run under full wrk load: every production request is accounted for', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason(['wrk', 'nginx']);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-load-'));
  const summaryPath = path.join(dir, 'summary.json');
  const servers: Nginx[] = [];
  let cli: CliHandle | undefined;
  t.after(async () => {
    await cli?.stop('SIGKILL', 5_000).catch(() => undefined);
    for (const s of servers) await s.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const prod = await startNginx(dir, 'prod', await freePort());
  servers.push(prod);
  const shadow = await startNginx(dir, 'shadow', await freePort());
  servers.push(shadow);

  cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--summary-json', summaryPath, '--stats-interval', '0']);
  assert.ok(await cli.waitForLine(/capture started/, 30_000), `shadowtap did not start: ${cli.stderr()}`);

  // wrk flat out for 4 s, again (up to a minute) until it has made at least 10,000 requests:
  // a busy machine serves fewer in 4 s, and the test needs the volume, not the rate.
  let wrkRequests = 0;
  let wrkRuns = 0;
  const rates: string[] = [];
  for (const until = Date.now() + 60_000; wrkRequests <= 10_000 && Date.now() < until; wrkRuns++) {
    const wrk = await runTool('wrk', ['-t1', '-c64', '-d4s', `http://127.0.0.1:${prod.port}/api/items?id=42`]);
    assert.equal(wrk.code, 0, wrk.stderr);
    wrkRequests += Number((/(\d+) requests in/.exec(wrk.stdout) ?? [])[1] ?? 0);
    rates.push((wrk.stdout.match(/Requests\/sec:\s+([\d.]+)/) ?? [])[1]);
  }
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  for (const s of servers) await s.stop();
  servers.length = 0;
  const served = prod.served();
  const shadowGot = shadow.served();

  const notReplayed = Object.values(summary.notReplayed as Record<string, number>).reduce((a, b) => a + b, 0);
  t.diagnostic(`wrk ${rates.join(', ')} req/s (${wrkRuns} run(s) of 4 s); production served ${served}; shadowtap seen ${summary.seen}, replayed ` +
    `${summary.replayed} (${((100 * summary.replayed) / served).toFixed(1)}% of production), not replayed ` +
    `${JSON.stringify(summary.notReplayed)}; shadow got ${shadowGot}; kernel drops ${summary.capture.kernelDropped}, ` +
    `queue drops ${summary.capture.queueDropped}`);

  assert.ok(served > 10_000, `load too light to mean anything: ${served} requests`);
  assert.equal(summary.seen, summary.replayed + notReplayed, 'every request seen ends in one bucket');
  assert.equal(summary.pending, 0);
  // Nothing is lost silently: with no capture drop every request production served was seen;
  // with drops, each request not seen is accounted for by at least one dropped packet.
  const captureDrops = summary.capture.kernelDropped + summary.capture.queueDropped;
  if (captureDrops === 0) assert.equal(summary.seen, served, 'requests seen vs production access log');
  else {
    assert.ok(summary.seen <= served && summary.seen > 0, `seen ${summary.seen}, served ${served}`);
    assert.ok(summary.seen + captureDrops >= served,
      `seen ${summary.seen} + packets dropped ${captureDrops} (kernel ${summary.capture.kernelDropped}, queue ${summary.capture.queueDropped}) < served ${served}`);
  }
  // The shadow logged each replayed request; requests cut off at shutdown may or may not have arrived.
  const cutOff = (summary.notReplayed.shutdown ?? 0) + (summary.notReplayed.shadowError ?? 0);
  assert.ok(shadowGot >= summary.replayed && shadowGot <= summary.replayed + cutOff,
    `shadow logged ${shadowGot}, shadowtap replayed ${summary.replayed} (+${cutOff} cut off)`);
});
