// `read` over a capture full of hostile input: random frames, garbage on the HTTP port,
// TCP segments with random flags and sequence numbers, floods of half-open connections and
// out-of-order data, interleaved with one honest exchange. It must finish, find the honest
// exchange, balance its accounting and stay within bounded memory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { C2S, Conversation, LinkType, S2C, TcpFlag, ethernet, ipPacket, randInt, rng, writePcap, type CapturedFrame } from '../support/packets';
import { cliPath } from '../support/tools';

test('read survives hostile captures with bounded memory and exact accounting', { timeout: 120_000 }, () => {
  const r = rng(2026);
  const frames: CapturedFrame[] = [];
  let ts = 1_700_000_000_000_000;
  const push = (data: Buffer) => frames.push({ data, tsUs: (ts += 7) });
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => randInt(r, 0, 255)));
  const frameOf = (src: string, sport: number, seq: number, flags: number, payload: Buffer, ack = 0) =>
    ethernet(ipPacket({ src, dst: '192.0.2.1', sport, dport: 80, seq, ack, flags, payload }));

  for (let i = 0; i < 20_000; i++) {
    switch (i % 5) {
      case 0: push(bytes(randInt(r, 0, 200))); break; // random frames of every size
      case 1: // garbage payloads on the HTTP port from many clients
        push(frameOf(`198.51.100.${i % 250}`, 1024 + (i % 3000), randInt(r, 0, 2 ** 32 - 1), TcpFlag.ACK | TcpFlag.PSH, bytes(randInt(r, 1, 1400))));
        break;
      case 2: // random flags and sequence numbers
        push(frameOf('203.0.113.7', 2000 + (i % 50), randInt(r, 0, 2 ** 32 - 1), randInt(r, 0, 63), bytes(randInt(r, 0, 64)), randInt(r, 0, 2 ** 32 - 1)));
        break;
      case 3: // SYN flood: half-open connections that never speak
        push(frameOf(`198.18.${(i >> 8) & 255}.${i & 255}`, 40000 + (i % 20000), i, TcpFlag.SYN, Buffer.alloc(0)));
        break;
      default: { // future data far beyond a hole on a few connections: buffered, then evicted
        const port = 3000 + (i % 7);
        push(frameOf('203.0.113.9', port, 1 + ((i * 1400) % (32 << 20)), TcpFlag.ACK, bytes(1400)));
      }
    }
  }
  const honest = new Conversation({ client: '192.0.2.77', server: '192.0.2.1', clientPort: 55555, serverPort: 80, startUs: ts });
  honest.handshake();
  honest.send(C2S, 'GET /honest?x=1 HTTP/1.1\r\nHost: example.test\r\n\r\n');
  honest.send(S2C, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  honest.close(C2S);
  const honestFrames = honest.frames(honest.segs, LinkType.ETHERNET);
  // Interleave the honest conversation among the hostile frames: it stays active while the
  // flood opens far more connections than --max-connections allows.
  honestFrames.forEach((f, k) => frames.splice(2_000 + k * 500, 0, f));
  frames.forEach((f, k) => { f.tsUs = 1_700_000_000_000_000 + k * 10; });

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-hostile-'));
  try {
    const file = path.join(dir, 'hostile.pcap');
    writePcap(file, LinkType.ETHERNET, frames);
    const summaryPath = path.join(dir, 'summary.json');
    const res = spawnSync('/usr/bin/env', ['time', '-f', 'maxrss_kb=%M', process.execPath, cliPath(), 'read', '--file', file,
      '--summary-json', summaryPath, '--max-buffer-mb', '1', '--max-total-buffer-mb', '4', '--max-connections', '1000'],
    { encoding: 'utf8', timeout: 90_000 });
    assert.equal(res.status, 0, res.stderr);
    const lines = res.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const honestLine = lines.find((l) => l.url === '/honest?x=1');
    assert.ok(honestLine, 'the honest exchange is found among the garbage');
    assert.equal(honestLine.status, 200);
    const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
    const notReplayed = Object.values(s.notReplayed as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.equal(s.seen, s.replayed + notReplayed);
    assert.equal(s.capture.packets, frames.length);
    const decoded = Object.values(s.decode as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.equal(decoded, frames.length, 'every packet has a decode outcome');
    assert.ok(s.http.nonHttpConnections > 0 && s.tcp.bufferEvictions > 0 && s.tcp.closed.evicted > 0, JSON.stringify({ tcp: s.tcp, http: s.http }));
    assert.equal(s.tcp.bufferedBytes, 0);
    assert.equal(s.tcp.connectionsActive, 0);
    const rss = Number((res.stderr.match(/maxrss_kb=(\d+)/) ?? [])[1]);
    if (rss > 0) assert.ok(rss < 400 * 1024, `peak RSS ${rss} KB`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
