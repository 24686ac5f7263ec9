// Helpers for the h2 tests: HTTP/2 frames written by hand, and a capture file read in this
// process through the real pipeline (for what `read` does not print: trailers, h2 fields).
import * as crypto from 'node:crypto';
import * as http2 from 'node:http2';
import { PacketPipeline } from '../../src/pipeline';
import { openFile } from '../../src/capture';
import type { Exchange, HttpOptions, HttpRequest, HttpSink, NoticeKind, RequestLoss } from '../../src/http';
import type { ConnectionInfo } from '../../src/model';
import type { PipelineStats } from '../../src/pipeline/packets';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** One frame: 9-byte header and payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer | number[] = []): Buffer {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const head = Buffer.alloc(9);
  head.writeUIntBE(body.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, body]);
}

export const DATA = 0, HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, PUSH_PROMISE = 5, GOAWAY = 7, CONTINUATION = 9;
export const END_STREAM = 1, END_HEADERS = 4, PADDED = 8;

/** SETTINGS with the given (id, value) pairs. */
export function settings(pairs: Array<[number, number]> = []): Buffer {
  const payload = Buffer.alloc(6 * pairs.length);
  pairs.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(SETTINGS, 0, 0, payload);
}

/** An HPACK integer with an N-bit prefix, the first byte's other bits set to `high`. */
export function hpackInt(value: number, prefixBits: number, high = 0): number[] {
  const max = (1 << prefixBits) - 1;
  if (value < max) return [high | value];
  const out = [high | max];
  value -= max;
  while (value >= 128) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/** Fields as HPACK literals without indexing (names and values plain): no table involved. */
export function literalBlock(fields: Array<[string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    out.push(0x00, ...hpackInt(name.length, 7), ...Buffer.from(name, 'latin1'));
    out.push(...hpackInt(value.length, 7), ...Buffer.from(value, 'latin1'));
  }
  return Buffer.from(out);
}

/** The same with incremental indexing (each field enters the dynamic table). */
export function indexedLiteralBlock(fields: Array<[string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    out.push(0x40, ...hpackInt(name.length, 7), ...Buffer.from(name, 'latin1'));
    out.push(...hpackInt(value.length, 7), ...Buffer.from(value, 'latin1'));
  }
  return Buffer.from(out);
}

export function requestBlock(method: string, path: string, extra: Array<[string, string]> = []): Buffer {
  return literalBlock([[':method', method], [':scheme', 'http'], [':path', path], [':authority', 'h2.test'], ...extra]);
}

export function responseBlock(status: number, extra: Array<[string, string]> = []): Buffer {
  return literalBlock([[':status', String(status)], ...extra]);
}

export interface InProcessRead {
  requests: HttpRequest[];
  exchanges: Exchange[];
  losses: Array<{ reason: RequestLoss; detail: string }>;
  notices: Array<{ kind: NoticeKind; detail: string }>;
  stats: PipelineStats;
  /** Bytes still reported to the messages share once the file is read (0: all released). */
  messagesHeld: number;
}

/** Reads `file` through the capture, tcp and http stages in this process. */
export function readInProcess(file: string, http: Partial<HttpOptions> = {}): Promise<InProcessRead> {
  const out: InProcessRead = { requests: [], exchanges: [], losses: [], notices: [], stats: null as unknown as PipelineStats, messagesHeld: 0 };
  const sink: HttpSink = {
    request: (req) => { out.requests.push(req); },
    exchange: (ex) => { out.exchanges.push(ex); },
    lost: (reason: RequestLoss, _conn: ConnectionInfo, detail: string) => { out.losses.push({ reason, detail }); },
    notice: (kind: NoticeKind, _conn: ConnectionInfo, detail: string) => { out.notices.push({ kind, detail }); },
  };
  const pipeline = new PacketPipeline(sink, { http: { keepRequestBodies: true, keepResponseBodies: true, hashBodies: true, ...http } });
  const source = openFile(file);
  return new Promise((resolve, reject) => {
    source.start((batch, count) => {
      pipeline.batch(source.linkType, batch, count);
    }, (err) => {
      if (err) return reject(err);
      pipeline.finish();
      out.stats = pipeline.stats();
      out.messagesHeld = pipeline.http.messages.used;
      resolve(out);
    });
  });
}

/** What an h2c production received for one request: method, path, regular fields in order
 * (name, value, …; cookies split over several fields joined, as a capture reports them) and
 * the body's sha256. */
export interface AtProduction { method: string; path: string; fields: string[]; bodySha256: string }

/** A node:http2 (h2c) production on 127.0.0.1 answering 200 "ok", keeping what each request
 * carried by its x-request-id. */
export async function startH2Production(): Promise<{ port: number; atProduction: Map<string, AtProduction>; close(): void }> {
  const server = http2.createServer();
  const atProduction = new Map<string, AtProduction>();
  server.on('stream', (stream: http2.ServerHttp2Stream, _headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const fields: string[] = [];
      for (let i = 0; i < raw.length; i += 2) {
        if (raw[i].startsWith(':')) continue;
        const cookie = raw[i] === 'cookie' ? fields.indexOf('cookie') : -1;
        if (cookie >= 0) fields[cookie + 1] += `; ${raw[i + 1]}`;
        else fields.push(raw[i], raw[i + 1]);
      }
      const get = (n: string): string => raw[raw.indexOf(n) + 1];
      const bodySha256 = crypto.createHash('sha256').update(Buffer.concat(chunks)).digest('hex');
      atProduction.set(get('x-request-id'), { method: get(':method'), path: get(':path'), fields, bodySha256 });
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  return { port, atProduction, close: () => server.close() };
}

/** `count` requests over two multiplexed h2c connections, 8 streams each at a time: GETs and
 * POSTs (JSON bodies of growing size), an x-request-id, a cookie split over two fields, and
 * `extra` fields. */
export async function driveH2(port: number, count: number, extra: Record<string, string> = {}): Promise<void> {
  const sessions = [http2.connect(`http://127.0.0.1:${port}`), http2.connect(`http://127.0.0.1:${port}`)];
  let next = 0;
  const one = (s: http2.ClientHttp2Session, i: number): Promise<void> => new Promise((resolve, reject) => {
    const post = i % 2 === 1;
    const req = s.request({
      ':method': post ? 'POST' : 'GET', ':path': `/m/${i}?p=${i % 7}`, 'x-request-id': String(i), 'accept-language': 'en',
      cookie: [`a=${i}`, 'b=2'], ...extra, ...(post ? { 'content-type': 'application/json' } : {}),
    }, { endStream: !post });
    req.on('error', reject);
    req.resume();
    req.on('end', () => resolve());
    if (post) req.end(JSON.stringify({ i, pad: 'x'.repeat(i * 13) }));
  });
  await Promise.all(sessions.flatMap((s) => Array.from({ length: 8 }, async () => {
    for (let i = next++; i < count; i = next++) await one(s, i);
  })));
  await Promise.all(sessions.map((s) => new Promise<void>((r) => s.close(() => r()))));
}
