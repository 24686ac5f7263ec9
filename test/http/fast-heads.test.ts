// The fast path for ordinary heads (HttpOptions.fastHeads) must give exactly what
// http-parser-js alone gives: every request, exchange, loss, notice and counter. Crafted odd
// heads, random mutations of heads, and capture files (made here, and any pcap a bench run
// or SHADOWTAP_PCAPS names) are played through both settings side by side and compared event
// by event. `read`'s lines (PrintOutput) are held to exchangeLine()'s bytes on the way.
import { strict as assert } from 'node:assert';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { C2S, CapturedFrame, Conversation, LinkType, S2C, randInt, rng, writePcap } from '../support/packets';
import { runScenario, Scenario, Step } from './scenario';
import type { Exchange, HttpRequest, HttpSink, NoticeKind, RequestLoss } from '../../src/http';
import * as parserModule from '../../src/http/parser';
import type { ConnectionInfo } from '../../src/tcp';
import { PacketPipeline } from '../../src/pipeline';
import { openFile } from '../../src/capture';
import { PrintOutput, exchangeLine } from '../../src/outputs';

const ok = (body: string, status = '200 OK', extra = ''): string =>
  `HTTP/1.1 ${status}\r\nContent-Length: ${Buffer.byteLength(body, 'latin1')}\r\n${extra}\r\n${body}`;
const get = (p: string, extra = ''): string => `GET ${p} HTTP/1.1\r\nHost: example.test\r\n${extra}\r\n`;

/** Requests: ordinary ones and every oddity the fast path must leave to http-parser-js. */
const requests: string[] = [
  get('/plain'),
  get('/q?a=1&b="x"\\y', 'Accept: */*\r\nX-Empty:\r\nX-Spaces:   padded   \r\nX-Tab:\tv\t\r\n'),
  'GET /latin1-\xe9\xff HTTP/1.1\r\nHost: h\xe9\r\nX-Ctl: a\x01b\x7fc\r\n\r\n',
  'POST /cl HTTP/1.1\r\nHost: e\r\nContent-Length: 5\r\n\r\nhello',
  'POST /cl2 HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\nabc',
  'POST /cl-differ HTTP/1.1\r\nHost: e\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd',
  'POST /cl-bad HTTP/1.1\r\nHost: e\r\nContent-Length: -1\r\n\r\n',
  'POST /cl-plus HTTP/1.1\r\nHost: e\r\nContent-Length: +3\r\n\r\nabc',
  'POST /chunked HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n',
  'POST /chunked-trailers HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nab\r\n0\r\nX-T: 1\r\n\r\n',
  'POST /chunked-and-cl HTTP/1.1\r\nHost: e\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n',
  'POST /te-not-last HTTP/1.1\r\nHost: e\r\nTransfer-Encoding: chunked, gzip\r\n\r\n',
  'GET /obs-fold HTTP/1.1\r\nHost: e\r\nX-Fold: a\r\n  continued\r\n\r\n',
  'GET /bare-cr HTTP/1.1\r\nHost: e\rX: y\r\n\r\n',
  'GET /bare-cr-url\r HTTP/1.1\r\nHost: e\r\n\r\n',
  'GET /lf-only HTTP/1.1\nHost: e\n\n',
  'GET /mixed HTTP/1.1\r\nHost: e\n\r\n',
  '\r\nGET /leading-crlf HTTP/1.1\r\nHost: e\r\n\r\n',
  'get /lower HTTP/1.1\r\nHost: e\r\n\r\n',
  'FETCH /unknown HTTP/1.1\r\nHost: e\r\n\r\n',
  'M-SEARCH * HTTP/1.1\r\nHost: e\r\n\r\n',
  'GET  /two-spaces HTTP/1.1\r\nHost: e\r\n\r\n',
  'GET /v HTTP/2.0\r\nHost: e\r\n\r\n',
  'GET /v10 HTTP/1.0\r\nHost: e\r\n\r\n',
  'GET /v HTTP/1.1 \r\nHost: e\r\n\r\n',
  'GET /tab\tin-url HTTP/1.1\r\nHost: e\r\n\r\n',
  'GET /no-colon HTTP/1.1\r\nHost e\r\n\r\n',
  'GET /space-name HTTP/1.1\r\nX Y: z\r\n\r\n',
  'GET /name-space-colon HTTP/1.1\r\nX-Y : z\r\n\r\n',
  'GET /empty-name HTTP/1.1\r\n: z\r\n\r\n',
  'GET /colon-in-value HTTP/1.1\r\nX: a:b: c\r\n\r\n',
  'GET /upgrade HTTP/1.1\r\nHost: e\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  'CONNECT example.test:443 HTTP/1.1\r\nHost: example.test:443\r\n\r\n',
  'POST /expect HTTP/1.1\r\nHost: e\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi',
  'HEAD /head HTTP/1.1\r\nHost: e\r\n\r\n',
  `GET /long-line HTTP/1.1\r\nX-Long: ${'a'.repeat(64 * 1024)}\r\n\r\n`,
  `GET /long-line-ok HTTP/1.1\r\nX-Long: ${'a'.repeat(64 * 1024 - 8)}\r\n\r\n`,
  `GET /big-head HTTP/1.1\r\n${'X-Pad: 0123456789012345678901234567890123456789\r\n'.repeat(1700)}\r\n`,
  `GET /${'u'.repeat(70 * 1024)} HTTP/1.1\r\n\r\n`,
  'GET /no-headers HTTP/1.1\r\n\r\n',
  'GET /nul HTTP/1.1\r\nX: a\x00b\r\n\r\n',
  '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03',
];

