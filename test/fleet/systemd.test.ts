// systemd/shadowtap-worker.service passes the checks test/ops/systemd.test.ts makes of the
// capture units: `systemd-analyze verify` clean, `security --offline` exposure at most 2.0 with
// the same settings satisfied; and, unlike them, not a single capability.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { haveTool, repoRoot, runTool } from '../support/tools';

const UNIT = 'shadowtap-worker.service';
const unitPath = path.join(repoRoot(), 'systemd', UNIT);

function skipReason(): string | null {
  if (!haveTool('systemd-analyze')) return 'systemd-analyze missing (Debian package systemd)';
  if (!fs.existsSync('/usr/lib/systemd/system/sysinit.target')) return 'no /usr/lib/systemd/system units to verify against';
  return null;
}

test('shadowtap-worker.service: systemd-analyze verify is clean', { timeout: 60_000 }, async (t) => {
  const why = skipReason();
  if (why) { t.skip(why); return; }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-worker-unit-'));
  try {
    fs.mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
    fs.cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    const unitDir = path.join(root, 'etc/systemd/system');
    fs.mkdirSync(unitDir, { recursive: true });
    fs.copyFileSync(unitPath, path.join(unitDir, UNIT));
    fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
    fs.writeFileSync(path.join(root, 'usr/bin/shadowtap'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const r = await runTool('systemd-analyze', ['verify', `--root=${root}`, path.join(unitDir, UNIT)]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal((r.stdout + r.stderr).trim(), '', 'verify printed warnings');
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('shadowtap-worker.service: exposure ≤ 2.0 and the sandbox settings hold', { timeout: 60_000 }, async (t) => {
  const why = skipReason();
  if (why) { t.skip(why); return; }
  const r = await runTool('systemd-analyze', ['security', '--offline=yes', '--no-pager', unitPath]);
  const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout + r.stderr);
  assert.ok(m, r.stdout + r.stderr);
  t.diagnostic(`${UNIT}: overall exposure ${m[1]}`);
  assert.ok(Number(m[1]) <= 2.0, r.stdout);
  for (const must of ['CapabilityBoundingSet=~CAP_SYS_ADMIN', 'CapabilityBoundingSet=~CAP_NET_(BIND_SERVICE|BROADCAST|RAW)', 'NoNewPrivileges=',
    'SystemCallFilter=~@privileged', 'RestrictAddressFamilies=~AF_PACKET', 'ProtectSystem=', 'User=/DynamicUser=', 'PrivateUsers=']) {
    const line = r.stdout.split('\n').find((l) => l.includes(must));
    assert.ok(line !== undefined && line.trimStart().startsWith('✓'), `${must} not satisfied: ${line}`);
  }
});

test('shadowtap-worker.service: no capability, Type=notify, runs the worker from its config', () => {
  const settings = new Map<string, string[]>();
  for (const line of fs.readFileSync(unitPath, 'utf8').split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (m) settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2]]);
  }
  const one = (k: string): string => { const v = settings.get(k); assert.ok(v?.length === 1, `${k}= ${JSON.stringify(v)}`); return v[0]; };
  assert.equal(one('AmbientCapabilities'), '');
  assert.equal(one('CapabilityBoundingSet'), '');
  assert.equal(one('Type'), 'notify');
  assert.equal(one('User'), 'shadowtap');
  assert.equal(one('ExecStart'), '/usr/bin/shadowtap worker --config /etc/shadowtap/worker.yaml');
  assert.ok(!/AF_PACKET/.test(one('RestrictAddressFamilies')));
});
