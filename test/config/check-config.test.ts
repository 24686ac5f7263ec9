// check-config judges each key on its own, and a key that only clashes with the minimal
// configuration it is checked in (file: instead of interface:) is not reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runConfig } from '../../src/config';
import { runCli } from '../support/tools';

test('check-config accepts a valid run configuration that reads a file instead of an interface', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-review-check-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'c.yaml');
  fs.writeFileSync(file, 'file: /tmp/capture.pcap\nport: 8080\nshadow: [http://127.0.0.1:9000]\n');
  // The same values as flags are a valid run configuration:
  assert.doesNotThrow(() => runConfig({ file: '/tmp/capture.pcap', port: ['8080'], shadow: ['http://127.0.0.1:9000'] }));
  const r = await runCli(['check-config', '--config', file]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /: ok$/m);
});

test('check-config: a baseline equal to the minimal shadow it is checked beside is not a clash; one equal to the file\'s own shadow is', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-check-baseline-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'c.yaml');
  const check = async (yaml: string) => {
    fs.writeFileSync(file, `file: /tmp/capture.pcap\nport: 9090\nout: ${dir}/out\n${yaml}`);
    return runCli(['check-config', '--config', file]);
  };
  // 127.0.0.1:8080 is the shadow check-config uses for a key checked on its own.
  const fine = await check('shadow: [http://127.0.0.1:9000]\nbaseline: http://127.0.0.1:8080\n');
  assert.equal(fine.code, 0, fine.stdout + fine.stderr);
  const clash = await check('shadow: [http://127.0.0.1:9000]\nbaseline: http://127.0.0.1:9000\n');
  assert.equal(clash.code, 1, clash.stdout);
  assert.match(clash.stdout, /^baseline: the baseline must not also be a shadow$/m);
});

test('check-config --strict runs the preflight: interface, outputs, shadow names, production itself', async (t) => {
  if (process.getuid?.() !== 0) { t.skip('needs root to open a live capture'); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-strict-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const check = async (yaml: string, strict = true) => {
    const file = path.join(dir, 'c.yaml');
    fs.writeFileSync(file, `port: 8080\n${yaml}\n`);
    const r = await runCli(['check-config', '--config', file, ...(strict ? ['--strict'] : [])]);
    return { code: r.code, problems: r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith(file)) };
  };
  const shadow = 'shadow: [http://127.0.0.2:8080]'; // production's port, another address: allowed
  assert.deepEqual(await check(`interface: lo\n${shadow}`), { code: 0, problems: [] });
  assert.deepEqual(await check(`interface: eth9\n${shadow}`, false), { code: 0, problems: [] }, 'without --strict, the file alone');
  assert.deepEqual(await check(`interface: eth9\n${shadow}`), { code: 1, problems: ['interface: no interface "eth9" on this host (`shadowtap devices` lists them)'] });
  const out = await check(`interface: lo\n${shadow}\nout: /proc/nope/out`);
  assert.equal(out.code, 1);
  assert.match(out.problems.join('\n'), /^out: \/proc\/nope\/out: cannot write in \/proc/);
  const missingDir = await check(`interface: lo\n${shadow}\nsummary-json: ${dir}/no/such/dir/s.json`);
  assert.match(missingDir.problems.join('\n'), /^summary-json: .* does not exist/);
  const unresolved = await check('interface: lo\nshadow: [http://shadow.invalid:8080]');
  assert.match(unresolved.problems.join('\n'), /^shadow: http:\/\/shadow\.invalid:8080: the name shadow\.invalid does not resolve/);
  // Production itself: an interface address of this host (or localhost) at a captured port.
  for (const own of ['http://127.0.0.1:8080', 'http://localhost:8080', 'http://0.0.0.0:8080', 'http://[::1]:8080']) {
    const r = await check(`interface: lo\nshadow: ["${own}"]`);
    assert.equal(r.code, 1, own);
    assert.match(r.problems.join('\n'), /^shadow: .* is production itself/, own);
  }
  // Not production: another port, or a capture file (production need not be this host).
  assert.deepEqual(await check('interface: lo\nshadow: [http://127.0.0.1:8081]'), { code: 0, problems: [] });
  const baseline = await check(`interface: lo\n${shadow}\nbaseline: http://localhost:8080`);
  assert.match(baseline.problems.join('\n'), /^baseline: http:\/\/localhost:8080 is production itself/);
});

test('check-config knows the fleet: a worker\'s file, and run --publish checked as an agent', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-check-fleet-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'c.yaml');
  const check = async (yaml: string, command: string[] = []) => {
    fs.writeFileSync(file, yaml);
    return runCli(['check-config', ...command, '--config', file]);
  };
  const worker = ['--command', 'worker'];
  const fine = await check(`from: nats://127.0.0.1:4222\nshadow: [http://127.0.0.1:9000]\nout: ${dir}/results\n`, worker);
  assert.equal(fine.code, 0, fine.stdout + fine.stderr);
  const noBroker = await check(`shadow: [http://127.0.0.1:9000]\nout: ${dir}/results\n`, worker);
  assert.equal(noBroker.code, 1, noBroker.stdout);
  assert.match(noBroker.stdout, /^from: required/m);
  const agent = await check('interface: lo\nport: [8080]\npublish: nats://127.0.0.1:4222\n');
  assert.equal(agent.code, 0, agent.stdout + agent.stderr);
  const agentWithShadow = await check('interface: lo\nport: [8080]\npublish: nats://127.0.0.1:4222\nshadow: [http://127.0.0.1:9000]\n');
  assert.equal(agentWithShadow.code, 1, agentWithShadow.stdout);
  assert.match(agentWithShadow.stdout, /^shadow: not with --publish/m);
});
