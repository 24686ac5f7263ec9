// A deterministic, varied HTTP/1.x client mix written on raw `net` sockets, so the
// bytes on the wire (framing, header case/order, pipelining, splits) are exactly
// what we planned. Responses are framed by a minimal HTTP/1.x response reader.
import * as crypto from 'node:crypto';
import * as net from 'node:net';
import { EMPTY_SHA256 } from './servers';
import { rng } from './packets';

export type Header = [string, string];

export interface SentRequest {
  /** Unique id, also sent as the `X-Request-Id` header value. */
  id: string;
  /** Connection index in the plan (0-based) and position within that connection. */
  conn: number;
  seqInConn: number;
  /** Client-side port of the connection (pairs with RecordedRequest.remotePort, tcp.srcport). */
  localPort: number;
  method: string;
  /** Request target exactly as written on the wire. */
  target: string;
  httpVersion: '1.0' | '1.1';
  /** Header fields exactly as sent: order, case and duplicates kept. */
  headers: Header[];
  /** Chunked trailer fields as sent (empty unless framing is chunked with trailers). */
  trailers: Header[];
  framing: 'none' | 'content-length' | 'chunked';
  /** Body as the application sees it (de-chunked). */
  bodySize: number;
  bodySha256: string;
  expectContinue: boolean;
  /** Written in the same write() as other requests before reading their responses. */
  pipelined: boolean;
  /** Wire bytes were written in several separate write() calls. */
  splitWrites: boolean;
  /** Final status received (interim 1xx excluded) and any interim statuses seen before it. */
  status: number;
  interim: number[];
  responseHeaders: Header[];
  responseBodySize: number;
  responseBodySha256: string;
  /** Response body delimited by connection close. */
  responseCloseDelimited: boolean;
  sentAtMs: number;
  answeredAtMs: number;
}

export interface MixOptions {
  /** Exact number of requests to send (≥ 1). */
  count: number;
  seed: number;
  /** Number of connections; default max(8, ceil(count / 50)). */
  connections?: number;
  /** How many connections run at once; default 6. */
  concurrency?: number;
  /** How many 1 MiB uploads to include; default 4. */
  bigUploads?: number;
  /** Host header value; default `127.0.0.1:<port>`. */
  host?: string;
  /** Server address; default 127.0.0.1. */
  address?: string;
  /** Per-connection timeout; default 30 s. */
  connTimeoutMs?: number;
}

// ---------------------------------------------------------------------------
// PRNG and deterministic bytes


class Rng {
  private r: () => number;
  constructor(seed: number) { this.r = rng(seed); }
  next(): number { return this.r(); }
  int(lo: number, hi: number): number { return lo + Math.floor(this.r() * (hi - lo + 1)); }
  chance(p: number): boolean { return this.r() < p; }
  pick<T>(xs: readonly T[]): T { return xs[Math.floor(this.r() * xs.length)]; }
  hex(n: number): string { let s = ''; for (let i = 0; i < n; i++) s += '0123456789abcdef'[this.int(0, 15)]; return s; }
  weighted<T>(items: ReadonlyArray<readonly [number, T]>): T {
    const total = items.reduce((s, [w]) => s + w, 0);
    let x = this.r() * total;
    for (const [w, v] of items) { if ((x -= w) < 0) return v; }
    return items[items.length - 1][1];
  }
}

