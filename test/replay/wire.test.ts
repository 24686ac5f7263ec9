// The wire-level replayer against real servers: the bytes it writes, keep-alive reuse,
// pipelining, uploads byte for byte, Expect, HEAD/204/304/1xx framing, shadows that reset or
// stall mid-answer, TLS with a CA of our own.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { runConfig } from '../../src/config';
import type { HttpRequest } from '../../src/http';
import { ReplayOptions, Replayer, ShadowResponse } from '../../src/replay';
import { fakeRequest } from '../support/requests';
import { EMPTY_SHA256, fillerBytes, sha256, startShadow } from '../support/servers';

type Result = { outcome: string; r: ShadowResponse };

/** Submits `req` and resolves with its outcome and the (single) target's answer. */
function replay(replayer: Replayer, req: HttpRequest): Promise<Result> {
  return new Promise((resolve) => replayer.submit(req, (outcome, responses) => resolve({ outcome, r: responses[0] })));
}

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)));
}

function closeServer(server: net.Server, sockets: Set<net.Socket>): Promise<void> {
  for (const s of sockets) s.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A raw TCP server: `onHead` runs for every request head (bytes up to CRLFCRLF; bodies are
 * not expected) with the socket and the connection's number; it answers however it likes. */
async function rawServer(onHead: (head: string, socket: net.Socket, conn: number, nth: number) => void) {
  const sockets = new Set<net.Socket>();
  const heads: string[] = [];
  let conns = 0;
  const server = net.createServer((socket) => {
    const conn = conns++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    let buffered = '';
    let nth = 0;
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
        const head = buffered.slice(0, end + 4);
        buffered = buffered.slice(end + 4);
        heads.push(head);
        onHead(head, socket, conn, nth++);
      }
    });
  });
  const port = await listen(server);
  return {
    origin: `http://127.0.0.1:${port}`, heads, connections: () => conns,
    close: () => closeServer(server, sockets),
  };
}

/** The target of a request head. */
function targetOf(head: string): string {
  return head.split(' ')[1];
}

