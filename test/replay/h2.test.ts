// Replay over HTTP/2 against real node:http2 shadows: what the shadow receives (fields, body,
// trailers, byte for byte), what comes back (status, fields, body, trailers), many streams over
// few sessions, TLS with ALPN h2, and the protocol chosen or forced per request.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import * as http2 from 'node:http2';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { runConfig } from '../../src/config';
import { Replayer, ReplayOptions } from '../../src/replay';
import { MetricsStats, ShadowtapMetrics } from '../../src/report/metrics';
import { fakeRequest } from '../support/requests';
import { fillerBytes, sha256 } from '../support/servers';
import { fieldPairs, h2Request, replay, selfSigned, startH2Shadow } from './h2-support';

const opts = (origin: string, more: Partial<ReplayOptions> = {}) => ({ targets: [origin], timeoutMs: 5000, keepResponseBytes: 1 << 20, ...more });

describe('replay over HTTP/2: what the shadow receives', () => {
  it('GET and POST: pseudo-headers from the request, fields in order less the connection-specific ones, te: trailers kept, the marker; bodies byte for byte', async (t) => {
    const shadow = await startH2Shadow();
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const authority = `127.0.0.1:${shadow.port}`;
    const get = await replay(replayer, h2Request('/a?b=%20c&d=\u00e9', {
      fields: ['accept', '*/*', 'cookie', 'a=1', 'x-latin', 'Jos\u00e9', 'cookie', 'b=2', 'te', 'trailers', 'x-shadowtap', 'spoofed',
        'connection', 'x-hop', 'x-hop', 'gone', 'keep-alive', '5', 'proxy-connection', 'x', 'transfer-encoding', 'chunked',
        'upgrade', 'websocket', 'accept', 'text/html'],
    }));
    const body = fillerBytes(300_000);
    const post = await replay(replayer, h2Request('/up', {
      method: 'POST', body, fields: ['content-type', 'application/octet-stream', 'content-length', String(body.length), 'te', 'gzip'],
    }));
    const empty = await replay(replayer, h2Request('/empty', { method: 'POST', body: Buffer.alloc(0), fields: ['content-length', '0'] }));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    for (const x of [get, post, empty]) assert.equal(x.outcome, 'replayed');
    const [g, p, e] = shadow.seen;
    assert.deepEqual(g.raw.slice(0, 8), [':method', 'GET', ':path', '/a?b=%20c&d=\u00e9', ':scheme', 'http', ':authority', authority]);
    // Repeated fields arrive as separate fields (grouped by name: node:http2 takes an object).
    assert.deepEqual(fieldPairs(g.fields), [
      ['accept', '*/*'], ['accept', 'text/html'], ['cookie', 'a=1'], ['cookie', 'b=2'], ['x-latin', 'Jos\u00e9'], ['te', 'trailers'],
      ['x-shadowtap', '1'],
    ]);
    assert.deepEqual([p.method, p.path, p.body.length, sha256(p.body)], ['POST', '/up', body.length, sha256(body)]);
    assert.deepEqual(fieldPairs(p.fields), [['content-type', 'application/octet-stream'], ['content-length', String(body.length)], ['x-shadowtap', '1']]);
    assert.deepEqual([e.method, e.body.length, fieldPairs(e.fields)], ['POST', 0, [['content-length', '0'], ['x-shadowtap', '1']]]);
    assert.equal(shadow.sessions(), 1, 'one session carries them all');
    assert.deepEqual(stats.h2, { sessionsOpened: 1, streams: 3, resets: 0, goaways: 0 });
    assert.deepEqual([stats.sent, stats.responses, stats.errors], [3, 3, 0]);
  });

  it('--keep-host sends the captured authority; without a Host field the shadow\'s host:port stands in; --no-marker adds none', async (t) => {
    const shadow = await startH2Shadow();
    t.after(() => shadow.close());
    const keep = new Replayer(opts(shadow.origin, { keepHost: true, marker: null }));
    const a = await replay(keep, h2Request('/kept', { authority: 'api.example:8443' }));
    const req = h2Request('/none');
    req.headers = ['accept', '*/*'];
    const b = await replay(keep, req);
    await keep.drain(1000);
    assert.deepEqual([a.outcome, b.outcome], ['replayed', 'replayed']);
    assert.deepEqual(shadow.seen.map((s) => [s.authority, s.fields]), [['api.example:8443', []], [`127.0.0.1:${shadow.port}`, ['accept', '*/*']]]);
  });

  it('large headers: a 40 KB cookie and 400 fields arrive whole (values without surrounding blanks, which HTTP/2 forbids); the answer\'s 300 fields come back as a flat list', async (t) => {
    const many: string[] = [];
    for (let i = 0; i < 400; i++) many.push(`x-field-${i}`, `value ${i} ${'v'.repeat(i % 50)}`);
    const sent = many.map((x, i) => (i % 2 === 1 ? x.trim() : x));
    const cookie = `big=${'c'.repeat(40_000)}`;
    const shadow = await startH2Shadow({
      settings: { maxHeaderListSize: 1 << 20 },
      answer: (stream, seen) => {
        const fields: Record<string, string> = { ':status': '200' };
        for (let i = 0; i < 300; i++) fields[`x-answer-${i}`] = String(i);
        stream.respond(fields);
        stream.end(String(seen.fields.length));
      },
    });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const x = await replay(replayer, h2Request('/big-head', { fields: ['cookie', cookie, ...many] }));
    await replayer.drain(1000);
    assert.equal(x.outcome, 'replayed', x.r.error ?? '');
    assert.deepEqual(shadow.seen[0].fields, ['cookie', cookie, ...sent, 'x-shadowtap', '1']);
    const answered = x.r.headers ?? [];
    assert.equal(answered.filter((_, i) => i % 2 === 0 && answered[i].startsWith('x-answer-')).length, 300);
    assert.deepEqual(answered.slice(0, 4), ['x-answer-0', '0', 'x-answer-1', '1']);
  });

  it('trailers both ways: request trailers reach the shadow after the body; the shadow\'s trailers come back in `trailers`', async (t) => {
    const shadow = await startH2Shadow();
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const body = Buffer.from([0, 0, 0, 0, 5, 104, 101, 108, 108, 111]);
    const withBody = await replay(replayer, h2Request('/trailers/grpc', {
      method: 'POST', body, fields: ['content-type', 'application/grpc', 'te', 'trailers'], trailers: ['x-checksum', 'abc', 'X-Upper', 'Up'],
    }));
    const noBody = await replay(replayer, h2Request('/trailers/bare', { method: 'POST', trailers: ['x-only', 'trailer'] }));
    const plain = await replay(replayer, h2Request('/plain'));
    await replayer.drain(1000);
    assert.deepEqual([withBody.outcome, noBody.outcome, plain.outcome], ['replayed', 'replayed', 'replayed']);
    assert.deepEqual(shadow.seen.map((s) => [s.path, s.body.toString('hex'), s.trailers]), [
      ['/trailers/grpc', body.toString('hex'), ['x-checksum', 'abc', 'x-upper', 'Up']],
      ['/trailers/bare', '', ['x-only', 'trailer']],
      ['/plain', '', []],
    ]);
    assert.deepEqual(withBody.r.trailers, ['grpc-status', '0', 'grpc-message', 'fine']);
    assert.deepEqual([withBody.r.statusCode, String(withBody.r.body)], [200, '/trailers/grpc 10']);
    assert.deepEqual(withBody.r.headers?.slice(0, 8), ['content-type', 'text/plain', 'x-path', '/trailers/grpc', 'x-twice', 'a', 'x-twice', 'b']);
    assert.equal(plain.r.trailers, undefined);
  });

  it('answers are kept as the options say: without a comparison (keepResponseBytes 0) no fields, body or trailers are held', async (t) => {
    const shadow = await startH2Shadow();
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { keepResponseBytes: 0 }));
    const x = await replay(replayer, h2Request('/trailers/x'));
    const small = new Replayer(opts(shadow.origin, { keepResponseBytes: 4 }));
    const y = await replay(small, h2Request('/trailers/yy'));
    await replayer.drain(1000);
    await small.drain(1000);
    assert.deepEqual([x.outcome, x.r.statusCode, x.r.headers, x.r.body, x.r.trailers, x.r.bodySize], ['replayed', 200, null, null, undefined, '/trailers/x 0'.length]);
    assert.deepEqual([String(y.r.body), y.r.bodySize, y.r.trailers], ['/tra', '/trailers/yy 0'.length, ['grpc-status', '0', 'grpc-message', 'fine']]);
    assert.ok(x.r.latencyUs > 0);
  });

  it('HEAD, 204 and 304 end with their HEADERS; 1xx answers are skipped; a 204 with Content-Length breaks HTTP/2: a shadowError naming PROTOCOL_ERROR', async (t) => {
    const shadow = await startH2Shadow({
      answer: (stream, seen) => {
        if (seen.path === '/hints') stream.additionalHeaders({ ':status': 103, link: '</a.css>' });
        const status = Number(/\d{3}/.exec(seen.path)?.[0] ?? 200);
        const bodiless = seen.method === 'HEAD' || status === 204 || status === 304;
        stream.respond({ ':status': status, ...(seen.path === '/204-with-length' || seen.method === 'HEAD' ? { 'content-length': '10' } : {}) }, { endStream: bodiless });
        if (!bodiless) stream.end('0123456789');
      },
    });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const reqs = [h2Request('/head', { method: 'HEAD' }), h2Request('/204'), h2Request('/304'), h2Request('/hints'), h2Request('/204-with-length'), h2Request('/after')];
    const all = await Promise.all(reqs.map((r) => replay(replayer, r)));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, x.r.statusCode, x.r.body === null ? null : String(x.r.body), x.r.error]), [
      ['replayed', 200, '', null], ['replayed', 204, '', null], ['replayed', 304, '', null], ['replayed', 200, '0123456789', null],
      ['shadowError', null, null, 'stream reset for a protocol error in the answer, or by the shadow (RST_STREAM PROTOCOL_ERROR)'],
      ['replayed', 200, '0123456789', null],
    ]);
    assert.deepEqual(all[0].r.headers?.slice(0, 2), ['content-length', '10']);
    assert.deepEqual([stats.h2?.resets, stats.h2?.sessionsOpened], [1, 1]);
  });

  it('fields HTTP/2 cannot carry make a request unreplayable, counted, and nothing is sent', async (t) => {
    const shadow = await startH2Shadow();
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const cases = [
      h2Request('/two-types', { fields: ['content-type', 'a', 'content-type', 'b'] }),
      h2Request('/bad-name', { fields: ['x y', '1'] }),
      h2Request('/ctl', { fields: ['x-a', 'a\x01b'] }),
      h2Request('/two-hosts', { fields: ['host', 'other'] }),
      h2Request('/bad-trailer', { method: 'POST', trailers: ['x t', '1'] }),
      h2Request('/fine'),
    ];
    const all = await Promise.all(cases.map((c) => replay(replayer, c)));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => x.outcome), ['unreplayable', 'unreplayable', 'unreplayable', 'unreplayable', 'unreplayable', 'replayed']);
    assert.deepEqual(shadow.seen.map((s) => s.path), ['/fine']);
    assert.equal(stats.sent, 1);
  });
});

