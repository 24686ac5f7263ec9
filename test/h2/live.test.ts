// HTTP/2 cleartext (prior knowledge) end to end: a node:http2 server on loopback, 2,000
// requests over 4 multiplexed node:http2 connections (GETs, POSTs with bodies, large headers
// that churn the HPACK dynamic tables, request trailers, one stream reset by the client),
// captured by tcpdump on lo. `shadowtap read` and `shadowtap record` (the CLI) must find every
// request as the server received it, the summary must add up, and tshark's HTTP/2 dissector
// must agree on the requests found.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as os from 'node:os';
import * as path from 'node:path';
import { captureSkipReason, cliPath, runCli, runTool, startTcpdump } from '../support/tools';
import { parseExchanges } from '../support/compare';
import { rng } from '../support/packets';
import { readInProcess } from './support';

const COUNT = 2000;
const SESSIONS = 4;
/** Requests in flight per connection: streams interleave on the wire. */
const IN_FLIGHT = 16;

const sha256 = (b: Buffer): string => crypto.createHash('sha256').update(b).digest('hex');

/** What the server received on one stream. */
interface Received {
  method: string;
  path: string;
  /** Regular fields as HTTP/1 would carry them: host (from :authority) first, cookies joined. */
  headers: string[];
  body: Buffer;
  trailers: string[];
  status: number;
  responseBody: Buffer;
}

/** Regular fields of a raw header list (pseudo-headers dropped, cookies joined, host first). */
function asHttp1(raw: string[]): string[] {
  const out: string[] = [];
  let authority: string | null = null;
  let hasHost = false;
  let cookieAt = -1;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name === ':authority') authority = raw[i + 1];
    if (name.startsWith(':')) continue;
    if (name === 'host') hasHost = true;
    if (name === 'cookie') {
      if (cookieAt >= 0) { out[cookieAt] += `; ${raw[i + 1]}`; continue; }
      cookieAt = out.length + 1;
    }
    out.push(name, raw[i + 1]);
  }
  return authority !== null && !hasHost ? ['host', authority, ...out] : out;
}

