// sd_notify: `shadowtap run` under a fake systemd. A python3 process binds the unix datagram
// socket named by NOTIFY_SOCKET and prints every datagram with its arrival time; the run
// must send READY=1 once capture started, WATCHDOG=1 every WATCHDOG_USEC/2, and STOPPING=1
// at SIGTERM. Also the addon's sdNotify itself: path and abstract (@) sockets, unset, errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadAddon } from '../../src/capture/native';
import { systemd } from '../../src/cli/systemd';
import { captureSkipReason, cliPath, freePort, haveTool, repoRoot } from '../support/tools';
import { startProduction, startShadow } from '../support/servers';
import { delay, sendGets, startProc, type Proc } from './helpers';

// Prints "READY" once bound, then one line per datagram: "<ms since start> <payload, \n as \\n>".
// The time is the kernel's receive timestamp (SO_TIMESTAMP, taken when the sender's datagram
// was queued), so that this receiver being scheduled late on a busy machine does not move it.
const RECEIVER = String.raw`
import socket, struct, sys, time
SO_TIMESTAMP = 29  # Linux (asm-generic and x86); Python's socket module does not name it
addr = sys.argv[1]
t0 = time.time()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMP, 1)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
print("READY", flush=True)
while True:
    d, anc, _, _ = s.recvmsg(65536, socket.CMSG_SPACE(16))
    at = time.time()
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMP and len(data) >= 16:
            sec, usec = struct.unpack("qq", data[:16])
            at = sec + usec / 1e6
    print("%.1f %s" % ((at - t0) * 1000, d.decode().replace("\n", "\\n")), flush=True)
`;

interface Datagram { ms: number; text: string }

function datagrams(p: Proc): Datagram[] {
  return p.output().split('\n').filter((l) => /^\d/.test(l)).map((l) => {
    const i = l.indexOf(' ');
    return { ms: Number(l.slice(0, i)), text: l.slice(i + 1).replace(/\\n/g, '\n') };
  });
}

async function receiver(address: string): Promise<Proc> {
  const p = startProc('python3', ['-c', RECEIVER, address]);
  assert.ok(await p.waitForLine(/^READY$/, 30_000), `receiver did not start: ${p.output()}`);
  return p;
}

