// Replay over HTTP/2 when the shadow misbehaves or the replayer is held back: streams reset
// or refused, a shadow that stalls, GOAWAY midway, a session that dies, a dead shadow,
// shutdown, queue and rate limits, lanes; every request ends in exactly one outcome. And the
// bytes on the wire, read back by tshark from a tcpdump capture.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import type { HttpRequest } from '../../src/http';
import { ReplayOptions, Replayer } from '../../src/replay';
import { fakeConnection } from '../support/requests';
import { sha256 } from '../support/servers';
import { captureSkipReason, runTool, startTcpdump } from '../support/tools';
import { Result, h2Request, replay, startH2Shadow } from './h2-support';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

const opts = (origin: string, more: Partial<ReplayOptions> = {}) => ({ targets: [origin], timeoutMs: 5000, keepResponseBytes: 1 << 20, ...more });

/** Submits every request; resolves once all settled, failing if any settles twice. */
function replayAll(replayer: Replayer, reqs: HttpRequest[]): Promise<Result[]> {
  const results: Array<Result | undefined> = new Array(reqs.length);
  let left = reqs.length;
  return new Promise((resolve) => reqs.forEach((req, i) => replayer.submit(req, (outcome, responses) => {
    assert.equal(results[i], undefined, `request ${i} settled twice`);
    results[i] = { outcome, r: responses[0] };
    if (--left === 0) resolve(results as Result[]);
  })));
}

