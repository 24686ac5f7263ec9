// Wire timing without reassembly: the replayer reports where each request began and each answer
// ended in its connections' byte streams, the capture locates every packet of those connections
// in the same streams, and the clock joins the two. Checked against a real shadow that records
// the bytes it got and sent (the offsets), tshark reading tcpdump's capture (the packets), and
// the latency computed from both by hand — over pipelining, a large upload, a large answer,
// chunked, HEAD, 204 and an interim 103.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { openSource } from '../../src/capture/source';
import type { HttpRequest } from '../../src/model';
import { WireClock } from '../../src/outputs/wire-clock';
import { PacketPipeline } from '../../src/pipeline';
import { Replayer, ShadowResponse, WireWatch } from '../../src/replay';
import { fakeRequest } from '../support/requests';
import { captureSkipReason, runTool, startTcpdump } from '../support/tools';

/** Answers by path, some after a while; records each request's first byte and each answer's
 * end in its connection's streams (by the client's port). */
async function startRecordingShadow(host: string) {
  const starts = new Map<string, { port: number; offset: number }>();
  const ends = new Map<string, { port: number; offset: number }>();
  const answer = (url: string): { parts: string[]; delayMs: number } => {
    if (url.startsWith('/chunked')) return { parts: ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'], delayMs: 3 };
    if (url.startsWith('/head')) return { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n'], delayMs: 0 };
    if (url.startsWith('/nocontent')) return { parts: ['HTTP/1.1 204 No Content\r\n\r\n'], delayMs: 8 };
    if (url.startsWith('/interim')) return { parts: ['HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'], delayMs: 15 };
    if (url.startsWith('/big')) return { parts: [`HTTP/1.1 200 OK\r\nContent-Length: 300000\r\n\r\n${'b'.repeat(300_000)}`], delayMs: 1 };
    return { parts: ['HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'], delayMs: 5 };
  };
  const server = net.createServer((socket) => {
    const port = socket.remotePort ?? 0;
    let got = Buffer.alloc(0);
    let parsedUpTo = 0;
    let sentBytes = 0;
    let replying = Promise.resolve();
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      for (;;) {
        const headEnd = got.indexOf('\r\n\r\n', parsedUpTo);
        if (headEnd < 0) return;
        const head = got.subarray(parsedUpTo, headEnd).toString('latin1');
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (got.length < headEnd + 4 + length) return;
        const [method, url] = head.split(' ');
        starts.set(url, { port, offset: parsedUpTo });
        parsedUpTo = headEnd + 4 + length;
        const { parts, delayMs } = answer(url);
        replying = replying.then(async () => {
          await new Promise((r) => setTimeout(r, delayMs));
          for (const [i, part] of parts.entries()) {
            if (i > 0) await new Promise((r) => setTimeout(r, delayMs));
            socket.write(part, 'latin1');
            sentBytes += Buffer.byteLength(part, 'latin1');
          }
          ends.set(url, { port, offset: sentBytes });
          void method;
        });
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  return { port: (server.address() as net.AddressInfo).port, starts, ends, close: () => new Promise((r) => server.close(r)) };
}

/** Every packet with payload, as tshark numbers it (relative sequence: the first byte is 1). */
async function tsharkPackets(file: string): Promise<Array<{ srcPort: number; dstPort: number; offset: number; length: number; tsUs: number }>> {
  const r = await runTool('tshark', ['-r', file, '-n', '-o', 'tcp.relative_sequence_numbers:TRUE', '-Y', 'tcp.len > 0', '-T', 'fields',
    '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tcp.seq', '-e', 'tcp.len', '-e', 'frame.time_epoch'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n').map((line) => {
    const [src, dst, seq, len, time] = line.split('\t');
    const [sec, frac] = time.split('.');
    return { srcPort: Number(src), dstPort: Number(dst), offset: Number(seq) - 1, length: Number(len), tsUs: Number(sec) * 1e6 + Number(frac.slice(0, 6).padEnd(6, '0')) };
  });
}

for (const host of ['127.0.0.1', '::1']) test(`wire clock (${host}): replays timed from located packets — offsets, packets and latencies as the shadow and tshark see them`, { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump', 'tshark']);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-wireclock-'));
  const shadow = await startRecordingShadow(host);
  const origin = host.includes(':') ? `http://[${host}]:${shadow.port}` : `http://${host}:${shadow.port}`;
  t.after(async () => { await shadow.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'replays.pcap');
  const tcpdump = await startTcpdump({ iface: 'lo', filter: `tcp port ${shadow.port}`, file });

  // What the replayer tells (and the clock, fed the packets afterwards, as late as a capture can be).
  const told = { opened: [] as number[], closed: [] as number[], sent: new Map<string, { port: number; offset: number }>(), answered: new Map<string, { port: number; offset: number }>(),
    queued: new Set<string>() };
  const timed = new Map<string, number>();
  const clock = new WireClock((req, target, us) => { assert.equal(target, 0); timed.set(req.url, us); });
  const watch: WireWatch = {
    opened: (target, port) => { told.opened.push(port); clock.opened(target, port); },
    closed: (target, port) => { told.closed.push(port); clock.closed(target, port); },
    sent: (target, port, offset, req, queued) => {
      told.sent.set(req.url, { port, offset });
      if (queued) told.queued.add(req.url);
      clock.sent(target, port, offset, req, queued);
    },
    answered: (target, port, offset, req) => { told.answered.set(req.url, { port, offset }); clock.answered(target, port, offset, req); },
  };
  const replayer = new Replayer({ targets: [origin], concurrency: 2, pipeline: 3, wire: watch, timeoutMs: 10_000 });
  const requests: HttpRequest[] = [];
  for (let i = 0; i < 8; i++) {
    for (const url of ['/small', '/chunked', '/nocontent', '/interim', '/big']) requests.push(fakeRequest(`${url}?i=${i}`));
    requests.push(fakeRequest(`/head?i=${i}`, { method: 'HEAD' }));
    requests.push(fakeRequest(`/upload?i=${i}`, { method: 'POST', headers: ['Host', 'x', 'Content-Type', 'application/octet-stream'], body: Buffer.alloc(200_000 + i, 7) }));
  }
  // First a burst in one turn: two connections take three each, written at once, so the second
  // and third on each are written behind the first (pipelined) and left untimed.
  const burst = Array.from({ length: 6 }, (_, i) => fakeRequest(`/burst?i=${i}`));
  const burstOutcomes = burst.map((req) => new Promise<[string, ShadowResponse[]]>((resolve) => replayer.submit(req, (outcome, responses) => resolve([outcome, responses]))));
  const outcomes = await Promise.all([...burstOutcomes, ...requests.map((req, i) => new Promise<[string, ShadowResponse[]]>((resolve) => {
    setTimeout(() => replayer.submit(req, (outcome, responses) => resolve([outcome, responses])), i * 2);
  }))]);
  requests.unshift(...burst);
  assert.deepEqual(outcomes.map(([o]) => o), requests.map(() => 'replayed'));
  assert.deepEqual(burst.map((req) => told.queued.has(req.url)), [false, true, true, false, true, true]);
  for (const [i, req] of requests.entries()) {
    assert.equal(outcomes[i][1][0].queued === true, told.queued.has(req.url), `${req.url}: the answer says whether it was queued`);
  }
  await replayer.drain(1000);
  await tcpdump.stop();

  // The offsets: where the shadow saw each request begin and where its answer ended.
  assert.equal(told.sent.size, requests.length);
  for (const req of requests) {
    assert.deepEqual(told.sent.get(req.url), shadow.starts.get(req.url), `${req.url} began there`);
    assert.deepEqual(told.answered.get(req.url), shadow.ends.get(req.url), `${req.url}'s answer ended there`);
  }

  // The packets: located as tshark numbers them, none reassembled.
  const packets = await tsharkPackets(file);
  const marks: typeof packets = [];
  const pipeline = new PacketPipeline({ request: () => assert.fail('a replay parsed as a request'), exchange: () => {}, lost: () => {}, notice: () => {} }, {
    marked: {
      servers: [{ address: host, port: shadow.port }],
      sink: {
        mark: (server, clientPort, toServer, offset, length, tsUs) => {
          assert.equal(server, 0);
          marks.push({ srcPort: toServer ? clientPort : shadow.port, dstPort: toServer ? shadow.port : clientPort, offset, length, tsUs });
          clock.mark(server, clientPort, toServer, offset, length, tsUs);
        },
      },
    },
  });
  const source = openSource({ file, ports: [shadow.port], snaplen: 262144, promiscuous: false, bufferBytes: 0, timeoutMs: 0 });
  await new Promise<void>((resolve, reject) => source.start((batch, count) => pipeline.batch(source.linkType, batch, count), (err) => (err ? reject(err) : resolve())));
  pipeline.finish();
  assert.deepEqual(marks, packets);
  assert.deepEqual(pipeline.stats().wireMarks, { marked: packets.length, unanchored: 0 });
  assert.equal(pipeline.stats().tcp.segments, 0, 'nothing of the replays reassembled');

  // The latencies: first packet of the request to the packet with the answer's last byte.
  const first = (port: number, toShadow: boolean, at: number) => packets.find((p) => (toShadow ? p.srcPort === port && p.dstPort === shadow.port : p.srcPort === shadow.port && p.dstPort === port) &&
    at >= p.offset && at < p.offset + p.length);
  for (const req of requests) {
    const start = shadow.starts.get(req.url)!;
    const end = shadow.ends.get(req.url)!;
    const expected = first(end.port, false, end.offset - 1)!.tsUs - first(start.port, true, start.offset)!.tsUs;
    assert.equal(timed.get(req.url), told.queued.has(req.url) ? undefined : expected, req.url);
  }
  assert.deepEqual(clock.stats, { timed: requests.length - told.queued.size, untimed: 0, queued: told.queued.size });
  assert.ok(told.opened.length >= 1 && told.opened.length <= 2, `${told.opened.length} connections`);
  assert.deepEqual([...told.closed].sort(), [...told.opened].sort(), 'each connection told closed at the drain');
});

test('wire clock: what cannot be timed lets go — a closed connection\'s unanswered replays, a reused port\'s leftovers, answers whose packets never come', () => {
  const timed: string[] = [];
  const clock = new WireClock((req, _target, us) => timed.push(`${req.url} ${us}`), -1);
  const nowUs = Date.now() * 1000;
  const [a, b, c] = ['/a', '/b', '/c'].map((u) => fakeRequest(u));
  clock.opened(0, 40000);
  clock.sent(0, 40000, 0, a, false);
  clock.sent(0, 40000, 100, b, false);
  clock.sent(0, 40000, 200, c, false);
  clock.answered(0, 40000, 50, a);
  clock.closed(0, 40000);
  assert.deepEqual(clock.stats, { timed: 0, untimed: 2, queued: 0 }, 'b and c were never answered on it');
  // The answered one is timed by packets that come after the close, as a capture's lag brings them.
  clock.mark(0, 40000, true, 0, 100, nowUs + 10);
  clock.mark(0, 40000, false, 0, 50, nowUs + 510);
  assert.deepEqual(timed, ['/a 500']);
  assert.deepEqual(clock.stats, { timed: 1, untimed: 2, queued: 0 });

  // A packet older than the request (an earlier connection on the same port) is not its.
  clock.opened(0, 40000);
  const d = fakeRequest('/d');
  clock.sent(0, 40000, 0, d, false);
  clock.mark(0, 40000, true, 0, 100, nowUs - 5_000_000);
  clock.answered(0, 40000, 20, d);
  clock.mark(0, 40000, false, 0, 20, nowUs + 900);
  assert.equal(timed.length, 1, 'no start packet of its own yet');
  clock.mark(0, 40000, true, 0, 100, nowUs + 100);
  assert.deepEqual(timed, ['/a 500', '/d 800']);

  // The port opened again: what still waited there goes untimed.
  clock.sent(0, 40000, 100, fakeRequest('/e'), false);
  clock.opened(0, 40000);
  assert.deepEqual(clock.stats, { timed: 2, untimed: 3, queued: 0 });

  // Answers whose last packet the capture dropped: let go at the next sweep (at every 1,024th
  // answer: /a and /d were two; here anything answered is old enough), spread over connections
  // below their own bound.
  const sweepAt = 1024 - 2 - 1;
  for (let i = 0; i < 1024; i++) {
    const port = 41000 + (i >> 6);
    if (i % 64 === 0) clock.opened(0, port);
    const r = fakeRequest(`/f${i}`);
    clock.sent(0, port, (i % 64) * 10, r, false);
    clock.mark(0, port, true, (i % 64) * 10, 10, Date.now() * 1000 + 5000);
    clock.answered(0, port, ((i % 64) + 1) * 100, r);
    assert.deepEqual(clock.stats, { timed: 2, untimed: i < sweepAt ? 3 : 3 + sweepAt + 1, queued: 0 }, `after answer ${i}`);
  }
});
