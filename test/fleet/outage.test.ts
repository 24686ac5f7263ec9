// The broker stopped for 10 s under steady traffic: the agent keeps capturing, holds what it can
// in its bounded publish buffer and drops the rest (counted as publishDropped), and publishes
// again once the broker is back; everything it counted as published is in the stream and reaches
// a worker.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { driveApiMix, startApi } from '../support/api';
import { captureSkipReason, startCli } from '../support/tools';
import { fleetRig, drainedBacklog, natsClient, noNatsServer, startNats, streamMessages } from './nats-support';

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

/** One sample's value from a Prometheus exposition. */
function metric(text: string, name: string): number {
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m === null ? NaN : Number(m[1]);
}

interface AgentSummary {
  seen: number; published: number; notPublished: Record<string, number>; pending: number;
  publish: { dropped: number; failed: number; peakBufferedBytes: number; bufferLimitBytes: number; reconnects: number; retries: number };
  memory: { peakRssMb: number; budgetMb: number };
}

test('fleet: the broker away for 10 s: capture goes on, the buffer stays bounded, drops are counted, publishing resumes', { timeout: 150_000 }, async (t) => {
  const why = captureSkipReason([]) ?? (noNatsServer || null);
  if (why) { t.skip(why); return; }
  const { dir, procs, servers: apis, brokers } = fleetRig(t, 'shadowtap-fleet-outage-');

  const nats = await startNats(dir);
  brokers.push(nats);
  const prod = await startApi({ name: 'api-prod/1.0' });
  const shadow = await startApi({ name: 'api-shadow/1.0' });
  apis.push(prod, shadow);
  const summaryPath = path.join(dir, 'agent.json');
  // 1 MiB of buffer: a few seconds of this traffic, far less than the outage.
  const agent = startCli(['run', '--publish', nats.url, '--interface', 'lo', '--port', String(prod.port), '--publish-buffer-mb', '1',
    '--publish-timeout-ms', '120000', '--admin', '127.0.0.1:0', '--stats-interval', '0', '--summary-json', summaryPath]);
  procs.push(agent);
  const adminLine = await agent.waitForLine(/admin server on http/, 30_000);
  assert.ok(adminLine !== null, agent.stderr());
  const admin = /http:\/\/([0-9.]+:\d+)/.exec(adminLine)![1];
  assert.ok(await agent.waitForLine(/"msg":"publishing"/, 30_000), agent.stdout());
  const worker = startCli(['worker', '--from', nats.url, '--shadow', shadow.url, '--out', path.join(dir, 'w'), '--admin', 'off', '--stats-interval', '0',
    '--summary-json', path.join(dir, 'w.json')]);
  procs.push(worker);
  assert.ok(await worker.waitForLine(/worker started/, 30_000), worker.stderr());

  const scrape = async (): Promise<string> => (await fetch(`http://${admin}/metrics`)).text();
  const REQUESTS = 6000;
  const traffic = driveApiMix(prod.port, { requests: REQUESTS, perSecond: 300, concurrency: 4 });
  await delay(4000);

  await nats.stop('SIGTERM');
  const outage = Date.now();
  const during: Array<{ seen: number; buffered: number; connected: number }> = [];
  while (Date.now() - outage < 10_000) {
    const m = await scrape();
    during.push({ seen: metric(m, 'shadowtap_requests_seen_total'), buffered: metric(m, 'shadowtap_publish_buffered_bytes'), connected: metric(m, 'shadowtap_publish_connected') });
    await delay(500);
  }
  const publishedBeforeReturn = metric(await scrape(), 'shadowtap_publish_published_total');
  await nats.restart();
  const sent = await traffic;
  assert.equal(sent.sent, REQUESTS);
  await delay(3000);

  const first = during[1];
  const last = during[during.length - 1];
  t.diagnostic(`during the outage: seen ${first.seen} → ${last.seen}, buffered at most ${Math.max(...during.map((d) => d.buffered))} bytes, connected ${during.map((d) => d.connected).join('')}`);
  assert.ok(last.seen - first.seen > 1000, 'the agent kept capturing while the broker was away');
  assert.ok(during.some((d) => d.connected === 0), 'the agent noticed the broker was away');
  assert.ok(during.every((d) => d.buffered <= 1 << 20), 'the publish buffer stayed within its 1 MiB');

  assert.equal(await agent.stop('SIGTERM', 60_000), 0, agent.stderr());
  const a = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as AgentSummary;
  t.diagnostic(`agent: seen ${a.seen}, published ${a.published} (${publishedBeforeReturn} before the broker came back), notPublished ${JSON.stringify(a.notPublished)}, ` +
    `retries ${a.publish.retries}, reconnects ${a.publish.reconnects}, peak buffer ${a.publish.peakBufferedBytes} B, peak RSS ${a.memory.peakRssMb} MB`);
  assert.equal(a.seen, REQUESTS, 'every request seen');
  assert.equal(a.pending, 0);
  assert.equal(a.seen, a.published + sum(a.notPublished), 'seen = published + Σ notPublished');
  assert.ok((a.notPublished.publishDropped ?? 0) > 0, 'drops beyond the buffer are counted as publishDropped');
  assert.equal(a.publish.dropped, a.notPublished.publishDropped);
  assert.ok(a.publish.peakBufferedBytes <= a.publish.bufferLimitBytes, 'the buffer never went past its limit');
  assert.ok(a.memory.peakRssMb < a.memory.budgetMb, `resident set within the memory budget (${a.memory.peakRssMb} MB of ${a.memory.budgetMb})`);
  assert.ok(a.published > publishedBeforeReturn + 1000, 'publishing resumed after the broker came back');
  assert.ok(a.publish.reconnects >= 1);

  // What the agent counted as published is in the stream, once, and the worker got all of it.
  const nc = await natsClient([nats.url]);
  t.after(() => nc.close());
  assert.equal(await streamMessages(nc, 'SHADOWTAP'), a.published, 'the stream holds exactly what was published');
  assert.deepEqual(await drainedBacklog(nc, 'SHADOWTAP', 'shadowtap-workers', 180_000), { pending: 0, unacked: 0 }, 'the worker took and acknowledged everything');
  assert.equal(await worker.stop('SIGTERM', 60_000), 0, worker.stderr());
  const w = JSON.parse(fs.readFileSync(path.join(dir, 'w.json'), 'utf8')) as { received: number; replayed: number; duplicates: number; reconnects: number };
  t.diagnostic(`worker: received ${w.received}, replayed ${w.replayed}, reconnects ${w.reconnects}`);
  assert.equal(w.received - w.duplicates, a.published, 'the worker received every published exchange');
  assert.equal(w.replayed, a.published);
});
