// CONNECT through a real proxy on loopback, captured by tcpdump: `read` reports the CONNECT
// exchanges (a tunnel opened, a 407 refusal followed by an ordinary request on the same
// connection), counts the tunnel's bytes exactly as the client sent and received them and takes
// nothing inside it for HTTP (the tunnel carries HTTP requests to a second server); tshark
// agrees on the CONNECT requests; `run` books the CONNECTs as 'tunnel' and replays the rest.
// Needs root, tcpdump and tshark; skipped otherwise.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import { startShadow } from '../support/servers';
import { captureSkipReason, runCli, startTcpdump, tsharkRequests } from '../support/tools';
import { parseExchanges, type Exchange } from '../support/compare';

const AUTH = `Basic ${Buffer.from('user:secret').toString('base64')}`;

/** An HTTP proxy: ordinary requests get `proxy <url>`; a CONNECT without Proxy-Authorization
 * gets a 407 and the connection goes on as HTTP; with it, a tunnel to the target. */
function startProxy(): Promise<http.Server> {
  const proxy = http.createServer((req, res) => res.end(`proxy ${req.url}`));
  proxy.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    if (req.headers['proxy-authorization'] !== AUTH) {
      const body = 'proxy authentication required';
      socket.write(`HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      // Back to HTTP on the same connection: the server parses what comes next.
      if (head.length > 0) socket.unshift(head);
      proxy.emit('connection', socket);
      return;
    }
    const [host, port] = (req.url ?? '').split(':');
    const target = net.connect(Number(port), host, () => {
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) target.write(head);
      target.pipe(socket);
      socket.pipe(target);
    });
    target.on('error', () => socket.destroy());
    socket.on('error', () => target.destroy());
  });
  return new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve(proxy)));
}

/** A raw client connection that collects what it receives. */
class RawClient {
  readonly socket: net.Socket;
  received = Buffer.alloc(0);
  ended = false;
  private waiters: Array<() => void> = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (d: Buffer) => { this.received = Buffer.concat([this.received, d]); this.wake(); });
    this.socket.on('end', () => { this.ended = true; this.wake(); });
    this.socket.on('error', () => { this.ended = true; this.wake(); });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Resolves once `done(received)` holds; rejects when the connection ends first. */
  async until(done: (received: string) => boolean, what: string): Promise<void> {
    while (!done(this.received.toString('latin1'))) {
      if (this.ended) throw new Error(`connection ended before ${what}: ${JSON.stringify(this.received.toString('latin1').slice(-300))}`);
      await new Promise<void>((r) => this.waiters.push(r));
    }
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => { this.socket.once('connect', resolve); this.socket.once('error', reject); });
  }
}

/** Occurrences of complete responses (by Content-Length) in `text`. */
function completeResponses(text: string): number {
  let count = 0;
  let at = 0;
  for (;;) {
    const headEnd = text.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return count;
    const m = /content-length: *(\d+)/i.exec(text.slice(at, headEnd));
    const end = headEnd + 4 + (m === null ? 0 : Number(m[1]));
    if (end > text.length) return count;
    count++;
    at = end;
  }
}

test('CONNECT through a real proxy: read reports the exchanges and counts the tunnel; run books CONNECT as tunnel', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump', 'tshark']);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-connect-'));
  // The tunnel's far end: an HTTP server, so that the tunnel carries HTTP that must not be parsed.
  const inner = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end(`inner ${req.method} ${req.url}`)); });
  await new Promise<void>((r) => inner.listen(0, '127.0.0.1', () => r()));
  const innerPort = (inner.address() as AddressInfo).port;
  const proxy = await startProxy();
  const proxyPort = (proxy.address() as AddressInfo).port;
  const shadow = await startShadow();
  t.after(async () => {
    proxy.closeAllConnections();
    inner.closeAllConnections();
    await new Promise<void>((r) => proxy.close(() => r()));
    await new Promise<void>((r) => inner.close(() => r()));
    await shadow.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const pcap = path.join(dir, 'connect.pcap');
  const cap = await startTcpdump({ iface: 'lo', filter: `tcp port ${proxyPort}`, file: pcap });

  // 1. A tunnel: the CONNECT and the first inner request in one write (the client does not
  // wait), then more inner requests, one with a body; the inner server closes the last.
  const authority = `127.0.0.1:${innerPort}`;
  const tunnel = new RawClient(proxyPort);
  await tunnel.connected();
  const connectHead = `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\nProxy-Authorization: ${AUTH}\r\n\r\n`;
  const established = 'HTTP/1.1 200 Connection Established\r\n\r\n';
  const inside = (i: number, last: boolean): string => i % 2 === 0
    ? `GET /inside-${i} HTTP/1.1\r\nHost: ${authority}\r\n${last ? 'Connection: close\r\n' : ''}\r\n`
    : `POST /inside-${i} HTTP/1.1\r\nHost: ${authority}\r\nContent-Length: 11\r\n${last ? 'Connection: close\r\n' : ''}\r\nhello world`;
  const INSIDE = 6;
  tunnel.socket.write(connectHead + inside(0, false));
  await tunnel.until((r) => r.startsWith(established) && completeResponses(r.slice(established.length)) >= 1, 'the first inner answer');
  for (let i = 1; i < INSIDE; i++) {
    tunnel.socket.write(inside(i, i === INSIDE - 1));
    await tunnel.until((r) => completeResponses(r.slice(established.length)) >= i + 1, `inner answer ${i}`);
  }
  await tunnel.until(() => tunnel.ended, 'the tunnel closed');
  tunnel.socket.end();
  const tunnelSent = tunnel.socket.bytesWritten - connectHead.length;
  const tunnelReceived = tunnel.received.length - established.length;
  assert.match(tunnel.received.toString('latin1'), new RegExp(`inner POST /inside-${INSIDE - 1}$`));

  // 2. Refused: a CONNECT without credentials gets a 407; an ordinary request follows on the
  // same connection.
  const refused = new RawClient(proxyPort);
  await refused.connected();
  refused.socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
  await refused.until((r) => completeResponses(r) >= 1, 'the 407');
  assert.match(refused.received.toString('latin1'), /^HTTP\/1\.1 407 /);
  refused.socket.write('GET /after-407 HTTP/1.1\r\nHost: proxy.test\r\nConnection: close\r\n\r\n');
  await refused.until(() => refused.ended, 'the answer to the request after the 407');
  assert.match(refused.received.toString('latin1'), /HTTP\/1\.1 200 OK[\s\S]*proxy \/after-407$/);
  refused.socket.end();

  await new Promise((r) => setTimeout(r, 300));
  const capStats = await cap.stop();
  assert.equal(capStats.droppedByKernel, 0, 'tcpdump dropped packets: not a valid oracle');

  // read: three exchanges, nothing from inside the tunnel, its bytes counted each way.
  const summaryPath = path.join(dir, 'read.json');
  const read = await runCli(['read', '--file', pcap, '--port', String(proxyPort), '--summary-json', summaryPath], { timeoutMs: 60_000 });
  assert.equal(read.code, 0, read.stderr);
  const exchanges = (parseExchanges(read.stdout) as Array<Exchange & { index: number }>).sort((a, b) => a.conn - b.conn || a.index - b.index);
  assert.deepEqual(exchanges.map((e) => [e.method, e.url, e.status]),
    [['CONNECT', authority, 200], ['CONNECT', authority, 407], ['GET', '/after-407', 200]], read.stdout);
  assert.equal(exchanges[1].conn, exchanges[2].conn, 'the 407 and the request after it share a connection');
  assert.equal(exchanges[1].resBodySize, 'proxy authentication required'.length);
  const s = JSON.parse(fs.readFileSync(summaryPath, 'utf8')) as {
    seen: number; notReplayed: Record<string, number>;
    http: { tunnels: number; tunnelBytesToServer: number; tunnelBytesToClient: number; parseErrors: number; requests: number; nonHttpConnections: number };
  };
  assert.equal(s.seen, 3);
  assert.deepEqual(s.notReplayed, { inspectOnly: 3 });
  assert.equal(s.http.tunnels, 1);
  assert.equal(s.http.tunnelBytesToServer, tunnelSent, 'client→server tunnel bytes as the client wrote them');
  assert.equal(s.http.tunnelBytesToClient, tunnelReceived, 'server→client tunnel bytes as the client read them');
  assert.equal(s.http.parseErrors, 0);
  assert.equal(s.http.nonHttpConnections, 0);
  assert.equal(s.http.requests, 3);

  // tshark, independently: the same two CONNECT requests.
  const tshark = (await tsharkRequests(pcap, proxyPort)).filter((r) => r.method === 'CONNECT');
  assert.deepEqual(tshark.map((r) => r.uri), [authority, authority]);

  // run to a shadow: the CONNECTs are booked 'tunnel', the ordinary request is replayed.
  const runSummary = path.join(dir, 'run.json');
  const run = await runCli(['run', '--file', pcap, '--port', String(proxyPort), '--shadow', `http://127.0.0.1:${shadow.port}`,
    '--summary-json', runSummary, '--stats-interval', '0', '--admin', 'off'], { timeoutMs: 60_000 });
  assert.equal(run.code, 0, run.stderr);
  const r = JSON.parse(fs.readFileSync(runSummary, 'utf8')) as { seen: number; replayed: number; notReplayed: Record<string, number> };
  assert.deepEqual([r.seen, r.replayed, r.notReplayed], [3, 1, { tunnel: 2 }]);
  assert.deepEqual(shadow.requests.map((q) => `${q.method} ${q.url}`), ['GET /after-407']);
});
