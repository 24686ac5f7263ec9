// The README's lock-down of the stream, as written there: an agent user that may only publish
// exchanges (and look up or create the stream) and a worker user that may only consume; both
// authenticate with a password from SHADOWTAP_BROKER_PASSWORD. Exchanges flow from a capturing
// agent to a worker and its shadow; the agent user cannot read the stream.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { driveApiMix, startApi } from '../support/api';
import { captureSkipReason, repoRoot, startCli, until } from '../support/tools';
import { fleetRig, drainedBacklog, natsClient, noNatsServer, startNats } from './nats-support';

/** The `authorization { … }` block of the README's Fleet mode section, with the passwords put in. */
function readmeAuthorization(agentPw: string, workerPw: string): string {
  const readme = fs.readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
  const block = /`(authorization \{ users: \[.*\] \})`/.exec(readme);
  assert.ok(block, 'the README shows an authorization block');
  return block[1].replace('$AGENT_PW', JSON.stringify(agentPw)).replace('$WORKER_PW', JSON.stringify(workerPw));
}

test('fleet: the README\'s permissions let an agent publish and a worker consume, and no more', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason([]) ?? (noNatsServer || null);
  if (why) { t.skip(why); return; }
  const { dir, procs, servers: apis, brokers } = fleetRig(t, 'shadowtap-fleet-perms-');
  const agentPw = 'agent-pw-51c0';
  const workerPw = 'worker-pw-9e77';
  const nats = await startNats(dir, 'nats', [readmeAuthorization(agentPw, workerPw)]);
  brokers.push(nats);
  const prod = await startApi({ name: 'api-prod/1.0' });
  const shadow = await startApi({ name: 'api-shadow/1.0' });
  apis.push(prod, shadow);

  const agent = startCli(['run', '--publish', nats.url, '--interface', 'lo', '--port', String(prod.port), '--broker-user', 'agent', '--admin', 'off',
    '--stats-interval', '0', '--summary-json', path.join(dir, 'agent.json')], { env: { ...process.env, SHADOWTAP_BROKER_PASSWORD: agentPw } });
  procs.push(agent);
  assert.ok(await agent.waitForLine(/"msg":"publishing"/, 30_000), agent.stdout() + agent.stderr());
  const worker = startCli(['worker', '--from', nats.url, '--broker-user', 'worker', '--shadow', shadow.url, '--out', path.join(dir, 'w'), '--admin', 'off',
    '--stats-interval', '0', '--summary-json', path.join(dir, 'w.json')], { env: { ...process.env, SHADOWTAP_BROKER_PASSWORD: workerPw } });
  procs.push(worker);
  assert.ok(await worker.waitForLine(/worker started/, 30_000), worker.stderr());

  const sent = await driveApiMix(prod.port, { requests: 200 });
  assert.equal(sent.sent, 200);
  assert.ok(await until(() => shadow.requests >= 200, 60_000), `the shadow got ${shadow.requests} of 200`);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await agent.stop('SIGTERM', 30_000), 0, agent.stderr());
  const a = JSON.parse(fs.readFileSync(path.join(dir, 'agent.json'), 'utf8')) as { published: number };
  assert.equal(a.published, 200);
  const nc = await natsClient([nats.url]).catch(() => null);
  assert.equal(nc, null, 'no anonymous access');
  const asWorker = await connect({ servers: nats.url, user: 'worker', pass: workerPw });
  t.after(() => asWorker.close());
  assert.deepEqual(await drainedBacklog(asWorker, 'SHADOWTAP', 'shadowtap-workers', 60_000), { pending: 0, unacked: 0 });
  assert.equal(await worker.stop('SIGTERM', 30_000), 0, worker.stderr());
  assert.equal(shadow.requests, 200, 'every exchange replayed once');

  // The agent's user may not read the stream's consumers (nor anything else of the API).
  const asAgent = await connect({ servers: nats.url, user: 'agent', pass: agentPw });
  t.after(() => asAgent.close());
  const jsm = await jetstreamManager(asAgent, { checkAPI: false });
  await assert.rejects(jsm.consumers.info('SHADOWTAP', 'shadowtap-workers'));
});
