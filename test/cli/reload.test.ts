// What a SIGHUP applies and what it keeps, judged without a running daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runConfig } from '../../src/config';
import { planReload, same } from '../../src/cli/reload';

const base = { interface: 'lo', port: ['8080'], shadow: ['http://127.0.0.1:9000'], wireTiming: 'off' };

test('reload: policy, redaction and replay settings apply; capture and comparison settings are kept', () => {
  const cfg = runConfig(base);
  const plan = planReload(cfg, runConfig({ ...base, allowWrites: true, redactHeader: ['x-key'], concurrency: '8', port: ['9090'], out: '/tmp/x' }));
  assert.deepEqual(plan.applied, ['traffic policy', 'redaction', 'replay settings']);
  // The port is the capture filter's and the reassembler's (which side is the server).
  assert.deepEqual(plan.kept, ['capture source and filter', 'reassembly limits', '--out']);
  assert.equal(plan.replayChanged, true);
  assert.equal(plan.cfg.replay.concurrency, 8);
  assert.deepEqual(plan.cfg.source.ports, [8080], 'the capture stays as opened');
});

test('reload: with comparison on, new shadow targets are kept out; nothing changed applies nothing', () => {
  const cfg = runConfig(base);
  const plan = planReload(cfg, runConfig({ ...base, shadow: ['http://127.0.0.1:9001'] }));
  assert.match(plan.kept.join(), /shadow targets/);
  assert.deepEqual(plan.cfg.replay.targets, cfg.replay.targets);
  assert.equal(plan.replayChanged, false);
  assert.deepEqual(planReload(cfg, runConfig(base)).applied, []);
  assert.ok(same(new Set([1, /a/]), new Set([1, /a/])) && !same(new Map([[1, 2]]), new Map([[1, 3]])));
});