/** Responses, after a plain GET each (HEAD and CONNECT are paired with their own requests). */
const responses: string[] = [
  ok('fine'),
  ok('', '204 No Content'),
  ok('', '304 Not Modified'),
  'HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.1 200 \r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.1 200  two spaces\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.1 200OK\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.1 2000 OK\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.1 20 OK\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.1 200 \xc9t\xe9\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.1 200 OK\rX\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.0 200 OK\r\n\r\nuntil the end',
  'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok',
  'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello',
  'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\nX-Trailer: t\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc',
  'HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n',
  'HTTP/1.1 200 OK\r\nX-Fold: a\r\n\tb\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/1.1 200 OK\nContent-Length: 1\n\nx',
  'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n',
  'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
  'HTTP/1.1 200 OK\r\nUpgrade: h2c\r\nConnection: upgrade\r\nContent-Length: 1\r\n\r\nx',
  'HTTP/2 200\r\n\r\n',
  'HTTP/1.1 200 OK\r\n: empty\r\nContent-Length: 0\r\n\r\n',
  'http/1.1 200 OK\r\n\r\n',
  'SSH-2.0-OpenSSH_9.6\r\n',
];

/** Segment sizes each conversation is played with: whole, byte by byte, and in between. */
const splits: Array<number | undefined> = [undefined, 1, 2, 5, 13, 64];

function crafted(): Scenario[] {
  const out: Scenario[] = [];
  for (const sizes of splits) {
    for (const req of requests) {
      if (req.length > 4096 && sizes !== undefined && sizes < 64) continue; // long heads: whole and in 64-byte segments
      const answer = req.startsWith('HEAD') ? 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'
        : req.startsWith('CONNECT') ? 'HTTP/1.1 200 Connection established\r\n\r\n\x16\x03' : ok('r');
      out.push({ conns: [{ steps: [{ send: 'c', data: req, sizes }, { send: 's', data: answer, sizes }, { send: 'c', data: get('/after') }, { send: 's', data: ok('after') }] }] });
      // Pipelined behind an ordinary request, in one segment.
      out.push({ conns: [{ steps: [{ send: 'c', data: get('/first') + req + get('/third'), sizes }, { send: 's', data: ok('1') + ok('2') + ok('3'), sizes }] }] });
    }
    for (const res of responses) {
      out.push({ conns: [{ steps: [{ send: 'c', data: get('/r') + get('/r2') }, { send: 's', data: res + ok('second'), sizes }] }] });
    }
  }
  return out;
}

