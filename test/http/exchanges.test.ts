import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { C2S, Conversation, LinkType, S2C, Seg, randInt, rng, writePcap } from '../support/packets';
import { RecordingSink, Scenario, ScenarioResult, Step, guarded, newPipeline, play, runScenario } from './scenario';
import { HttpStage } from '../../src/http';

const get = (p: string, extra = ''): string => `GET ${p} HTTP/1.1\r\nHost: example.test\r\n${extra}\r\n`;
const post = (p: string, body: string, extra = ''): string =>
  `POST ${p} HTTP/1.1\r\nHost: example.test\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n${extra}\r\n${body}`;
const ok = (body: string, status = '200 OK', extra = ''): string =>
  `HTTP/1.1 ${status}\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n${extra}\r\n${body}`;
const chunked = (chunks: string[], trailers = ''): string =>
  chunks.map((c) => `${c.length.toString(16)}\r\n${c}\r\n`).join('') + `0\r\n${trailers}\r\n`;

function sha(s: string | Buffer): string {
  return createHash('sha256').update(typeof s === 'string' ? Buffer.from(s, 'latin1') : s).digest('hex');
}

function conversation(): Conversation {
  return new Conversation({ client: '192.0.2.10', server: '192.0.2.80', clientPort: 43210, serverPort: 80 });
}

/** Plays conv.segs through a fresh pipeline and finishes it. */
function playAll(conv: Conversation, segs: Seg[] = conv.segs, o: Parameters<typeof newPipeline>[0] = {}) {
  const { sink, pipe } = newPipeline(o);
  play(pipe, conv, segs);
  pipe.finish();
  return { sink, pipe, stats: pipe.stats() };
}

/** Every request appears exactly once in request() or lost(); each request() gets one exchange. */
function assertAccounting(sink: ReturnType<typeof newPipeline>['sink'], expectedStarted?: number): void {
  const exchanged = new Map<unknown, number>();
  for (const e of sink.exchanges) exchanged.set(e.request, (exchanged.get(e.request) ?? 0) + 1);
  for (const r of sink.requests) assert.equal(exchanged.get(r), 1, `request ${r.method} ${r.url} has exactly one exchange`);
  assert.equal(sink.exchanges.length, sink.requests.length, 'no exchange without request()');
  if (expectedStarted !== undefined) {
    assert.equal(sink.requests.length + sink.losts.length, expectedStarted,
      `requests ${sink.requests.length} + lost ${sink.losts.length} (${sink.losts.map((l) => l.reason).join(',')}) = started`);
  }
}