describe('replay over HTTP/2: many streams over few sessions', () => {
  it('2,000 requests multiplexed: each answer matched to its own request, streams per session within the shadow\'s SETTINGS_MAX_CONCURRENT_STREAMS, at most 4 sessions', async (t) => {
    const shadow = await startH2Shadow({
      settings: { maxConcurrentStreams: 50 },
      // Answers held a little, in reverse order of arrival within each tick, so that streams overlap.
      answer: (stream, seen) => void setTimeout(() => {
        if (stream.destroyed) return;
        stream.respond({ ':status': seen.path.endsWith('7') ? 404 : 200 });
        stream.end(`${seen.path}:${sha256(seen.body)}`);
      }, 2),
    });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { concurrency: 400, queueSize: 5000, timeoutMs: 60_000 }));
    const bodies = Array.from({ length: 2000 }, (_, i) => (i % 3 === 0 ? fillerBytes(i + 1) : null));
    const all = await Promise.all(bodies.map((body, i) => replay(replayer, h2Request(`/m/${i}`, { method: body === null ? 'GET' : 'PUT', body, streamId: 2 * i + 1 }))));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    all.forEach((x, i) => {
      assert.equal(x.outcome, 'replayed', `/m/${i}: ${x.r.error}`);
      assert.equal(String(x.r.body), `/m/${i}:${sha256(bodies[i] ?? Buffer.alloc(0))}`);
      assert.equal(x.r.statusCode, i % 10 === 7 ? 404 : 200);
    });
    assert.equal(shadow.seen.length, 2000);
    assert.ok(shadow.peakStreams() <= 50, `peak ${shadow.peakStreams()} streams on one session`);
    assert.ok(shadow.peakStreams() >= 2, 'streams overlapped');
    assert.ok(shadow.sessions() <= 4 && shadow.sessions() >= 1, `${shadow.sessions()} sessions`);
    assert.deepEqual([stats.sent, stats.responses, stats.h2?.streams, stats.h2?.sessionsOpened], [2000, 2000, 2000, shadow.sessions()]);
    assert.deepEqual(stats.byStatusClass, { '2xx': 1800, '4xx': 200 });
  });

  it('flow control: three 5 MB uploads and 4 MB answers at once on one session, byte for byte; the answer kept up to its limit, counted whole', async (t) => {
    const answer = fillerBytes(4 << 20);
    const shadow = await startH2Shadow({ answer: (stream) => { stream.respond({ ':status': 200 }); stream.end(answer); } });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { keepResponseBytes: 1 << 20, timeoutMs: 60_000 }));
    const bodies = [1, 2, 3].map((i) => fillerBytes((5 << 20) + i));
    const all = await Promise.all(bodies.map((body, i) => replay(replayer, h2Request(`/big/${i}`, { method: 'PUT', body }))));
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, x.r.bodySize, x.r.body?.length, sha256(x.r.body ?? Buffer.alloc(0))]),
      bodies.map(() => ['replayed', answer.length, 1 << 20, sha256(answer.subarray(0, 1 << 20))]));
    const byPath = new Map(shadow.seen.map((s) => [s.path, s]));
    bodies.forEach((body, i) => assert.equal(sha256(byPath.get(`/big/${i}`)!.body), sha256(body)));
    assert.equal(shadow.sessions(), 1);
  });

  it('--concurrency bounds the streams in flight per target over HTTP/2 too', async (t) => {
    const shadow = await startH2Shadow({ answer: (stream, seen) => void setTimeout(() => { stream.respond({ ':status': 200 }); stream.end(seen.path); }, 5) });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { concurrency: 3 }));
    const all = await Promise.all(Array.from({ length: 60 }, (_, i) => replay(replayer, h2Request(`/c/${i}`))));
    await replayer.drain(1000);
    assert.ok(all.every((x, i) => x.outcome === 'replayed' && String(x.r.body) === `/c/${i}`));
    assert.ok(shadow.peakStreams() <= 3, `peak ${shadow.peakStreams()}`);
    assert.equal(shadow.sessions(), 1);
  });
});