/** Random heads: an ordinary one, then a few random edits (bytes that matter to the syntax). */
function mutated(seed: number, count: number): Scenario[] {
  const r = rng(seed);
  const pieces = ['\r', '\n', '\r\n', ' ', '\t', ':', '\x00', '\xff', 'HTTP/1.1', ' 200 ', 'chunked', 'Content-Length: 3\r\n',
    'Transfer-Encoding: chunked\r\n', 'Connection: upgrade\r\nUpgrade: x\r\n', '\r\n ', 'GET ', '0\r\n\r\n', '1'];
  const mutate = (s: string): string => {
    const edits = randInt(r, 0, 3);
    for (let k = 0; k < edits; k++) {
      const at = randInt(r, 0, s.length);
      const kind = randInt(r, 0, 2);
      const piece = pieces[randInt(r, 0, pieces.length - 1)];
      if (kind === 0) s = s.slice(0, at) + piece + s.slice(at);
      else if (kind === 1) s = s.slice(0, at) + s.slice(at + randInt(r, 1, 4));
      else s = s.slice(0, at) + piece + s.slice(at + piece.length);
    }
    return s;
  };
  const out: Scenario[] = [];
  for (let i = 0; i < count; i++) {
    const steps: Step[] = [];
    const n = randInt(r, 1, 3);
    for (let k = 0; k < n; k++) {
      const body = 'b'.repeat(randInt(r, 0, 40));
      const req = randInt(r, 0, 1) === 0 ? get(`/m${i}-${k}`, 'Accept: */*\r\n')
        : `POST /m${i}-${k} HTTP/1.1\r\nHost: e\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      const res = randInt(r, 0, 2) === 0 ? `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n` : ok(body);
      const sizes = [undefined, 1, randInt(r, 2, 30)][randInt(r, 0, 2)];
      steps.push({ send: 'c', data: mutate(req), sizes }, { send: 's', data: mutate(res), sizes });
    }
    out.push({ conns: [{ steps, close: randInt(r, 0, 3) !== 0 }] });
  }
  return out;
}

/** Conversations of many heads in a row, each a few line edits away from the one before (what
 * the parser's memory of its last head, LastHead, reads line by line): a value one character
 * longer or shorter, a line added, dropped or moved, another start line, an odd byte. */
function repeating(seed: number, count: number): Scenario[] {
  const r = rng(seed);
  const requestLines = ['GET /a HTTP/1.1', 'GET /a HTTP/1.0', 'GET /ab HTTP/1.1', 'POST /a HTTP/1.1', 'GET /a  HTTP/1.1', 'GET /a HTTP/1.1 ', 'get /a HTTP/1.1'];
  const statusLines = ['HTTP/1.1 200 OK', 'HTTP/1.1 200 OK ', 'HTTP/1.1 204 No Content', 'HTTP/1.0 200 OK', 'HTTP/1.1 200', 'HTTP/1.1 304 Not Modified', 'HTTP/1.1 100 Continue'];
  const headerLines = ['Host: e', 'Host: ex', 'Host:e', 'Host:  e ', 'Accept: */*', 'Date: Mon, 30 Nov 2026 04:57:33 GMT', 'Date: Mon, 30 Nov 2026 04:57:34 GMT',
    'X-A: 1', 'X-A: 12', 'X-A:', 'X-A : 1', 'Connection: keep-alive', 'Connection: close', 'Transfer-Encoding: chunked', 'Transfer-Encoding: gzip',
    'Content-Length: 4', 'Connection: Upgrade', 'Upgrade: websocket', 'X-Fold: a\r\n b', 'X-Bad\x00: v', 'X-Lf: a\nb'];
  const edit = (lines: string[], pool: string[]): string[] => {
    const out = [...lines];
    const at = randInt(r, 0, out.length);
    const kind = randInt(r, 0, 4);
    if (kind === 0) out.splice(at, 0, pool[randInt(r, 0, pool.length - 1)]);
    else if (kind === 1 && out.length > 0) out.splice(Math.min(at, out.length - 1), 1);
    else if (kind === 2 && out.length > 0) out[Math.min(at, out.length - 1)] = pool[randInt(r, 0, pool.length - 1)];
    return out; // kind 3, 4: the same head again
  };
  const out: Scenario[] = [];
  for (let i = 0; i < count; i++) {
    let req = [requestLines[0], 'Host: e', 'Accept: */*'];
    let res = [statusLines[0], 'Date: Mon, 30 Nov 2026 04:57:33 GMT', 'X-A: 1'];
    const steps: Step[] = [];
    const sizes = [undefined, undefined, 1, randInt(r, 2, 40)][randInt(r, 0, 3)];
    for (let k = randInt(r, 2, 12); k > 0; k--) {
      req = randInt(r, 0, 5) === 0 ? [requestLines[randInt(r, 0, requestLines.length - 1)], ...req.slice(1)] : edit(req, headerLines);
      res = randInt(r, 0, 5) === 0 ? [statusLines[randInt(r, 0, statusLines.length - 1)], ...res.slice(1)] : edit(res, headerLines);
      const body = 'b'.repeat(randInt(r, 0, 9));
      // Two requests in one segment now and then: a pipelined head right behind a remembered one.
      const twice = randInt(r, 0, 3) === 0;
      const request = `${req.join('\r\n')}\r\n\r\n`;
      const response = `${res.join('\r\n')}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      steps.push({ send: 'c', data: twice ? request + request : request, sizes }, { send: 's', data: twice ? response + response : response, sizes });
    }
    out.push({ conns: [{ steps, close: randInt(r, 0, 3) !== 0 }] });
  }
  return out;
}

