// A dead shadow and a slow shadow: every request still ends in one bucket, the failures are
// counted by reason and logged (a few lines, not one per request), and shadowtap exits cleanly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startProduction, type RecordingServer } from '../support/servers';
import { captureSkipReason, freePort, startCli } from '../support/tools';

async function mirrorTo(shadowUrl: string, extra: string[], requests: number, production?: RecordingServer) {
  const prod: RecordingServer = production ?? await startProduction();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-trouble-'));
  const summaryPath = path.join(dir, 'summary.json');
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', shadowUrl,
    '--summary-json', summaryPath, '--stats-interval', '0', '--drain-timeout-ms', '3000', ...extra]);
  try {
    assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    await Promise.all(Array.from({ length: requests }, (_, i) => new Promise<void>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: prod.port, path: `/trouble/${i}`, agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      }).on('error', reject);
    })));
    agent.destroy();
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await cli.stop('SIGTERM', 20_000), 0, cli.stderr());
    const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
    const warnings = cli.stdout().split('\n').filter((l) => l.includes('"level":40') && l.includes('shadow'));
    return { summary, warnings };
  } finally {
    await prod.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('a dead shadow: every request counted as shadowError, a few log lines, clean exit', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const deadPort = await freePort(); // nothing listens there
  const { summary, warnings } = await mirrorTo(`http://127.0.0.1:${deadPort}`, [], 200);
  assert.deepEqual({ seen: summary.seen, replayed: summary.replayed, notReplayed: summary.notReplayed },
    { seen: 200, replayed: 0, notReplayed: { shadowError: 200 } });
  assert.ok(warnings.length >= 1 && warnings.length <= 20, `${warnings.length} warning lines`);
  assert.match(warnings[0], /ECONNREFUSED/);
});

test('a slow shadow: requests beyond the timeout count as shadowTimeout, none is lost', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  let answered = 0;
  const slow = http.createServer((req, res) => {
    const fast = req.url!.endsWith('0'); // every tenth request is answered at once
    setTimeout(() => { answered++; res.end('late'); }, fast ? 0 : 1500);
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', () => r()));
  try {
    const port = (slow.address() as AddressInfo).port;
    const { summary } = await mirrorTo(`http://127.0.0.1:${port}`, ['--timeout-ms', '300', '--concurrency', '16'], 100);
    const nr = summary.notReplayed as Record<string, number>;
    assert.equal(summary.seen, 100);
    assert.equal(summary.replayed, 10, JSON.stringify(summary.notReplayed));
    assert.equal(nr.shadowTimeout, 90);
    assert.equal(summary.seen, summary.replayed + Object.values(nr).reduce((a, b) => a + b, 0));
  } finally {
    slow.closeAllConnections();
    await new Promise<void>((r) => slow.close(() => r()));
  }
  assert.ok(answered >= 10);
});

test('a shadow listening on production\'s port elsewhere: shadowtap\'s own replays are captured but never replayed again', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const prod: RecordingServer = await startProduction('127.0.0.1');
  let received = 0;
  const shadow = http.createServer((req, res) => { received++; req.resume(); res.end('shadow'); });
  await new Promise<void>((r, reject) => { shadow.once('error', reject); shadow.listen(prod.port, '127.0.0.2', () => r()); });
  try {
    // `--port` matches both production (127.0.0.1) and the shadow (127.0.0.2): a feedback loop
    // unless the marker header gives the replays away.
    const { summary } = await mirrorTo(`http://127.0.0.2:${prod.port}`, [], 100, prod);
    assert.equal(summary.seen, 100);
    assert.equal(summary.replayed, 100);
    assert.equal(summary.ownReplaysIgnored, 100);
    assert.equal(received, 100);
  } finally {
    shadow.closeAllConnections();
    await new Promise<void>((r) => shadow.close(() => r()));
  }
});