describe('replay over HTTP/2: counters', () => {
  it('sessions, streams, resets and GOAWAYs per target reach the metrics, a reload\'s retired replayer counted in', async (t) => {
    const shadow = await startH2Shadow({
      answer: (stream, seen, session) => {
        if (seen.path === '/reset') return void stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
        stream.respond({ ':status': 200 });
        stream.end();
        if (seen.path === '/bye') session.goaway(http2.constants.NGHTTP2_NO_ERROR, seen.streamId);
      },
    });
    t.after(() => shadow.close());
    const old = new Replayer(opts(shadow.origin));
    for (const p of ['/a', '/reset', '/bye', '/b']) await replay(old, h2Request(p));
    const current = new Replayer(opts(shadow.origin));
    await replay(current, h2Request('/c'));
    await replay(current, fakeRequest('/over-h1-fails-on-h2c'));
    const stats: MetricsStats = {
      seen: 0, replayed: 0, notReplayed: {}, pending: 0,
      capture: { packets: 0, bytes: 0, kernelReceived: 0, kernelDropped: 0, ifDropped: 0, queueDropped: 0 },
      tcp: { connectionsOpened: 0, connectionsMidstream: 0, connectionsActive: 0, closed: {}, gaps: 0, gapBytes: 0, bufferedBytes: 0 },
      http: { requests: 0, responses: 0, parseErrors: 0 },
      shadows: current.stats(), retiredShadows: [old.stats()],
    };
    await old.drain(1000);
    await current.drain(1000);
    const text = await new ShadowtapMetrics({ stats: () => stats }, { defaultMetrics: false }).render();
    const value = (name: string) => Number(new RegExp(`^${name}\\{target="${shadow.origin}"\\} (\\d+)$`, 'm').exec(text)?.[1]);
    // old: /a, /reset (reset), /bye (GOAWAY), /b on a second session; current: /c on its own.
    assert.deepEqual(old.stats()[0].h2, { sessionsOpened: 2, streams: 4, resets: 1, goaways: 1 });
    assert.deepEqual([value('shadowtap_shadow_sessions_opened_total'), value('shadowtap_shadow_streams_total'),
      value('shadowtap_shadow_stream_resets_total'), value('shadowtap_shadow_goaways_total')], [3, 5, 1, 1]);
    assert.equal(value('shadowtap_shadow_sent_total'), 6);
  });
});

