// The memory budget's arithmetic, the units that must agree with it, the shedding order, and
// what a half-open connection really costs (measured in a child with a collected heap).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FLOW_BYTES, RUNTIME_RESERVE_MB, SharedAllowance, memoryWarnings, planMemory } from '../../src/accounting/memory';
import { memoryOptions } from '../../src/accounting/options';
import { defaultOf } from '../../src/config/options';
import { partialHead, writeOpenFlows } from '../support/hostile-flows';
import { repoRoot } from '../support/tools';

const MiB = 2 ** 20;

test('the budget is shared out whole: reserve, capture ring and queue, then the five shares', () => {
  const plan = planMemory(256, 64);
  assert.equal(plan.captureRingBytes, 32 * MiB, 'the ring asked for is cut to an eighth of the budget');
  assert.equal(plan.captureQueueBytes, 16 * MiB);
  const shared = Object.values(plan.shares).reduce((a, b) => a + b, 0);
  const data = (256 - RUNTIME_RESERVE_MB - 32 - 16) * MiB;
  assert.ok(shared <= data && shared > data - 8, `${shared} of ${data}`);
  assert.equal(plan.maxConnections, Math.floor(plan.shares.flows / FLOW_BYTES));
  // Offline there is no ring and no queue: more for the rest.
  const offline = planMemory(256);
  assert.equal(offline.captureRingBytes + offline.captureQueueBytes, 0);
  assert.ok(offline.shares.flows > plan.shares.flows);
  // A bigger budget scales every share.
  const big = planMemory(1024, 64);
  assert.equal(big.captureRingBytes, 64 * MiB);
  for (const k of Object.keys(plan.shares) as Array<keyof typeof plan.shares>) assert.ok(big.shares[k] > plan.shares[k] * 4, k);
});

test('both systemd units set the heap limit, MemoryHigh and MemoryMax the default budget derives', () => {
  const plan = planMemory(defaultOf(memoryOptions.maxMemoryMb) as number);
  for (const unit of ['shadowtap.service', 'shadowtap@.service']) {
    const text = fs.readFileSync(path.join(repoRoot(), 'systemd', unit), 'utf8');
    assert.match(text, new RegExp(`^Environment=NODE_OPTIONS=--max-old-space-size=${plan.heapLimitMb}$`, 'm'), unit);
    assert.match(text, new RegExp(`^MemoryHigh=${plan.memoryHighMb}M$`, 'm'), unit);
    assert.match(text, new RegExp(`^MemoryMax=${plan.memoryMaxMb}M$`, 'm'), unit);
  }
});

test('limits that would stop the process before it sheds are warned about', () => {
  const plan = planMemory(256);
  assert.deepEqual(memoryWarnings(plan, 4096 * MiB, null), []);
  assert.deepEqual(memoryWarnings(plan, 256 * MiB, 384 * MiB), []);
  const low = memoryWarnings(plan, 128 * MiB, 200 * MiB);
  assert.equal(low.length, 2);
  assert.match(low[0], /heap limit \(128 MiB\) is below --max-memory-mb 256.*--max-old-space-size=256/);
  assert.match(low[1], /memory\.max \(200 MiB\) is below --max-memory-mb 256.*MemoryMax=384M/);
});

test('over its share, an allowance sheds its largest holders first, down to three quarters', () => {
  const released: string[] = [];
  const a = new SharedAllowance<string>(100, (h) => { released.push(h); a.hold(h, 0); });
  a.hold('small', 10);
  a.hold('large', 50);
  a.hold('middle', 30);
  assert.deepEqual(released, []);
  a.hold('small', 20); // 100: at the share, not over it
  assert.deepEqual(released, []);
  a.hold('new', 15); // 115 > 100: shed until ≤ 75
  assert.deepEqual(released, ['large']);
  assert.equal(a.used, 65);
  assert.equal(a.shed, 1);
  assert.equal(a.shedBytes, 50);
  a.hold('middle', 0);
  assert.equal(a.used, 35);
  assert.equal(a.holders, 2);
});

test(`a half-open connection (handshake and a partial request head) costs at most FLOW_BYTES (${FLOW_BYTES})`, { timeout: 60_000 }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-flowcost-'));
  try {
    const flows = 20_000;
    const file = path.join(dir, 'half-open.pcap');
    writeOpenFlows(file, { flows, serverPort: 8080, request: partialHead });
    const dist = path.join(repoRoot(), 'dist', 'src');
    // A child with a heap of its own, collected before and after: the flows' live bytes only.
    const script = `
      const { openFile } = require(${JSON.stringify(path.join(dist, 'capture'))});
      const { PacketPipeline } = require(${JSON.stringify(path.join(dist, 'pipeline'))});
      const sink = { request() {}, exchange() {}, lost() {}, notice() {} };
      const pipeline = new PacketPipeline(sink, { tcp: { maxConnections: ${flows * 2} } });
      gc(); gc();
      const before = process.memoryUsage();
      const source = openFile(${JSON.stringify(file)});
      source.start((b, c) => pipeline.batch(source.linkType, b, c), () => {
        gc(); gc();
        const after = process.memoryUsage();
        const grown = after.heapUsed - before.heapUsed + after.external - before.external;
        console.log(JSON.stringify({ active: pipeline.reassembler.connectionCount, perFlow: grown / pipeline.reassembler.connectionCount }));
      });`;
    const out = JSON.parse(execFileSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })) as { active: number; perFlow: number };
    assert.equal(out.active, flows);
    assert.ok(out.perFlow <= FLOW_BYTES, `${Math.round(out.perFlow)} bytes per half-open flow`);
    assert.ok(out.perFlow > FLOW_BYTES / 4, `${Math.round(out.perFlow)} bytes per flow: the measurement measures nothing`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
