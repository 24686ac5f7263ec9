// LogShipper: RFC 5424 framing, URL validation, and the bounded queue in front of a collector
// that is down or stalled (never blocks, never grows past its cap, every line accounted for).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import * as net from 'node:net';
import { until } from '../support/tools';
import { LogShipper, parseLogTarget, syslogFrame } from '../../src/report/logship';

test('syslogFrame: octet-counted RFC 5424, severity from the pino level, time from the line', () => {
  const line = '{"level":40,"time":"2024-05-01T10:00:00.000Z","svc":"shadowtap","msg":"wärn"}\n';
  const f = syslogFrame(line, 'host1', 42);
  const sp = f.indexOf(' ');
  const msg = f.slice(sp + 1);
  assert.equal(Number(f.slice(0, sp)), Buffer.byteLength(msg));
  assert.equal(msg, '<28>1 2024-05-01T10:00:00.000Z host1 shadowtap 42 - - {"level":40,"time":"2024-05-01T10:00:00.000Z","svc":"shadowtap","msg":"wärn"}');
  assert.match(syslogFrame('{"level":50}', 'h', 1), /^\d+ <27>1 /);
  assert.match(syslogFrame('{"level":60}', 'h', 1), /^\d+ <26>1 /);
  assert.match(syslogFrame('{"level":20}', 'h', 1), /^\d+ <31>1 /);
});

test('parseLogTarget', () => {
  assert.deepEqual(parseLogTarget('syslog+tcp://127.0.0.1:5514'), { kind: 'syslog+tcp', url: 'syslog+tcp://127.0.0.1:5514', host: '127.0.0.1', port: 5514 });
  assert.deepEqual(parseLogTarget('syslog+tcp://logs.example'), { kind: 'syslog+tcp', url: 'syslog+tcp://logs.example:514', host: 'logs.example', port: 514 });
  assert.equal(parseLogTarget('syslog+tcp://[::1]:601').host, '::1');
  assert.throws(() => parseLogTarget('syslog+udp://h:514'), /unsupported scheme syslog\+udp/);
  assert.throws(() => parseLogTarget('loki://h:3100'), /unsupported scheme/);
  assert.throws(() => parseLogTarget('h:514'), /unsupported scheme|not a URL/);
  assert.throws(() => parseLogTarget('syslog+tcp://h:514/path'), /HOST:PORT only/);
  assert.throws(() => parseLogTarget('syslog+tcp://u:p@h:514'), /HOST:PORT only/);
  assert.throws(() => parseLogTarget('syslog+tcp://h:99999'), /not a URL/);
});

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

const line = (i: number): string => `{"level":30,"time":"2024-05-01T10:00:00.000Z","svc":"shadowtap","i":${i},"pad":"${'x'.repeat(150)}","msg":"m"}\n`;

test('a collector that is down: lines queue up to the cap, then are dropped and counted; one down event', async () => {
  const port = await freePort();
  let downs = 0;
  // Counts this process's TCP connection attempts (each reconnect is one).
  let attempts = 0;
  const hook = createHook({ init(_id, type) { if (type === 'TCPCONNECTWRAP') attempts++; } }).enable();
  const s = new LogShipper(parseLogTarget(`syslog+tcp://127.0.0.1:${port}`), { maxLines: 100, events: { down: () => { downs++; } } });
  const t0 = performance.now();
  for (let i = 0; i < 50_000; i++) s.write(line(i));
  const ms = performance.now() - t0;
  assert.ok(ms < 2000, `50,000 writes took ${ms} ms`);
  // A few reconnect attempts (backoff 0.5 s, 1 s, ...): waited for, not timed.
  const retried = await until(() => attempts >= 3, 30_000, 10);
  hook.disable();
  assert.ok(retried, `${attempts} connection attempts`);
  const st = s.stats();
  assert.equal(st.queued, 100);
  assert.equal(st.dropped, 49_900);
  assert.equal(st.sent, 0);
  assert.equal(st.connected, false);
  assert.equal(downs, 1);
  // close does not wait for a collector that is down: well within the 2 s it would wait at most.
  const closeStart = performance.now();
  const fin = await s.close(2000);
  const closeMs = performance.now() - closeStart;
  assert.ok(closeMs < 1000, `close took ${closeMs.toFixed(0)} ms with the collector down`);
  assert.equal(fin.dropped, 50_000);
  assert.equal(fin.queued, 0);
});