describe('replay over HTTP/2: TLS', () => {
  it('https:// shadow with a self-signed CA: ALPN h2 with --shadow-ca, a certificate error without', async (t) => {
    const tls = selfSigned();
    if (tls === null) return t.skip('openssl is not installed');
    t.after(tls.cleanup);
    const shadow = await startH2Shadow({ tls });
    t.after(() => shadow.close());
    for (const host of ['127.0.0.1', 'localhost']) {
      const replayer = new Replayer(opts(`https://${host}:${shadow.port}`, { ca: tls.ca }));
      const body = fillerBytes(200_000);
      const a = await replay(replayer, h2Request('/tls', { method: 'POST', body }));
      const b = await replay(replayer, h2Request('/trailers/tls'));
      await replayer.drain(1000);
      assert.deepEqual([a.outcome, String(a.r.body), b.outcome, b.r.trailers?.[1]], ['replayed', `/tls ${body.length}`, 'replayed', '0'], `${host}: ${a.r.error}`);
      const seen = shadow.seen.slice(-2);
      assert.deepEqual(seen.map((s) => [s.version, s.scheme, s.authority]), [['2.0', 'https', `${host}:${shadow.port}`], ['2.0', 'https', `${host}:${shadow.port}`]]);
      assert.equal(sha256(seen[0].body), sha256(body));
    }
    assert.equal(shadow.sessions(), 2, 'one session per replayer, reused');
    const untrusted = new Replayer(opts(`https://127.0.0.1:${shadow.port}`));
    const c = await replay(untrusted, h2Request('/nope'));
    await untrusted.drain(1000);
    assert.equal(c.outcome, 'shadowError');
    assert.match(c.r.error ?? '', /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
  });

  it('an https:// shadow that speaks only HTTP/1.1: ALPN finds no h2, a shadowError saying so', async (t) => {
    const tls = selfSigned();
    if (tls === null) return t.skip('openssl is not installed');
    t.after(tls.cleanup);
    const server = https.createServer({ key: tls.key, cert: tls.cert }, (_req, res) => res.end('h1'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => { server.closeAllConnections(); server.close(); });
    const replayer = new Replayer(opts(`https://127.0.0.1:${(server.address() as AddressInfo).port}`, { ca: tls.ca }));
    const x = await replay(replayer, h2Request('/x'));
    await replayer.drain(1000);
    assert.equal(x.outcome, 'shadowError');
    assert.match(x.r.error ?? '', /NO_APPLICATION_PROTOCOL/);
  });

  it('auto: over one TLS shadow that speaks both, what came over HTTP/2 goes over HTTP/2 and HTTP/1.1 stays HTTP/1.1', async (t) => {
    const tls = selfSigned();
    if (tls === null) return t.skip('openssl is not installed');
    t.after(tls.cleanup);
    const shadow = await startH2Shadow({ tls, allowHTTP1: true });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { ca: tls.ca }));
    const a = await replay(replayer, h2Request('/came-over-h2'));
    const b = await replay(replayer, fakeRequest('/came-over-h1', { headers: ['Host', 'prod', 'X-Case', 'Kept'] }));
    await replayer.drain(1000);
    assert.deepEqual([a.outcome, b.outcome], ['replayed', 'replayed']);
    assert.deepEqual(shadow.seen.map((s) => [s.path, s.version]), [['/came-over-h2', '2.0'], ['/came-over-h1', '1.1']]);
    assert.deepEqual(replayer.stats()[0].h2?.streams, 1);
  });
});

