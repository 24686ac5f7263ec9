// A second Ctrl-C: a run draining towards a shadow that never answers (a long --drain-timeout-ms)
// stops waiting at the second SIGTERM/SIGINT, counts what was in flight as shutdown and exits 0.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { sendGets } from '../ops/helpers';
import { startProduction } from '../support/servers';
import { captureSkipReason, startCli, until } from '../support/tools';

test('a second signal cuts the drain short; in-flight requests end as shutdown, the summary still comes', { timeout: 90_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const prod = await startProduction();
  // Takes connections and reads requests, never answers.
  let received = 0;
  const sockets: net.Socket[] = [];
  const hole = net.createServer((s) => { sockets.push(s); s.on('data', (d) => { received += d.toString('latin1').split('\r\n\r\n').length - 1; }); });
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', () => r()));
  t.after(async () => {
    for (const s of sockets) s.destroy();
    hole.close();
    await prod.close();
  });
  const port = (hole.address() as net.AddressInfo).port;
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', `http://127.0.0.1:${port}`,
    '--timeout-ms', '120000', '--drain-timeout-ms', '120000', '--stats-interval', '0', '--admin', 'off']);
  assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());
  await sendGets(prod.port, 5);
  assert.ok(await until(() => received >= 5, 20_000), `the shadow got ${received} requests`);
  cli.child.kill('SIGTERM');
  assert.ok(await cli.waitForLine(/draining replay queue/, 20_000), cli.stdout());
  const t0 = Date.now();
  cli.child.kill('SIGINT');
  const exit = await Promise.race([cli.exited, new Promise<null>((r) => setTimeout(() => r(null), 30_000))]);
  assert.ok(exit !== null, `still draining 30 s after the second signal: ${cli.stdout().slice(-1000)}`);
  assert.equal(exit.code, 0, cli.stderr());
  const lines = cli.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; stats?: { seen: number; replayed: number; notReplayed: Record<string, number>; pending: number } });
  assert.ok(lines.some((l) => l.msg === 'second signal: not waiting for the shadows any more'));
  const summary = lines.find((l) => l.msg === 'summary')?.stats;
  assert.ok(summary, 'the summary reaches the log');
  assert.deepEqual({ seen: summary.seen, replayed: summary.replayed, notReplayed: summary.notReplayed, pending: summary.pending },
    { seen: 5, replayed: 0, notReplayed: { shutdown: 5 }, pending: 0 });
  t.diagnostic(`exited ${Date.now() - t0} ms after the second signal`);
});
