// A replayer retired by a SIGHUP reload finishes what it had in flight (within its own
// timeout); draining it again at SIGTERM is harmless and the summary is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { Replayer, ReplayOutcome } from '../../src/replay';
import type { HttpRequest } from '../../src/http';
import { startProduction } from '../support/servers';
import { captureSkipReason, startCli, until } from '../support/tools';

/** A shadow that answers after `delayMs`. */
function slowShadow(delayMs: number): Promise<{ port: number; count: () => number; answered: () => number; close: () => Promise<void> }> {
  let n = 0;
  let answered = 0;
  const timers = new Set<NodeJS.Timeout>();
  const server = http.createServer((req, res) => {
    n++;
    req.resume();
    const t = setTimeout(() => { timers.delete(t); res.end('ok'); answered++; }, delayMs);
    timers.add(t);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: (server.address() as AddressInfo).port,
    count: () => n,
    answered: () => answered,
    close: () => new Promise<void>((r) => { for (const t of timers) clearTimeout(t); server.closeAllConnections(); server.close(() => r()); }),
  })));
}

function request(url: string): HttpRequest {
  return {
    versionMajor: 1, versionMinor: 1, headers: ['Host', 'x'], trailers: [], body: Buffer.alloc(0), bodySize: 0,
    bodyTruncated: false, bodySha256: null, chunked: false, startUs: 0, endUs: 0,
    conn: { id: 1, client: { address: '10.0.0.1', port: 1 }, server: { address: '10.0.0.2', port: 80 }, ipVersion: 4, midstream: false, openedUs: 0 },
    index: 0, method: 'GET', url,
  } as unknown as HttpRequest;
}

test('Replayer.drain() twice (reload retires it, shutdown drains it again) must not reject', { timeout: 20_000 }, async (t) => {
  const shadow = await slowShadow(2000);
  t.after(() => shadow.close());
  const r = new Replayer({ targets: [`http://127.0.0.1:${shadow.port}`], timeoutMs: 5000 });
  const outcomes: ReplayOutcome[] = [];
  r.submit(request('/slow'), (o) => outcomes.push(o));
  assert.ok(await until(() => shadow.count() === 1, 20_000), 'the request reached the shadow');
  await r.drain(100); // in flight at the deadline (answered after 2 s): aborted, pools destroyed
  assert.deepEqual(outcomes, ['shutdown']);
  // run.ts drains every retired replayer again at exit:
  await assert.doesNotReject(r.drain(100), 'a second drain of an already drained replayer must resolve');
});

async function reloadWithRequestInFlight(t: { after(fn: () => Promise<void>): void }, statsInterval: number) {
  const prod = await startProduction();
  const shadow = await slowShadow(1500);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-review-reload-'));
  t.after(async () => {
    await prod.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const configFile = path.join(dir, 'c.yaml');
  const summaryPath = path.join(dir, 'summary.json');
  const config = (concurrency: number) => [
    'interface: lo', `port: ${prod.port}`, `shadow: [http://127.0.0.1:${shadow.port}]`, `stats-interval: ${statsInterval}`, 'admin: "off"',
    `summary-json: ${summaryPath}`, 'drain-timeout-ms: 300', 'timeout-ms: 8000', `concurrency: ${concurrency}`,
  ].join('\n');
  fs.writeFileSync(configFile, config(8));
  const cli = startCli(['run', '--config', configFile]);
  assert.ok(await cli.waitForLine(/capture started/, 30_000), cli.stderr());
  await new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: prod.port, path: '/one' }, (res) => { res.resume(); res.on('end', () => resolve()); }).on('error', reject);
  });
  // The request reaches the (slow) shadow: in flight on the current replayer.
  await until(() => shadow.count() > 0, 30_000);
  assert.equal(shadow.count(), 1);
  fs.writeFileSync(configFile, config(4)); // a replay setting changes: a new replayer takes over
  cli.child.kill('SIGHUP');
  assert.ok(await cli.waitForLine(/configuration reloaded/, 30_000), cli.stdout());
  // The shadow answers 1.5 s after the request, long after the 300 ms drain timeout.
  assert.ok(await until(() => shadow.answered() === 1, 30_000), 'the shadow answered');
  return { cli, summaryPath };
}

test('run: after a reload the retired replayer finishes its in-flight request (not aborted as shutdown)', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const { cli } = await reloadWithRequestInFlight(t, 1);
  // Wait for a stats line (one a second) on which the request has settled, one way or the other.
  const settled = () => cli.stdout().split('\n').filter((l) => l.includes('"msg":"stats"'))
    .map((l) => JSON.parse(l).stats).filter((st) => st.seen === 1 && st.pending === 0);
  assert.ok(await until(() => settled().length > 0, 30_000), `no stats line with the request settled:\n${cli.stdout().slice(-2000)}`);
  const last = settled()[0];
  cli.child.kill('SIGKILL');
  assert.deepEqual({ replayed: last.replayed, notReplayed: last.notReplayed }, { replayed: 1, notReplayed: {} },
    'README: "the old one finishes what it had in flight" -- it was aborted after --drain-timeout-ms instead');
});

test('run: SIGTERM after a reload whose retired replayer had to abort exits 0 with a summary', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const { cli, summaryPath } = await reloadWithRequestInFlight(t, 0);
  const code = await cli.stop('SIGTERM', 15_000);
  const summary = fs.existsSync(summaryPath) ? JSON.parse(fs.readFileSync(summaryPath, 'utf8')) : null;
  assert.ok(summary !== null, `no summary written; exit ${code}\n${cli.stderr().slice(-1500)}`);
  assert.equal(code, 0, cli.stderr());
  assert.equal(summary.seen, 1);
});