describe('replay over HTTP/2: the protocol forced', () => {
  it('--shadow-protocol h2: an HTTP/1.1 request goes over HTTP/2 (Host as :authority with --keep-host, names lower-cased, chunked body de-chunked, chunked trailers as trailers)', async (t) => {
    const shadow = await startH2Shadow();
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { shadowProtocol: 'h2', keepHost: true }));
    const body = fillerBytes(70_000);
    const req = {
      ...fakeRequest('/from-h1?q=1', { method: 'POST', body, headers: ['Host', 'prod.example', 'Connection', 'keep-alive', 'Transfer-Encoding', 'chunked', 'X-Mixed-Case', 'V', 'Expect', '100-continue', 'TE', 'trailers'] }),
      chunked: true, trailers: ['X-Sum', '42'],
    };
    const abs = fakeRequest('http://proxy.example:81/abs/../x?y=%2e', { headers: ['User-Agent', 'u'] });
    const bare = fakeRequest('HTTP://bare.example?q', { headers: [] });
    const [a, b, c] = await Promise.all([replay(replayer, req), replay(replayer, abs), replay(replayer, bare)]);
    await replayer.drain(1000);
    assert.deepEqual([a.outcome, b.outcome, c.outcome], ['replayed', 'replayed', 'replayed']);
    const [s, u, v] = shadow.seen;
    assert.deepEqual([s.method, s.path, s.authority, s.scheme], ['POST', '/from-h1?q=1', 'prod.example', 'http']);
    assert.deepEqual(fieldPairs(s.fields), [['x-mixed-case', 'V'], ['te', 'trailers'], ['x-shadowtap', '1']]);
    assert.deepEqual([s.body.length, sha256(s.body), s.trailers], [body.length, sha256(body), ['x-sum', '42']]);
    // An absolute-form target: its path as written (no dot segments resolved), its authority.
    assert.deepEqual([u.path, u.authority, u.fields], ['/abs/../x?y=%2e', 'proxy.example:81', ['user-agent', 'u', 'x-shadowtap', '1']]);
    assert.deepEqual([v.path, v.authority], ['/?q', 'bare.example']);
  });

  it('--shadow-protocol http1: a request captured over HTTP/2 goes over the HTTP/1.1 path (host, content-length, no te or trailers)', async (t) => {
    const got: Array<{ version: string; raw: string[]; body: Buffer; trailers: string[] }> = [];
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({ version: req.httpVersion, raw: req.rawHeaders, body: Buffer.concat(chunks), trailers: req.rawTrailers });
        res.end('h1');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => { server.closeAllConnections(); server.close(); });
    const port = (server.address() as AddressInfo).port;
    const replayer = new Replayer(opts(`http://127.0.0.1:${port}`, { shadowProtocol: 'http1' }));
    const x = await replay(replayer, h2Request('/down', {
      method: 'POST', body: Buffer.from('payload'), fields: ['content-type', 'text/plain', 'te', 'trailers'], trailers: ['grpc-x', '1'],
    }));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual([x.outcome, String(x.r.body)], ['replayed', 'h1']);
    assert.deepEqual(got, [{
      version: '1.1', raw: ['host', `127.0.0.1:${port}`, 'content-type', 'text/plain', 'x-shadowtap', '1', 'content-length', '7'],
      body: Buffer.from('payload'), trailers: [],
    }]);
    assert.deepEqual(stats.h2, { sessionsOpened: 0, streams: 0, resets: 0, goaways: 0 });
  });

  it('--shadow-protocol reaches the replayer (auto by default); anything else is refused at start', () => {
    const base = { file: '/tmp/capture.pcap', port: ['8080'], shadow: ['http://127.0.0.1:9080'] };
    assert.equal(runConfig(base).replay.shadowProtocol, 'auto');
    assert.equal(runConfig({ ...base, shadowProtocol: 'h2' }).replay.shadowProtocol, 'h2');
    assert.equal(runConfig({ ...base, shadowProtocol: 'http1' }).replay.shadowProtocol, 'http1');
    assert.throws(() => runConfig({ ...base, shadowProtocol: 'h3' }), /--shadow-protocol.*auto, http1 or h2/);
  });
});
