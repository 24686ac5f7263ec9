// Deterministic HTTP servers for the real-traffic tests: a "production" server
// whose behaviour is chosen by the request path, and a recording "shadow".
// Both bind 127.0.0.1:0 and record every request they receive.
import * as crypto from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface RecordedRequest {
  /** Arrival order on this server (0-based, by header arrival). */
  seq: number;
  /** Server-side connection counter (0-based, order of accept). */
  connId: number;
  /** Client's port on that connection (pairs with SentRequest.localPort). */
  remotePort: number;
  method: string;
  /** Request target exactly as received (node's req.url is the raw target). */
  url: string;
  httpVersion: string;
  /** Flat [name, value, name, value, ...] as node gives it: case, order and duplicates kept. */
  rawHeaders: string[];
  /** rawHeaders as pairs. */
  headers: Array<[string, string]>;
  /** Chunked-body trailers, flat like rawHeaders (empty if none). */
  rawTrailers: string[];
  bodySha256: string;
  bodySize: number;
  /** Date.now() when the head arrived / when the body completed (undefined until then). */
  arrivalMs: number;
  endMs?: number;
  /** True once the body has been read completely. */
  complete: boolean;
  /** Status this server answered (production: per path; shadow: always 200). */
  status: number;
}

export interface RecordingServer {
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
  /**
   * Resolves true once at least n requests were received completely (body read),
   * false when timeoutMs elapsed first.
   */
  waitFor(n: number, timeoutMs: number): Promise<boolean>;
}

export const EMPTY_SHA256 = crypto.createHash('sha256').digest('hex');

export function sha256(buf: Buffer | string): string {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

export function pairs(flat: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i], flat[i + 1]]);
  return out;
}

/** Deterministic filler bytes for /big (same n → same bytes). */
export function fillerBytes(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = 0x9e3779b9 ^ n;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

type Responder = (req: http.IncomingMessage, res: http.ServerResponse, body: Buffer, rec: RecordedRequest) => void;

function recordingServer(respond: Responder, host = '127.0.0.1'): Promise<RecordingServer> {
  const requests: RecordedRequest[] = [];
  const sockets = new Set<Socket>();
  const connIds = new WeakMap<Socket, number>();
  let nextConn = 0;
  let completed = 0;
  let waiters: Array<() => void> = [];
  const wake = () => { const w = waiters; waiters = []; for (const f of w) f(); };

  const server = http.createServer({ keepAliveTimeout: 30_000, requestTimeout: 0, headersTimeout: 60_000 });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    connIds.set(s, nextConn++);
    s.on('close', () => sockets.delete(s));
  });
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const rec: RecordedRequest = {
      seq: requests.length,
      connId: connIds.get(req.socket) ?? -1,
      remotePort: req.socket.remotePort ?? -1,
      method: req.method ?? '',
      url: req.url ?? '',
      httpVersion: req.httpVersion,
      rawHeaders: req.rawHeaders.slice(),
      headers: pairs(req.rawHeaders),
      rawTrailers: [],
      bodySha256: EMPTY_SHA256,
      bodySize: 0,
      arrivalMs: Date.now(),
      complete: false,
      status: 0,
    };
    requests.push(rec);
    const chunks: Buffer[] = [];
    const h = crypto.createHash('sha256');
    req.on('data', (c: Buffer) => { chunks.push(c); h.update(c); rec.bodySize += c.length; });
    req.on('end', () => {
      rec.bodySha256 = h.digest('hex');
      rec.rawTrailers = req.rawTrailers.slice();
      rec.endMs = Date.now();
      rec.complete = true;
      completed++;
      wake();
      answerSafely(res, () => respond(req, res, Buffer.concat(chunks), rec));
    });
    req.on('error', () => { /* client vanished; keep what we have */ });
  });
  refuseMalformed(server);

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      const port = (server.address() as AddressInfo).port;
      resolve({
        port,
        requests,
        close: () => new Promise<void>((r) => {
          for (const s of sockets) s.destroy();
          server.close(() => r());
        }),
        waitFor: (n: number, timeoutMs: number) => new Promise<boolean>((r) => {
          if (completed >= n) return r(true);
          const deadline = setTimeout(() => { waiters = waiters.filter((w) => w !== check); r(false); }, timeoutMs);
          const check = () => {
            if (completed >= n) { clearTimeout(deadline); r(true); } else waiters.push(check);
          };
          waiters.push(check);
        }),
      });
    });
  });
}