/** Two sinks whose events must match one for one: the first queues, the second compares. */
class PairedSinks {
  private queue: string[] = [];
  private next = 0;
  events = 0;
  readonly print = new PrintOutput({ write: (chunk: Buffer) => { this.printed.push(chunk); return true; } } as unknown as NodeJS.WritableStream);
  private printed: Buffer[] = [];
  private lines: string[] = [];
  exchanges = 0;

  readonly first: HttpSink = {
    request: (req) => this.queue.push(`request ${canon(req)}`),
    exchange: (ex) => {
      this.queue.push(`exchange ${canon(ex)}`);
      this.print.exchange(ex);
      this.lines.push(exchangeLine(ex));
      this.exchanges++;
    },
    lost: (reason, conn, detail) => this.queue.push(`lost ${reason} ${conn.id} ${detail}`),
    notice: (kind, conn, detail) => this.queue.push(`notice ${kind} ${conn.id} ${detail}`),
  };

  readonly second: HttpSink = {
    request: (req: HttpRequest) => this.check(`request ${canon(req)}`),
    exchange: (ex: Exchange) => this.check(`exchange ${canon(ex)}`),
    lost: (reason: RequestLoss, conn: ConnectionInfo, detail: string) => this.check(`lost ${reason} ${conn.id} ${detail}`),
    notice: (kind: NoticeKind, conn: ConnectionInfo, detail: string) => this.check(`notice ${kind} ${conn.id} ${detail}`),
  };

  private check(event: string): void {
    assert.ok(this.next < this.queue.length, `only the second path reported: ${event.slice(0, 2000)}`);
    assert.equal(event, this.queue[this.next++], `event ${this.events}`);
    this.events++;
    if (this.next === this.queue.length) {
      this.queue = [];
      this.next = 0;
    }
  }

  /** After a batch went through both: nothing left unmatched, the lines are the same bytes. */
  settle(): void {
    assert.equal(this.queue.length - this.next, 0, `only the first path reported: ${this.queue.slice(this.next, this.next + 3).join('\n').slice(0, 2000)}`);
    this.print.flush();
    const got = Buffer.concat(this.printed);
    const want = Buffer.from(this.lines.join(''), 'utf8');
    if (!got.equals(want)) {
      const a = got.toString('utf8').split('\n');
      const b = want.toString('utf8').split('\n');
      const k = a.findIndex((line, i) => line !== b[i]);
      assert.fail(`PrintOutput line differs from exchangeLine:\n  got:  ${a[k]}\n  want: ${b[k]}`);
    }
    this.printed = [];
    this.lines = [];
  }
}

/** Every field of a request or exchange, bodies as hex, in a stable order. */
function canon(value: unknown): string {
  return JSON.stringify(value, function (this: unknown, _key, v: unknown) {
    if (v !== null && typeof v === 'object' && (v as { type?: string }).type === 'Buffer' && Array.isArray((v as { data?: unknown }).data)) {
      return `hex:${Buffer.from((v as { data: number[] }).data).toString('hex')}`;
    }
    return v;
  });
}