/** Waits for `cond`; throws after 20 s (a test that waits for what never comes fails). */
const until = async (cond: () => boolean): Promise<void> => {
  const deadline = performance.now() + 20_000;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`gave up waiting for ${cond.toString()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
};

describe('replay over HTTP/2: shadows that misbehave', () => {
  it('a stream reset by the shadow is a shadowError naming RST_STREAM; the session and its other streams go on', async (t) => {
    const shadow = await startH2Shadow({
      answer: (stream, seen) => {
        if (seen.path === '/reset') return void stream.close(NGHTTP2_INTERNAL_ERROR);
        stream.respond({ ':status': 200 });
        // RST_STREAM after part of the answer: INTERNAL_ERROR, or NO_ERROR (a truncated answer all the same).
        if (seen.path.startsWith('/reset-mid-answer')) {
          stream.write('partial');
          return void setTimeout(() => (seen.path.endsWith('error') ? stream.destroy(new Error('cut')) : stream.destroy()), 20);
        }
        stream.end(seen.path);
      },
    });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const all = await replayAll(replayer, ['/a', '/reset', '/b', '/reset-mid-answer-error', '/reset-mid-answer', '/c'].map((p) => h2Request(p)));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, x.r.statusCode, x.r.error]), [
      ['replayed', 200, null],
      ['shadowError', null, 'stream reset by the shadow (RST_STREAM INTERNAL_ERROR)'],
      ['replayed', 200, null],
      ['shadowError', null, 'stream reset by the shadow (RST_STREAM INTERNAL_ERROR) mid-answer'],
      ['shadowError', null, 'stream reset by the shadow (RST_STREAM NO_ERROR) mid-answer'],
      ['replayed', 200, null],
    ]);
    assert.equal(shadow.sessions(), 1);
    assert.deepEqual([stats.errors, stats.responses, stats.h2?.resets, stats.h2?.streams], [3, 3, 3, 6]);
  });

  it('REFUSED_STREAM: the shadow did not process it, so it goes once more (any method); refused twice, a shadowError', async (t) => {
    const tries = new Map<string, number>();
    const shadow = await startH2Shadow({
      answer: (stream, seen) => {
        const n = (tries.get(seen.path) ?? 0) + 1;
        tries.set(seen.path, n);
        if (seen.path === '/always' || n === 1) return void stream.close(NGHTTP2_REFUSED_STREAM);
        stream.respond({ ':status': 200 });
        stream.end(`${seen.path} try ${n} ${sha256(seen.body)}`);
      },
    });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const body = Buffer.from('post body');
    const all = await replayAll(replayer, [h2Request('/once', { method: 'POST', body }), h2Request('/always')]);
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, x.r.body === null ? null : String(x.r.body), x.r.error]), [
      ['replayed', `/once try 2 ${sha256(body)}`, null],
      ['shadowError', null, 'refused by the shadow (REFUSED_STREAM)'],
    ]);
    assert.deepEqual(Object.fromEntries(tries), { '/once': 2, '/always': 2 });
    assert.deepEqual([stats.sent, stats.h2?.streams, stats.h2?.resets], [2, 4, 3], 'a request sent again is one request, two streams');
  });

  it('a shadow that stalls: shadowTimeout, its stream cancelled (RST_STREAM CANCEL), the session kept for the others', async (t) => {
    const shadow = await startH2Shadow({
      answer: (stream, seen) => {
        if (seen.path === '/stall') return false;
        stream.respond({ ':status': 200 });
        if (seen.path === '/stall-mid-body') return void stream.write('half');
        stream.end(seen.path);
      },
    });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { timeoutMs: 1000 }));
    const started = performance.now();
    const stalled = replayAll(replayer, [h2Request('/stall'), h2Request('/stall-mid-body')]);
    await until(() => shadow.seen.length === 2);
    const during = await replay(replayer, h2Request('/during'));
    const [stall, mid] = await stalled;
    const elapsed = performance.now() - started;
    const after = await replay(replayer, h2Request('/after'));
    await until(() => shadow.clientResets.length === 2);
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual([stall.outcome, mid.outcome, during.outcome, after.outcome], ['shadowTimeout', 'shadowTimeout', 'replayed', 'replayed']);
    assert.match(stall.r.error ?? '', /no complete answer within 1000 ms/);
    assert.ok(elapsed >= 990, `${elapsed} ms`);
    assert.deepEqual(shadow.clientResets, [NGHTTP2_CANCEL, NGHTTP2_CANCEL]);
    assert.equal(shadow.sessions(), 1);
    assert.deepEqual([stats.timeouts, stats.responses, stats.inFlight], [2, 2, 0]);
  });

  it('GOAWAY midway: streams up to its last stream id are answered, later ones go again on a new session; no request is lost', async (t) => {
    let goneAway = false;
    const held: Array<() => void> = [];
    const shadow = await startH2Shadow({
      answer: (stream, seen, session) => {
        const respond = () => { stream.respond({ ':status': 200 }); stream.end(`${seen.path} on ${seen.session}`); };
        if (seen.session > 0) return respond();
        held.push(respond);
        // Four streams on the first session: GOAWAY naming the second as the last processed,
        // then the first two are answered and the others never are.
        if (held.length === 4 && !goneAway) {
          goneAway = true;
          const second = shadow.seen.filter((s) => s.session === 0)[1].streamId;
          session.goaway(NGHTTP2_NO_ERROR, second);
          held[0]();
          held[1]();
        }
      },
    });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const reqs = ['/g/0', '/g/1', '/g/2', '/g/3'].map((p, i) => h2Request(p, { method: i === 3 ? 'POST' : 'GET', body: i === 3 ? Buffer.from('x') : null }));
    const all = await replayAll(replayer, reqs);
    const more = await replay(replayer, h2Request('/g/after'));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, String(x.r.body)]), [
      ['replayed', '/g/0 on 0'], ['replayed', '/g/1 on 0'], ['replayed', '/g/2 on 1'], ['replayed', '/g/3 on 1'],
    ]);
    assert.deepEqual([more.outcome, String(more.r.body)], ['replayed', '/g/after on 1']);
    assert.deepEqual([stats.sent, stats.h2?.goaways, stats.h2?.sessionsOpened, stats.h2?.streams, stats.h2?.resets], [5, 1, 2, 7, 0]);
    assert.equal(shadow.sessions(), 2);
  });

  it('GOAWAY with an error: the session is dropped at once; idempotent requests without an answer go again, a POST is a shadowError', async (t) => {
    const shadow = await startH2Shadow({
      answer: (stream, seen, session) => {
        if (seen.session > 0) {
          stream.respond({ ':status': 200 });
          return void stream.end(`${seen.path} again`);
        }
        if (shadow.seen.filter((s) => s.session === 0 && s.complete).length === 2) session.goaway(http2.constants.NGHTTP2_ENHANCE_YOUR_CALM, 3);
      },
    });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const all = await replayAll(replayer, [h2Request('/get'), h2Request('/post', { method: 'POST', body: Buffer.from('p') })]);
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => x.outcome), ['replayed', 'shadowError']);
    assert.equal(String(all[0].r.body), '/get again');
    assert.match(all[1].r.error ?? '', /ENHANCE_YOUR_CALM|GOAWAY|11/);
    assert.equal(stats.h2?.goaways, 1);
  });

  it('a session whose connection dies mid-request: an idempotent request with no answer goes again, a POST is a shadowError', async (t) => {
    const sockets: net.Socket[] = [];
    const shadow = await startH2Shadow({
      answer: (stream, seen) => {
        if (seen.session > 0) {
          stream.respond({ ':status': 200 });
          return void stream.end(`${seen.path} again`);
        }
        if (shadow.seen.length === 2) setTimeout(() => sockets[0].resetAndDestroy(), 10);
      },
    });
    shadow.server.on('connection', (s: net.Socket) => sockets.push(s));
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin));
    const all = await replayAll(replayer, [h2Request('/get'), h2Request('/post', { method: 'POST', body: Buffer.from('p') })]);
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, x.r.body === null ? null : String(x.r.body)]), [['replayed', '/get again'], ['shadowError', null]]);
    assert.match(all[1].r.error ?? '', /ECONNRESET|closed/);
    assert.deepEqual([stats.sent, stats.errors, stats.h2?.sessionsOpened], [2, 1, 2]);
  });

  it('a dead shadow: shadowError ECONNREFUSED, nothing tried twice', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const replayer = new Replayer(opts(`http://127.0.0.1:${port}`));
    const all = await replayAll(replayer, [h2Request('/x'), h2Request('/y', { method: 'POST', body: Buffer.from('b') })]);
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(all.map((x) => [x.outcome, x.r.error]), [['shadowError', 'ECONNREFUSED'], ['shadowError', 'ECONNREFUSED']]);
    assert.deepEqual([stats.sent, stats.errors, stats.h2?.sessionsOpened, stats.h2?.streams], [2, 2, 1, 0]);
  });

  it('a shadow that speaks only HTTP/1.1 to an h2c replay: a shadowError with the reason, not a hang', async (t) => {
    const server = net.createServer((s) => {
      s.on('error', () => {});
      s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const replayer = new Replayer(opts(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, { timeoutMs: 3000 }));
    const x = await replay(replayer, h2Request('/h1-only'));
    await replayer.drain(1000);
    assert.equal(x.outcome, 'shadowError');
    assert.ok((x.r.error ?? '') !== '', 'an error string');
  });
});