/**
 * Production server. Behaviour by path (query string ignored unless stated):
 *  - /status/NNN   → status NNN; 204 and 304 have no body, others a small text body.
 *  - /etag         → 304 (no body) if `If-None-Match: "v1"`, else 200 with `ETag: "v1"`.
 *  - /echo         → 200 echoing the request body (Content-Length framed).
 *  - /chunked      → 200, Transfer-Encoding: chunked, body written in 5 pieces.
 *  - /close        → 200 with `Connection: close`, no Content-Length, no chunking:
 *                    body delimited by the server closing the connection.
 *  - /big?n=BYTES  → 200 with exactly n deterministic bytes (fillerBytes(n)).
 *  - anything else → 200 small JSON {"method","url","bodySize"}.
 * `Expect: 100-continue` is handled by node's default (no 'checkContinue' listener):
 * it writes "HTTP/1.1 100 Continue" immediately, then the final answer comes after the body.
 */
/** Runs a request handler: a throw becomes a 500, or a reset once the headers went out. */
export function answerSafely(res: http.ServerResponse, handle: () => void): void {
  try {
    handle();
  } catch (e) {
    if (!res.headersSent) { res.statusCode = 500; res.end(String(e)); } else res.destroy();
  }
}

/** Malformed requests get a 400 and a close (a test server must not just drop them). */
export function refuseMalformed(server: http.Server): void {
  server.on('clientError', (_err, socket: Socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });
}

export function startProduction(host = '127.0.0.1'): Promise<RecordingServer> {
  return recordingServer((req, res, body, rec) => {
    const url = req.url ?? '/';
    const qpos = url.indexOf('?');
    const path = qpos >= 0 ? url.slice(0, qpos) : url;
    const query = new URLSearchParams(qpos >= 0 ? url.slice(qpos + 1) : '');
    res.setHeader('X-Prod-Seq', String(rec.seq));
    let m: RegExpExecArray | null;
    if ((m = /^\/status\/([1-5]\d\d)$/.exec(path)) && Number(m[1]) >= 200) {
      const code = Number(m[1]);
      rec.status = code;
      res.statusCode = code;
      if (code === 204 || code === 304) { res.end(); return; }
      res.setHeader('Content-Type', 'text/plain');
      res.end(`status ${code}\n`);
      return;
    }
    if (path === '/etag') {
      if (req.headers['if-none-match'] === '"v1"') {
        rec.status = 304;
        res.statusCode = 304;
        res.setHeader('ETag', '"v1"');
        res.end();
        return;
      }
      rec.status = 200;
      res.setHeader('ETag', '"v1"');
      res.setHeader('Content-Type', 'text/plain');
      res.end('etag body v1\n');
      return;
    }
    if (path === '/echo') {
      rec.status = 200;
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', String(body.length));
      res.end(body);
      return;
    }
    if (path === '/chunked') {
      rec.status = 200;
      res.setHeader('Content-Type', 'text/plain');
      res.setHeader('Transfer-Encoding', 'chunked');
      for (let i = 0; i < 4; i++) res.write(`chunk ${i} of ${url}\n`);
      res.end('last chunk\n');
      return;
    }
    if (path === '/close') {
      // HTTP/1.0-style: no Content-Length, no chunking, end of body = connection close.
      rec.status = 200;
      res.useChunkedEncodingByDefault = false;
      res.shouldKeepAlive = false;
      res.writeHead(200, { 'Content-Type': 'text/plain', Connection: 'close' });
      res.write(`closing after this body (${url})\n`);
      res.end('bye\n');
      return;
    }
    if (path === '/big') {
      const n = Math.max(0, Math.min(64 * 1024 * 1024, Number(query.get('n') ?? '0') | 0));
      rec.status = 200;
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', String(n));
      res.end(fillerBytes(n));
      return;
    }
    rec.status = 200;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url, bodySize: body.length }) + '\n');
  }, host);
}

/**
 * Shadow server: records every request (method, raw target, rawHeaders with case/order/dups,
 * trailers, body sha256/size, arrival time) and answers every request `200 ok`
 * (Content-Length: 2; HEAD gets no body), whatever the path.
 */
export function startShadow(host = '127.0.0.1'): Promise<RecordingServer> {
  return recordingServer((_req, res, _body, rec) => {
    rec.status = 200;
    res.setHeader('Content-Type', 'text/plain');
    res.end('ok');
  }, host);
}

/** Case-insensitive lookup of the first header value in a [name, value] list. */
export function headerValue(headers: Array<[string, string]>, name: string): string | undefined {
  const lname = name.toLowerCase();
  for (const [n, v] of headers) if (n.toLowerCase() === lname) return v;
  return undefined;
}
