// Fleet mode end to end, on loopback: a JetStream server, an agent (`run --publish`) capturing a
// production server's port on lo, two workers replaying to a recording shadow; 5,000 varied
// requests; one worker SIGKILLed midway and a third started. The shadow must receive every
// request production served (at least once: a killed worker's unacknowledged exchanges come
// back), every directory's books must balance, the directories together must hold every
// exchange (duplicates across them counted from exchanges.ids), and their verdict must equal a
// single-host run's over the same traffic (a recording of it replayed with --out).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { headerValue, startProduction, startShadow } from '../support/servers';
import { describeMix, sendVariedMix } from '../support/traffic';
import { captureSkipReason, runCli, startCli, until, type CliHandle } from '../support/tools';
import { fleetRig, drainedBacklog, natsClient, noNatsServer, startNats } from './nats-support';

const COUNT = 5000;
const SEED = 424_242;
const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Summary { seen: number; replayed: number; notReplayed: Record<string, number>; pending: number; received: number; duplicates: number; acked: number }
interface AgentSummary { seen: number; published: number; notPublished: Record<string, number>; pending: number; publish: { dropped: number; failed: number } }

const sum = (o: Record<string, number>): number => Object.values(o).reduce((a, b) => a + b, 0);

/** A result directory's settled exchanges and the ids its results.json covers (ids.written). */
export function resultDir(dir: string): { settled: number; ids: string[] } {
  const results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')) as { accounting: Summary; ids: { written: number; lost: number } };
  const a = results.accounting;
  assert.equal(results.ids.lost, 0, `${dir}: no id lost`);
  const ids = fs.readFileSync(path.join(dir, 'exchanges.ids'), 'utf8').split('\n').filter((l) => l !== '').slice(0, results.ids.written);
  return { settled: a.replayed + sum(a.notReplayed), ids };
}

