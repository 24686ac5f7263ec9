// The systemd units: `systemd-analyze verify` clean, `systemd-analyze security --offline=yes`
// exposure at most 2.0, and the settings the design rests on.
//
// In a container without systemd as PID 1, verify works with --root=DIR: the unit's
// dependencies (sysinit.target, basic.target, …) are looked up under DIR, and so are
// ExecStart=/ExecReload= binaries, which must exist and be executable. DIR gets a copy of
// /usr/lib/systemd/system, the units under etc/systemd/system, and stand-ins for
// /usr/bin/shadowtap and /bin/kill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { haveTool, repoRoot, runTool } from '../support/tools';

const UNITS = ['shadowtap.service', 'shadowtap@.service'];
const MAX_EXPOSURE = 2.0;

function skipReason(): string | null {
  if (!haveTool('systemd-analyze')) return 'systemd-analyze missing (Debian package systemd; make test-deps installs it)';
  if (!fs.existsSync('/usr/lib/systemd/system/sysinit.target')) return 'no /usr/lib/systemd/system units to verify against';
  return null;
}

/** A root for `systemd-analyze verify --root`. */
function verifyRoot(): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-units-'));
  fs.mkdirSync(path.join(root, 'usr/lib/systemd'), { recursive: true });
  fs.cpSync('/usr/lib/systemd/system', path.join(root, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
  const unitDir = path.join(root, 'etc/systemd/system');
  fs.mkdirSync(unitDir, { recursive: true });
  for (const u of UNITS) fs.copyFileSync(path.join(repoRoot(), 'systemd', u), path.join(unitDir, u));
  for (const bin of ['usr/bin/shadowtap', 'bin/kill']) {
    fs.mkdirSync(path.dirname(path.join(root, bin)), { recursive: true });
    fs.writeFileSync(path.join(root, bin), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  }
  return root;
}

test('systemd-analyze verify: both units (and an instance of the template) are clean', { timeout: 60_000 }, async (t) => {
  const why = skipReason();
  if (why) { t.skip(why); return; }
  const root = verifyRoot();
  try {
    for (const unit of ['shadowtap.service', 'shadowtap@.service', 'shadowtap@eth0-8080.service']) {
      const r = await runTool('systemd-analyze', ['verify', `--root=${root}`, path.join(root, 'etc/systemd/system', unit)]);
      assert.equal(r.code, 0, `${unit}: ${r.stdout}${r.stderr}`);
      assert.equal((r.stdout + r.stderr).trim(), '', `${unit}: verify printed warnings`);
    }
    // The check is real: without the ExecStart binary, verify fails.
    fs.rmSync(path.join(root, 'usr/bin/shadowtap'));
    const r = await runTool('systemd-analyze', ['verify', `--root=${root}`, path.join(root, 'etc/systemd/system/shadowtap.service')]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\/usr\/bin\/shadowtap is not executable/);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test(`systemd-analyze security --offline: exposure ≤ ${MAX_EXPOSURE} for both units`, { timeout: 60_000 }, async (t) => {
  const why = skipReason();
  if (why) { t.skip(why); return; }
  for (const unit of UNITS) {
    const r = await runTool('systemd-analyze', ['security', '--offline=yes', '--no-pager', path.join(repoRoot(), 'systemd', unit)]);
    const m = /Overall exposure level for \S+: (\d+(?:\.\d+)?)/.exec(r.stdout + r.stderr);
    assert.ok(m, `no exposure level in:\n${r.stdout}${r.stderr}`);
    const level = Number(m[1]);
    t.diagnostic(`${unit}: overall exposure ${level}`);
    assert.ok(level <= MAX_EXPOSURE, `${unit}: exposure ${level} > ${MAX_EXPOSURE}\n${r.stdout}`);
    // What a sniffer may not have, checked by systemd's own assessment.
    for (const must of ['CapabilityBoundingSet=~CAP_SYS_ADMIN', 'CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)', 'NoNewPrivileges=',
      'SystemCallFilter=~@privileged', 'RestrictAddressFamilies=~…', 'ProtectSystem=', 'User=/DynamicUser=']) {
      const line = r.stdout.split('\n').find((l) => l.includes(must));
      assert.ok(line !== undefined && line.trimStart().startsWith('✓'), `${unit}: ${must} not satisfied: ${line}`);
    }
  }
});

test('the units grant CAP_NET_RAW only and are wired for Type=notify', () => {
  for (const unit of UNITS) {
    const text = fs.readFileSync(path.join(repoRoot(), 'systemd', unit), 'utf8');
    const settings = new Map<string, string[]>();
    for (const line of text.split('\n')) {
      const m = /^([A-Za-z]+)=(.*)$/.exec(line);
      if (m) settings.set(m[1], [...(settings.get(m[1]) ?? []), m[2]]);
    }
    const one = (k: string) => { const v = settings.get(k); assert.ok(v?.length === 1, `${unit}: ${k}= ${JSON.stringify(v)}`); return v[0]; };
    assert.equal(one('AmbientCapabilities'), 'CAP_NET_RAW');
    assert.equal(one('CapabilityBoundingSet'), 'CAP_NET_RAW');
    assert.equal(one('Type'), 'notify');
    assert.equal(one('NotifyAccess'), 'main');
    assert.equal(one('WatchdogSec'), '30');
    assert.equal(one('User'), 'shadowtap');
    assert.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID');
    assert.equal(settings.get('MemoryDenyWriteExecute'), undefined, 'V8 needs W+X memory');
    // Production first: a smaller CPU and IO share than a default service (100).
    assert.ok(Number(one('CPUWeight')) < 100 && Number(one('IOWeight')) < 100, `${unit}: CPUWeight ${one('CPUWeight')}, IOWeight ${one('IOWeight')}`);
    const config = unit === 'shadowtap.service' ? '/etc/shadowtap/shadowtap.yaml' : '/etc/shadowtap/%i.yaml';
    assert.equal(one('ExecStart'), `/usr/bin/shadowtap run --config ${config}`);
    assert.ok(/^\d+s$/.test(one('TimeoutStopSec')) && parseInt(one('TimeoutStopSec'), 10) > 5 + 10, 'TimeoutStopSec above the default drain (5 s)');
  }
});
