// h2c by Upgrade (RFC 7540 §3.2), captured live on lo: an HTTP/1.1 request with `Upgrade: h2c`
// and HTTP2-Settings, production's 101 followed (in the same write) by its SETTINGS and the
// upgraded request's response on stream 1, then two more requests as HTTP/2 streams 3 and 5
// answered by node:http2 (performServerHandshake on the switched socket). node:http2 does not
// do Upgrade itself, so both ends of the switch are written here by hand.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { captureSkipReason, runCli, startTcpdump } from '../support/tools';
import { parseExchanges } from '../support/compare';
import {
  DATA, END_HEADERS, END_STREAM, HEADERS, PREFACE, frame, indexedLiteralBlock, literalBlock, readInProcess, settings,
} from './support';

const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');
const UPGRADE_BODY = Buffer.from('answered on stream 1 after the switch');

/** A server that accepts Upgrade: h2c, answers the upgraded request on stream 1 by hand and
 * leaves the rest of the connection to node:http2. */
function startUpgradeServer(seen: Array<{ path: string; body: Buffer }>): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer((socket) => {
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      if (head.indexOf('\r\n\r\n') < 0) return;
      socket.off('data', onData);
      socket.pause();
      const switched = Buffer.from('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n', 'latin1');
      const response = frame(HEADERS, END_HEADERS, 1, literalBlock([[':status', '200'], ['content-type', 'text/plain']]));
      socket.write(Buffer.concat([switched, settings(), response, frame(DATA, END_STREAM, 1, UPGRADE_BODY)]));
      const session = http2.performServerHandshake(socket);
      session.on('error', () => { /* the client closes */ });
      session.on('stream', (stream, headers) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => {
          const body = Buffer.concat(chunks);
          seen.push({ path: String(headers[':path']), body });
          stream.respond({ ':status': 201 });
          stream.end(`got ${body.length}`);
        });
      });
      socket.resume();
    };
    socket.on('data', onData);
    socket.on('error', () => { /* closed */ });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as net.AddressInfo).port })));
}

/** Streams that ended (END_STREAM on HEADERS or DATA) among the server's frames so far. */
function endedStreams(bytes: Buffer, from: number): Set<number> {
  const ended = new Set<number>();
  for (let at = from; at + 9 <= bytes.length;) {
    const length = bytes.readUIntBE(at, 3);
    if (at + 9 + length > bytes.length) break;
    const type = bytes[at + 3];
    if ((type === DATA || type === HEADERS) && (bytes[at + 4] & END_STREAM) !== 0) ended.add(bytes.readUInt32BE(at + 5) & 0x7fffffff);
    at += 9 + length;
  }
  return ended;
}

async function upgradeClient(port: number, body: Buffer): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let got = Buffer.alloc(0);
  let waiting: (() => void) | null = null;
  socket.on('data', (d: Buffer) => { got = Buffer.concat([got, d]); waiting?.(); });
  const until = (done: () => boolean): Promise<void> => new Promise((resolve) => {
    const check = (): void => { if (done()) { waiting = null; resolve(); } };
    waiting = check;
    check();
  });
  const clientSettings = settings([[4, 1 << 20]]).subarray(9).toString('base64url');
  socket.write(`GET /up?x=1 HTTP/1.1\r\nHost: upgrade.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: ${clientSettings}\r\nX-Before: switch\r\n\r\n`);
  await until(() => got.indexOf('\r\n\r\n') >= 0);
  const framesFrom = got.indexOf('\r\n\r\n') + 4;
  // HTTP/2 from here: the preface, SETTINGS, then streams 3 (a POST whose fields enter the
  // table) and 5 (a GET naming those entries by index).
  const three = indexedLiteralBlock([[':method', 'POST'], [':scheme', 'http'], [':path', '/three'], [':authority', 'upgrade.test'], ['x-shared', 'kept in the table']]);
  const five = Buffer.concat([Buffer.from([0x82, 0x86]), literalBlock([[':path', '/five']]), Buffer.from([0xbf, 0xbe])]);
  socket.write(Buffer.concat([PREFACE, settings(), frame(HEADERS, END_HEADERS, 3, three), frame(DATA, 0, 3, body.subarray(0, 1000))]));
  socket.write(Buffer.concat([frame(DATA, END_STREAM, 3, body.subarray(1000)), frame(HEADERS, END_HEADERS | END_STREAM, 5, five)]));
  await until(() => { const e = endedStreams(got, framesFrom); return e.has(1) && e.has(3) && e.has(5); });
  socket.end();
  await new Promise((r) => socket.once('close', r));
}

test('h2c Upgrade: the upgrading request is answered on stream 1, later streams are read as HTTP/2', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump']);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2up-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const seen: Array<{ path: string; body: Buffer }> = [];
  const { server, port } = await startUpgradeServer(seen);
  t.after(() => server.close());
  const file = path.join(dir, 'upgrade.pcap');
  const cap = await startTcpdump({ iface: 'lo', filter: `tcp port ${port}`, file });
  const body = crypto.randomBytes(3000);
  await upgradeClient(port, body);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await cap.stop()).droppedByKernel, 0);
  // The harness: node:http2 decoded the hand-made streams as meant.
  assert.deepEqual(seen.map((s) => s.path), ['/three', '/five']);
  assert.equal(seen[0].body.compare(body), 0);

  const summaryPath = path.join(dir, 'summary.json');
  const read = await runCli(['read', '--file', file, '--port', String(port), '--summary-json', summaryPath]);
  assert.equal(read.code, 0, read.stderr);
  const lines = parseExchanges(read.stdout).sort((a, b) => a.url.localeCompare(b.url));
  assert.deepEqual(lines.map((l) => [l.method, l.url, l.host, l.status]), [
    ['POST', '/three', 'upgrade.test', 201],
    ['GET', '/five', 'upgrade.test', 201],
    ['GET', '/up?x=1', 'upgrade.test', 200],
  ].sort((a, b) => String(a[1]).localeCompare(String(b[1]))));
  const three = lines.find((l) => l.url === '/three')!;
  assert.equal(three.reqBodySha256, sha256(body));
  const up = lines.find((l) => l.url === '/up?x=1')!;
  assert.equal(up.resBodySha256, sha256(UPGRADE_BODY));
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  assert.equal(summary.seen, 3);
  assert.deepEqual(summary.notReplayed, { inspectOnly: 3 });
  assert.equal(summary.http.upgradedConnections, 1);
  assert.equal(summary.http.lost.upgrade, 0);
  assert.equal(summary.http.h2.upgraded, 1);
  assert.equal(summary.http.h2.connections, 1);
  assert.equal(summary.http.h2.streams, 3, 'streams 1 (its request came as HTTP/1), 3 and 5');
  assert.equal(summary.http.responses, 3);

  // In process: the upgrading request is HTTP/1.1 as captured; the others are HTTP/2, with
  // the entries stream 3 put in the table found by index in stream 5.
  const r = await readInProcess(file);
  const byUrl = new Map(r.exchanges.map((ex) => [ex.request.url, ex]));
  assert.equal(byUrl.get('/up?x=1')!.request.versionMajor, 1);
  assert.equal(byUrl.get('/up?x=1')!.response!.versionMajor, 2);
  assert.deepEqual(byUrl.get('/five')!.request.headers, ['host', 'upgrade.test', 'x-shared', 'kept in the table']);
  assert.deepEqual(byUrl.get('/five')!.request.h2, { streamId: 5, scheme: 'http' });
});