function startServer(received: Map<string, Received>, onResetStarted: () => void): Promise<{ server: http2.Http2Server; port: number }> {
  const server = http2.createServer();
  server.on('stream', (stream: http2.ServerHttp2Stream, _headers: http2.IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
    const raw = rawHeaders as unknown as string[];
    const get = (n: string) => raw[raw.indexOf(n) + 1];
    const chunks: Buffer[] = [];
    let trailers: string[] = [];
    stream.on('trailers', (fields: http2.IncomingHttpHeaders) => {
      trailers = Object.entries(fields).flatMap(([name, value]) => [name, String(value)]);
    });
    stream.on('error', () => { /* the reset stream */ });
    stream.on('data', (d: Buffer) => {
      chunks.push(d);
      if (get(':path') === '/reset') onResetStarted();
    });
    stream.on('end', () => {
      if (get(':path') === '/reset') return; // cancelled by the client: never complete
      const body = Buffer.concat(chunks);
      const id = get('x-request-id');
      const status = id.endsWith('7') ? 404 : 200;
      const responseBody = Buffer.from(`${get(':method')} ${get(':path')} ${body.length} ${sha256(body)}`.repeat(1 + (Number(id) % 5)));
      received.set(id, { method: get(':method'), path: get(':path'), headers: asHttp1(raw), body, trailers, status, responseBody });
      stream.respond({ ':status': status, 'content-type': 'text/plain', 'x-served-for': id });
      stream.end(responseBody);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

/** The large header values: a pool of 1–2 KB values, so that the encoders' tables index
 * them, evict them and index them again. */
function largeValues(r: () => number): string[] {
  return Array.from({ length: 6 }, (_, i) => `v${i}-` + crypto.createHash('sha256').update(String(i)).digest('hex').repeat(16 + Math.floor(r() * 16)));
}

async function sendAll(port: number, resetGate: Promise<void>): Promise<number> {
  const r = rng(20261130);
  const large = largeValues(r);
  const sessions = Array.from({ length: SESSIONS }, () => http2.connect(`http://127.0.0.1:${port}`));
  for (const s of sessions) s.on('error', () => { /* reported through the requests */ });
  let next = 0;
  let answered = 0;
  const one = (session: http2.ClientHttp2Session, i: number): Promise<void> => new Promise((resolve, reject) => {
    const kind = i % 10;
    const post = kind >= 4;
    const withTrailers = kind === 9;
    const headers: http2.OutgoingHttpHeaders = {
      ':method': post ? 'POST' : 'GET',
      ':path': post ? `/upload/${i}?kind=${kind}` : `/items/${i % 97}?q=${i}&sort=${kind}`,
      'x-request-id': String(i),
      'user-agent': 'h2-live-test/1',
      cookie: [`session=s${i % 13}`, `pref=${kind}`],
    };
    if (i % 3 === 0) headers['x-large'] = large[Math.floor(r() * large.length)];
    if (i % 50 === 0) headers['x-unique'] = `u${i}-`.repeat(300);
    if (post) headers['content-type'] = 'application/octet-stream';
    const req = session.request(headers, { endStream: !post, waitForTrailers: withTrailers });
    if (withTrailers) req.on('wantTrailers', () => req.sendTrailers({ 'x-checksum': `c${i}`, 'x-trailer-two': 'yes' }));
    req.on('response', () => { /* status checked from the server's side */ });
    req.on('error', reject);
    req.resume();
    req.on('end', () => { answered++; resolve(); });
    if (post) {
      const size = Math.floor(r() * 40_000);
      const body = crypto.randomBytes(size);
      // Bodies in several writes: several DATA frames, some split across segments.
      const cut = Math.floor(size / 3);
      req.write(body.subarray(0, cut));
      req.end(body.subarray(cut));
    }
  });
  const worker = async (session: http2.ClientHttp2Session): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= COUNT - 1) return;
      await one(session, i);
    }
  };
  await Promise.all(sessions.flatMap((s) => Array.from({ length: IN_FLIGHT }, () => worker(s))));
  // The one reset stream: part of a body, then RST_STREAM (CANCEL) once the server has it.
  const reset = sessions[0].request({ ':method': 'POST', ':path': '/reset', 'x-request-id': 'reset' }, { endStream: false });
  reset.on('error', () => { /* cancelled */ });
  reset.write(Buffer.alloc(5000, 1));
  await resetGate;
  reset.destroy(); // RST_STREAM (CANCEL) without END_STREAM first (close() ends the stream before resetting it)
  await new Promise((r2) => setTimeout(r2, 200));
  await Promise.all(sessions.map((s) => new Promise<void>((res) => s.close(() => res()))));
  return answered;
}

test('h2c: read and record find every request of 2,000 over 4 multiplexed connections, as the server received them; tshark agrees', { timeout: 300_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump', 'tshark']);
  if (why) { t.skip(why); return; }
  assert.ok(fs.existsSync(cliPath()), `shadowtap CLI not built: ${cliPath()}`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2-'));
  t.after(() => { if (!process.env.SHADOWTAP_KEEP_CAPTURES) fs.rmSync(dir, { recursive: true, force: true }); });

  const received = new Map<string, Received>();
  let resetStarted!: () => void;
  const resetGate = new Promise<void>((r) => { resetStarted = r; });
  const { server, port } = await startServer(received, () => resetStarted());
  t.after(() => server.close());
  const file = path.join(dir, 'h2.pcap');
  const cap = await startTcpdump({ iface: 'lo', filter: `tcp port ${port}`, file });
  const answered = await sendAll(port, resetGate);
  await new Promise((r) => setTimeout(r, 300));
  const capStats = await cap.stop();
  assert.equal(capStats.droppedByKernel, 0, 'tcpdump dropped packets: the capture is no oracle');
  assert.equal(answered, COUNT - 1);
  assert.equal(received.size, COUNT - 1, 'the server received every request but the reset one');
  t.diagnostic(`capture: ${capStats.captured} packets, ${fs.statSync(file).size} bytes`);

  // --- shadowtap read (the CLI) ------------------------------------------------------------
  const summaryPath = path.join(dir, 'summary.json');
  const read = await runCli(['read', '--file', file, '--port', String(port), '--summary-json', summaryPath], { timeoutMs: 120_000 });
  assert.equal(read.code, 0, read.stderr);
  const exchanges = parseExchanges(read.stdout);
  assert.equal(exchanges.length, COUNT - 1, 'one line per complete exchange');
  const atServer = new Map([...received.values()].map((x) => [x.path, x]));
  const byId = new Map<string, Received>();
  for (const ex of exchanges) {
    const got = atServer.get(ex.url);
    assert.ok(got !== undefined, `no request ${ex.method} ${ex.url} at the server`);
    byId.set(ex.url, got);
    assert.equal(ex.method, got.method, ex.url);
    assert.equal(ex.host, `127.0.0.1:${port}`);
    assert.equal(ex.status, got.status, ex.url);
    assert.equal(ex.reqBodySize, got.body.length, ex.url);
    assert.equal(ex.reqBodySha256, sha256(got.body), ex.url);
    assert.equal(ex.resBodySize, got.responseBody.length, ex.url);
    assert.equal(ex.resBodySha256, sha256(got.responseBody), ex.url);
    assert.equal((ex as unknown as { responseMissing: unknown }).responseMissing, null);
    assert.ok(ex.reqStartUs! <= ex.reqEndUs! && ex.reqEndUs! <= ex.resEndUs!, `${ex.url}: timestamps in order`);
  }
  assert.equal(byId.size, COUNT - 1, 'every request found once');
  const summary = JSON.parse(fs.readFileSync(summaryPath, 'utf8'));
  const notReplayed = Object.values(summary.notReplayed as Record<string, number>).reduce((a, b) => a + b, 0);
  assert.equal(summary.seen, COUNT, 'seen: every request, the reset one too');
  assert.equal(summary.seen, summary.replayed + notReplayed + summary.pending, 'the ledger adds up');
  assert.deepEqual(summary.notReplayed, { inspectOnly: COUNT - 1, reset: 1 });
  const h2 = summary.http.h2;
  assert.equal(h2.connections, SESSIONS);
  assert.equal(h2.streams, COUNT);
  assert.ok(h2.resets >= 1, 'the reset counted');
  for (const k of ['hpackErrors', 'oversizedFrames', 'headerListTooLarge', 'headerBlockTooLarge', 'continuationErrors', 'protocolErrors', 'streamsShed', 'midstream']) {
    assert.equal(h2[k], 0, k);
  }
  assert.equal(summary.http.requests, COUNT - 1);
  assert.equal(summary.http.responses, COUNT - 1);
  assert.equal(summary.http.lost.reset, 1);
  assert.equal(summary.http.nonHttpConnections, 0);

  // --- shadowtap record (the CLI): headers and bodies as the server received them ---------
  const recPath = path.join(dir, 'h2.rec');
  const rec = await runCli(['record', '--file', file, '--port', String(port), '--output', recPath, '--no-redact'], { timeoutMs: 120_000 });
  assert.equal(rec.code, 0, rec.stderr);
  const lines = fs.readFileSync(recPath, 'utf8').trim().split('\n').slice(1).map((l) => JSON.parse(l));
  assert.equal(lines.length, COUNT - 1);
  for (const line of lines) {
    const got = byId.get(line.url)!;
    assert.deepEqual(line.headers, got.headers, `${line.url}: headers`);
    assert.equal(line.body === null ? 0 : Buffer.from(line.body, 'base64').compare(got.body), 0, `${line.url}: body`);
  }

  // --- trailers and the h2 fields, through the same stages in this process ----------------
  const inProcess = await readInProcess(file);
  assert.equal(inProcess.exchanges.length, COUNT - 1);
  let withTrailers = 0;
  for (const ex of inProcess.exchanges) {
    const got = byId.get(ex.request.url)!;
    assert.deepEqual(ex.request.trailers, got.trailers, `${ex.request.url}: trailers`);
    if (got.trailers.length > 0) withTrailers++;
    assert.equal(ex.request.versionMajor, 2);
    assert.equal(ex.request.h2?.scheme, 'http');
    assert.equal(ex.request.h2!.streamId % 2, 1);
    const served = ex.response!.headers.indexOf('x-served-for');
    assert.equal(ex.response!.headers[served + 1], got.headers[got.headers.indexOf('x-request-id') + 1], `${ex.request.url}: response headers`);
  }
  assert.ok(withTrailers >= COUNT / 10 - 1, `requests with trailers: ${withTrailers}`);
  assert.deepEqual(inProcess.losses.map((l) => l.reason), ['reset']);
  assert.equal(inProcess.messagesHeld, 0, 'every stream\'s bytes released');
  // The streams were multiplexed: on each connection, requests began before earlier ones ended.
  const overlapping = inProcess.exchanges.filter((ex) => inProcess.exchanges.some((o) => o !== ex &&
    o.request.conn === ex.request.conn && o.request.index < ex.request.index && o.response!.endUs > ex.request.startUs)).length;
  assert.ok(overlapping > COUNT / 4, `requests sent while an earlier one was in progress: ${overlapping}`);

  // --- tshark's HTTP/2 dissector: the same requests ------------------------------------------
  const ts = await runTool('tshark', ['-r', file, '-n', '-d', `tcp.port==${port},http2`, '-Y', 'http2.type == 1 && tcp.dstport == ' + port,
    '-T', 'fields', '-e', 'http2.headers.method', '-e', 'http2.headers.path', '-E', 'occurrence=a', '-E', 'aggregator=/s', '-E', 'separator=/t'], { timeoutMs: 240_000 });
  assert.equal(ts.code, 0, ts.stderr);
  const tsharkSeen: string[] = [];
  for (const row of ts.stdout.split('\n')) {
    if (!row) continue;
    const [methods, paths] = row.split('\t');
    const ms = methods.split(' ').filter(Boolean);
    const ps = paths.split(' ').filter(Boolean);
    assert.equal(ms.length, ps.length, `tshark row: ${row}`);
    for (let k = 0; k < ms.length; k++) tsharkSeen.push(`${ms[k]} ${ps[k]}`);
  }
  const ours = exchanges.map((e) => `${e.method} ${e.url}`).concat(['POST /reset']).sort();
  assert.deepEqual(tsharkSeen.sort(), ours, 'tshark finds the same requests');
});