test('a stalled collector (accepts, never reads): memory stays bounded, nothing blocks, every line is accounted for', async () => {
  const conns: net.Socket[] = [];
  const server = net.createServer((c) => { c.pause(); conns.push(c); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  let ups = 0;
  const s = new LogShipper(parseLogTarget(`syslog+tcp://127.0.0.1:${port}`), { maxLines: 1000, maxBytes: 1 << 20, events: { up: () => { ups++; } } });
  assert.ok(await until(() => ups > 0, 20_000, 10), 'connected to the collector');
  assert.equal(ups, 1);
  const total = 200_000; // ~40 MB of frames: far more than the kernel buffers and the queue hold
  const heapBefore = process.memoryUsage().heapUsed;
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < total / 20; i++) s.write(line(round * 10_000 + i));
    await new Promise((r) => setImmediate(r)); // let the socket drain into the kernel
  }
  await new Promise((r) => setTimeout(r, 300));
  const st = s.stats();
  assert.ok(st.queued <= 1000 && st.queuedBytes <= 1 << 20, JSON.stringify(st));
  assert.ok(st.dropped > total / 2, JSON.stringify(st));
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(heapGrowth < 32 << 20, `heap grew ${heapGrowth} bytes`);
  // The collector finally reads: the rest arrives, and sent + dropped (+ lost) = every line.
  let received = 0;
  let partial = '';
  for (const c of conns) {
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      partial += d;
      // octet-counted frames: LEN SP MSG
      for (;;) {
        const sp = partial.indexOf(' ');
        if (sp < 0) break;
        const len = Number(partial.slice(0, sp));
        const body = Buffer.from(partial.slice(sp + 1));
        if (body.length < len) break;
        received++;
        partial = body.subarray(len).toString();
      }
    });
    c.resume();
  }
  const fin = await s.close(30_000); // a deadline only: the collector reads now
  assert.equal(fin.sent + fin.dropped + fin.lost, total, JSON.stringify(fin));
  await until(() => received >= fin.sent, 20_000, 10);
  assert.equal(received, fin.sent);
  for (const c of conns) c.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

test('closing on a collector that never reads: the deadline holds, lines in the socket count as lost', async () => {
  const server = net.createServer((c) => c.pause());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const s = new LogShipper(parseLogTarget(`syslog+tcp://127.0.0.1:${port}`), { maxLines: 1000 });
  assert.ok(await until(() => s.stats().connected, 20_000, 10), 'connected to the collector');
  for (let round = 0; round < 20; round++) {
    for (let i = 0; i < 10_000; i++) s.write(line(i));
    await new Promise((r) => setImmediate(r));
  }
  // close keeps to its 300 ms deadline: judged against a 300 ms timer started with it, which a
  // busy machine delays as much.
  const t0 = performance.now();
  const timer = new Promise<number>((r) => setTimeout(() => r(performance.now() - t0), 300));
  const fin = await s.close(300);
  const closeMs = performance.now() - t0;
  const timerMs = await timer;
  assert.ok(closeMs < timerMs + 700, `close took ${closeMs.toFixed(0)} ms, a 300 ms timer ${timerMs.toFixed(0)} ms`);
  assert.ok(fin.lost > 0, JSON.stringify(fin));
  assert.equal(fin.sent + fin.dropped + fin.lost, 200_000, JSON.stringify(fin));
  server.close();
});