describe('replay over HTTP/2: limits and shutdown', () => {
  it('shutdown: streams in flight on a stalled shadow end as shutdown when the drain gives up', async (t) => {
    const shadow = await startH2Shadow({ answer: () => false });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { timeoutMs: 60_000 }));
    const all = replayAll(replayer, Array.from({ length: 6 }, (_, i) => h2Request(`/s/${i}`)));
    await until(() => shadow.seen.length === 6);
    await replayer.drain(50);
    assert.deepEqual((await all).map((x) => x.outcome), new Array(6).fill('shutdown'));
    assert.equal(replayer.busy, 0);
    const late = await replay(replayer, h2Request('/late'));
    assert.equal(late.outcome, 'shutdown');
  });

  it('a graceful drain waits for streams in flight; hurry() cuts it short', async (t) => {
    const held: Array<() => void> = [];
    const shadow = await startH2Shadow({ answer: (stream, seen) => void held.push(() => { stream.respond({ ':status': 200 }); stream.end(seen.path); }) });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { timeoutMs: 60_000 }));
    const all = replayAll(replayer, [h2Request('/d/0'), h2Request('/d/1')]);
    await until(() => held.length === 2);
    const drained = replayer.drain(30_000);
    held[0]();
    await until(() => replayer.busy === 1);
    replayer.hurry();
    await drained;
    assert.deepEqual((await all).map((x) => x.outcome), ['replayed', 'shutdown']);
  });

  it('queue bounds and --rate hold over HTTP/2: queueFull and rateLimited counted, each request settled once', async (t) => {
    const held: Array<() => void> = [];
    const shadow = await startH2Shadow({ answer: (stream, seen) => void held.push(() => { stream.respond({ ':status': 200 }); stream.end(seen.path); }) });
    t.after(() => shadow.close());
    const queued = new Replayer(opts(shadow.origin, { concurrency: 1, queueSize: 2, whenFull: 'drop' }));
    const all = replayAll(queued, Array.from({ length: 5 }, (_, i) => h2Request(`/q/${i}`)));
    await until(() => held.length === 1);
    const statsWhileFull = queued.stats()[0];
    while (held.length > 0 || queued.busy > 0) {
      held.shift()?.();
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.deepEqual((await all).map((x) => x.outcome), ['replayed', 'replayed', 'replayed', 'queueFull', 'queueFull']);
    assert.deepEqual([statsWhileFull.inFlight, statsWhileFull.queued, statsWhileFull.queueFull], [1, 2, 2]);
    await queued.drain(1000);

    const rated = new Replayer(opts(shadow.origin, { ratePerSecond: 1, whenFull: 'drop' }));
    const r = replayAll(rated, Array.from({ length: 3 }, (_, i) => h2Request(`/r/${i}`)));
    await until(() => held.length === 1);
    held.shift()?.();
    assert.deepEqual((await r).map((x) => x.outcome), ['replayed', 'rateLimited', 'rateLimited']);
    assert.equal(rated.stats()[0].rateLimited, 2);
    await rated.drain(1000);
  });

  it('--preserve-connections: each captured connection\'s requests reach the shadow in capture order, one at a time', async (t) => {
    const shadow = await startH2Shadow({
      // Later requests answered sooner: without lanes they would overtake.
      answer: (stream, seen) => void setTimeout(() => { stream.respond({ ':status': 200 }); stream.end(seen.path); }, 20 - Number(seen.path.split('/')[3]) * 4),
    });
    t.after(() => shadow.close());
    const replayer = new Replayer(opts(shadow.origin, { preserveConnections: true, concurrency: 4 }));
    const reqs: HttpRequest[] = [];
    for (let i = 0; i < 5; i++) {
      for (const c of [1, 2]) reqs.push({ ...h2Request(`/c/${c}/${i}`, { streamId: 2 * i + 1 }), conn: fakeConnection(100 + c), index: i });
    }
    const all = await replayAll(replayer, reqs);
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.ok(all.every((x) => x.outcome === 'replayed'));
    for (const c of [1, 2]) {
      assert.deepEqual(shadow.seen.filter((s) => s.path.startsWith(`/c/${c}/`)).map((s) => s.path), [0, 1, 2, 3, 4].map((i) => `/c/${c}/${i}`));
    }
    assert.equal(stats.h2?.streams, 10);
  });
});

