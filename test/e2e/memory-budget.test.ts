// The memory budget holds against what a hostile or unlucky day sends: crafted captures played
// live on lo with tcpreplay into `shadowtap run` with the default budget (256 MiB). The peak
// resident set (getrusage, in the summary) stays under the budget, what was shed is counted
// under its reason, and every request seen has exactly one outcome.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FlowPlan, endlessHead, partialHead, unfinishedUpload, writeOpenFlows } from '../support/hostile-flows';
import { startShadow } from '../support/servers';
import { captureSkipReason, freePort, runTool, startCli } from '../support/tools';

const BUDGET_MB = 256;

interface Summary {
  seen: number;
  replayed: number;
  pending: number;
  notReplayed: Record<string, number>;
  capture: { packets: number; queueDropped: number; kernelDropped: number };
  tcp: { closed: Record<string, number> };
  memory: { budgetMb: number; peakRssMb: number; maxConnections: number; messages: { shed: number } };
}

async function playLive(t: { after: (fn: () => unknown) => void }, plan: (port: number) => FlowPlan): Promise<Summary> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-budget-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const capture = writeOpenFlows(path.join(dir, 'hostile.pcap'), plan(port));
  const shadow = await startShadow();
  t.after(() => shadow.close());
  const cli = startCli(['run', '--interface', 'lo', '--port', String(port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--stats-interval', '0', '--admin', 'off']);
  assert.ok(await cli.waitForLine(/memory budget/, 15_000), cli.stderr());
  // Paced so that the kernel keeps up; the daemon still sees every packet within a few seconds.
  const played = await runTool('tcpreplay', ['--intf1=lo', '--mbps=2000', capture.path], { timeoutMs: 120_000 });
  assert.equal(played.code, 0, played.stderr);
  fs.rmSync(capture.path);
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
  const line = cli.stdout().split('\n').find((l) => l.includes('"msg":"summary"'));
  assert.ok(line, cli.stdout().slice(-2000));
  const s = (JSON.parse(line) as { stats: Summary }).stats;
  assert.equal(s.memory.budgetMb, BUDGET_MB);
  assert.ok(s.memory.peakRssMb <= BUDGET_MB, `peak RSS ${s.memory.peakRssMb} MB over the ${BUDGET_MB} MB budget`);
  const settled = s.replayed + Object.values(s.notReplayed).reduce((a, b) => a + b, 0);
  assert.equal(s.pending, 0);
  assert.equal(settled, s.seen, `every request seen has one outcome: ${JSON.stringify(s.notReplayed)}`);
  assert.ok(s.capture.packets > capture.packets / 4, `the daemon saw ${s.capture.packets} of ${capture.packets} packets`);
  return s;
}

const skip = (): string | null => captureSkipReason(['tcpreplay']);

test('100,000 half-open connections: the flow table stops at the budget and evicts the oldest, counted', { timeout: 180_000 }, async (t) => {
  const why = skip();
  if (why) { t.skip(why); return; }
  const s = await playLive(t, (port) => ({ flows: 100_000, serverPort: port, request: partialHead }));
  assert.ok(s.memory.maxConnections < 100_000);
  // Each evicted connection's unfinished head is counted `evicted` (a connection whose head
  // packet the capture dropped under load had none to count).
  assert.ok(s.tcp.closed.evicted > 0 && s.notReplayed.evicted > 0 && s.notReplayed.evicted <= s.tcp.closed.evicted, JSON.stringify(s.tcp.closed));
  assert.equal(s.replayed, 0);
});

test('300,000 half-open connections churned through the flow table stay within the budget', { timeout: 240_000 }, async (t) => {
  const why = skip();
  if (why) { t.skip(why); return; }
  const s = await playLive(t, (port) => ({ flows: 300_000, serverPort: port, request: partialHead }));
  assert.ok(s.tcp.closed.evicted > 100_000, JSON.stringify(s.tcp.closed));
});

test('256 uploads of 3 MB that never finish: the largest bodies are shed, counted as memoryShed', { timeout: 180_000 }, async (t) => {
  const why = skip();
  if (why) { t.skip(why); return; }
  const s = await playLive(t, (port) => ({ flows: 256, serverPort: port, request: unfinishedUpload(3_000_000, 4_000_000) }));
  assert.ok(s.notReplayed.memoryShed > 0, JSON.stringify(s.notReplayed));
  assert.equal(s.memory.messages.shed, s.notReplayed.memoryShed);
});

test('8,000 request heads of 60 KB that never end: heads are shed, counted as memoryShed', { timeout: 180_000 }, async (t) => {
  const why = skip();
  if (why) { t.skip(why); return; }
  const s = await playLive(t, (port) => ({ flows: 8000, serverPort: port, request: endlessHead(60_000) }));
  assert.ok(s.notReplayed.memoryShed > 0, JSON.stringify(s.notReplayed));
});
