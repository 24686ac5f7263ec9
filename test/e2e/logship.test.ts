// --log-to syslog+tcp://: shadowtap's JSON log lines reach a real rsyslogd (Debian's, imtcp,
// RFC 5424 with octet-counted framing), and a collector that dies mid-run never slows the
// capture: every request is still mirrored, lines beyond the queue cap are dropped and
// counted, and shipping resumes when the collector is back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { startProduction, startShadow, type RecordingServer } from '../support/servers';
import { captureSkipReason, freePort, startCli, until } from '../support/tools';

const RSYSLOGD = '/usr/sbin/rsyslogd';

interface Rsyslog {
  child: ChildProcess;
  /** Lines rsyslog wrote: `APP-NAME|PROCID|SEVERITY|MSG`. */
  lines(): string[];
  kill(signal: NodeJS.Signals): Promise<void>;
}

/**
 * rsyslogd in the foreground, with nothing but an imtcp input on 127.0.0.1:port and an
 * omfile action in `dir`: no imuxsock/imklog (the system's /dev/log and kernel log are not
 * touched), work directory and pid file in `dir`.
 */
async function startRsyslog(dir: string, port: number, name: string): Promise<Rsyslog> {
  const out = path.join(dir, `${name}.log`);
  const conf = path.join(dir, `${name}.conf`);
  fs.writeFileSync(conf, [
    `global(workDirectory="${dir}" maxMessageSize="256k")`,
    'module(load="imtcp")',
    'template(name="fields" type="string" string="%app-name%|%procid%|%syslogseverity-text%|%msg%\\n")',
    `input(type="imtcp" port="${port}" address="127.0.0.1" ruleset="shipped")`,
    'ruleset(name="shipped") {',
    `  action(type="omfile" file="${out}" template="fields")`,
    '}',
    '',
  ].join('\n'));
  const child = spawn(RSYSLOGD, ['-n', '-f', conf, '-i', path.join(dir, `${name}.pid`)], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout!.on('data', (d) => { stderr += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  // Ready once the port accepts a connection.
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`rsyslogd did not listen on ${port}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    lines: () => (fs.existsSync(out) ? fs.readFileSync(out, 'utf8').split('\n').filter((l) => l !== '') : []),
    async kill(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

function skipReason(): string | null {
  const why = captureSkipReason([]);
  if (why) return why;
  if (!fs.existsSync(RSYSLOGD)) return `${RSYSLOGD} missing (apt-get install rsyslog)`;
  return null;
}

/** n GET requests to production over a few keep-alive connections. */
async function traffic(port: number, from: number, n: number, agent: http.Agent): Promise<void> {
  await Promise.all(Array.from({ length: n }, (_, i) => new Promise<void>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: `/logship/${from + i}`, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve());
    }).on('error', reject);
  })));
}

/** The JSON messages of shadowtap's lines in the collector's file. */
function shipped(rs: Rsyslog): Array<Record<string, unknown> & { msg: string; sev: string; app: string }> {
  return rs.lines().map((l) => {
    const [app, , sev, ...rest] = l.split('|');
    return { ...JSON.parse(rest.join('|')), app, sev };
  });
}

test('run --log-to syslog+tcp://: the JSON log lines reach rsyslogd', { timeout: 90_000 }, async (t) => {
  const why = skipReason();
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-logship-'));
  const prod: RecordingServer = await startProduction();
  const shadow: RecordingServer = await startShadow();
  const rsPort = await freePort();
  const rs = await startRsyslog(dir, rsPort, 'collector');
  const summaryPath = path.join(dir, 'summary.json');
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--log-to', `syslog+tcp://127.0.0.1:${rsPort}`, '--stats-interval', '1', '--summary-json', summaryPath]);
  try {
    assert.ok(await cli.waitForLine(/capture started/, 30_000), cli.stderr());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    await traffic(prod.port, 0, 200, agent);
    agent.destroy();
    assert.ok(await shadow.waitFor(200, 30_000), `shadow got ${shadow.requests.length}`);
    assert.ok(await cli.waitForLine(/"seen":200/, 30_000), 'a stats line counting every request');
    assert.equal(await cli.stop('SIGTERM', 20_000), 0, cli.stderr());

    const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
    assert.equal(summary.seen, 200);
    assert.equal(summary.replayed, 200);
    assert.equal(summary.logShipping.to, `syslog+tcp://127.0.0.1:${rsPort}`);
    assert.equal(summary.logShipping.dropped, 0);
    assert.equal(summary.logShipping.lost, 0);
    assert.ok(summary.logShipping.sent >= 3, JSON.stringify(summary.logShipping));

    // Every line up to the summary reached the collector (it is flushed at exit).
    assert.ok(await until(() => shipped(rs).some((m) => m.msg === 'summary'), 20_000, 100), rs.lines().join('\n'));
    const msgs = shipped(rs);
    const stdoutLines = cli.stdout().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    const upToSummary = stdoutLines.slice(0, stdoutLines.findIndex((m) => m.msg === 'summary') + 1);
    assert.deepEqual(msgs.map((m) => m.msg), upToSummary.map((m) => m.msg));
    assert.ok(msgs.some((m) => m.msg === 'capture started'));
    assert.ok(msgs.some((m) => m.msg === 'stats'));
    assert.equal(msgs[0].app, 'shadowtap');
    assert.equal(msgs.find((m) => m.msg === 'stats')!.sev, 'info');
    const last = msgs[msgs.length - 1] as unknown as { msg: string; stats: { seen: number } };
    assert.equal(last.stats.seen, 200);
    // The final counts go to stdout (journald) once the queue is flushed.
    const closed = stdoutLines.find((m) => m.msg === 'log shipping closed');
    assert.ok(closed, cli.stdout().slice(-2000));
    assert.equal(closed.logShipping.sent, msgs.length);
    assert.equal(closed.logShipping.dropped, 0);
  } finally {
    await cli.stop('SIGKILL').catch(() => {});
    await rs.kill('SIGTERM');
    await prod.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('run --log-to: a collector killed mid-run never slows capture; drops are counted; shipping resumes', { timeout: 240_000 }, async (t) => {
  const why = skipReason();
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-logship-'));
  const prod: RecordingServer = await startProduction();
  const shadow: RecordingServer = await startShadow();
  const rsPort = await freePort();
  let rs = await startRsyslog(dir, rsPort, 'first');
  const summaryPath = path.join(dir, 'summary.json');
  // A queue of 3 lines so that a few seconds of outage overflow it.
  const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--log-to', `syslog+tcp://127.0.0.1:${rsPort}`, '--log-queue', '3', '--stats-interval', '1', '--summary-json', summaryPath]);
  let second: Rsyslog | null = null;
  try {
    assert.ok(await cli.waitForLine(/capture started/, 30_000), cli.stderr());
    assert.ok(await cli.waitForLine(/log collector connected/, 30_000), cli.stdout());
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    let sent = 0;
    await traffic(prod.port, sent, 100, agent);
    sent += 100;
    assert.ok(await until(() => shipped(rs).some((m) => m.msg === 'stats'), 30_000, 100), 'stats lines shipped before the outage');

    await rs.kill('SIGKILL');
    const outageStart = Date.now();
    // Five seconds of traffic while the collector is gone: 50 requests every 100 ms.
    const latencies: number[] = [];
    while (Date.now() - outageStart < 5000) {
      const t0 = performance.now();
      await traffic(prod.port, sent, 50, agent);
      latencies.push(performance.now() - t0);
      sent += 50;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(await cli.waitForLine(/log collector unreachable/, 30_000), cli.stdout().slice(-3000));
    assert.ok(await shadow.waitFor(sent, 30_000), `shadow got ${shadow.requests.length} of ${sent}`);
    // The daemon kept logging its stats every second through the outage (responsive): judged on
    // the median gap (a stats line a second), since on a busy machine a single line can be late,
    // and no gap may be so long that the loop must have been held for seconds.
    const statsTimes = cli.stdout().split('\n').filter((l) => l.includes('"msg":"stats"'))
      .map((l) => Date.parse(JSON.parse(l).time)).filter((x) => x >= outageStart);
    assert.ok(statsTimes.length >= 4, `${statsTimes.length} stats lines during the outage`);
    const gaps = statsTimes.slice(1).map((x, i) => x - statsTimes[i]);
    const medianGap = gaps.slice().sort((a, b) => a - b)[Math.floor(gaps.length / 2)];
    t.diagnostic(`stats gaps during the outage: ${gaps.join(', ')} ms`);
    assert.ok(medianGap < 1500, `median stats gap ${medianGap} ms (gaps ${gaps})`);
    assert.ok(Math.max(...gaps) < 4000, `stats gap ${Math.max(...gaps)} ms (gaps ${gaps})`);
    // Memory: the queue never holds more than its cap.
    const lastStats = JSON.parse(cli.stdout().split('\n').filter((l) => l.includes('"msg":"stats"')).pop()!);
    assert.ok(lastStats.stats.logShipping.queued <= 3, JSON.stringify(lastStats.stats.logShipping));
    assert.ok(lastStats.stats.logShipping.dropped >= 1, JSON.stringify(lastStats.stats.logShipping));
    assert.equal(lastStats.stats.logShipping.connected, false);

    // The collector comes back on the same port: shadowtap reconnects (backoff ≤ 30 s) and says what it missed.
    second = await startRsyslog(dir, rsPort, 'second');
    const back = await cli.waitForLine(/log collector reconnected/, 60_000);
    assert.ok(back, cli.stdout().slice(-3000));
    const backMsg = JSON.parse(back);
    assert.ok(backMsg.droppedMeanwhile >= 1, back);
    const s2 = second;
    assert.ok(await until(() => shipped(s2).some((m) => m.msg === 'log collector reconnected'), 30_000, 100), s2.lines().join('\n'));
    // What was queued during the outage (its first 3 lines: the queue keeps the oldest) arrives too.
    const resumed = shipped(second);
    assert.ok(resumed.some((m) => m.msg === 'stats' && Date.parse(String(m.time)) < Date.parse(backMsg.time)), 'queued lines delivered');

    await traffic(prod.port, sent, 100, agent);
    sent += 100;
    agent.destroy();
    assert.ok(await shadow.waitFor(sent, 30_000));
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await cli.stop('SIGTERM', 20_000), 0, cli.stderr());

    const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
    assert.equal(summary.seen, sent, JSON.stringify(summary.notReplayed));
    assert.equal(summary.replayed, sent, JSON.stringify(summary.notReplayed));
    assert.equal(shadow.requests.length, sent);
    assert.ok(summary.logShipping.dropped >= backMsg.droppedMeanwhile, JSON.stringify(summary.logShipping));
    assert.equal(summary.logShipping.connects, 2);
    assert.ok(await until(() => shipped(s2).some((m) => m.msg === 'summary'), 20_000, 100), 'the summary reaches the new collector');
    t.diagnostic(`requests ${sent}; outage batch latency max ${Math.round(Math.max(...latencies))} ms; logShipping ${JSON.stringify(summary.logShipping)}`);
  } finally {
    await cli.stop('SIGKILL').catch(() => {});
    await rs.kill('SIGKILL');
    await second?.kill('SIGTERM');
    await prod.close();
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--log-to is validated at start', async () => {
  const { runCli } = await import('../support/tools');
  for (const [url, re] of [['loki://127.0.0.1:3100', /unsupported scheme/], ['syslog+tcp://', /no host|not a URL/], ['syslog+tcp://h:1/x', /HOST:PORT only/]] as const) {
    const r = await runCli(['run', '--interface', 'lo', '--port', '80', '--shadow', 'http://127.0.0.1:1', '--log-to', url]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--log-to: /);
    assert.match(r.stderr, re);
  }
});