describe('replay over HTTP/2: the bytes on the wire', () => {
  it('tshark reads back from a capture the fields and bodies the replayer sent (latin1 bytes as single bytes)', async (t) => {
    const why = captureSkipReason(['tcpdump', 'tshark']);
    if (why !== null) return t.skip(why);
    const shadow = await startH2Shadow();
    t.after(() => shadow.close());
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2-wire-'));
    t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'h2.pcap');
    const dump = await startTcpdump({ iface: 'lo', filter: `tcp port ${shadow.port}`, file });
    const replayer = new Replayer(opts(shadow.origin));
    const body = Buffer.from('{"k":"v\u00e9"}', 'latin1');
    const all = await replayAll(replayer, [
      h2Request('/wire/1?x=%41', { fields: ['x-latin', 'Jos\u00e9', 'accept', '*/*'] }),
      h2Request('/wire/2', { method: 'POST', body, fields: ['content-type', 'application/json', 'content-length', String(body.length)] }),
    ]);
    await replayer.drain(1000);
    await new Promise((r) => setTimeout(r, 100));
    const st = await dump.stop();
    assert.equal(st.droppedByKernel, 0);
    assert.deepEqual(all.map((x) => x.outcome), ['replayed', 'replayed']);
    const fields = await runTool('tshark', ['-r', file, '-n', '-d', `tcp.port==${shadow.port},http2`,
      '-Y', `http2.type == 1 && tcp.dstport == ${shadow.port}`, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=\u0001',
      '-e', 'http2.header.name', '-e', 'http2.header.value']);
    assert.equal(fields.code, 0, fields.stderr);
    const authority = `127.0.0.1:${shadow.port}`;
    // Frames that share a segment share a line: the fields of every line, split at each :method.
    const lines: string[][] = [];
    for (const l of fields.stdout.trim().split('\n')) {
      const [names, values] = l.split('\t').map((x) => x.split('\u0001'));
      names.forEach((n, i) => {
        if (n === ':method') lines.push([]);
        lines[lines.length - 1].push(`${n}: ${values[i]}`);
      });
    }
    // 0xE9 on the wire is not UTF-8: tshark shows the replacement character for it.
    assert.deepEqual(lines, [
      [':method: GET', ':path: /wire/1?x=%41', ':scheme: http', `:authority: ${authority}`, 'x-latin: Jos\ufffd', 'accept: */*', 'x-shadowtap: 1'],
      [':method: POST', ':path: /wire/2', ':scheme: http', `:authority: ${authority}`, 'content-type: application/json',
        `content-length: ${body.length}`, 'x-shadowtap: 1'],
    ]);
    const data = await runTool('tshark', ['-r', file, '-n', '-d', `tcp.port==${shadow.port},http2`,
      '-Y', `http2.type == 0 && tcp.dstport == ${shadow.port}`, '-T', 'fields', '-e', 'http2.data.data']);
    assert.equal(data.code, 0, data.stderr);
    assert.equal(data.stdout.trim().replace(/:/g, ''), body.toString('hex'));
  });
});