/** Reads a capture file once, feeding each batch to a fast-heads pipeline and a plain one. */
function readBoth(file: string, o: { serverPorts?: number[]; keepBodies?: boolean } = {}): Promise<{ exchanges: number; events: number; fastHeads: number }> {
  const pair = new PairedSinks();
  const http = { keepRequestBodies: o.keepBodies ?? true, keepResponseBodies: o.keepBodies ?? true, hashBodies: true };
  const tcp = { serverPorts: new Set(o.serverPorts ?? []) };
  const fast = new PacketPipeline(pair.first, { tcp, http: { ...http, fastHeads: true } });
  const plain = new PacketPipeline(pair.second, { tcp, http: { ...http, fastHeads: false } });
  const source = openFile(file);
  const taken = countFastHeads();
  return new Promise((resolve, reject) => {
    source.start((batch, count) => {
      try {
        fast.batch(source.linkType, batch, count);
        plain.batch(source.linkType, batch, count);
        pair.settle();
      } catch (err) {
        source.close();
        reject(err);
      }
    }, (err) => {
      try {
        if (err) throw err;
        fast.finish();
        plain.finish();
        pair.settle();
        assert.deepStrictEqual(fast.stats(), plain.stats(), 'stats');
        resolve({ exchanges: pair.exchanges, events: pair.events, fastHeads: taken() });
      } catch (e) {
        reject(e);
      } finally {
        taken.stop();
      }
    });
  });
}

/** Counts heads the fast path took, from now until stop(). */
function countFastHeads(): (() => number) & { stop(): void } {
  const module = parserModule as unknown as { readOrdinaryHead: typeof parserModule.readOrdinaryHead };
  const original = module.readOrdinaryHead;
  let taken = 0;
  module.readOrdinaryHead = (...args) => {
    const at = original(...args);
    if (at >= 0) taken++;
    return at;
  };
  return Object.assign(() => taken, { stop: () => { module.readOrdinaryHead = original; } });
}

/** The scenarios as one capture file: each conversation on its own client port. */
function scenariosAsFrames(scenarios: Scenario[]): CapturedFrame[] {
  const frames: CapturedFrame[] = [];
  scenarios.forEach((sc, i) => {
    for (const c of sc.conns) {
      const conv = new Conversation({ clientPort: 1024 + (i % 60000), client: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, startUs: 1_700_000_000_000_000 + i * 1000 });
      conv.handshake();
      for (const step of c.steps) {
        if ('send' in step) conv.send(step.send === 'c' ? C2S : S2C, step.data, step.sizes);
      }
      if (c.close !== false) conv.close(C2S);
      frames.push(...conv.frames(conv.segs, LinkType.ETHERNET));
    }
  });
  return frames;
}

describe('http: fast heads give what http-parser-js gives', () => {
  it('crafted heads, whole and split, alone and pipelined (every scenario runs both ways)', () => {
    const taken = countFastHeads();
    try {
      for (const sc of crafted()) runScenario(sc); // newPipeline compares the two paths at finish()
      assert.ok(taken() > 1000, `the fast path was taken ${taken()} times`);
    } finally {
      taken.stop();
    }
  });

  it('1,000 conversations of heads that repeat with line edits (lines taken from the last head)', () => {
    const before = parserModule.headLines.remembered;
    for (const sc of repeating(13, 1000)) runScenario(sc);
    assert.ok(parserModule.headLines.remembered - before > 3000, `lines remembered: ${parserModule.headLines.remembered - before}`);
  });

  it('3,000 randomly mutated conversations', () => {
    for (const sc of mutated(11, 3000)) runScenario(sc);
  });

  it('the same conversations as a capture file, read through both paths; read\'s lines as before', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-fastheads-'));
    try {
      const file = path.join(dir, 'corpus.pcap');
      writePcap(file, LinkType.ETHERNET, scenariosAsFrames([...crafted(), ...mutated(12, 2000), ...repeating(14, 300)]));
      const r = await readBoth(file, { serverPorts: [80] });
      assert.ok(r.exchanges > 2000 && r.fastHeads > 2000, JSON.stringify(r));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  // Captures left by bench runs (bench/out) and any named in SHADOWTAP_PCAPS (colon-separated).
  const root = path.join(__dirname, '..', '..', '..');
  const benchOut = path.join(root, 'bench', 'out');
  const found = [
    ...(fs.existsSync(benchOut) ? fs.readdirSync(benchOut).filter((f) => /\.pcap(ng)?$/.test(f)).map((f) => path.join(benchOut, f)) : []),
    ...(process.env.SHADOWTAP_PCAPS ?? '').split(':').filter(Boolean),
  ];
  for (const file of found) {
    it(`capture ${file}`, async () => {
      const r = await readBoth(file, { keepBodies: false });
      assert.ok(r.events > 0, JSON.stringify(r));
    });
  }
});
