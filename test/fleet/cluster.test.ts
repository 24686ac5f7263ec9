// A three-node JetStream cluster on loopback ports, the stream replicated three times: the
// node leading the stream is killed while the agent publishes and a worker consumes, and
// nothing is lost — every request production served is published once, is in the stream, and
// reaches the shadow.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { headerValue, startProduction, startShadow } from '../support/servers';
import { sendVariedMix } from '../support/traffic';
import { captureSkipReason, startCli, until } from '../support/tools';
import { fleetRig, drainedBacklog, natsClient, noNatsServer, startNatsCluster, streamMessages } from './nats-support';

const COUNT = 2000;
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

test('fleet: an R3 stream on a three-node cluster loses nothing when the stream\'s leader is killed', { timeout: 300_000 }, async (t) => {
  const why = captureSkipReason([]) ?? (noNatsServer || null);
  if (why) { t.skip(why); return; }
  const { dir, procs, servers: servers, brokers } = fleetRig(t, 'shadowtap-fleet-cluster-');

  const nodes = await startNatsCluster(dir);
  brokers.push(...nodes);
  const urls = nodes.map((n) => n.url);
  const nc = await natsClient(urls);
  t.after(() => nc.close());
  // JetStream answers once the cluster has elected its meta leader.
  let jsReady = false;
  for (const deadline = Date.now() + 60_000; !jsReady && Date.now() < deadline; await delay(250)) {
    jsReady = await jetstreamManager(nc).then((m) => m.getAccountInfo()).then(() => true, () => false);
  }
  assert.ok(jsReady, `the JetStream cluster did not form:\n${nodes[0].log().slice(-2000)}`);

  const prod = await startProduction();
  const shadow = await startShadow();
  servers.push(prod, shadow);
  const summaryPath = path.join(dir, 'agent.json');
  const agent = startCli(['run', '--publish', urls.join(','), '--stream-replicas', '3', '--allow-writes', '--interface', 'lo', '--port', String(prod.port),
    '--admin', '127.0.0.1:0', '--stats-interval', '0', '--summary-json', summaryPath]);
  procs.push(agent);
  assert.ok(await agent.waitForLine(/"msg":"publishing"/, 60_000), agent.stdout() + agent.stderr());
  const worker = startCli(['worker', '--from', urls.join(','), '--shadow', `http://127.0.0.1:${shadow.port}`, '--out', path.join(dir, 'w'),
    '--admin', 'off', '--stats-interval', '0', '--summary-json', path.join(dir, 'w.json')]);
  procs.push(worker);
  assert.ok(await worker.waitForLine(/worker started/, 30_000), worker.stderr());
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info('SHADOWTAP');
  assert.equal(info.config.num_replicas, 3);

  const mix = sendVariedMix(prod.port, { count: COUNT, seed: 99 });
  assert.ok(await until(() => shadow.requests.length >= COUNT * 0.3, 120_000), `the shadow got only ${shadow.requests.length}`);
  const leader = (await jsm.streams.info('SHADOWTAP')).cluster?.leader;
  const victim = nodes.find((n) => n.name === leader);
  assert.ok(victim !== undefined, `stream leader ${String(leader)} is one of ours`);
  await victim.stop('SIGKILL');
  t.diagnostic(`killed ${victim.name}, the stream's leader, after ${shadow.requests.length} requests reached the shadow`);
  const sent = await mix;
  assert.equal(sent.length, COUNT);

  // Stop the agent once the stream holds what production served (or after two minutes): how
  // long the cluster's election keeps publishes retrying is the broker's business, not the test's.
  for (const deadline = Date.now() + 120_000; Date.now() < deadline && await streamMessages(nc, 'SHADOWTAP') < COUNT;) await delay(500);
  assert.equal(await agent.stop('SIGTERM', 60_000), 0, agent.stderr());
  const a = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as { seen: number; published: number; notPublished: Record<string, number>; publish: { retries: number; reconnects: number } };
  t.diagnostic(`agent: seen ${a.seen}, published ${a.published}, notPublished ${JSON.stringify(a.notPublished)}, retries ${a.publish.retries}, reconnects ${a.publish.reconnects}`);
  // Every request production served published once; nothing lost to the broker. (A busy capture
  // may also count a fragment of a request it did not see whole: incomplete, not the broker's.)
  assert.equal(a.published, COUNT, `nothing lost: ${JSON.stringify(a.notPublished)}`);
  assert.equal(a.seen, a.published + sum(a.notPublished));
  for (const reason of ['publishDropped', 'publishFailed', 'shutdown']) assert.equal(a.notPublished[reason], undefined, reason);
  assert.equal(await streamMessages(nc, 'SHADOWTAP'), COUNT, 'the surviving nodes hold every exchange, once');

  const backlog = await drainedBacklog(nc, 'SHADOWTAP', 'shadowtap-workers', 180_000);
  assert.deepEqual({ pending: backlog.pending, unacked: backlog.unacked }, { pending: 0, unacked: 0 });
  assert.equal(await worker.stop('SIGTERM', 60_000), 0, worker.stderr());
  const ids = new Set(shadow.requests.map((r) => headerValue(r.headers, 'x-request-id')));
  const missing = sent.filter((s) => !ids.has(s.id));
  assert.deepEqual(missing.map((s) => `${s.method} ${s.target}`), [], 'requests that never reached the shadow');
  const w = JSON.parse(fs.readFileSync(path.join(dir, 'w.json'), 'utf8')) as { received: number; replayed: number; notReplayed: Record<string, number>; duplicates: number };
  t.diagnostic(`worker: received ${w.received}, replayed ${w.replayed}, duplicates ${w.duplicates}`);
  assert.equal(w.received - w.duplicates, COUNT);
  assert.equal(w.replayed + sum(w.notReplayed), COUNT);
});