function ok(body: string, extra = ''): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n${extra}\r\n${body}`;
}

const opts = (origin: string, more: Partial<ReplayOptions> = {}) => ({ targets: [origin], timeoutMs: 5000, keepResponseBytes: 1 << 20, ...more });

describe('replay over the wire: what is written', () => {
  it('the head as captured (order, case, latin1 bytes), Host rewritten, the marker, hop-by-hop fields dropped', async (t) => {
    const server = await rawServer((_head, socket) => socket.write(ok('ok')));
    t.after(() => server.close());
    const replayer = new Replayer(opts(server.origin));
    const host = server.origin.slice('http://'.length);
    const got = await replay(replayer, fakeRequest('/a?b=%20c&d=\u00e9', {
      headers: ['Host', 'prod.example', 'X-Mixed-Case', 'Jos\u00e9', 'Connection', 'keep-alive, X-Hop', 'X-Hop', 'gone',
        'Keep-Alive', 'timeout=5', 'Accept', '*/*', 'Accept', 'text/html', 'x-shadowtap', 'spoofed'],
    }));
    // Captured with a body, chunked: sent with Content-Length, de-chunked.
    const post = await replay(replayer, {
      ...fakeRequest('/up', { method: 'POST', headers: ['Host', 'p', 'Transfer-Encoding', 'chunked', 'Content-Type', 'text/plain'], body: Buffer.from('hello') }),
      chunked: true,
    });
    const empty = await replay(replayer, fakeRequest('/empty', { method: 'POST', headers: ['Host', 'p', 'Content-Length', '0'] }));
    const getZero = await replay(replayer, fakeRequest('/g0', { method: 'GET', headers: ['Host', 'p', 'Content-Length', '0'] }));
    // No Host captured (HTTP/1.0) and --keep-host: the shadow's host:port stands in.
    const keep = new Replayer(opts(server.origin, { keepHost: true }));
    const kept = await replay(keep, fakeRequest('/kept', { headers: ['User-Agent', 'u', 'HOST', 'prod'] }));
    const none = await replay(keep, fakeRequest('/none', { headers: ['User-Agent', 'u'] }));
    await replayer.drain(1000);
    await keep.drain(1000);
    for (const x of [got, post, empty, getZero, kept, none]) assert.equal(x.outcome, 'replayed');
    assert.deepEqual(server.heads.slice(0, 4), [
      `GET /a?b=%20c&d=\u00e9 HTTP/1.1\r\nhost: ${host}\r\nX-Mixed-Case: Jos\u00e9\r\nAccept: */*\r\nAccept: text/html\r\nx-shadowtap: 1\r\n\r\n`,
      `POST /up HTTP/1.1\r\nhost: ${host}\r\nContent-Type: text/plain\r\nx-shadowtap: 1\r\ncontent-length: 5\r\n\r\n`,
      // the body, as the raw server saw it, begins the next "head"
      `helloPOST /empty HTTP/1.1\r\nhost: ${host}\r\nx-shadowtap: 1\r\ncontent-length: 0\r\n\r\n`,
      `GET /g0 HTTP/1.1\r\nhost: ${host}\r\nx-shadowtap: 1\r\n\r\n`,
    ]);
    assert.deepEqual(server.heads.slice(4), [
      'GET /kept HTTP/1.1\r\nUser-Agent: u\r\nHOST: prod\r\nx-shadowtap: 1\r\n\r\n',
      `GET /none HTTP/1.1\r\nUser-Agent: u\r\nx-shadowtap: 1\r\nhost: ${host}\r\n\r\n`,
    ]);
  });

  it('uploads arrive byte for byte: chunked as captured, 1 MB and 3 MB bodies, several at once', async (t) => {
    const shadow = await startShadow();
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(`http://127.0.0.1:${shadow.port}`, { concurrency: 2 }));
    const bodies = [fillerBytes(5), fillerBytes(1 << 20), fillerBytes(3 * (1 << 20) + 7), fillerBytes(70_000), fillerBytes(100)];
    const results = await Promise.all(bodies.map((body, i) => replay(replayer, {
      ...fakeRequest(`/up/${i}`, { method: 'PUT', headers: ['Host', 'p', 'Transfer-Encoding', 'chunked'], body }),
      chunked: i % 2 === 0,
    })));
    await replayer.drain(1000);
    assert.deepEqual(results.map((x) => x.outcome), bodies.map(() => 'replayed'));
    const byUrl = new Map(shadow.requests.map((r) => [r.url, r]));
    bodies.forEach((body, i) => {
      const rec = byUrl.get(`/up/${i}`)!;
      assert.equal(rec.bodySize, body.length, `/up/${i}`);
      assert.equal(rec.bodySha256, sha256(body), `/up/${i}`);
      assert.equal(rec.headers.find(([n]) => n === 'content-length')?.[1], String(body.length));
      assert.equal(rec.headers.find(([n]) => n.toLowerCase() === 'transfer-encoding'), undefined);
    });
    assert.ok(new Set(shadow.requests.map((r) => r.connId)).size <= 2, 'at most --concurrency connections');
  });

  it('Expect: 100-continue is not forwarded: the body goes at once; a shadow\'s own 100 Continue is skipped', async (t) => {
    const shadow = await startShadow();
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(`http://127.0.0.1:${shadow.port}`));
    const body = fillerBytes(200_000);
    const x = await replay(replayer, fakeRequest('/expect', { method: 'POST', headers: ['Host', 'p', 'Expect', '100-continue'], body }));
    assert.equal(x.outcome, 'replayed');
    assert.equal(shadow.requests[0].bodySha256, sha256(body));
    assert.equal(shadow.requests[0].headers.find(([n]) => n.toLowerCase() === 'expect'), undefined);
    await replayer.drain(1000);

    // A shadow that sends interim answers anyway (100, then 103 with headers) before the final one.
    const raw = await rawServer((head, socket) => {
      const url = targetOf(head);
      socket.write(`HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\n${ok(`final ${url}`, 'X-Final: 1\r\n')}`);
    });
    t.after(() => raw.close());
    const r2 = new Replayer(opts(raw.origin, { pipeline: 2, concurrency: 1 }));
    const [a, b] = await Promise.all([replay(r2, fakeRequest('/i1')), replay(r2, fakeRequest('/i2'))]);
    await r2.drain(1000);
    assert.deepEqual([a.outcome, a.r.statusCode, String(a.r.body), a.r.headers], ['replayed', 200, 'final /i1', ['content-length', '9', 'x-final', '1']]);
    assert.deepEqual([b.outcome, b.r.statusCode, String(b.r.body)], ['replayed', 200, 'final /i2']);
  });
});

describe('replay over the wire: connections', () => {
  it('keep-alive: 200 requests over at most --concurrency connections, reused one after another', async (t) => {
    let connections = 0;
    const server = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end(req.url)); });
    server.on('connection', () => connections++);
    const port = await listen(server);
    t.after(() => { server.closeAllConnections(); server.close(); });
    const replayer = new Replayer(opts(`http://127.0.0.1:${port}`, { concurrency: 3 }));
    // One at a time: one connection for all.
    for (let i = 0; i < 50; i++) {
      const x = await replay(replayer, fakeRequest(`/seq/${i}`));
      assert.equal(String(x.r.body), `/seq/${i}`);
    }
    assert.equal(connections, 1);
    // 150 at once: three connections, each answer matched to its own request.
    const all = await Promise.all(Array.from({ length: 150 }, (_, i) => replay(replayer, fakeRequest(`/par/${i}`))));
    all.forEach((x, i) => assert.deepEqual([x.outcome, String(x.r.body)], ['replayed', `/par/${i}`]));
    assert.equal(connections, 3);
    assert.equal(replayer.stats()[0].responses, 200);
    await replayer.drain(1000);
  });

  it('--pipeline 4: four requests on one connection before the first answer; answers matched in order', async (t) => {
    let pending: Array<() => void> = [];
    let maxQueued = 0;
    const server = await rawServer((head, socket) => {
      const url = targetOf(head);
      // Hold every answer until four requests are waiting, then answer them in order.
      pending.push(() => socket.write(ok(`answer ${url}`)));
      maxQueued = Math.max(maxQueued, pending.length);
      if (pending.length === 4) for (const answer of pending.splice(0)) answer();
    });
    t.after(() => server.close());
    const replayer = new Replayer(opts(server.origin, { concurrency: 1, pipeline: 4 }));
    const all = await Promise.all(Array.from({ length: 12 }, (_, i) => replay(replayer, fakeRequest(`/p/${i}`))));
    await replayer.drain(1000);
    all.forEach((x, i) => assert.deepEqual([x.outcome, String(x.r.body)], ['replayed', `answer /p/${i}`]));
    assert.equal(server.connections(), 1);
    assert.equal(maxQueued, 4);
    pending = [];
  });

  it('--pipeline: an answer to a request written behind an unanswered one (in a later turn too) is marked queued; one written on an idle connection is not', async (t) => {
    let held: (() => void) | null = null;
    const server = await rawServer((head, socket) => {
      const answer = () => socket.write(ok(`answer ${targetOf(head)}`));
      if (targetOf(head) === '/first') held = answer; // answered only once /second is here
      else {
        held?.();
        held = null;
        answer();
      }
    });
    t.after(() => server.close());
    const replayer = new Replayer(opts(server.origin, { concurrency: 1, pipeline: 2 }));
    const first = replay(replayer, fakeRequest('/first'));
    await new Promise((resolve) => setTimeout(resolve, 50)); // /first written, its answer held
    const second = replay(replayer, fakeRequest('/second'));
    const [a, b] = await Promise.all([first, second]);
    const c = await replay(replayer, fakeRequest('/third'));
    await replayer.drain(1000);
    assert.deepEqual([a, b, c].map((x) => [x.outcome, String(x.r.body), x.r.queued === true]),
      [['replayed', 'answer /first', false], ['replayed', 'answer /second', true], ['replayed', 'answer /third', false]]);
    assert.equal(server.connections(), 1);
  });

  it('HEAD, 204 and 304 carry no body whatever Content-Length says; the next answer is framed right', async (t) => {
    const server = await rawServer((head, socket) => {
      const url = targetOf(head);
      if (head.startsWith('HEAD')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n');
      else if (url === '/204') socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n');
      else if (url === '/304') socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\nETag: "v"\r\n\r\n');
      else socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\n${url.slice(0, 4).padEnd(4, '-')}\r\n0\r\n\r\n`);
    });
    t.after(() => server.close());
    const replayer = new Replayer(opts(server.origin, { concurrency: 1, pipeline: 3 }));
    const reqs = [fakeRequest('/h', { method: 'HEAD' }), fakeRequest('/a'), fakeRequest('/204'), fakeRequest('/b'), fakeRequest('/304'), fakeRequest('/c')];
    const all = await Promise.all(reqs.map((r) => replay(replayer, r)));
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, x.r.statusCode, x.r.bodySize, String(x.r.body)]), [
      ['replayed', 200, 0, ''], ['replayed', 200, 7, 'abc/a--'], ['replayed', 204, 0, ''],
      ['replayed', 200, 7, 'abc/b--'], ['replayed', 304, 0, ''], ['replayed', 200, 7, 'abc/c--'],
    ]);
    assert.equal(server.connections(), 1);
  });

  it('a body delimited by the close, and a shadow that closes after "Connection: close": the next request goes on a new connection', async (t) => {
    const server = await rawServer((head, socket) => {
      const url = targetOf(head);
      if (url === '/eof') socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end');
      else socket.write(ok(url, 'Connection: close\r\n'));
    });
    t.after(() => server.close());
    const replayer = new Replayer(opts(server.origin, { concurrency: 1 }));
    const a = await replay(replayer, fakeRequest('/eof'));
    const b = await replay(replayer, fakeRequest('/closing'));
    const c = await replay(replayer, fakeRequest('/after'));
    await replayer.drain(1000);
    assert.deepEqual([a, b, c].map((x) => [x.outcome, String(x.r.body)]), [['replayed', 'until the end'], ['replayed', '/closing'], ['replayed', '/after']]);
    assert.equal(server.connections(), 3);
  });

  it('a shadow that resets mid-answer: that request is a shadowError; pipelined ones behind it with no byte of answer go again if idempotent', async (t) => {
    const server = await rawServer((head, socket, conn) => {
      const url = targetOf(head);
      if (conn > 0) return void socket.write(ok(`again ${url}`));
      if (url === '/first') socket.write(ok('first'));
      // Half an answer, then a reset (RST, not FIN).
      else if (url === '/cut') socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial', () => setTimeout(() => socket.resetAndDestroy(), 20));
    });
    t.after(() => server.close());
    const replayer = new Replayer(opts(server.origin, { concurrency: 1, pipeline: 4 }));
    const reqs = [fakeRequest('/first'), fakeRequest('/cut'), fakeRequest('/get-behind'),
      fakeRequest('/post-behind', { method: 'POST', body: Buffer.from('x') })];
    const all = await Promise.all(reqs.map((r) => replay(replayer, r)));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, x.r.statusCode, x.r.body === null ? null : String(x.r.body)]), [
      ['replayed', 200, 'first'], ['shadowError', null, null], ['replayed', 200, 'again /get-behind'], ['shadowError', null, null],
    ]);
    assert.match(all[1].r.error ?? '', /ECONNRESET|closed/);
    assert.equal(stats.errors, 2);
    assert.equal(stats.sent, 4, 'a request sent again is one request');
    assert.equal(server.connections(), 2);
  });

  it('a shadow that stalls: shadowTimeout; the connection is dropped and the request behind it goes again on a new one', async (t) => {
    const server = await rawServer((head, socket, conn) => {
      if (conn > 0) socket.write(ok(`again ${targetOf(head)}`));
      // connection 0: never answers
    });
    t.after(() => server.close());
    const replayer = new Replayer(opts(server.origin, { concurrency: 1, pipeline: 2, timeoutMs: 1000 }));
    const started = performance.now();
    const stalled = replay(replayer, fakeRequest('/stall'));
    // Half a timeout later, so that its own deadline is well after the first one's.
    while (server.heads.length === 0) await new Promise((r) => setTimeout(r, 5));
    await new Promise((r) => setTimeout(r, 500));
    const [stall, behind] = await Promise.all([stalled, replay(replayer, fakeRequest('/behind'))]);
    const elapsed = performance.now() - started;
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.equal(stall.outcome, 'shadowTimeout');
    assert.ok(elapsed >= 990, `${elapsed} ms`);
    assert.deepEqual([behind.outcome, String(behind.r.body)], ['replayed', 'again /behind']);
    assert.deepEqual(server.heads.map(targetOf), ['/stall', '/behind', '/behind'], 'both on the stalled connection, then /behind again');
    assert.equal(stats.timeouts, 1);
    assert.equal(server.connections(), 2);
  });

  it('stalled calls among thousands answered: each stalled one times out after its own deadline, every other is answered, none twice', { timeout: 60_000 }, async (t) => {
    // Every 500th request stalls (its connection never answers again); the rest are answered at
    // once, so the deadline queue settles calls out of order and far past its front.
    const server = await rawServer((head, socket) => {
      const url = targetOf(head);
      if (!url.startsWith('/stall')) socket.write(ok(url));
    });
    t.after(() => server.close());
    const TIMEOUT = 400;
    const replayer = new Replayer(opts(server.origin, { concurrency: 64, timeoutMs: TIMEOUT }));
    const N = 3000;
    const started: number[] = [];
    const ended: number[] = [];
    const all = await Promise.all(Array.from({ length: N }, (_, i) => {
      const url = i % 500 === 250 ? `/stall/${i}` : `/ok/${i}`;
      started[i] = performance.now();
      return replay(replayer, fakeRequest(url)).then((r) => {
        ended[i] = performance.now();
        return r;
      });
    }));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    const stalled = all.flatMap((r, i) => (i % 500 === 250 ? [i] : []));
    assert.deepEqual(stalled.map((i) => all[i].outcome), stalled.map(() => 'shadowTimeout'));
    for (const i of stalled) assert.ok(ended[i] - started[i] >= TIMEOUT - 10, `request ${i} timed out after ${ended[i] - started[i]} ms`);
    const wrong = all.flatMap((r, i) => (i % 500 === 250 || (r.outcome === 'replayed' && String(r.r.body) === `/ok/${i}`) ? [] : [`${i}: ${r.outcome}`]));
    assert.deepEqual(wrong, [], 'every other request answered with its own answer');
    assert.equal(stats.timeouts, stalled.length);
    assert.equal(stats.sent, N, 'nothing sent twice');
    assert.equal(server.heads.length, N);
  });

  it('a dead shadow: shadowError ECONNREFUSED, and nothing is tried twice', async () => {
    const probe = net.createServer();
    const port = await listen(probe);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const replayer = new Replayer(opts(`http://127.0.0.1:${port}`));
    const all = await Promise.all([replay(replayer, fakeRequest('/x')), replay(replayer, fakeRequest('/y'))]);
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, x.r.error]), [['shadowError', 'ECONNREFUSED'], ['shadowError', 'ECONNREFUSED']]);
  });

  it('an idle connection the shadow closed is replaced; latency counts from the write, not the connect', async (t) => {
    let connections = 0;
    const server = http.createServer((req, res) => { req.resume(); setTimeout(() => res.end('late'), 50); });
    server.keepAliveTimeout = 50;
    server.on('connection', () => connections++);
    const port = await listen(server);
    t.after(() => { server.closeAllConnections(); server.close(); });
    const replayer = new Replayer(opts(`http://127.0.0.1:${port}`));
    const a = await replay(replayer, fakeRequest('/1'));
    while (connections === 1 && server.listening) {
      // wait until the shadow has closed the idle connection (its keepAliveTimeout)
      const open = await new Promise<number>((resolve) => server.getConnections((_e, n) => resolve(n)));
      if (open === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const b = await replay(replayer, fakeRequest('/2'));
    await replayer.drain(1000);
    assert.deepEqual([a.outcome, b.outcome], ['replayed', 'replayed']);
    assert.equal(connections, 2);
    assert.ok(a.r.latencyUs >= 45_000, `latency ${a.r.latencyUs} µs for an answer held 50 ms`);
  });

  it('shutdown: requests in flight on a stalled shadow end as shutdown when the drain gives up', async (t) => {
    const server = await rawServer(() => {});
    t.after(() => server.close());
    const replayer = new Replayer(opts(server.origin, { concurrency: 2, pipeline: 2, timeoutMs: 60_000 }));
    const all = Promise.all(Array.from({ length: 6 }, (_, i) => replay(replayer, fakeRequest(`/s/${i}`))));
    while (server.heads.length < 4) await new Promise((r) => setTimeout(r, 5));
    await replayer.drain(50);
    assert.deepEqual((await all).map((x) => x.outcome), new Array(6).fill('shutdown'));
    assert.equal(replayer.busy, 0);
  });
});

describe('replay over the wire: TLS', () => {
  it('https:// shadow with a self-signed CA: replayed with --shadow-ca, a certificate error without', async (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-tls-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const key = path.join(dir, 'key.pem');
    const cert = path.join(dir, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=shadowtap test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    const bodies: string[] = [];
    let connections = 0;
    const server = https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(crypto.createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
        res.setHeader('X-Host', req.headers.host ?? '');
        res.end('secure');
      });
    });
    server.on('secureConnection', () => connections++);
    const port = await listen(server);
    t.after(() => { server.closeAllConnections(); server.close(); });
    const ca = fs.readFileSync(cert, 'latin1');
    for (const host of ['127.0.0.1', 'localhost']) {
      const replayer = new Replayer(opts(`https://${host}:${port}`, { ca }));
      const body = fillerBytes(300_000);
      const a = await replay(replayer, fakeRequest('/tls', { method: 'POST', body }));
      const b = await replay(replayer, fakeRequest('/tls2'));
      await replayer.drain(1000);
      assert.deepEqual([a.outcome, String(a.r.body), b.outcome], ['replayed', 'secure', 'replayed'], host);
      assert.deepEqual(a.r.headers?.slice(0, 2), ['x-host', `${host}:${port}`]);
      assert.equal(bodies.at(-2), sha256(body));
      assert.equal(bodies.at(-1), EMPTY_SHA256);
    }
    assert.equal(connections, 2, 'one TLS connection per replayer, reused');
    const untrusted = new Replayer(opts(`https://127.0.0.1:${port}`));
    const c = await replay(untrusted, fakeRequest('/nope'));
    await untrusted.drain(1000);
    assert.equal(c.outcome, 'shadowError');
    assert.match(c.r.error ?? '', /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });
});

describe('replay over the wire: flags', () => {
  it('--pipeline and --shadow-ca reach the replayer; an unreadable or non-PEM CA file is refused at start', (t) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-ca-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const pem = path.join(dir, 'ca.pem');
    fs.writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    const base = { file: '/tmp/capture.pcap', port: ['8080'], shadow: ['https://127.0.0.1:9443'] };
    const cfg = runConfig({ ...base, pipeline: '4', shadowCa: pem });
    assert.equal(cfg.replay.pipeline, 4);
    assert.match(cfg.replay.ca ?? '', /BEGIN CERTIFICATE/);
    assert.deepEqual([runConfig(base).replay.pipeline, runConfig(base).replay.ca], [1, null]);
    assert.throws(() => runConfig({ ...base, shadowCa: path.join(dir, 'missing.pem') }), /--shadow-ca.*cannot read|cannot read.*missing/s);
    fs.writeFileSync(pem, 'not a certificate');
    assert.throws(() => runConfig({ ...base, shadowCa: pem }), /no PEM certificate/);
    assert.throws(() => runConfig({ ...base, pipeline: '0' }), /pipeline/);
  });
});