describe('http: message framing', () => {
  it('keep-alive: three exchanges in order, bodies and indexes', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/a'));
    conv.send(S2C, ok('alpha'));
    conv.send(C2S, post('/b', 'x'.repeat(3000)), 1000);
    conv.send(S2C, ok('beta'.repeat(1000), '201 Created'), 1460);
    conv.send(C2S, get('/c'));
    conv.send(S2C, ok(''));
    conv.close(C2S);
    const { sink, stats } = playAll(conv);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.index, e.request.method, e.request.url, e.response?.statusCode]),
      [[0, 'GET', '/a', 200], [1, 'POST', '/b', 201], [2, 'GET', '/c', 200]]);
    const [a, b] = sink.exchanges;
    assert.equal(b.request.body!.toString(), 'x'.repeat(3000));
    assert.equal(b.request.bodySha256, sha('x'.repeat(3000)));
    assert.equal(b.response!.bodySize, 4000);
    assert.equal(a.response!.body!.toString(), 'alpha');
    assert.equal(a.response!.statusMessage, 'OK');
    assert.deepEqual(a.request.headers, ['Host', 'example.test']);
    assert.equal(a.request.conn.client.port, 43210);
    assert.equal(a.request.conn.server.address, '192.0.2.80');
    assert.equal(stats.http.requests, 3);
    assert.equal(stats.http.responses, 3);
    assert.equal(stats.tcp.closed.fin, 1);
    assertAccounting(sink, 3);
  });

  it('pipelining: several requests in one segment, responses in one segment', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/1') + post('/2', 'two') + get('/3') + `HEAD /4 HTTP/1.1\r\nHost: h\r\n\r\n`, 10_000);
    conv.send(S2C, ok('one') + ok('second', '202 Accepted') + ok('three', '404 Not Found') + ok('', '200 OK').replace('Content-Length: 0', 'Content-Length: 999'), 10_000);
    conv.send(C2S, get('/5'));
    conv.send(S2C, ok('five'));
    const { sink } = playAll(conv);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.statusCode, e.response?.body?.toString()]),
      [['/1', 200, 'one'], ['/2', 202, 'second'], ['/3', 404, 'three'], ['/4', 200, ''], ['/5', 200, 'five']]);
    assert.equal(sink.exchanges[1].request.body!.toString(), 'two');
    assertAccounting(sink, 5);
  });

  it('a response seen before its request completes is held until the request ends', () => {
    const conv = conversation();
    conv.handshake();
    const segs = conv.send(C2S, post('/early', 'y'.repeat(2000)), 1000);
    conv.send(S2C, ok('', '413 Payload Too Large'));
    // Capture order: request head, the early response (acknowledging only that head), then
    // the rest of the body.
    const early = { ...conv.segs[conv.segs.length - 1], ack: segs[1].seq };
    const order = [...conv.segs.slice(0, 3), segs[0], early, ...segs.slice(1)];
    const { sink } = playAll(conv, order);
    assert.equal(sink.exchanges.length, 1);
    assert.equal(sink.exchanges[0].response!.statusCode, 413);
    assert.equal(sink.exchanges[0].request.bodySize, 2000);
  });

  it('chunked bodies with extensions and trailers', () => {
    const conv = conversation();
    conv.handshake();
    const body = chunked(['hello ', 'chunked ', 'world']).replace('6\r\n', '6;ext=1\r\n');
    conv.send(C2S, `POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(['abc', 'defg'], 'X-Trailer: t1\r\n')}`);
    conv.send(S2C, `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`);
    const { sink } = playAll(conv);
    const ex = sink.exchanges[0];
    assert.equal(ex.request.body!.toString(), 'abcdefg');
    assert.equal(ex.request.chunked, true);
    assert.deepEqual(ex.request.trailers, ['X-Trailer', 't1']);
    assert.equal(ex.response!.body!.toString(), 'hello chunked world');
    assert.equal(ex.response!.chunked, true);
  });

  it('a chunked request split at every byte offset (and byte by byte) parses the same', () => {
    const msg = `POST /split HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(['0123456789abcdef0', 'x', 'yz'], 'T: v\r\nU: w\r\n')}`;
    const res = `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(['r', 'es', 'ponse'], 'Z: 1\r\n')}`;
    const cases: Array<number[]> = [[1]];
    for (let k = 1; k < msg.length; k++) cases.push([k, msg.length]);
    for (let k = 1; k < msg.length - 1; k += 3) cases.push([k, 2, msg.length]);
    for (const sizes of cases) {
      for (const resSizes of [[res.length], [1], [sizes[0] % res.length || 1, res.length]]) {
        const conv = conversation();
        conv.handshake();
        conv.send(C2S, msg, sizes);
        conv.send(S2C, res, resSizes);
        conv.send(C2S, get('/after'));
        conv.send(S2C, ok('after'));
        const { sink, stats } = playAll(conv);
        const what = `sizes ${sizes} / ${resSizes}`;
        assert.equal(stats.http.parseErrors, 0, what);
        assert.equal(sink.exchanges.length, 2, what);
        const ex = sink.exchanges[0];
        assert.equal(ex.request.body!.toString(), '0123456789abcdef0xyz', what);
        assert.deepEqual(ex.request.trailers, ['T', 'v', 'U', 'w'], what);
        assert.equal(ex.response!.body!.toString(), 'response', what);
        assert.deepEqual(ex.response!.trailers, ['Z', '1'], what);
        assert.equal(sink.exchanges[1].response!.body!.toString(), 'after', what);
      }
    }
  });

  it('Transfer-Encoding with chunked as the final coding (gzip, chunked) is chunked', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, `POST /te HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${chunked(['GZDATA'])}`);
    conv.send(S2C, `HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n${chunked(['zipped'])}`);
    conv.send(C2S, get('/next'));
    conv.send(S2C, ok('n'));
    const { sink, stats } = playAll(conv);
    assert.equal(stats.http.parseErrors, 0);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.request.body?.toString(), e.response?.body?.toString()]),
      [['/te', 'GZDATA', 'zipped'], ['/next', '', 'n']]);
    assert.equal(sink.exchanges[0].request.chunked, true);
  });

  it('hash-only bodies (the read command\'s settings): digests match, whatever the segmentation', () => {
    const rand = rng(5);
    for (const size of [0, 1, 1000, 64 * 1024, 64 * 1024 + 1, 200_000]) {
      for (const seg of [size + 200, 1460, 7919]) {
        const body = Buffer.alloc(size);
        for (let i = 0; i < size; i++) body[i] = Math.floor(rand() * 256);
        const conv = conversation();
        conv.handshake();
        conv.send(C2S, Buffer.concat([Buffer.from(`POST /h HTTP/1.1\r\nContent-Length: ${size}\r\n\r\n`), body]), Math.min(seg, 60_000));
        const chunkedBody = size === 0 ? [Buffer.from('0\r\n\r\n')]
          : [Buffer.from(`${size.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')];
        conv.send(S2C, Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), ...chunkedBody]), Math.min(seg, 60_000));
        conv.send(C2S, get('/after'));
        const { sink, stats } = playAll(conv, conv.segs, { http: { keepRequestBodies: false, keepResponseBodies: false, hashBodies: true } });
        const what = `size ${size} seg ${seg}`;
        assert.equal(stats.http.parseErrors, 0, what);
        assert.equal(sink.requests.length, 2, what);
        const ex = sink.exchanges[0];
        assert.equal(ex.request.body, null, what);
        assert.equal(ex.request.bodySize, size, what);
        assert.equal(ex.request.bodySha256, sha(body), what);
        assert.equal(ex.response!.bodySha256, sha(body), what);
      }
    }
  });

  it('Expect: 100-continue — the 100 is not paired, the final response is', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, `PUT /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n`);
    conv.send(S2C, 'HTTP/1.1 100 Continue\r\n\r\n');
    conv.send(C2S, 'hello');
    conv.send(S2C, ok('stored', '201 Created'));
    conv.send(C2S, get('/next'));
    conv.send(S2C, 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n' + ok('n'));
    const { sink, stats } = playAll(conv);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.statusCode]), [['/up', 201], ['/next', 200]]);
    assert.equal(sink.exchanges[0].request.body!.toString(), 'hello');
    assert.equal(stats.http.informationalResponses, 2);
    assert.equal(stats.http.responses, 2);
  });

  it('HEAD with Content-Length but no body; 204 and 304 without bodies', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, `HEAD /h HTTP/1.1\r\nHost: h\r\n\r\n`);
    conv.send(S2C, 'HTTP/1.1 200 OK\r\nContent-Length: 12345\r\n\r\n');
    conv.send(C2S, `DELETE /d HTTP/1.1\r\nHost: h\r\n\r\n`);
    conv.send(S2C, 'HTTP/1.1 204 No Content\r\n\r\n');
    conv.send(C2S, get('/cached', 'If-None-Match: "x"\r\n'));
    conv.send(S2C, 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\nContent-Length: 500\r\n\r\n');
    conv.send(C2S, get('/last'));
    conv.send(S2C, ok('last'));
    const { sink, stats } = playAll(conv);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.statusCode, e.response?.bodySize]),
      [['/h', 200, 0], ['/d', 204, 0], ['/cached', 304, 0], ['/last', 200, 4]]);
    assert.equal(stats.http.parseErrors, 0);
  });

  it('a response delimited by the connection close (FIN); endUs is its last byte', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, 'GET /old HTTP/1.0\r\n\r\n');
    const data = conv.send(S2C, 'HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n' + 'body until close '.repeat(200), 1000);
    conv.nowUs += 5_000_000; // the server lingers before closing
    conv.fin(S2C);
    conv.fin(C2S);
    conv.ack(S2C);
    const { sink } = playAll(conv);
    assert.equal(sink.exchanges.length, 1);
    const res = sink.exchanges[0].response!;
    assert.equal(res.body!.toString(), 'body until close '.repeat(200));
    assert.equal(res.startUs, data[0].tsUs);
    assert.equal(res.endUs, data[data.length - 1].tsUs);
  });

  it('a close-delimited response cut by RST goes missing (closed)', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, 'GET /old HTTP/1.0\r\n\r\n');
    conv.send(S2C, 'HTTP/1.0 200 OK\r\n\r\npartial');
    conv.rst(S2C);
    const { sink } = playAll(conv);
    assert.equal(sink.exchanges.length, 1);
    assert.equal(sink.exchanges[0].response, null);
    assert.equal(sink.exchanges[0].responseMissing, 'closed');
  });

  it('timestamps: startUs/endUs are the capture times of first and last bytes', () => {
    const conv = new Conversation({ stepUs: 1000 });
    conv.handshake();
    const req = conv.send(C2S, post('/t', 'b'.repeat(100)), [10, 30, 40]);
    conv.ack(S2C);
    const res = conv.send(S2C, ok('r'.repeat(50)), [5, 20]);
    const req2 = conv.send(C2S, get('/u') + get('/v'), 10_000);
    conv.send(S2C, ok('1') + ok('2'));
    const { sink } = playAll(conv);
    const [e1, e2, e3] = sink.exchanges;
    assert.equal(e1.request.startUs, req[0].tsUs);
    assert.equal(e1.request.endUs, req[req.length - 1].tsUs);
    assert.equal(e1.response!.startUs, res[0].tsUs);
    assert.equal(e1.response!.endUs, res[res.length - 1].tsUs);
    assert.ok(e1.request.endUs > e1.request.startUs);
    assert.equal(e2.request.startUs, req2[0].tsUs);
    assert.equal(e3.request.startUs, req2[0].tsUs, 'pipelined in the same segment');
    assert.equal(e3.request.endUs, req2[0].tsUs);
  });

  it('a big body in one large segment followed by a request with big headers', () => {
    // http-parser-js counts every byte of an execute() call toward the header limit when the
    // call ends between messages; a 60 KB body segment then left too little for the next head.
    const conv = conversation();
    conv.handshake();
    const bigHeaders = Array.from({ length: 30 }, (_, i) => `X-H${i}: ${'v'.repeat(1000)}\r\n`).join('');
    conv.send(C2S, post('/big', 'B'.repeat(60_000)), 65_000);
    conv.send(S2C, ok('1'));
    conv.send(C2S, get('/next', bigHeaders), [25_000, 65_000]); // the head spans two calls
    conv.send(S2C, ok('2'));
    const { sink, stats } = playAll(conv);
    assert.equal(stats.http.parseErrors, 0);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.statusCode]), [['/big', 200], ['/next', 200]]);
  });

  it('a TSO-sized segment (IPv4 total length 0) carrying 100 KB of pipelined requests', () => {
    const conv = conversation();
    conv.handshake();
    const body = 'T'.repeat(100_000);
    const segs = conv.send(C2S, post('/tso', body) + get('/after-tso'), 200_000);
    conv.send(S2C, ok('a') + ok('b'));
    const { sink, pipe } = newPipeline();
    play(pipe, conv, conv.segs.slice(0, 3));
    const f = conv.frame(segs[0], LinkType.ETHERNET, { ipv4: { totalLength: 0 } });
    const { packBatch } = require('../support/packets') as typeof import('../support/packets');
    const b = packBatch([f]);
    pipe.batch(LinkType.ETHERNET, b.buf, b.count);
    play(pipe, conv, conv.segs.slice(4));
    pipe.finish();
    assert.equal(pipe.stats().decode.tcp, conv.segs.length);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.request.bodySize, e.response?.body?.toString()]),
      [['/tso', 100_000, 'a'], ['/after-tso', 0, 'b']]);
  });
});

describe('http: upgrades', () => {
  it('WebSocket upgrade: counted lost(upgrade), parsing stops, earlier exchange intact', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/before'));
    conv.send(S2C, ok('x'));
    conv.send(C2S, get('/ws', 'Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n'));
    conv.send(S2C, 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello');
    conv.send(C2S, '\x81\x85\x00\x00\x00\x00hello GET / HTTP/1.1\r\n\r\n');
    conv.send(S2C, '\x81\x02hi');
    conv.close(C2S);
    const { sink, stats } = playAll(conv);
    assert.deepEqual(sink.exchanges.map((e) => e.request.url), ['/before']);
    assert.deepEqual(sink.losts.map((l) => l.reason), ['upgrade']);
    assert.equal(stats.http.upgradedConnections, 1);
    assert.equal(stats.http.parseErrors, 0);
    assert.equal(stats.http.lost.upgrade, 1);
    assertAccounting(sink, 2);
  });

  const H2C = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n';

  it('an Upgrade: h2c that production refuses (a plain 200) is an ordinary exchange, and so is what follows', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/h2c', H2C));
    conv.send(S2C, ok('plain'));
    conv.send(C2S, get('/next'));
    conv.send(S2C, ok('again'));
    conv.close(C2S);
    const { sink, stats } = playAll(conv);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.statusCode, e.response?.body?.toString()]), [['/h2c', 200, 'plain'], ['/next', 200, 'again']]);
    assert.deepEqual(sink.requests.map((r) => r.url), ['/h2c', '/next']);
    assert.deepEqual(sink.losts, []);
    assert.equal(stats.http.upgradedConnections, 0);
    assertAccounting(sink, 2);
  });

  it('a request sent behind an unanswered Upgrade waits for the answer: refused, both are exchanges in order; switched to h2c, the first answers on stream 1, the second is not HTTP/2', () => {
    for (const answer of [ok('plain') + ok('second'), 'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n\x00\x00\x12\x04']) {
      const conv = conversation();
      conv.handshake();
      conv.send(C2S, get('/h2c', H2C) + get('/behind'));
      conv.send(S2C, answer);
      conv.close(C2S);
      const { sink, stats } = playAll(conv);
      if (answer.startsWith('HTTP/1.1 200')) {
        assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.body?.toString()]), [['/h2c', 'plain'], ['/behind', 'second']]);
        assertAccounting(sink, 2);
      } else {
        // Switched to h2c: the Upgrade request is stream 1's, whose answer never came whole;
        // the bytes behind it belong to the new protocol, where they are not the preface.
        assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response, e.responseMissing]), [['/h2c', null, 'closed']]);
        assert.deepEqual(sink.losts, [], 'the bytes behind it belong to the new protocol');
        assert.equal(stats.http.upgradedConnections, 1);
        assert.equal(stats.http.requests, 1);
        assert.equal(stats.http.h2.upgraded, 1);
        assert.equal(stats.http.h2.protocolErrors, 1, 'not the HTTP/2 preface');
        assertAccounting(sink, 1);
      }
    }
  });

  it('an Upgrade request never answered: mirrored at the connection\'s end, without a response', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/h2c', H2C));
    conv.close(C2S);
    const { sink } = playAll(conv);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response, e.responseMissing]), [['/h2c', null, 'closed']]);
    assertAccounting(sink, 1);
  });

  it('CONNECT answered 200: one exchange, the tunnel counted each way (eager client bytes too), nothing in it parsed', () => {
    const conv = conversation();
    conv.handshake();
    const eager = '\x16\x03\x01\x02\x00\x01';
    const fromServer = '\x16\x03\x03\x00\x10';
    const later = '\x17\x03\x03garbage\r\n\r\nGET /inside HTTP/1.1\r\nHost: x\r\n\r\n';
    const answer = 'HTTP/1.1 200 Connection Established\r\n\r\n';
    conv.send(C2S, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n' + eager);
    conv.send(S2C, answer + fromServer);
    conv.send(C2S, later);
    conv.send(S2C, 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    conv.close(C2S);
    const { sink, stats } = playAll(conv);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.method, e.request.url, e.response?.statusCode, e.response?.statusMessage, e.response?.bodySize]),
      [['CONNECT', 'example.com:443', 200, 'Connection Established', 0]]);
    assert.deepEqual(sink.losts, []);
    assert.equal(stats.http.tunnels, 1);
    assert.equal(stats.http.tunnelBytesToServer, eager.length + later.length);
    assert.equal(stats.http.tunnelBytesToClient, fromServer.length + 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'.length);
    assert.equal(stats.http.requests, 1);
    assert.equal(stats.http.responses, 1);
    assert.equal(stats.http.parseErrors, 0);
    assert.equal(stats.http.upgradedConnections, 0);
    assert.equal(stats.http.nonHttpConnections, 0);
    assertAccounting(sink, 1);
  });

  it('CONNECT refused (407): an exchange, and the connection goes on as HTTP/1 (a request sent behind it waits for the answer)', () => {
    for (const together of [false, true]) {
      const conv = conversation();
      conv.handshake();
      const connect = 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n';
      const refused = ok('auth first', '407 Proxy Authentication Required', 'Proxy-Authenticate: Basic realm="p"\r\n');
      if (together) {
        conv.send(C2S, connect + get('/plain'));
        conv.send(S2C, refused + ok('plain'));
      } else {
        conv.send(C2S, connect);
        conv.send(S2C, refused);
        conv.send(C2S, get('/plain'));
        conv.send(S2C, ok('plain'));
      }
      conv.close(C2S);
      const { sink, stats } = playAll(conv);
      assert.deepEqual(sink.exchanges.map((e) => [e.request.method, e.request.url, e.response?.statusCode, e.response?.body?.toString()]),
        [['CONNECT', 'example.com:443', 407, 'auth first'], ['GET', '/plain', 200, 'plain']], `together: ${together}`);
      assert.equal(stats.http.tunnels, 0);
      assert.equal(stats.http.tunnelBytesToServer + stats.http.tunnelBytesToClient, 0);
      assert.equal(stats.http.parseErrors, 0);
      assertAccounting(sink, 2);
    }
  });

  it('a client far into a CONNECT\'s tunnel before the answer: its bytes are counted, not kept and never parsed, whatever the answer', () => {
    const inside = 'GET /inside HTTP/1.1\r\nHost: x\r\n\r\n'.padEnd(1000, 'y');
    const early = inside.repeat(300); // 300,000 bytes, beyond the 256 KB held for an answer
    for (const answer of ['HTTP/1.1 200 Connection established\r\n\r\n', ok('no', '407 Proxy Authentication Required')]) {
      const conv = conversation();
      conv.handshake();
      conv.send(C2S, 'CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n');
      conv.send(C2S, early, 1400);
      conv.send(S2C, answer);
      conv.send(C2S, get('/after'));
      conv.send(S2C, ok('after'));
      conv.close(C2S);
      const { sink, stats } = playAll(conv);
      const urls = sink.exchanges.map((e) => `${e.request.method} ${e.request.url} ${e.response?.statusCode}`);
      if (answer.includes(' 200 ')) {
        assert.deepEqual(urls, ['CONNECT h:443 200']);
        assert.equal(stats.http.tunnelBytesToServer, early.length + get('/after').length);
        assertAccounting(sink, 1);
      } else {
        // Refused: what followed the answer is HTTP/1 again, once a request starts.
        assert.deepEqual(urls, ['CONNECT h:443 407', 'GET /after 200']);
        assert.equal(stats.http.tunnelBytesToServer, 0);
        assert.ok(stats.http.bytesSkipped >= early.length);
        assertAccounting(sink, 2);
      }
      assert.ok(!sink.exchanges.some((e) => e.request.url === '/inside'), 'nothing inside the tunnel taken for HTTP');
    }
  });

  it('a CONNECT pipelined behind a GET and answered 200: the GET is an exchange, the bytes behind the CONNECT are the tunnel', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/first') + 'CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n' + 'abc');
    conv.send(S2C, ok('1') + 'HTTP/1.1 200 OK\r\n\r\n' + 'defg');
    conv.close(C2S);
    const { sink, stats } = playAll(conv);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.method, e.response?.statusCode]), [['GET', 200], ['CONNECT', 200]]);
    assert.equal(stats.http.tunnelBytesToServer, 3);
    assert.equal(stats.http.tunnelBytesToClient, 4);
    assertAccounting(sink, 2);
  });
});

describe('http: loss and resynchronisation', () => {
  it('a gap inside a request body: that request is lost(incomplete), the next one parses', () => {
    const conv = conversation();
    conv.handshake();
    const body = conv.send(C2S, post('/broken', 'p'.repeat(3000)), 1000);
    conv.send(S2C, ok('answer to the broken one'));
    conv.send(C2S, get('/fine'));
    conv.send(S2C, ok('fine'));
    const segs = conv.segs.filter((s) => s !== body[1]);
    const { sink, stats } = playAll(conv, segs);
    assert.deepEqual(sink.requests.map((r) => r.url), ['/fine']);
    assert.deepEqual(sink.losts.map((l) => l.reason), ['incomplete']);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.body?.toString()]), [['/fine', 'fine']]);
    assert.equal(stats.http.responsesToLostRequests, 1);
    assert.equal(stats.tcp.ackedUnseen, 1);
    assertAccounting(sink, 2);
  });

  it('after a gap the next request is found wherever its first line is split', () => {
    const next = get('/found', 'X-A: 1\r\n');
    for (let split = 1; split < 30; split++) {
      for (const tail of ['', 'tail of body\r\n', 'no newline tail']) {
        const conv = conversation();
        conv.handshake();
        const body = 'q'.repeat(2500) + tail;
        const head = conv.send(C2S, post('/broken', body), 1000);
        const lostSeg = head[1]; // inside the body: the head was seen
        // The rest of the broken body and the start of the next request, split at `split`.
        const rest = conv.send(C2S, next, [split, 1000]);
        conv.send(S2C, ok('to broken') + ok('to found'));
        const segs = conv.segs.filter((s) => s !== lostSeg);
        const { sink } = playAll(conv, segs);
        const what = `split ${split} tail ${JSON.stringify(tail)}`;
        assert.deepEqual(sink.requests.map((r) => r.url), ['/found'], what);
        assert.deepEqual(sink.exchanges.map((e) => e.response?.body?.toString()), ['to found'], what);
        assert.deepEqual(sink.losts.map((l) => l.reason), ['incomplete'], what);
        void rest;
      }
    }
  });

  it('after a response gap the next response is found wherever its status line is split', () => {
    for (let split = 1; split < 20; split++) {
      const conv = conversation();
      conv.handshake();
      conv.send(C2S, get('/1'));
      const r1 = conv.send(S2C, ok('o'.repeat(2500)), 1000);
      conv.send(C2S, get('/2'));
      conv.send(S2C, ok('two'), [split, 1000]);
      const { sink } = playAll(conv, conv.segs.filter((s) => s !== r1[1]));
      assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.body?.toString() ?? null, e.responseMissing]),
        [['/1', null, 'gap'], ['/2', 'two', null]], `split ${split}`);
    }
  });

  it('a connection evicted mid-request: lost(evicted); its later packets start a mid-stream flow', () => {
    const { sink, pipe } = newPipeline({ tcp: { maxConnections: 2 } });
    const a = new Conversation({ clientPort: 1001 });
    const b = new Conversation({ clientPort: 1002 });
    const c = new Conversation({ clientPort: 1003 });
    for (const x of [a, b, c]) x.handshake();
    const aBody = a.send(C2S, post('/a', 'A'.repeat(3000)), 1000);
    play(pipe, a, [...a.segs.slice(0, 3), aBody[0]]);
    play(pipe, b, b.segs);
    play(pipe, c, c.segs.slice(0, 1)); // evicts a
    assert.deepEqual(sink.losts.map((l) => l.reason), ['evicted']);
    a.send(S2C, ok('a'));
    a.send(C2S, get('/a2'));
    a.send(S2C, ok('a2'));
    play(pipe, a, [...aBody.slice(1), ...a.segs.slice(-3)]);
    pipe.finish();
    assert.deepEqual(sink.requests.map((r) => [r.url, r.conn.midstream]), [['/a2', true]]);
    assert.equal(sink.exchanges[0].response?.body?.toString(), 'a2');
    assert.equal(pipe.stats().tcp.closed.evicted >= 1, true);
  });

  it('a gap in a response: that exchange is responseMissing gap, later ones pair correctly', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/1'));
    const r1 = conv.send(S2C, ok('one'.repeat(1000)), 1000);
    conv.send(C2S, get('/2'));
    conv.send(S2C, ok('two'));
    conv.send(C2S, get('/3'));
    conv.send(S2C, ok('three'));
    const { sink, stats } = playAll(conv, conv.segs.filter((s) => s !== r1[1]));
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.body?.toString() ?? null, e.responseMissing]),
      [['/1', null, 'gap'], ['/2', 'two', null], ['/3', 'three', null]]);
    assert.equal(stats.http.responsesMissing.gap, 1);
  });

  it('a response lost whole (gap at a boundary) does not shift the pairing', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/1'));
    const r1 = conv.send(S2C, ok('one'));
    conv.send(C2S, get('/2'));
    conv.send(S2C, ok('two'));
    const { sink } = playAll(conv, conv.segs.filter((s) => s !== r1[0]));
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.body?.toString() ?? null, e.responseMissing]),
      [['/1', null, 'gap'], ['/2', 'two', null]]);
  });

  it('a gap swallowing the start of a request: its tail counts it as lost once, the next parses', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/1'));
    conv.send(S2C, ok('one'));
    const second = conv.send(C2S, post('/2', 'B'.repeat(3000)), 1000); // head in the first segment
    conv.send(S2C, ok('two'));
    conv.send(C2S, get('/3'));
    conv.send(S2C, ok('three'));
    const { sink, stats } = playAll(conv, conv.segs.filter((s) => s !== second[0]));
    assert.deepEqual(sink.requests.map((r) => r.url), ['/1', '/3']);
    assert.deepEqual(sink.losts.map((l) => l.reason), ['incomplete']);
    assert.match(sink.losts[0].detail, /start was not captured/);
    assert.equal(stats.http.lost.incomplete, 1);
    assertAccounting(sink, 3);
  });

  it('two gaps inside one request body count that request once', () => {
    const conv = conversation();
    conv.handshake();
    const body = conv.send(C2S, post('/big', 'Z'.repeat(6000)), 1000);
    conv.send(S2C, ok('big'));
    conv.send(C2S, get('/next'));
    conv.send(S2C, ok('next'));
    const { sink } = playAll(conv, conv.segs.filter((s) => s !== body[2] && s !== body[4]));
    assert.deepEqual(sink.requests.map((r) => r.url), ['/next']);
    assert.deepEqual(sink.losts.map((l) => l.reason), ['incomplete']);
    assertAccounting(sink, 2);
  });

  it('a gap swallowing the start of a request, then a second gap in its tail: still counted once', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/1'));
    conv.send(S2C, ok('one'));
    const second = conv.send(C2S, post('/2', 'B'.repeat(4000)), 1000); // head in the first segment
    conv.send(S2C, ok('two'));
    conv.send(C2S, get('/3'));
    conv.send(S2C, ok('three'));
    // Start lost, second segment seen, the rest (third to fifth) lost: /3 begins right after.
    const lost = new Set([second[0], second[2], second[3], second[4]]);
    const { sink } = playAll(conv, conv.segs.filter((s) => !lost.has(s)));
    assert.deepEqual(sink.requests.map((r) => r.url), ['/1', '/3']);
    assert.deepEqual(sink.losts.map((l) => l.reason), ['incomplete']);
    assertAccounting(sink, 3);
  });

  it('a gap swallowing the start of the last request, its tail seen, then the connection ends: counted once', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/1'));
    conv.send(S2C, ok('one'));
    const second = conv.send(C2S, post('/2', 'B'.repeat(3000)), 1000);
    conv.send(S2C, ok('two'));
    conv.close(C2S);
    const { sink } = playAll(conv, conv.segs.filter((s) => s !== second[0]));
    assert.deepEqual(sink.requests.map((r) => r.url), ['/1']);
    assert.deepEqual(sink.losts.map((l) => l.reason), ['incomplete']);
    assertAccounting(sink, 2);
  });

  it('capture starting mid-body: resync at the next request, mid-stream info', () => {
    const conv = conversation();
    conv.handshake();
    const first = conv.send(C2S, post('/upload', 'U'.repeat(5000)), 1000);
    conv.send(S2C, ok('uploaded'));
    conv.send(C2S, get('/after'));
    conv.send(S2C, ok('after'));
    // Capture starts at the third body segment.
    const start = conv.segs.indexOf(first[2]);
    const { sink, stats } = playAll(conv, conv.segs.slice(start));
    assert.equal(stats.tcp.connectionsMidstream, 1);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.body?.toString()]), [['/after', 'after']]);
    assert.equal(sink.exchanges[0].request.conn.midstream, true);
    assert.equal(sink.exchanges[0].request.index, 0);
    assert.equal(sink.losts.length, 0, 'a request never seen from its start is not counted');
    assert.equal(stats.http.orphanResponses, 1);
    assert.ok(stats.http.bytesSkipped >= 3000);
  });

  it('capture starting mid-response', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, get('/1'));
    const r1 = conv.send(S2C, ok('R'.repeat(4000)), 1000);
    conv.send(C2S, get('/2'));
    conv.send(S2C, ok('two'));
    const { sink } = playAll(conv, conv.segs.slice(conv.segs.indexOf(r1[1])));
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.body?.toString()]), [['/2', 'two']]);
  });
});

describe('http: hostile input', () => {
  it('non-HTTP bytes on the port: nonHttpConnections, no request, no loss', async () => {
    const tls = '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' + 'r'.repeat(32) + '\x00\x02\x13\x01' + 'z'.repeat(400);
    const results = await guarded([
      { conns: [{ steps: [{ send: 'c', data: tls }, { send: 's', data: '\x16\x03\x03\x00\x7a\x02' + 's'.repeat(200) }], close: true }] },
      { conns: [{ steps: [{ send: 's', data: 'SSH-2.0-OpenSSH_9.6\r\n' }, { send: 'c', data: 'SSH-2.0-client\r\n' + 'k'.repeat(900) }], close: true }] },
      { conns: [{ steps: [{ send: 'c', data: '\x00\x00\x00\x08\x04\xd2\x16\x2f' }], close: true }] }, // postgres SSLRequest
      { conns: [{ steps: [{ send: 'c', data: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04' }], close: true }] },
    ], 20_000);
    for (const [i, r] of results.entries()) {
      // The HTTP/2 preface (case 3) is HTTP now: the h2c analyzer's connection, cut short.
      const h2 = i === 3;
      assert.equal(r.stats.http.nonHttpConnections, h2 ? 0 : 1, `case ${i}`);
      assert.equal(r.stats.http.h2.connections, h2 ? 1 : 0, `case ${i}`);
      assert.equal(r.requests.length, 0, `case ${i}`);
      assert.equal(r.losts.length, 0, `case ${i}: ${JSON.stringify(r.losts)}`);
      assert.equal(r.stats.http.parseErrors, 0, `case ${i}`);
    }
  });

  const malformed: Array<[string, string]> = [
    ['bad request line', 'GET / HTTP/1.1 trailing\r\nHost: h\r\n\r\n'],
    ['unknown method', 'BREW /pot HTTP/1.1\r\nHost: h\r\n\r\n'],
    ['Content-Length -5', 'POST / HTTP/1.1\r\nContent-Length: -5\r\n\r\nabc'],
    ['Content-Length abc', 'POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\nabc'],
    ['Content-Length 1e3', 'POST / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\nabc'],
    ['two different Content-Lengths', 'POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd'],
    ['negative chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\nabc\r\n0\r\n\r\n'],
    ['garbage chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n'],
    ['huge chunk size', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nabc\r\n0\r\n\r\n'],
    ['missing chunk CRLF', 'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX\r\n0\r\n\r\n'],
    ['100 KB header line', `GET / HTTP/1.1\r\nX-Big: ${'h'.repeat(100 * 1024)}\r\n\r\n`],
    ['100 KB request line', `GET /${'u'.repeat(100 * 1024)} HTTP/1.1\r\n\r\n`],
    ['200 KB of headers', `GET / HTTP/1.1\r\n${'X-Many: value-value-value\r\n'.repeat(8000)}\r\n`],
    ['CR inside a header', 'GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n'],
  ];
  for (const [name, bad] of malformed) {
    it(`malformed request: ${name} → parseError, no hang, next request still parsed`, async () => {
      const sizes = [1460, 7, 65_000];
      const scenarios: Scenario[] = sizes.map((size) => ({
        conns: [{
          steps: [
            { send: 'c', data: get('/first') }, { send: 's', data: ok('1') },
            { send: 'c', data: bad, sizes: size }, { send: 's', data: 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n' },
            { send: 'c', data: get('/after-bad') }, { send: 's', data: ok('3') },
          ] as Step[],
          close: true,
        }],
      }));
      const results = await guarded(scenarios, 20_000);
      results.forEach((r, i) => {
        const what = `${name}, segments of ${sizes[i]}`;
        assert.ok(r.stats.http.parseErrors >= 1, `${what}: parseErrors`);
        assert.equal(r.stats.http.nonHttpConnections, 0, what);
        assert.deepEqual(r.losts.map((l) => l.reason), ['parseError'], what);
        assert.equal(r.exchanges[0].url, '/first', what);
        assert.equal(r.exchanges[0].status, 200, what);
        assert.deepEqual(r.requests.map((q) => q.url), ['/first', '/after-bad'], what);
        assert.equal(r.exchanges[1].status, 200, `${what}: the 400 went to the broken request`);
      });
    });
  }

  it('an endless header line (no newline, 100 KB) then the connection ends: parseError, no hang', async () => {
    const [r] = await guarded([{
      conns: [{ steps: [{ send: 'c', data: get('/first') }, { send: 's', data: ok('1') }, { send: 'c', data: `GET / HTTP/1.1\r\nX-Big: ${'h'.repeat(100 * 1024)}`, sizes: 1460 }], close: true }],
    }], 20_000);
    assert.deepEqual(r.requests.map((q) => q.url), ['/first']);
    assert.deepEqual(r.losts.map((l) => l.reason), ['parseError']);
  });

  it('malformed request pipelined with a good one in the same segment: the good one is parsed', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, 'POST /bad HTTP/1.1\r\nContent-Length: abc\r\n\r\n' + get('/good'), 10_000);
    conv.send(S2C, 'HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n' + ok('good'));
    const { sink } = playAll(conv);
    assert.deepEqual(sink.requests.map((r) => r.url), ['/good']);
    assert.deepEqual(sink.losts.map((l) => l.reason), ['parseError']);
    assert.deepEqual(sink.exchanges.map((e) => [e.request.url, e.response?.body?.toString()]), [['/good', 'good']]);
    assertAccounting(sink, 2);
  });

  it('the first request has a bad header in its second segment: parseError, not non-HTTP', () => {
    const conv = conversation();
    conv.handshake();
    conv.send(C2S, 'GET / HTTP/1.1\r\nHost: h\r\n');
    conv.send(C2S, 'Bad: a\rb\r\n\r\n');
    const { sink, stats } = playAll(conv);
    assert.equal(stats.http.nonHttpConnections, 0);
    assert.deepEqual(sink.losts.map((l) => l.reason), ['parseError']);
  });

  const badResponses: Array<[string, string]> = [
    ['bad status line', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
    ['garbage', 'this is not http at all\r\n\r\n'],
    ['bad Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'],
    ['bad chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nxx\r\n0\r\n\r\n'],
  ];
  for (const [name, bad] of badResponses) {
    it(`malformed response: ${name} → parseError for that exchange, the next pairs correctly`, async () => {
      const [r] = await guarded([{
        conns: [{
          steps: [
            { send: 'c', data: get('/1') }, { send: 's', data: bad },
            { send: 'c', data: get('/2') }, { send: 's', data: ok('two') },
          ],
          close: true,
        }],
      }], 20_000);
      assert.equal(r.stats.http.parseErrors, 1);
      assert.deepEqual(r.exchanges.map((e) => [e.url, e.status, e.missing]), [['/1', null, 'parseError'], ['/2', 200, null]]);
    });
  }

  it('2,000 random garbage payloads: no throw, no hang, accounting holds', async () => {
    const rand = rng(2024);
    const alphabet = ['GET ', 'POST ', 'HTTP/1.1', ' ', '\r\n', '\r\n\r\n', 'Content-Length: ', 'Transfer-Encoding: chunked', '0', '5', 'ff', '-1', ':', 'Host: h', 'HTTP/1.1 200 OK', '\n', 'Connection: upgrade', 'Upgrade: x', 'HEAD /'];
    const scenarios: Scenario[] = [];
    for (let i = 0; i < 2000; i++) {
      const len = randInt(rand, 0, 3000);
      let data = '';
      const structured = rand() < 0.6;
      while (data.length < len) {
        if (structured && rand() < 0.7) data += alphabet[Math.floor(rand() * alphabet.length)];
        else data += String.fromCharCode(Math.floor(rand() * 256));
      }
      const steps: Step[] = [{ send: 'c', data, sizes: randInt(rand, 1, 1500) }];
      if (rand() < 0.7) {
        let res = '';
        const rl = randInt(rand, 0, 1000);
        while (res.length < rl) res += rand() < 0.5 ? alphabet[Math.floor(rand() * alphabet.length)] : String.fromCharCode(Math.floor(rand() * 256));
        steps.push({ send: 's', data: res, sizes: randInt(rand, 1, 1500) });
      }
      if (rand() < 0.5) steps.push({ send: 'c', data: get('/tail') });
      scenarios.push({ conns: [{ handshake: rand() < 0.8, steps, close: rand() < 0.7 }] });
    }
    const results: ScenarioResult[] = [];
    for (let i = 0; i < scenarios.length; i += 250) results.push(...await guarded(scenarios.slice(i, i + 250), 60_000));
    assert.equal(results.length, 2000);
    for (const r of results) {
      // Each exchange belongs to a request; no exchange twice.
      assert.equal(r.exchanges.length, r.requests.length);
      assert.equal(r.stats.tcp.connectionsActive, 0);
      assert.equal(r.stats.tcp.bufferedBytes, 0);
    }
  });
});

describe('http: accounting invariant', () => {
  type Kind = 'good' | 'bodyGap' | 'badCL' | 'badChunk' | 'rstMid' | 'closeMid' | 'upgrade' | 'noResponse' | 'pipelined';

  function build(rand: () => number, conns: number): { sc: Scenario; started: number } {
    let started = 0;
    const sc: Scenario = { conns: [], options: { http: { maxPending: 4 } }, interleaveSeed: Math.floor(rand() * 1e9) };
    for (let c = 0; c < conns; c++) {
      const steps: Step[] = [];
      const n = randInt(rand, 1, 8);
      let ended = false;
      for (let i = 0; i < n && !ended; i++) {
        const kinds: Kind[] = ['good', 'good', 'good', 'bodyGap', 'badCL', 'badChunk', 'rstMid', 'closeMid', 'upgrade', 'noResponse', 'pipelined'];
        const kind = kinds[Math.floor(rand() * kinds.length)];
        const size = randInt(rand, 1, 1460);
        switch (kind) {
          case 'good':
            steps.push({ send: 'c', data: post(`/g${i}`, 'x'.repeat(randInt(rand, 0, 4000))), sizes: size }, { send: 's', data: ok('ok'), sizes: size });
            started++;
            break;
          case 'bodyGap':
            steps.push({ drop: [1] }, { send: 'c', data: post(`/gap${i}`, 'y'.repeat(4000)), sizes: 1000 }, { ack: 's' }, { send: 's', data: ok('gap') });
            started++;
            break;
          case 'badCL':
            steps.push({ send: 'c', data: `POST /cl${i} HTTP/1.1\r\nContent-Length: x${i}\r\n\r\n`, sizes: size }, { send: 's', data: 'HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n' });
            started++;
            break;
          case 'badChunk':
            steps.push({ send: 'c', data: `POST /ch${i} HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nqq\r\n`, sizes: size }, { send: 's', data: 'HTTP/1.1 400 Bad\r\nContent-Length: 0\r\n\r\n' });
            started++;
            break;
          case 'rstMid':
            steps.push({ send: 'c', data: post(`/rst${i}`, 'z'.repeat(3000)).slice(0, 1500), sizes: size }, { rst: 's' });
            started++;
            ended = true;
            break;
          case 'closeMid':
            steps.push({ send: 'c', data: post(`/cut${i}`, 'z'.repeat(3000)).slice(0, 200), sizes: size });
            started++;
            ended = true;
            break;
          case 'upgrade':
            steps.push({ send: 'c', data: get(`/ws${i}`, 'Upgrade: websocket\r\nConnection: upgrade\r\n') + get('/not-http-anymore'), sizes: size },
              { send: 's', data: 'HTTP/1.1 101 Switching\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n' });
            started++;
            ended = true;
            break;
          case 'noResponse':
            steps.push({ send: 'c', data: get(`/nr${i}`), sizes: size });
            started++;
            break;
          case 'pipelined': {
            const k = randInt(rand, 2, 7); // may exceed maxPending (4)
            let reqs = '';
            for (let j = 0; j < k; j++) reqs += get(`/p${i}.${j}`);
            steps.push({ send: 'c', data: reqs, sizes: size });
            started += k;
            if (rand() < 0.5) steps.push({ send: 's', data: Array.from({ length: k }, () => ok('p')).join(''), sizes: size });
            break;
          }
        }
      }
      sc.conns.push({ conv: { clientPort: 30000 + c }, steps, close: !ended && rand() < 0.8 });
    }
    return { sc, started };
  }

  it('for random mixes of good and broken conversations, every request started is reported exactly once', async () => {
    const rand = rng(99);
    const built = Array.from({ length: 200 }, () => build(rand, randInt(rand, 1, 6)));
    const results = await guarded(built.map((b) => b.sc), 60_000);
    results.forEach((r, i) => {
      const what = `scenario ${i}: ${JSON.stringify(r.losts.map((l) => l.reason))}`;
      assert.equal(r.requests.length + r.losts.length, built[i].started, what);
      assert.equal(r.exchanges.length, r.requests.length, `${what}: one exchange per request`);
      const keys = r.exchanges.map((e) => `${e.conn}/${e.index}`);
      assert.equal(new Set(keys).size, keys.length, 'no exchange twice');
      // Per connection, exchanges come in request order.
      const byConn = new Map<number, number[]>();
      for (const e of r.exchanges) byConn.set(e.conn, [...(byConn.get(e.conn) ?? []), e.index]);
      for (const idx of byConn.values()) assert.deepEqual(idx, [...idx].sort((a, b) => a - b));
      assert.equal(r.stats.tcp.connectionsActive, 0);
    });
  });

  it('more requests awaiting responses than maxPending: none is reported twice', () => {
    const conv = conversation();
    conv.handshake();
    for (let i = 0; i < 10; i++) conv.send(C2S, get(`/q${i}`));
    const { sink, stats } = playAll(conv, conv.segs, { http: { maxPending: 3 } });
    assertAccounting(sink, 10);
    assert.equal(sink.requests.length, 10);
    assert.ok(stats.http.responsesMissing.overflow >= 7);
    assert.deepEqual(sink.exchanges.map((e) => e.request.url), Array.from({ length: 10 }, (_, i) => `/q${i}`));
  });
});

describe('http: pairing and memory under pipelining overflow', () => {
  it('responses to requests that overflowed maxPending are not paired with later requests', () => {
    const conv = conversation();
    conv.handshake();
    for (let i = 0; i < 10; i++) conv.send(C2S, get(`/q${i}`));
    for (let i = 0; i < 10; i++) conv.send(S2C, ok(`/q${i}`));
    const { sink } = playAll(conv, conv.segs, { http: { maxPending: 3 } });
    assertAccounting(sink, 10);
    for (const e of sink.exchanges) {
      if (e.response !== null) assert.equal(e.response.body!.toString(), e.request.url, `response paired with ${e.request.url}`);
    }
    // The last requests, still awaiting when their responses came, have them.
    assert.deepEqual(sink.exchanges.slice(-3).map((e) => e.response?.body?.toString()), ['/q7', '/q8', '/q9']);
  });

  it('malformed requests with no response do not pile up without bound on one connection', () => {
    const sink = new RecordingSink();
    const stage = new HttpStage(sink, { maxPending: 8 });
    const info = { id: 1, client: { address: '192.0.2.10', port: 43210 }, server: { address: '192.0.2.80', port: 80 },
      ipVersion: 4, midstream: false, openedUs: 0 };
    const conn = stage.open(info);
    const junk = Buffer.from('GET x\r\n'.repeat(10_000), 'latin1');
    conn.data(0, junk, 0, junk.length, 1);
    assert.equal(sink.losts.length, 10_000);
    const awaiting = (conn as unknown as { awaiting: unknown[] }).awaiting;
    assert.ok(awaiting.length <= 8, `${awaiting.length} placeholders held for one connection`);
    conn.close('fin', 2);
  });
});

/** The built CLI, or null (with the test skipped) when the capture addon, built and rebuilt
 * (e.g. with sanitizers) elsewhere, cannot be loaded in a plain child process. */
function cliMainOrSkip(t: { skip(message: string): void }): string | null {
  const native = path.join(__dirname, '..', '..', 'src', 'capture', 'native.js');
  const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(native)}).loadAddon()`], { encoding: 'utf8', timeout: 30_000 });
  if (probe.status !== 0) {
    t.skip(`capture addon unavailable: ${(probe.stderr || '').trim().split('\n')[0]}`);
    return null;
  }
  return path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
}

describe('http: CLI read over a pcap file', () => {
  it('shadowtap read --file prints one JSON line per exchange (Linux cooked v2 and Ethernet)', (t) => {
    const main: string | null = cliMainOrSkip(t);
    if (main === null) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-read-'));
    try {
      for (const linkType of [LinkType.ETHERNET, LinkType.LINUX_SLL2, LinkType.NULL]) {
        const conv = conversation();
        conv.handshake();
        conv.send(C2S, get('/cli') + post('/cli2', 'body'));
        conv.send(S2C, ok('one') + ok('two', '201 Created'));
        conv.close(C2S);
        const file = path.join(dir, `t${linkType}.pcap`);
        writePcap(file, linkType, conv.frames(conv.segs, linkType));
        const summary = path.join(dir, `s${linkType}.json`);
        const res: SpawnSyncReturns<string> = spawnSync(process.execPath, [main, 'read', '--file', file, '--port', '80', '--summary-json', summary], { encoding: 'utf8', timeout: 30_000 });
        assert.equal(res.status, 0, res.stderr);
        const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l));
        assert.deepEqual(lines.map((l) => [l.method, l.url, l.status, l.reqBodySize]), [['GET', '/cli', 200, 0], ['POST', '/cli2', 201, 4]]);
        assert.equal(lines[0].client, '192.0.2.10:43210');
        assert.equal(lines[1].reqBodySha256, sha('body'));
        const s = JSON.parse(fs.readFileSync(summary, 'utf8'));
        assert.equal(s.seen, 2);
        assert.equal(s.decode.tcp, conv.segs.length);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('http: CLI read over VLAN-tagged frames', () => {
  it('--port matches frames with no, one (802.1Q) and two (QinQ) VLAN tags', (t) => {
    const main: string | null = cliMainOrSkip(t);
    if (main === null) return;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-vlan-'));
    try {
      const tagSets = [[], [{ vid: 10 }], [{ tpid: 0x88a8, vid: 20 }, { vid: 30 }]];
      const frames = tagSets.flatMap((vlans, i) => {
        const conv = new Conversation({ clientPort: 40000 + i, startUs: 1_700_000_000_000_000 + i * 1000 });
        conv.handshake();
        conv.send(C2S, get(`/tags/${vlans.length}`));
        conv.send(S2C, ok('fine'));
        conv.close(C2S);
        return conv.segs.map((seg) => conv.frame(seg, LinkType.ETHERNET, { vlans }));
      });
      const file = path.join(dir, 'vlan.pcap');
      writePcap(file, LinkType.ETHERNET, frames);
      const res: SpawnSyncReturns<string> = spawnSync(process.execPath, [main, 'read', '--file', file, '--port', '80'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(res.status, 0, res.stderr);
      const lines = res.stdout.trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(lines.map((l) => [l.url, l.status]).sort(), [['/tags/0', 200], ['/tags/1', 200], ['/tags/2', 200]]);
      const other = spawnSync(process.execPath, [main, 'read', '--file', file, '--port', '81'], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(other.stdout, '', 'another port matches nothing');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

void runScenario;
