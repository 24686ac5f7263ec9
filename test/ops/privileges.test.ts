// Least privilege, for real: the live mirror as user nobody holding CAP_NET_RAW and nothing
// else (what shadowtap.service grants), through setpriv; and the same command without
// CAP_NET_RAW, which must fail clearly. Needs root (to hand out the capability) and setpriv.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { captureSkipReason, cliPath, haveTool, repoRoot, runTool } from '../support/tools';
import { startProduction, startShadow } from '../support/servers';
import { delay, sendGets, startProc } from './helpers';

const COUNT = 200;
const CAP_NET_RAW = 13;

function asNobody(caps: string[]): string[] {
  const set = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  return ['--reuid=nobody', '--regid=nogroup', '--clear-groups', `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`, '--'];
}

/** Why nobody could not run dist/src/cli/main.js from this checkout, or null. */
async function unreadableByNobody(): Promise<string | null> {
  const probe = ['-e', `require(${JSON.stringify(path.join(repoRoot(), 'native/build/Release/shadowtap_pcap.node'))}); require(${JSON.stringify(cliPath().replace(/main\.js$/, 'run.js'))})`];
  const r = await runTool('setpriv', [...asNobody([]), process.execPath, ...probe], { cwd: '/' });
  return r.code === 0 ? null : `the checkout is not readable by nobody: ${r.stderr.split('\n').find((l) => /Error/.test(l)) ?? r.stderr}`;
}

function capsOf(pid: number): { uid: string; effective: bigint; permitted: bigint; bounding: bigint; ambient: bigint } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const hex = (k: string) => BigInt(`0x${new RegExp(`^${k}:\\s*([0-9a-f]+)$`, 'm').exec(status)![1]}`);
  return { uid: /^Uid:\s*(.*)$/m.exec(status)![1].trim(), effective: hex('CapEff'), permitted: hex('CapPrm'), bounding: hex('CapBnd'), ambient: hex('CapAmb') };
}

test(`run as nobody with only CAP_NET_RAW mirrors all ${COUNT} requests; without it, a clear error`, { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason([]) ?? (haveTool('setpriv') ? null : 'setpriv missing (util-linux)') ?? await unreadableByNobody();
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-nobody-'));
  const nobody = await runTool('id', ['-u', 'nobody']);
  const nogroup = await runTool('getent', ['group', 'nogroup']);
  fs.chownSync(dir, Number(nobody.stdout.trim()), Number(nogroup.stdout.split(':')[2]));
  const summaryPath = path.join(dir, 'summary.json');
  const production = await startProduction();
  const shadow = await startShadow();
  try {
    const args = [process.execPath, cliPath(), 'run', '--interface', 'lo', '--port', String(production.port),
      '--shadow', `http://127.0.0.1:${shadow.port}`, '--summary-json', summaryPath, '--stats-interval', '0'];
    const run = startProc('setpriv', [...asNobody(['net_raw']), ...args], { cwd: repoRoot() });
    try {
      assert.ok(await run.waitForLine(/"msg":"capture started"/, 20_000), run.output());
      const caps = capsOf(run.child.pid!);
      assert.equal(caps.uid.split(/\s+/)[0], nobody.stdout.trim());
      const only = 1n << BigInt(CAP_NET_RAW);
      assert.deepEqual([caps.effective, caps.permitted, caps.bounding, caps.ambient], [only, only, only, only],
        `capabilities: ${JSON.stringify(caps, (_k, v) => typeof v === 'bigint' ? v.toString(16) : v)}`);

      const statuses = await sendGets(production.port, COUNT);
      assert.equal(statuses.filter((s) => s === 200).length, COUNT);
      assert.ok(await shadow.waitFor(COUNT, 20_000), `shadow got ${shadow.requests.length} of ${COUNT}`);
      await delay(200);
      assert.equal(await run.stop('SIGTERM'), 0, run.output());
    } finally {
      await run.stop('SIGKILL').catch(() => undefined);
    }
    assert.equal(shadow.requests.length, COUNT);
    const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as { seen: number; replayed: number; notReplayed: Record<string, number> };
    assert.equal(summary.seen, COUNT);
    assert.equal(summary.replayed, COUNT);
    assert.deepEqual(summary.notReplayed, {});
    assert.equal(fs.statSync(summaryPath).uid, Number(nobody.stdout.trim()), 'written by nobody');

    // The same command without CAP_NET_RAW.
    const denied = await runTool('setpriv', [...asNobody([]), ...args], { cwd: repoRoot(), timeoutMs: 30_000 });
    assert.notEqual(denied.code, 0);
    const text = denied.stdout + denied.stderr;
    assert.match(text, /cannot capture on "lo".*permission.*needs root or CAP_NET_RAW/i, text);
    assert.doesNotMatch(text, /CAP_NET_ADMIN/, 'CAP_NET_ADMIN is not needed and not asked for');
  } finally {
    await production.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('promiscuous mode needs no more than CAP_NET_RAW', { timeout: 30_000 }, async (t) => {
  const why = captureSkipReason([]) ?? (haveTool('setpriv') ? null : 'setpriv missing (util-linux)') ?? await unreadableByNobody();
  if (why) { t.skip(why); return; }
  // Open a promiscuous live handle on lo as nobody + CAP_NET_RAW, and check the kernel's
  // promiscuity counter of lo went up while it was open (PACKET_ADD_MEMBERSHIP worked).
  const script = `
    const a = require(${JSON.stringify(path.join(repoRoot(), 'native/build/Release/shadowtap_pcap.node'))});
    const fs = require('fs');
    const before = Number(fs.readFileSync('/sys/class/net/lo/flags', 'utf8')) & 0x100;
    const h = new a.LiveHandle({ device: 'lo', promiscuous: true, filter: 'tcp port 9' });
    h.start(() => {}, () => {});
    setTimeout(() => {
      const out = require('child_process').execFileSync('ip', ['-d', 'link', 'show', 'lo']).toString();
      console.log(JSON.stringify({ promiscuity: Number(/promiscuity (\\d+)/.exec(out)[1]), before }));
      h.close();
    }, 200);`;
  const base = await runTool('ip', ['-d', 'link', 'show', 'lo']);
  const baseline = Number(/promiscuity (\d+)/.exec(base.stdout)?.[1] ?? NaN);
  if (Number.isNaN(baseline)) { t.skip('ip -d link shows no promiscuity counter'); return; }
  const r = await runTool('setpriv', [...asNobody(['net_raw']), process.execPath, '-e', script], { cwd: '/' });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).promiscuity, baseline + 1);
});
