// Real node:http2 shadows for the HTTP/2 replay tests (h2c, or TLS with a CA made by openssl),
// recording every stream as it arrived, and requests built as the HTTP/2 analyzer builds them.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HttpRequest } from '../../src/http';
import { Replayer, ShadowResponse } from '../../src/replay';
import { fakeConnection } from '../support/requests';
import { haveTool } from '../support/tools';

export interface SeenStream {
  /** Server-side session number (0-based, order of accept). */
  session: number;
  streamId: number;
  /** The fields as received: pseudo-headers first, then the regular ones, in order. */
  raw: string[];
  method: string;
  path: string;
  authority: string;
  scheme: string;
  /** Regular fields only, flat. */
  fields: string[];
  body: Buffer;
  trailers: string[];
  /** The request ended (END_STREAM seen). */
  complete: boolean;
  /** HTTP version of the request (TLS shadows may allow HTTP/1.1 too). */
  version: string;
}

export interface H2Shadow {
  origin: string;
  port: number;
  seen: SeenStream[];
  sessions: () => number;
  /** The most streams open at once on one session. */
  peakStreams: () => number;
  /** Streams the client reset (RST_STREAM from the replayer), by code. */
  clientResets: number[];
  server: http2.Http2Server | http2.Http2SecureServer;
  close(): Promise<void>;
}

/** How a shadow answers a complete request; return false to leave the stream alone. */
export type Answer = (stream: http2.ServerHttp2Stream, seen: SeenStream, session: http2.ServerHttp2Session) => boolean | void;

/** The default answer: 200, x-path and an echo of the path and body size, trailers if asked. */
export const echo: Answer = (stream, seen) => {
  const wantTrailers = seen.path.startsWith('/trailers');
  stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-path': seen.path, 'x-twice': ['a', 'b'] }, { waitForTrailers: wantTrailers });
  if (wantTrailers) stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' }));
  stream.end(`${seen.path} ${seen.body.length}`);
};

export async function startH2Shadow(opts: {
  answer?: Answer; settings?: http2.Settings; tls?: { key: Buffer; cert: Buffer }; allowHTTP1?: boolean;
} = {}): Promise<H2Shadow> {
  const answer = opts.answer ?? echo;
  const seen: SeenStream[] = [];
  const sessionIds = new WeakMap<http2.ServerHttp2Session, number>();
  const open = new Map<number, number>();
  const sessions = new Set<http2.ServerHttp2Session>();
  let sessionCount = 0;
  let peak = 0;
  const clientResets: number[] = [];
  const serverOptions = { settings: opts.settings ?? {}, maxHeaderListPairs: 4096, maxSessionMemory: 64 };
  const server = opts.tls !== undefined
    ? http2.createSecureServer({ ...serverOptions, key: opts.tls.key, cert: opts.tls.cert, allowHTTP1: opts.allowHTTP1 ?? false })
    : http2.createServer(serverOptions);
  const sockets = new Set<Socket>();
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('secureConnection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('session', (s: http2.ServerHttp2Session) => {
    sessionIds.set(s, sessionCount++);
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => {});
  });
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
    const session = sessionIds.get(stream.session as http2.ServerHttp2Session) ?? -1;
    const now = (open.get(session) ?? 0) + 1;
    open.set(session, now);
    peak = Math.max(peak, now);
    const fields: string[] = [];
    for (let i = 0; i < raw.length; i += 2) if (raw[i][0] !== ':') fields.push(raw[i], raw[i + 1]);
    const rec: SeenStream = {
      session, streamId: stream.id ?? 0, raw, method: String(headers[':method']), path: String(headers[':path']),
      authority: String(headers[':authority']), scheme: String(headers[':scheme']), fields, body: Buffer.alloc(0),
      trailers: [], complete: false, version: '2.0',
    };
    seen.push(rec);
    const chunks: Buffer[] = [];
    stream.on('error', () => {});
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', (_h: unknown, _f: number, rawTrailers: string[]) => { rec.trailers = rawTrailers; });
    // Reset by the client ('aborted': before this side ended its answer).
    let aborted = false;
    stream.on('aborted', () => { aborted = true; });
    stream.on('close', () => {
      open.set(session, (open.get(session) ?? 1) - 1);
      if (aborted) clientResets.push(stream.rstCode);
    });
    stream.on('end', () => {
      rec.body = Buffer.concat(chunks);
      rec.complete = true;
      answer(stream, rec, stream.session as http2.ServerHttp2Session);
    });
  });
  // A TLS shadow that also speaks HTTP/1.1 (allowHTTP1): its requests are recorded too. (Only
  // then: node's compatibility layer would also answer HTTP/2 streams' trailers.)
  if (opts.allowHTTP1 === true) server.on('request', (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    if (req.httpVersion === '2.0') return;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fields = req.rawHeaders;
      seen.push({
        session: -1, streamId: 0, raw: fields, method: req.method, path: req.url, authority: req.headers.host ?? '',
        scheme: 'https', fields, body: Buffer.concat(chunks), trailers: req.rawTrailers, complete: true, version: req.httpVersion,
      });
      res.setHeader('x-path', req.url);
      res.end(`${req.url} ${Buffer.concat(chunks).length}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    origin: `${opts.tls !== undefined ? 'https' : 'http'}://127.0.0.1:${port}`, port, seen, server, clientResets,
    sessions: () => sessionCount, peakStreams: () => peak,
    close: () => {
      for (const s of sessions) s.destroy();
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A request as the HTTP/2 analyzer hands it over: version 2.0, :authority first as `host`. */
export function h2Request(url: string, opts: {
  method?: string; authority?: string; fields?: string[]; body?: Buffer | null; trailers?: string[]; streamId?: number; connId?: number;
} = {}): HttpRequest {
  const body = opts.body ?? null;
  return {
    id: nextId++, conn: fakeConnection(opts.connId ?? 7), index: 0, method: opts.method ?? 'GET', url,
    versionMajor: 2, versionMinor: 0, headers: ['host', opts.authority ?? 'prod.example', ...(opts.fields ?? [])],
    trailers: opts.trailers ?? [], body, bodySize: body?.length ?? 0, bodyTruncated: false, bodySha256: null, chunked: false,
    startUs: 0, endUs: 0, h2: { streamId: opts.streamId ?? 1, scheme: 'https' },
  };
}
let nextId = 1_000_000;

export type Result = { outcome: string; r: ShadowResponse };

/** Submits `req`; resolves with its outcome and the (single) target's answer. A second
 * settlement of the same request fails the test. */
export function replay(replayer: Replayer, req: HttpRequest): Promise<Result> {
  let settled = false;
  return new Promise((resolve) => replayer.submit(req, (outcome, responses) => {
    assert.equal(settled, false, `${req.method} ${req.url} settled twice`);
    settled = true;
    resolve({ outcome, r: responses[0] });
  }));
}

/** A self-signed certificate for 127.0.0.1 and localhost, made by openssl in a temporary
 * directory (removed by `cleanup`); null without openssl. */
export function selfSigned(): { key: Buffer; cert: Buffer; ca: string; cleanup: () => void } | null {
  if (!haveTool('openssl')) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-h2-tls-'));
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=shadowtap h2 test', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
  const out = { key: fs.readFileSync(key), cert: fs.readFileSync(cert), ca: fs.readFileSync(cert, 'latin1') };
  return { ...out, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The regular fields of a seen stream as pairs. */
export function fieldPairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}
