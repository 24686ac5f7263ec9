// A worker on its own, fed by the test through a real JetStream server that wants a token: the
// token comes from SHADOWTAP_BROKER_TOKEN (the command line refuses it, the logs never show it);
// an exchange redelivered while the worker is still replaying it (the shadow slower than
// --ack-wait) is a duplicate — counted, acknowledged with the original, never replayed or compared
// twice; messages that are not exchanges are counted as badMessage and acknowledged.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { DiscardPolicy, RetentionPolicy, StorageType, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { runCli, startCli, type CliHandle } from '../support/tools';
import { drainedBacklog, natsClient, noNatsServer, startNats, type NatsServer } from './nats-support';

const TOKEN = 'fleet-token-7f3a9c1e5b';
const SUBJECT = 'shadowtap.exchanges';
const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

/** A fleet message for GET /item/n, production having answered {"n":n}. */
function exchange(n: number): Buffer {
  const body = Buffer.from(JSON.stringify({ n }));
  return Buffer.from(JSON.stringify({
    format: 'shadowtap-exchange', version: 1, id: `host-a/run1/${n}`, host: 'host-a', run: 'run1',
    exchange: {
      t: 1_700_000_000_000_000 + n * 1000, conn: n, client: '10.0.0.1:40000', server: '10.0.0.2:8080', index: 0, method: 'GET', url: `/item/${n}`,
      headers: ['Host', 'api.example', 'Accept', '*/*'], body: null, bodyRedacted: false,
      response: { status: 200, headers: ['Content-Type', 'application/json', 'Content-Length', String(body.length)], bodySize: body.length, sha256: null,
        startUs: 1_700_000_000_000_000 + n * 1000 + 500, endUs: 1_700_000_000_000_000 + n * 1000 + 900, body: body.toString('base64') },
      responseMissing: null,
    },
  }));
}