test('sdNotify (addon): path and abstract sockets, false when NOTIFY_SOCKET is unset, an error when nobody listens', { timeout: 30_000 }, async (t) => {
  if (!haveTool('python3')) { t.skip('python3 missing'); return; }
  const addon = loadAddon();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-notify-'));
  const saved = process.env.NOTIFY_SOCKET;
  try {
    delete process.env.NOTIFY_SOCKET;
    assert.equal(addon.sdNotify('READY=1'), false);
    assert.equal(systemd.ready(), false, 'no-op outside systemd');

    for (const address of [path.join(dir, 'notify.sock'), `@shadowtap-test-${process.pid}`]) {
      const r = await receiver(address);
      try {
        process.env.NOTIFY_SOCKET = address;
        assert.equal(addon.sdNotify('STATUS=hello\nX=1'), true);
        assert.equal(systemd.status('two\nlines'), true);
        assert.equal(systemd.reloading(), true);
        const deadline = Date.now() + 20_000;
        while (datagrams(r).length < 3 && Date.now() < deadline) await delay(20);
        const got = datagrams(r).map((d) => d.text);
        assert.equal(got[0], 'STATUS=hello\nX=1', address);
        assert.equal(got[1], 'STATUS=two lines');
        assert.match(got[2], /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
      } finally {
        await r.stop('SIGKILL');
      }
    }

    process.env.NOTIFY_SOCKET = path.join(dir, 'nobody-listens.sock');
    assert.throws(() => addon.sdNotify('READY=1'), /sd_notify to .*nobody-listens\.sock: No such file or directory/);
    assert.equal(systemd.notify('READY=1'), false);
    assert.match(systemd.lastError() ?? '', /No such file/);
    process.env.NOTIFY_SOCKET = 'relative/path';
    assert.throws(() => addon.sdNotify('READY=1'), /not an absolute path/);
  } finally {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET; else process.env.NOTIFY_SOCKET = saved;
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('sdNotify never blocks: a systemd that stops reading makes it fail at once (EAGAIN), not wait', { timeout: 30_000 }, async (t) => {
  if (!haveTool('python3')) { t.skip('python3 missing'); return; }
  const addon = loadAddon();
  const address = `@shadowtap-stalled-${process.pid}`;
  // Binds and never reads: its receive queue fills after max_dgram_qlen datagrams.
  const stalled = startProc('python3', ['-c', `import socket, time\ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\ns.bind("\\0${address.slice(1)}")\nprint("READY", flush=True)\ntime.sleep(60)`]);
  const saved = process.env.NOTIFY_SOCKET;
  try {
    assert.ok(await stalled.waitForLine(/^READY$/, 20_000), stalled.output());
    process.env.NOTIFY_SOCKET = address;
    let sent = 0;
    let error = '';
    for (; sent < 100_000; sent++) {
      try {
        addon.sdNotify('WATCHDOG=1');
      } catch (e) {
        error = (e as Error).message;
        break;
      }
    }
    assert.match(error, /Resource temporarily unavailable/, `${sent} datagrams sent without an error`);
  } finally {
    if (saved === undefined) delete process.env.NOTIFY_SOCKET; else process.env.NOTIFY_SOCKET = saved;
    await stalled.stop('SIGKILL');
  }
});

test('watchdogIntervalMs: WATCHDOG_USEC, and WATCHDOG_PID naming another process', () => {
  assert.equal(systemd.watchdogIntervalMs({}), null);
  assert.equal(systemd.watchdogIntervalMs({ WATCHDOG_USEC: '400000' }), 400);
  assert.equal(systemd.watchdogIntervalMs({ WATCHDOG_USEC: '400000', WATCHDOG_PID: String(process.pid) }), 400);
  assert.equal(systemd.watchdogIntervalMs({ WATCHDOG_USEC: '400000', WATCHDOG_PID: '1' }), null);
  assert.equal(systemd.watchdogIntervalMs({ WATCHDOG_USEC: 'x' }), null);
});

test('run under NOTIFY_SOCKET: READY=1 after "capture started", WATCHDOG=1 every 200 ms, STOPPING=1 at SIGTERM', { timeout: 60_000 }, async (t) => {
  const why = captureSkipReason([]) ?? (haveTool('python3') ? null : 'python3 missing');
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-notify-'));
  const sock = path.join(dir, 'notify.sock');
  const production = await startProduction();
  const shadow = await startShadow();
  const r = await receiver(sock);
  let run: Proc | undefined;
  try {
    const env: NodeJS.ProcessEnv = { ...process.env, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '400000' };
    delete env.WATCHDOG_PID;
    run = startProc(process.execPath, [cliPath(), 'run', '--interface', 'lo', '--port', String(production.port),
      '--shadow', `http://127.0.0.1:${shadow.port}`, '--stats-interval', '0'], { env, cwd: repoRoot() });
    const started = await run.waitForLine(/"msg":"capture started"/, 30_000);
    assert.ok(started, `no "capture started":\n${run.output()}`);
    const startedAt = Date.now();
    // Let the watchdog tick a while (with some traffic, so the event loop has work), then stop.
    assert.deepEqual(new Set(await sendGets(production.port, 20)), new Set([200]));
    await delay(2000 - (Date.now() - startedAt));
    const stoppingSince = datagrams(r).length;
    assert.equal(await run.stop('SIGTERM'), 0, run.output());
    const deadline = Date.now() + 20_000;
    while (!datagrams(r).some((d) => d.text.startsWith('STOPPING=1')) && Date.now() < deadline) await delay(20);

    const got = datagrams(r);
    const ready = got.findIndex((d) => d.text.startsWith('READY=1'));
    assert.equal(ready, 0, `READY=1 first: ${JSON.stringify(got.slice(0, 3))}`);
    assert.equal(got.filter((d) => d.text.startsWith('READY=1')).length, 1);
    assert.match(got[ready].text, /^READY=1\nSTATUS=capturing on lo/);

    const pings = got.filter((d) => d.text === 'WATCHDOG=1');
    const gaps = pings.slice(1).map((p, i) => p.ms - pings[i].ms);
    t.diagnostic(`${pings.length} watchdog pings, gaps ${Math.min(...gaps).toFixed(0)}..${Math.max(...gaps).toFixed(0)} ms`);
    assert.ok(pings.length >= 8, `about 10 pings in 2 s: ${pings.length}`);
    // Gaps between the kernel's timestamps of the pings as sent (the receiver's own scheduling
    // does not count): the median says the period is WATCHDOG_USEC/2, the maximum that no ping
    // came so late that a 400 ms watchdog would have fired.
    const median = gaps.slice().sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
    assert.ok(median > 150 && median < 260, `median gap ${median} ms, wanted ~200`);
    assert.ok(Math.max(...gaps) < 400, `a gap of ${Math.max(...gaps)} ms would trip a 400 ms watchdog`);

    const stopping = got.findIndex((d) => d.text.startsWith('STOPPING=1'));
    assert.ok(stopping >= stoppingSince, `STOPPING=1 after SIGTERM: ${JSON.stringify(got.slice(-4))}`);
    assert.match(got[stopping].text, /STATUS=stopping \(SIGTERM\)/);
    assert.ok(!got.slice(stopping + 1).some((d) => d.text.startsWith('READY=1')));
  } finally {
    if (run) await run.stop('SIGKILL').catch(() => undefined);
    await r.stop('SIGKILL');
    await production.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