test('fleet: agent + workers (one SIGKILLed, a third started) deliver every request and add up to production', { timeout: 600_000 }, async (t) => {
  const why = captureSkipReason([]) ?? (noNatsServer || null);
  if (why) { t.skip(why); return; }
  const { dir, procs, servers: servers, brokers } = fleetRig(t, 'shadowtap-fleet-');

  const nats = await startNats(dir);
  brokers.push(nats);
  const prod = await startProduction();
  const shadow = await startShadow();
  const single = await startShadow();
  servers.push(prod, shadow, single);
  const start = (args: string[]): CliHandle => {
    const p = startCli([...args, '--stats-interval', '0']);
    procs.push(p);
    return p;
  };
  const started = async (p: CliHandle, line: RegExp): Promise<void> => {
    const l = await Promise.race([p.waitForLine(line, 30_000), p.exited.then(() => null)]);
    assert.ok(l !== null, `did not start (${line}):\n${p.stderr().slice(-2000)}\n${p.stdout().slice(-2000)}`);
  };

  const agentSummary = path.join(dir, 'agent.json');
  const agent = start(['run', '--publish', nats.url, '--allow-writes', '--interface', 'lo', '--port', String(prod.port), '--fleet-host', 'prod-1',
    '--admin', '127.0.0.1:0', '--summary-json', agentSummary]);
  // The single-host reference: the same traffic recorded, replayed with --out afterwards.
  const recording = path.join(dir, 'recording');
  const recorder = start(['record', '--interface', 'lo', '--port', String(prod.port), '--bodies', '--output', recording,
    '--summary-json', `${recording}.summary.json`]);
  await started(agent, /"msg":"publishing"/);
  await started(recorder, /recording started/);

  const workerDirs: string[] = [];
  const worker = (n: number): CliHandle => {
    const out = path.join(dir, `w${n}`);
    workerDirs.push(out);
    return start(['worker', '--from', nats.url, '--shadow', `http://127.0.0.1:${shadow.port}`, '--out', out, '--admin', 'off',
      '--ack-wait', '5', '--summary-json', `${out}.summary.json`]);
  };
  const w1 = worker(1);
  const w2 = worker(2);
  await started(w1, /worker started/);
  await started(w2, /worker started/);
  await delay(500);

  const mix = sendVariedMix(prod.port, { count: COUNT, seed: SEED });
  // Midway: one worker dies without a word; a third takes its place.
  assert.ok(await until(() => shadow.requests.length >= COUNT * 0.3, 240_000), `the shadow got only ${shadow.requests.length} requests`);
  w1.child.kill('SIGKILL');
  await w1.exited;
  const w3 = worker(3);
  const sent = await mix;
  t.diagnostic(`mix: ${JSON.stringify(describeMix(sent))}`);
  assert.equal(sent.length, COUNT);
  assert.equal(prod.requests.length, COUNT);

  await delay(1000);
  assert.equal(await agent.stop('SIGTERM', 60_000), 0, agent.stderr());
  assert.equal(await recorder.stop('SIGTERM', 60_000), 0, recorder.stderr());
  const a = JSON.parse(fs.readFileSync(agentSummary, 'utf8')) as AgentSummary;
  t.diagnostic(`agent: seen ${a.seen}, published ${a.published}, notPublished ${JSON.stringify(a.notPublished)}`);
  // The single-host reference below is this recording: it must hold every request too.
  const r = JSON.parse(fs.readFileSync(`${recording}.summary.json`, 'utf8')) as { seen: number; recorded: number; notRecorded: Record<string, number>; capture: Record<string, number> };
  t.diagnostic(`recorder: seen ${r.seen}, recorded ${r.recorded}, notRecorded ${JSON.stringify(r.notRecorded)}, capture ${JSON.stringify(r.capture)}`);
  assert.equal(r.recorded, COUNT, 'the recording holds every request');
  assert.equal(a.seen, a.published + sum(a.notPublished) + a.pending, 'agent: seen = published + Σ notPublished');
  assert.equal(a.published, COUNT, `every request published: ${JSON.stringify(a.notPublished)}`);
  for (const reason of ['publishDropped', 'publishFailed', 'shutdown']) assert.equal(a.notPublished[reason], undefined, reason);

  // The workers are done once the consumer group has nothing left to deliver or to acknowledge.
  const nc = await natsClient([nats.url]);
  t.after(() => nc.close());
  const backlog = await drainedBacklog(nc, 'SHADOWTAP', 'shadowtap-workers', 180_000);
  assert.deepEqual({ pending: backlog.pending, unacked: backlog.unacked }, { pending: 0, unacked: 0 }, 'the workers took and acknowledged everything');
  for (const w of [w2, w3]) assert.equal(await w.stop('SIGTERM', 60_000), 0, w.stderr());

  // Every request production served reached the shadow, at least once.
  const shadowIds = new Map<string, number>();
  for (const r of shadow.requests) {
    const id = headerValue(r.headers, 'x-request-id') ?? '';
    shadowIds.set(id, (shadowIds.get(id) ?? 0) + 1);
  }
  const missing = sent.filter((s) => !shadowIds.has(s.id));
  assert.deepEqual(missing.map((s) => `${s.method} ${s.target}`), [], 'requests that never reached the shadow');
  const replayedTwice = shadow.requests.length - shadowIds.size;
  t.diagnostic(`shadow: ${shadow.requests.length} requests, ${shadowIds.size} distinct, ${replayedTwice} replayed again after the kill`);

  // Each live worker's books: received = replayed + Σ notReplayed + duplicates.
  let duplicates = 0;
  for (const n of [2, 3]) {
    const s = JSON.parse(fs.readFileSync(path.join(dir, `w${n}.summary.json`), 'utf8')) as Summary;
    t.diagnostic(`w${n}: received ${s.received}, replayed ${s.replayed}, notReplayed ${JSON.stringify(s.notReplayed)}, duplicates ${s.duplicates}`);
    assert.equal(s.pending, 0);
    assert.equal(s.received, s.replayed + sum(s.notReplayed) + s.duplicates, `w${n}: received = replayed + Σ notReplayed + duplicates`);
    assert.equal(s.acked, s.received, `w${n}: every delivery acknowledged`);
    duplicates += s.duplicates;
  }

  // The directories together: every exchange exactly once, less those two directories both hold.
  const parts = workerDirs.map(resultDir);
  for (const [i, p] of parts.entries()) assert.equal(p.settled, p.ids.length, `${workerDirs[i]}: results.json covers exactly the ids it lists`);
  const seen = new Map<string, number>();
  for (const p of parts) for (const id of p.ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  const counted = parts.reduce((n, p) => n + p.settled, 0);
  const twice = counted - seen.size;
  t.diagnostic(`directories: ${parts.map((p) => p.settled).join(' + ')} = ${counted} settled, ${seen.size} distinct exchanges, ${twice} in two directories, ${duplicates} redeliveries recognised by a worker`);
  assert.equal(seen.size, COUNT, 'every published exchange is in some result directory');
  assert.ok([...seen.keys()].every((id) => id.startsWith('prod-1/')), 'exchange ids are host/run/id');
  assert.ok(twice <= 2000, `exchanges in two directories: at most what the killed worker held unacknowledged (${twice})`);

  // `report DIR…` merges them: its totals, less what it found counted twice, are production's.
  const merged = await runCli(['report', ...workerDirs, '--json']);
  assert.equal(merged.code, 0, merged.stderr);
  const m = JSON.parse(merged.stdout) as { accounting: Summary; targets: Array<{ compared: number }>; merge: { directories: unknown[]; duplicates: { countedTwice: number } } };
  t.diagnostic(`report over the directories: accounting ${JSON.stringify({ seen: m.accounting.seen, replayed: m.accounting.replayed })}, counted twice ${m.merge.duplicates.countedTwice}`);
  assert.equal(m.merge.directories.length, 3);
  assert.equal(m.merge.duplicates.countedTwice, twice, 'the merge finds the exchanges two directories both counted');
  assert.equal(m.accounting.replayed + sum(m.accounting.notReplayed) - m.merge.duplicates.countedTwice, COUNT, 'merged totals are production\'s');

  // The verdict over the directories equals a single-host run's over the same traffic. Latency is
  // left out (--max-latency-ratio): it is timed on a busy machine, the rest is not.
  const rs = await runCli(['replay', recording, '--shadow', `http://127.0.0.1:${single.port}`, '--allow-writes', '--out', path.join(dir, 'single'), '--speed', '0', '--stats-interval', '0']);
  assert.equal(rs.code, 0, rs.stderr);
  const judge = ['--json', '--max-latency-ratio', '1000000'];
  const one = await runCli(['verdict', path.join(dir, 'single'), ...judge]);
  const fleet = await runCli(['verdict', ...workerDirs, ...judge]);
  assert.ok(fleet.code === 0 || fleet.code === 1, `verdict over the directories: ${fleet.stderr}`);
  const reasons = (out: string): string[] => (JSON.parse(out) as { reasons: string[] }).reasons.filter((r) => !/latency/.test(r)).sort();
  t.diagnostic(`verdict: ${one.code === 0 ? 'PASS' : 'FAIL'}, ${reasons(one.stdout).length} reasons`);
  const singleReport = JSON.parse((await runCli(['report', path.join(dir, 'single'), '--json'])).stdout) as { targets: Array<{ compared: number }> };
  // Why the single host compared fewer, when it does (a comparison given up or shed is counted there).
  const singleCounters = JSON.parse(fs.readFileSync(path.join(dir, 'single', 'results.json'), 'utf8')).counters as Record<string, number>;
  t.diagnostic(`single host: ${JSON.stringify({ exchanges: singleCounters.exchanges, joinOverflow: singleCounters.joinOverflow, busy: singleCounters.busy, diffFailures: singleCounters.diffFailures })}`);
  assert.equal(m.targets[0].compared - twice, singleReport.targets[0].compared, 'the fleet compared what the single host did');
  assert.equal(fleet.code, one.code, `same verdict:\nsingle: ${one.stdout}\nfleet: ${fleet.stdout}`);
  const [fr, sr] = [reasons(fleet.stdout), reasons(one.stdout)];
  // The same endpoints fail. Which of their fields are flagged may differ: noise learned from
  // repeated requests depends on which repeats one process sees (README, Fleet mode: Limits).
  const endpoints = (rs: string[]): string[] => rs.map((r) => r.slice(0, r.indexOf(': '))).sort();
  assert.deepEqual(endpoints(fr), endpoints(sr), `only over the directories: ${JSON.stringify(fr.filter((r) => !sr.includes(r)))}\nonly single-host: ${JSON.stringify(sr.filter((r) => !fr.includes(r)))}`);
  const differ = fr.filter((r) => !sr.includes(r));
  if (differ.length > 0) t.diagnostic(`flagged fields that differ from the single host's: ${JSON.stringify(differ)}`);
});