function bodyBytes(rng: Rng, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let x = (Math.floor(rng.next() * 0xffffffff) | 1) >>> 0;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

// ---------------------------------------------------------------------------
// Plan

interface Planned {
  id: string;
  conn: number;
  seqInConn: number;
  method: string;
  target: string;
  version: '1.0' | '1.1';
  headers: Header[];
  trailers: Header[];
  framing: 'none' | 'content-length' | 'chunked';
  body: Buffer;
  chunkSizes: number[];
  chunkExt: boolean;
  expectContinue: boolean;
  /** Server is expected to close the connection after answering. */
  closes: boolean;
  pipelined: boolean;
  /** Offsets into the wire bytes where the write is split (empty = one write). */
  splits: number[];
}

type Step =
  | { kind: 'single'; req: Planned }
  | { kind: 'pipeline'; reqs: Planned[] }
  | { kind: 'expect'; req: Planned };

interface ConnPlan { conn: number; steps: Step[] }

// Odd but legal request targets (RFC 3986 pchar / query chars, percent-encodings).
const ODD_TARGETS = [
  '/search?q=hello%20world&lang=en-US',
  "/search?q=a+b&sym=!$'()*,;=:@/?~-._",
  '/p;matrix=1;v=2/q?x=%E2%9C%93&y=',
  '/a//b/./c/../d?=&&=',
  '/items?sort=-created&fields=a,b,c&filter%5Bname%5D=x%26y',
  '/x?',
  '/x?flag',
  '/~user/file.name_with-chars~1.txt?v=1.2.3',
  '/pct?q=%25%2525%00%ff&plus=%2B',
  '/api/v1/items/42/?trailing=slash',
  "/sub-delims/!$&'()*+,;=/x?a=(1)&b=*",
  '/colon:at@/path?time=12:30:00&mail=a@b.c',
  '/%7Euser/%E6%97%A5%E6%9C%AC?%E3%81%82=%E3%81%84',
];

const STATUS_CODES = [200, 201, 202, 204, 204, 304, 304, 301, 302, 400, 401, 403, 404, 404, 409, 410, 418, 500, 502, 503];

type Kind =
  | 'get' | 'getOdd' | 'status' | 'etag' | 'chunkedResp' | 'big' | 'head' | 'delete' | 'options'
  | 'postEcho' | 'put' | 'patch' | 'postChunked' | 'postChunkedTrailers' | 'postEmpty';

const KINDS: ReadonlyArray<readonly [number, Kind]> = [
  [14, 'get'], [8, 'getOdd'], [6, 'status'], [5, 'etag'], [4, 'chunkedResp'], [3, 'big'],
  [6, 'head'], [4, 'delete'], [3, 'options'], [6, 'postEcho'], [4, 'put'], [4, 'patch'],
  [4, 'postChunked'], [3, 'postChunkedTrailers'], [1, 'postEmpty'],
];

class Planner {
  constructor(private rng: Rng, private host: string, private seed: number) {}

  private baseHeaders(id: string, version: '1.0' | '1.1'): Header[] {
    const r = this.rng;
    const h: Header[] = [];
    const ua: Header = ['User-Agent', r.pick(['shadowtap-mix/1.0', 'curl/8.5.0', 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101'])];
    if (r.chance(0.85)) { h.push(['Host', this.host], ua); } else { h.push(ua, ['Host', this.host]); }
    h.push(['Accept', r.pick(['*/*', 'application/json', 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8'])]);
    h.push([r.pick(['X-Request-Id', 'x-request-id', 'X-REQUEST-ID']), id]);
    if (r.chance(0.3)) h.push(['Accept-Encoding', 'gzip, deflate, br']);
    if (r.chance(0.25)) h.push(['X-Trace-ID', r.hex(16)]);
    if (r.chance(0.2)) h.push(['x-lower-case-header', 'lower value']);
    if (r.chance(0.15)) h.push(['X-MiXeD-CaSe', 'Mixed  Value\twith tab']);
    if (r.chance(0.15)) h.push(['X-Dup', 'first'], ['Accept-Language', 'en-US,en;q=0.5'], ['X-Dup', 'second']);
    if (r.chance(0.15)) h.push(['Cookie', `session=${r.hex(12)}; theme=dark`]);
    if (r.chance(0.1)) h.push(['Authorization', `Bearer ${r.hex(24)}`]);
    if (r.chance(0.03)) h.push(['X-Empty', '']);
    if (version === '1.1') {
      // Hop-by-hop variety (the mirror must drop these, and headers named in Connection).
      const hop = r.next();
      if (hop < 0.10) h.push(['Connection', 'keep-alive']);
      else if (hop < 0.15) h.push(['Connection', 'keep-alive, X-Hop-Secret'], ['X-Hop-Secret', 's3cr3t']);
      else if (hop < 0.18) h.push(['Connection', 'keep-alive'], ['Keep-Alive', 'timeout=30, max=1000']);
      else if (hop < 0.21) h.push(['TE', 'trailers'], ['Connection', 'TE']);
      else if (hop < 0.23) h.push(['Proxy-Connection', 'keep-alive']);
    }
    return h;
  }

  private make(conn: number, seq: number, kind: Kind): Planned {
    const r = this.rng;
    const id = `s${this.seed}-c${conn}-r${seq}`;
    const p: Planned = {
      id, conn, seqInConn: seq, method: 'GET', target: '/', version: '1.1', headers: [], trailers: [],
      framing: 'none', body: Buffer.alloc(0), chunkSizes: [], chunkExt: false, expectContinue: false,
      closes: false, pipelined: false, splits: [],
    };
    const n = r.int(1, 99999);
    const extra: Header[] = [];
    switch (kind) {
      case 'get': p.target = r.chance(0.5) ? `/api/v1/items/${n}` : `/api/v1/items?page=${r.int(1, 50)}&limit=${r.pick([10, 25, 100])}`; break;
      case 'getOdd': p.target = r.pick(ODD_TARGETS); break;
      case 'status': p.target = `/status/${r.pick(STATUS_CODES)}`; break;
      case 'etag':
        p.target = '/etag';
        if (r.chance(0.6)) extra.push(['If-None-Match', '"v1"']);
        break;
      case 'chunkedResp': p.target = `/chunked?part=${n}`; break;
      case 'big': p.target = `/big?n=${r.pick([0, 1, 1000, 16384, 65536, 100000, r.int(1, 200000)])}`; break;
      case 'head':
        p.method = 'HEAD';
        p.target = r.pick([`/api/v1/items/${n}`, '/chunked', `/big?n=${r.int(0, 100000)}`, '/etag', '/status/204', '/status/404']);
        break;
      case 'delete': p.method = 'DELETE'; p.target = `/api/v1/items/${n}`; break;
      case 'options':
        p.method = 'OPTIONS'; p.target = r.pick(['/api/v1/items', `/api/v1/items/${n}`]);
        if (r.chance(0.5)) extra.push(['Access-Control-Request-Method', 'PUT'], ['Origin', 'http://example.test']);
        break;
      case 'postEcho':
        p.method = 'POST'; p.target = '/echo';
        p.framing = 'content-length'; p.body = bodyBytes(r, r.int(1, 4096));
        extra.push(['Content-Type', 'application/octet-stream']);
        break;
      case 'put':
        p.method = 'PUT'; p.target = `/upload/${n}`;
        p.framing = 'content-length'; p.body = bodyBytes(r, r.int(1, 65536));
        extra.push(['Content-Type', 'application/octet-stream']);
        break;
      case 'patch': {
        p.method = 'PATCH'; p.target = `/api/v1/items/${n}`;
        p.framing = 'content-length';
        p.body = Buffer.from(JSON.stringify({ op: 'replace', path: '/name', value: `item-${n}`, pad: 'x'.repeat(r.int(0, 300)) }));
        extra.push(['Content-Type', 'application/json-patch+json']);
        break;
      }
      case 'postChunked':
      case 'postChunkedTrailers':
        p.method = r.pick(['POST', 'POST', 'PUT']); p.target = r.chance(0.5) ? '/echo' : `/ingest/${n}`;
        p.framing = 'chunked'; p.body = bodyBytes(r, r.int(0, 20000));
        p.chunkExt = r.chance(0.15);
        extra.push(['Content-Type', 'application/octet-stream']);
        if (kind === 'postChunkedTrailers') {
          extra.push(['Trailer', 'X-Checksum, X-Count']);
          p.trailers = [['X-Checksum', crypto.createHash('md5').update(p.body).digest('hex')], ['X-Count', String(p.body.length)]];
        }
        break;
      case 'postEmpty':
        p.method = 'POST'; p.target = `/api/v1/ping?n=${n}`;
        p.framing = 'content-length';
        break;
    }
    p.headers = this.baseHeaders(id, p.version);
    p.headers.push(...extra);
    this.addFraming(p);
    return p;
  }

  private addFraming(p: Planned): void {
    if (p.framing === 'content-length') {
      p.headers.push([this.rng.pick(['Content-Length', 'content-length']), String(p.body.length)]);
    } else if (p.framing === 'chunked') {
      p.headers.push(['Transfer-Encoding', 'chunked']);
      let left = p.body.length;
      while (left > 0) {
        const c = Math.min(left, this.rng.pick([1, 7, 100, 1000, 4096, 8192, 16000]));
        p.chunkSizes.push(c);
        left -= c;
      }
    }
  }

  /** A request the server answers and then closes the connection after. */
  private closing(conn: number, seq: number): Planned {
    const r = this.rng;
    if (r.chance(0.5)) {
      // HTTP/1.0 with Connection: close (sometimes with a body).
      const id = `s${this.seed}-c${conn}-r${seq}`;
      const withBody = r.chance(0.3);
      const p: Planned = {
        id, conn, seqInConn: seq, method: withBody ? 'POST' : 'GET',
        target: withBody ? '/legacy/form' : r.pick([`/legacy/page?id=${r.int(1, 999)}`, '/status/404', `/big?n=${r.int(0, 5000)}`]),
        version: '1.0', headers: [], trailers: [], framing: withBody ? 'content-length' : 'none',
        body: withBody ? Buffer.from(`a=1&b=${r.hex(8)}&c=%20`) : Buffer.alloc(0),
        chunkSizes: [], chunkExt: false, expectContinue: false, closes: true, pipelined: false, splits: [],
      };
      p.headers = this.baseHeaders(id, '1.0');
      if (withBody) p.headers.push(['Content-Type', 'application/x-www-form-urlencoded']);
      p.headers.push(['Connection', 'close']);
      this.addFraming(p);
      return p;
    }
    // HTTP/1.1 request to /close: answer delimited by connection close.
    const p = this.make(conn, seq, 'get');
    p.target = `/close?c=${conn}`;
    p.closes = true;
    return p;
  }

  private big(conn: number, seq: number, which: number): Step {
    const mode = (['content-length', 'chunked', 'expect', 'echo'] as const)[which % 4];
    const p = this.make(conn, seq, 'put');
    p.body = bodyBytes(this.rng, 1024 * 1024);
    p.headers = p.headers.filter(([n]) => !/^(content-length|transfer-encoding|trailer)$/i.test(n));
    p.chunkSizes = [];
    if (mode === 'chunked') {
      p.method = 'POST'; p.target = `/bulk/${which}`; p.framing = 'chunked';
    } else {
      p.framing = 'content-length';
      if (mode === 'echo') { p.method = 'POST'; p.target = '/echo'; }
      if (mode === 'expect') { p.target = `/upload/big-${which}`; }
    }
    this.addFraming(p);
    if (mode === 'expect') {
      p.expectContinue = true;
      p.headers.push(['Expect', '100-continue']);
      return { kind: 'expect', req: p };
    }
    return { kind: 'single', req: p };
  }

  plan(count: number, nConns: number, bigUploads: number): ConnPlan[] {
    const r = this.rng;
    const conns: ConnPlan[] = [];
    const quotas: number[] = [];
    for (let c = 0; c < nConns; c++) quotas.push(Math.floor(count / nConns) + (c < count % nConns ? 1 : 0));
    const bigAt = new Map<number, number[]>();
    for (let i = 0; i < bigUploads; i++) {
      const c = Math.floor((i * nConns) / Math.max(1, bigUploads)) % nConns;
      bigAt.set(c, [...(bigAt.get(c) ?? []), i]);
    }
    for (let c = 0; c < nConns; c++) {
      const quota = quotas[c];
      const steps: Step[] = [];
      let seq = 0;
      const ending = c % 8 === 3 || c % 8 === 6 ? 'closing' : 'client';
      const room = () => quota - seq - (ending === 'closing' ? 1 : 0);
      const bigs = bigAt.get(c) ?? [];
      while (room() > 0) {
        if (bigs.length && seq >= 1) { steps.push(this.big(c, seq++, bigs.shift()!)); continue; }
        const x = r.next();
        if (x < 0.22 && room() >= 2) {
          const k = Math.min(room(), r.int(2, 8));
          const reqs: Planned[] = [];
          for (let i = 0; i < k; i++) {
            const q = this.make(c, seq++, r.weighted(KINDS));
            q.pipelined = true;
            reqs.push(q);
          }
          steps.push({ kind: 'pipeline', reqs });
        } else if (x < 0.27) {
          const q = this.make(c, seq++, r.pick(['postEcho', 'put'] as const));
          q.expectContinue = true;
          q.headers.push(['Expect', '100-continue']);
          steps.push({ kind: 'expect', req: q });
        } else {
          const q = this.make(c, seq++, r.weighted(KINDS));
          steps.push({ kind: 'single', req: q });
        }
      }
      if (ending === 'closing' && seq < quota) steps.push({ kind: 'single', req: this.closing(c, seq++) });
      // Some single requests are written in several pieces (split inside head and/or body).
      for (const s of steps) {
        if (s.kind === 'single' && r.chance(0.15)) {
          const len = wireHead(s.req).length + wireBody(s.req).length;
          const k = r.int(1, 3);
          const pts = new Set<number>();
          for (let i = 0; i < k; i++) pts.add(r.int(1, Math.max(1, len - 1)));
          s.req.splits = [...pts].filter((v) => v > 0 && v < len).sort((a, b) => a - b);
        }
      }
      conns.push({ conn: c, steps });
    }
    return conns;
  }
}

function wireHead(p: Planned): Buffer {
  let s = `${p.method} ${p.target} HTTP/${p.version}\r\n`;
  for (const [n, v] of p.headers) s += `${n}: ${v}\r\n`;
  s += '\r\n';
  return Buffer.from(s, 'latin1');
}

function wireBody(p: Planned): Buffer {
  if (p.framing === 'content-length') return p.body;
  if (p.framing !== 'chunked') return Buffer.alloc(0);
  const parts: Buffer[] = [];
  let off = 0;
  for (const c of p.chunkSizes) {
    parts.push(Buffer.from(`${c.toString(16)}${p.chunkExt ? ';ext=1;name="v"' : ''}\r\n`, 'latin1'));
    parts.push(p.body.subarray(off, off + c), Buffer.from('\r\n'));
    off += c;
  }
  let end = '0\r\n';
  for (const [n, v] of p.trailers) end += `${n}: ${v}\r\n`;
  end += '\r\n';
  parts.push(Buffer.from(end, 'latin1'));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------
// Minimal HTTP/1.x response reader

interface Response {
  version: string;
  status: number;
  headers: Header[];
  body: Buffer;
  closeDelimited: boolean;
  /** The server will close the connection after this response. */
  closes: boolean;
}

class Reader {
  private chunks: Buffer[] = [];
  private len = 0;
  private ended = false;
  private error: Error | null = null;
  private waiter: (() => void) | null = null;

  constructor(sock: net.Socket) {
    sock.on('data', (d: Buffer) => { this.chunks.push(d); this.len += d.length; this.wake(); });
    sock.on('end', () => { this.ended = true; this.wake(); });
    sock.on('close', () => { this.ended = true; this.wake(); });
    sock.on('error', (e) => { this.error = e; this.wake(); });
  }

  private wake(): void { const w = this.waiter; this.waiter = null; if (w) w(); }

  private async more(): Promise<boolean> {
    if (this.error) throw this.error;
    if (this.ended) return false;
    await new Promise<void>((r) => { this.waiter = r; });
    if (this.error) throw this.error;
    return true;
  }

  private compact(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks, this.len)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private take(n: number): Buffer {
    const b = this.compact();
    const out = b.subarray(0, n);
    const rest = b.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.len = rest.length;
    return out;
  }

  async line(): Promise<string> {
    for (;;) {
      const b = this.compact();
      const i = b.indexOf('\r\n');
      if (i >= 0) { const l = this.take(i + 2); return l.subarray(0, i).toString('latin1'); }
      if (!(await this.more())) throw new Error(`connection ended inside a line (${this.len} bytes pending)`);
    }
  }

  async exact(n: number): Promise<Buffer> {
    while (this.len < n) {
      if (!(await this.more())) throw new Error(`connection ended: wanted ${n} bytes, have ${this.len}`);
    }
    return Buffer.from(this.take(n));
  }

  async toEnd(): Promise<Buffer> {
    while (await this.more()) { /* accumulate */ }
    return Buffer.from(this.take(this.len));
  }

  async atEnd(): Promise<boolean> {
    while (this.len === 0) { if (!(await this.more())) return true; }
    return false;
  }

  /**
   * Read one response to a request with `method`. Interim 1xx responses are skipped
   * (their statuses pushed to `interim`) unless stopAtInterim, which returns the first one.
   */
  async response(method: string, interim: number[], stopAtInterim = false): Promise<Response> {
    for (;;) {
      const statusLine = await this.line();
      const m = /^HTTP\/(\d\.\d) (\d{3})(?: .*)?$/.exec(statusLine);
      if (!m) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
      const status = Number(m[2]);
      const headers: Header[] = [];
      for (;;) {
        const l = await this.line();
        if (l === '') break;
        const c = l.indexOf(':');
        if (c <= 0) throw new Error(`bad header line ${JSON.stringify(l)}`);
        headers.push([l.slice(0, c), l.slice(c + 1).trim()]);
      }
      const get = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
      const connTokens = get('connection').join(',').toLowerCase().split(',').map((s) => s.trim());
      const closes = connTokens.includes('close') || (m[1] === '1.0' && !connTokens.includes('keep-alive'));
      if (status >= 100 && status < 200 && status !== 101) {
        interim.push(status);
        if (stopAtInterim) return { version: m[1], status, headers, body: Buffer.alloc(0), closeDelimited: false, closes: false };
        continue;
      }
      if (method === 'HEAD' || status === 204 || status === 304) {
        return { version: m[1], status, headers, body: Buffer.alloc(0), closeDelimited: false, closes };
      }
      const te = get('transfer-encoding').join(',').toLowerCase();
      if (/(^|,)\s*chunked\s*$/.test(te)) {
        const parts: Buffer[] = [];
        for (;;) {
          const sz = parseInt((await this.line()).split(';')[0].trim(), 16);
          if (!Number.isFinite(sz)) throw new Error('bad chunk size');
          if (sz === 0) break;
          parts.push(await this.exact(sz));
          if ((await this.line()) !== '') throw new Error('missing CRLF after chunk');
        }
        while ((await this.line()) !== '') { /* trailers */ }
        return { version: m[1], status, headers, body: Buffer.concat(parts), closeDelimited: false, closes };
      }
      const cl = get('content-length');
      if (cl.length) {
        return { version: m[1], status, headers, body: await this.exact(Number(cl[0])), closeDelimited: false, closes };
      }
      return { version: m[1], status, headers, body: await this.toEnd(), closeDelimited: true, closes: true };
    }
  }
}

// ---------------------------------------------------------------------------
// Runner

function toSent(p: Planned, localPort: number): SentRequest {
  return {
    id: p.id, conn: p.conn, seqInConn: p.seqInConn, localPort, method: p.method, target: p.target,
    httpVersion: p.version, headers: p.headers.map(([n, v]) => [n, v] as Header),
    trailers: p.trailers.map(([n, v]) => [n, v] as Header), framing: p.framing,
    bodySize: p.body.length,
    bodySha256: p.body.length ? crypto.createHash('sha256').update(p.body).digest('hex') : EMPTY_SHA256,
    expectContinue: p.expectContinue, pipelined: p.pipelined, splitWrites: p.splits.length > 0,
    status: 0, interim: [], responseHeaders: [], responseBodySize: 0, responseBodySha256: EMPTY_SHA256,
    responseCloseDelimited: false, sentAtMs: 0, answeredAtMs: 0,
  };
}

function fillResponse(s: SentRequest, r: Response): void {
  s.status = r.status;
  s.responseHeaders = r.headers;
  s.responseBodySize = r.body.length;
  s.responseBodySha256 = crypto.createHash('sha256').update(r.body).digest('hex');
  s.responseCloseDelimited = r.closeDelimited;
  s.answeredAtMs = Date.now();
}

function write(sock: net.Socket, b: Buffer): Promise<void> {
  return new Promise((resolve, reject) => sock.write(b, (e) => (e ? reject(e) : resolve())));
}

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function runConnection(port: number, address: string, plan: ConnPlan, timeoutMs: number): Promise<SentRequest[]> {
  const sock = net.connect({ port, host: address });
  sock.setNoDelay(true);
  const reader = new Reader(sock);
  const out: SentRequest[] = [];
  let where = 'connect';
  const timer = setTimeout(() => sock.destroy(new Error(`connection ${plan.conn} timed out at ${where}`)), timeoutMs);
  try {
    await new Promise<void>((resolve, reject) => { sock.once('connect', resolve); sock.once('error', reject); });
    const localPort = sock.localPort ?? -1;
    let closed = false;
    for (const step of plan.steps) {
      if (closed) throw new Error(`connection ${plan.conn}: server closed before step ${JSON.stringify(where)}`);
      if (step.kind === 'pipeline') {
        where = `pipeline ${step.reqs[0].id}..${step.reqs[step.reqs.length - 1].id}`;
        const sent = step.reqs.map((p) => toSent(p, localPort));
        const now = Date.now();
        for (const s of sent) s.sentAtMs = now;
        await write(sock, Buffer.concat(step.reqs.flatMap((p) => [wireHead(p), wireBody(p)])));
        for (let i = 0; i < step.reqs.length; i++) {
          const r = await reader.response(step.reqs[i].method, sent[i].interim);
          fillResponse(sent[i], r);
          if (r.closes && i < step.reqs.length - 1) throw new Error(`server closed inside a pipeline at ${sent[i].id}`);
          closed = r.closes;
        }
        out.push(...sent);
      } else if (step.kind === 'expect') {
        const p = step.req;
        where = `expect ${p.id}`;
        const s = toSent(p, localPort);
        s.sentAtMs = Date.now();
        await write(sock, wireHead(p));
        const first = await reader.response(p.method, s.interim, true);
        if (first.status !== 100) throw new Error(`${p.id}: expected 100 Continue, got ${first.status}`);
        await write(sock, wireBody(p));
        const r = await reader.response(p.method, s.interim);
        fillResponse(s, r);
        closed = r.closes;
        out.push(s);
      } else {
        const p = step.req;
        where = `single ${p.id}`;
        const s = toSent(p, localPort);
        s.sentAtMs = Date.now();
        const wire = Buffer.concat([wireHead(p), wireBody(p)]);
        if (p.splits.length === 0) {
          await write(sock, wire);
        } else {
          let off = 0;
          for (const cut of [...p.splits, wire.length]) {
            await write(sock, wire.subarray(off, cut));
            off = cut;
            if (off < wire.length) await delay(2);
          }
        }
        const r = await reader.response(p.method, s.interim);
        fillResponse(s, r);
        closed = r.closes;
        out.push(s);
      }
    }
    where = 'close';
    if (!closed) sock.end();
    if (!(await reader.atEnd())) throw new Error(`connection ${plan.conn}: unexpected bytes after last response`);
    return out;
  } finally {
    clearTimeout(timer);
    sock.destroy();
  }
}

/** The plan's steps, for inspection (deterministic given the options). */
export function planMix(port: number, opts: MixOptions): ConnPlan[] {
  const count = Math.max(1, Math.floor(opts.count));
  const nConns = Math.max(1, Math.min(count, opts.connections ?? Math.max(8, Math.ceil(count / 50))));
  const planner = new Planner(new Rng(opts.seed), opts.host ?? `127.0.0.1:${port}`, opts.seed);
  return planner.plan(count, nConns, opts.bigUploads ?? 4);
}

/**
 * Send exactly opts.count requests to 127.0.0.1:port over several connections in a
 * deterministic varied mix (keep-alive, pipelined bursts, chunked bodies with and without
 * trailers and chunk extensions, Content-Length uploads incl. 1 MiB ones, Expect: 100-continue,
 * HEAD/GET/PUT/DELETE/POST/PATCH/OPTIONS, 204/304 answers, odd legal targets, HTTP/1.0 +
 * Connection: close, close-delimited answers, writes split inside head/body).
 * Resolves with the requests in (conn, seqInConn) order once every response was read.
 */
export async function sendVariedMix(port: number, opts: MixOptions): Promise<SentRequest[]> {
  const plans = planMix(port, opts);
  const address = opts.address ?? '127.0.0.1';
  const concurrency = Math.max(1, opts.concurrency ?? 6);
  const timeoutMs = opts.connTimeoutMs ?? 30_000;
  const results: SentRequest[][] = new Array(plans.length);
  let next = 0;
  let failed: Error | null = null;
  const worker = async () => {
    while (next < plans.length && !failed) {
      const i = next++;
      try {
        results[i] = await runConnection(port, address, plans[i], timeoutMs);
      } catch (e) {
        failed ??= e instanceof Error ? e : new Error(String(e));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, plans.length) }, worker));
  if (failed) throw failed;
  return results.flat();
}

/** Group requests by connection, each in sending order. */
export function byConnection<T extends { conn: number }>(xs: T[]): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const x of xs) { const l = m.get(x.conn); if (l) l.push(x); else m.set(x.conn, [x]); }
  return m;
}

/** Counts of mix features, handy in assertion messages and logs. */
export function describeMix(sent: SentRequest[]): Record<string, number> {
  const d: Record<string, number> = { total: sent.length, connections: byConnection(sent).size };
  const inc = (k: string) => { d[k] = (d[k] ?? 0) + 1; };
  for (const s of sent) {
    inc(`method:${s.method}`);
    inc(`framing:${s.framing}`);
    if (s.trailers.length) inc('chunkedWithTrailers');
    if (s.expectContinue) inc('expectContinue');
    if (s.pipelined) inc('pipelined');
    if (s.splitWrites) inc('splitWrites');
    if (s.httpVersion === '1.0') inc('http1.0');
    if (s.responseCloseDelimited) inc('closeDelimitedResponse');
    if (s.bodySize >= 1024 * 1024) inc('upload1MiB');
    if (s.status === 204 || s.status === 304) inc(`status:${s.status}`);
  }
  return d;
}