test('worker: token from the environment only, redeliveries while replaying counted and never compared twice, bad messages counted', { timeout: 120_000 }, async (t) => {
  if (noNatsServer) { t.skip(noNatsServer); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-fleet-worker-'));
  let nats: NatsServer | undefined;
  let worker: CliHandle | undefined;
  // The shadow answers like production, 2.5 s late: longer than the worker's --ack-wait of 1 s.
  const received: string[] = [];
  const shadow = http.createServer((req, res) => {
    received.push(req.url ?? '');
    const n = Number((req.url ?? '').split('/').pop());
    setTimeout(() => { res.setHeader('Content-Type', 'application/json'); res.end(JSON.stringify({ n })); }, 2500);
  });
  await new Promise<void>((r) => shadow.listen(0, '127.0.0.1', r));
  t.after(async () => {
    await worker?.stop('SIGKILL', 5000).catch(() => undefined);
    shadow.closeAllConnections();
    shadow.close();
    await nats?.stop('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  nats = await startNats(dir, 'nats', [`authorization { token: "${TOKEN}" }`]);
  const nc = await natsClient([nats.url], TOKEN);
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'SHADOWTAP', subjects: [SUBJECT], storage: StorageType.File, retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old });
  const js = jetstream(nc);
  for (let n = 1; n <= 5; n++) await js.publish(SUBJECT, exchange(n), { msgID: `host-a/run1/${n}` });
  await js.publish(SUBJECT, Buffer.from('not json at all'), { msgID: 'junk-1' });
  await js.publish(SUBJECT, Buffer.from(JSON.stringify({ format: 'something-else' })), { msgID: 'junk-2' });

  const shadowUrl = `http://127.0.0.1:${(shadow.address() as AddressInfo).port}`;
  const out = path.join(dir, 'w');
  const args = ['worker', '--from', nats.url, '--shadow', shadowUrl, '--out', out, '--admin', '127.0.0.1:0', '--stats-interval', '0', '--ack-wait', '1',
    '--ack-interval-ms', '100', '--summary-json', path.join(dir, 'w.json')];
  // On the command line, the token is refused before anything starts.
  const refused = await runCli([...args, '--broker-token', TOKEN]);
  assert.equal(refused.code, 2);
  assert.match(refused.stderr, /--broker-token: a secret: give it in the --config file or SHADOWTAP_BROKER_TOKEN/);
  assert.ok(!refused.stderr.includes(TOKEN), 'the error does not repeat the token');

  worker = startCli(args, { env: { ...process.env, SHADOWTAP_BROKER_TOKEN: TOKEN } });
  assert.deepEqual(await drainedBacklog(nc, 'SHADOWTAP', 'shadowtap-workers', 60_000), { pending: 0, unacked: 0 }, worker.stderr());
  // Its /metrics say the same as its books.
  const adminLine = await worker.waitForLine(/admin server on http/, 10_000);
  assert.ok(adminLine !== null, worker.stdout());
  const metrics = await (await fetch(`${/http:\/\/[0-9.]+:\d+/.exec(adminLine)![0]}/metrics`)).text();
  const value = (series: string): number => Number(new RegExp(`^${series.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(metrics)?.[1]);
  assert.equal(value('shadowtap_requests_total{outcome="replayed"}'), 5);
  assert.equal(value('shadowtap_requests_total{outcome="badMessage"}'), 2);
  assert.ok(value('shadowtap_worker_duplicates_total') >= 5, metrics);
  assert.equal(value('shadowtap_worker_received_total'), value('shadowtap_worker_duplicates_total') + 7);
  assert.equal(value('shadowtap_worker_lag'), 0);
  assert.equal(value('shadowtap_worker_connected'), 1);

  // The unit's reload (SIGHUP) leaves it running.
  worker.child.kill('SIGHUP');
  assert.ok(await worker.waitForLine(/SIGHUP: worker reloads nothing/, 10_000), worker.stdout());
  assert.equal(await worker.stop('SIGTERM', 30_000), 0, worker.stderr());
  const logs = worker.stdout() + worker.stderr();
  assert.ok(!logs.includes(TOKEN), 'the logs never show the token');

  const s = JSON.parse(fs.readFileSync(path.join(dir, 'w.json'), 'utf8')) as { received: number; replayed: number; notReplayed: Record<string, number>; duplicates: number; redeliveries: number; acked: number; pending: number };
  t.diagnostic(`worker: ${JSON.stringify({ received: s.received, replayed: s.replayed, notReplayed: s.notReplayed, duplicates: s.duplicates, redeliveries: s.redeliveries })}`);
  assert.deepEqual([...received].sort(), ['/item/1', '/item/2', '/item/3', '/item/4', '/item/5'], 'each exchange replayed once, redeliveries or not');
  assert.ok(s.duplicates >= 5, 'the redeliveries during the 2.5 s replays were recognised');
  assert.ok(s.redeliveries >= s.duplicates);
  assert.equal(s.replayed, 5);
  assert.deepEqual(s.notReplayed, { badMessage: 2 });
  assert.equal(s.pending, 0);
  assert.equal(s.received, s.replayed + sum(s.notReplayed) + s.duplicates, 'received = replayed + Σ notReplayed + duplicates');
  assert.equal(s.acked, s.received);
  const results = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as { complete: boolean; counters: { exchanges: number }; endpoints: Array<{ key: string }>; source: { kind: string } };
  assert.equal(results.complete, true);
  assert.equal(results.counters.exchanges, 5, 'compared once each');
  assert.equal(results.source.kind, 'fleet');
  assert.deepEqual(fs.readFileSync(path.join(out, 'exchanges.ids'), 'utf8').trim().split('\n').sort(), [1, 2, 3, 4, 5].map((n) => `host-a/run1/${n}`));
  const verdict = await runCli(['report', out, '--json']);
  assert.equal(verdict.code, 0, verdict.stderr);
});
