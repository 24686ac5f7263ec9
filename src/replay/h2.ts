// Replay over HTTP/2: a captured request as HTTP/2 fields, and a target's node:http2 client
// sessions (h2c by prior knowledge for http://, ALPN h2 for https://), each carrying at most
// as many streams as the shadow's SETTINGS_MAX_CONCURRENT_STREAMS allows.

import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { regularFields } from '../h2';
import type { HttpRequest } from '../http';
import type { ShadowCall } from './call';
import type { Endpoint } from './connection';
import { unsendableHeaders } from './request';
import type { ReplayOptions } from './types';

export type ShadowProtocol = 'auto' | 'http1' | 'h2';

/** Whether `req` goes to the shadows over HTTP/2: as captured (auto), or as forced. */
export function wantsH2(req: HttpRequest, protocol: ShadowProtocol): boolean {
  return protocol === 'h2' || (protocol === 'auto' && req.versionMajor === 2);
}

/** A request as sent over HTTP/2: pseudo-headers and fields, trailers, and what they weigh. */
export interface H2Head {
  headers: http2.OutgoingHttpHeaders;
  /** Request trailers, or null when it has none. */
  trailers: http2.OutgoingHttpHeaders | null;
  /** Characters of every name and value, for the queue's byte count. */
  size: number;
}

/** Fields HTTP/2 forbids (RFC 9113 §8.2.2), plus Expect (the body goes at once) and Host (it
 * becomes :authority). `te` is allowed as "trailers" only. */
const connectionSpecific = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings', 'expect', 'host']);

/** Fields node:http2 sends at most once (it throws on a second): two of them make a request
 * unreplayable over HTTP/2. */
const singleValue = new Set([
  'access-control-allow-credentials', 'access-control-max-age', 'access-control-request-method', 'age', 'authorization',
  'content-encoding', 'content-language', 'content-length', 'content-location', 'content-md5', 'content-range', 'content-type',
  'date', 'dnt', 'etag', 'expires', 'from', 'if-match', 'if-modified-since', 'if-none-match', 'if-range',
  'if-unmodified-since', 'last-modified', 'location', 'max-forwards', 'proxy-authorization', 'range', 'referer',
  'retry-after', 'tk', 'upgrade-insecure-requests', 'user-agent', 'x-content-type-options',
]);

/** Names listed by a Connection field (hop-by-hop by declaration), or null. */
function connectionNamed(headers: string[]): Set<string> | null {
  let named: Set<string> | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length !== 10 || headers[i].toLowerCase() !== 'connection') continue;
    for (const token of headers[i + 1].split(',')) {
      const t = token.trim().toLowerCase();
      if (t !== '') (named ??= new Set()).add(t);
    }
  }
  return named;
}

/** The :path and, for an absolute-form target (http://host/p?q), its authority; cut by hand,
 * not by URL, which would normalise the path. */
function pathOf(url: string): { path: string; authority: string | null } {
  if (url[0] === '/') return { path: url, authority: null };
  const start = url.indexOf('//') + 2;
  let end = start;
  while (end < url.length && url[end] !== '/' && url[end] !== '?' && url[end] !== '#') end++;
  const rest = url.slice(end);
  return { path: rest === '' ? '/' : rest[0] === '/' ? rest : `/${rest}`, authority: end > start ? url.slice(start, end) : null };
}

/** The value less leading and trailing spaces and tabs (RFC 9113 §8.2.1: a shadow's HTTP/2
 * stack drops a field that has them). */
function trimBlanks(value: string): string {
  const last = value.length - 1;
  if (last < 0 || (value.charCodeAt(0) > 0x20 && value.charCodeAt(last) > 0x20)) return value;
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** Adds name: value to the field object, a repeated name as an array (sent as separate fields). */
function addField(out: http2.OutgoingHttpHeaders, name: string, value: string): string | null {
  const had = out[name];
  if (had === undefined) {
    out[name] = value;
  } else {
    if (singleValue.has(name)) return `${name} more than once (HTTP/2 through node:http2 carries it once)`;
    if (Array.isArray(had)) had.push(value);
    else out[name] = [had as string, value];
  }
  return null;
}

/**
 * The captured request as HTTP/2 fields: :method, :path (origin form), :scheme and :authority
 * (`authority`, or with null — --keep-host — the captured Host), then the captured fields in
 * order, names lower-cased, less the connection-specific ones (and those named by Connection),
 * `te` kept only as "trailers", Content-Length kept where captured but set to the body's
 * length, the marker last. A string says why it cannot be sent.
 */
export function h2Head(req: HttpRequest, authority: string | null, scheme: string, defaultHost: string,
                       marker: ReplayOptions['marker']): H2Head | string {
  const captured = req.headers;
  const named = connectionNamed(captured);
  const markerName = marker === null ? null : marker.name.toLowerCase();
  const { path, authority: fromUrl } = pathOf(req.url);
  const flat: string[] = [];
  let host: string | null = null;
  for (let i = 0; i < captured.length; i += 2) {
    const name = captured[i].toLowerCase();
    const value = captured[i + 1];
    if (name === 'host') {
      if (host !== null) return 'more than one Host header';
      host = value;
      continue;
    }
    if (connectionSpecific.has(name) || (named !== null && named.has(name)) || name === markerName) continue;
    if (name === 'te' && value.trim().toLowerCase() !== 'trailers') continue;
    flat.push(name, name === 'content-length' ? String(req.body === null ? 0 : req.body.length) : trimBlanks(value));
  }
  if (markerName !== null) flat.push(markerName, (marker as { value: string }).value);
  const bad = unsendableHeaders(flat);
  if (bad !== null) return bad;
  const target = authority ?? host ?? fromUrl ?? defaultHost;
  if (/[^\x21-\x7e]/.test(target)) return 'authority has characters HTTP/2 cannot carry';
  const headers: http2.OutgoingHttpHeaders = { ':method': req.method, ':path': path, ':scheme': scheme, ':authority': target };
  let size = req.method.length + path.length + scheme.length + target.length + 40;
  for (let i = 0; i < flat.length; i += 2) {
    const refused = addField(headers, flat[i], flat[i + 1]);
    if (refused !== null) return refused;
    size += flat[i].length + flat[i + 1].length;
  }
  const trailers = h2Trailers(req.trailers);
  if (typeof trailers === 'string') return trailers;
  if (trailers !== null) for (const name in trailers) size += name.length + String(trailers[name]).length;
  return { headers, trailers, size };
}

/** The captured trailers as HTTP/2 fields (names lower-cased, connection-specific ones left
 * out), null when there are none, or why they cannot be sent. */
function h2Trailers(list: string[]): http2.OutgoingHttpHeaders | null | string {
  if (list.length === 0) return null;
  const flat: string[] = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i].toLowerCase();
    if (connectionSpecific.has(name) || name === 'te' || name === 'content-length') continue;
    flat.push(name, trimBlanks(list[i + 1]));
  }
  if (flat.length === 0) return null;
  const bad = unsendableHeaders(flat);
  if (bad !== null) return `trailer ${bad}`;
  const out: http2.OutgoingHttpHeaders = {};
  for (let i = 0; i < flat.length; i += 2) {
    const refused = addField(out, flat[i], flat[i + 1]);
    if (refused !== null) return `trailer ${refused}`;
  }
  return out;
}

/** Per-target HTTP/2 counters. */
export interface H2Stats {
  sessionsOpened: number;
  /** Streams opened (requests sent; a request refused and sent again counts twice). */
  streams: number;
  /** Streams the shadow reset (RST_STREAM), REFUSED_STREAM included, and those reset for a
   * protocol error in its answer. */
  resets: number;
  /** GOAWAY frames received. */
  goaways: number;
}

export const newH2Stats = (): H2Stats => ({ sessionsOpened: 0, streams: 0, resets: 0, goaways: 0 });

/** Streams per session at most, whatever the shadow allows, and until its SETTINGS say. */
const MAX_STREAMS = 128;
/** A session with no stream this long is closed. */
const IDLE_MS = 4000;
/** Flow-control window per stream and per session we grant the shadow's answers. */
const STREAM_WINDOW = 1 << 20;
const SESSION_WINDOW = 16 << 20;

const { NGHTTP2_CANCEL, NGHTTP2_PROTOCOL_ERROR, NGHTTP2_REFUSED_STREAM } = http2.constants;

/** HTTP/2 error codes by number (RFC 9113 §7), for error strings. */
const errorNames = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED',
  'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM',
  'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];
const errorName = (code: number): string => errorNames[code] ?? `error ${code}`;

/** One request on one stream. */
class H2Exchange {
  stream: http2.ClientHttp2Stream | null = null;
  /** The stream was closed by us (timeout, shutdown): its end is not the shadow's doing. */
  cancelled = false;
  constructor(readonly session: H2Session, readonly call: ShadowCall) {}
  /** The call timed out: its stream alone is cancelled; the session goes on. */
  abandon(): void {
    this.session.drop(this);
    if (this.stream !== null && !this.stream.closed) {
      this.cancelled = true;
      this.stream.close(NGHTTP2_CANCEL);
    }
  }
}

/** One client session and the exchanges it carries or will once connected. */
class H2Session {
  readonly session: http2.ClientHttp2Session;
  private readonly socket: net.Socket;
  /** Exchanges waiting for the session's first SETTINGS. */
  readonly pending: H2Exchange[] = [];
  readonly active = new Set<H2Exchange>();
  /** Its first SETTINGS came: streams may go. */
  ready = false;
  /** GOAWAY received, closing or dead: takes no more. */
  closed = false;
  /** Streams at once: the shadow's SETTINGS_MAX_CONCURRENT_STREAMS, within MAX_STREAMS. */
  limit = MAX_STREAMS;
  private connectTimer: NodeJS.Timeout | null;
  readonly gone: Promise<void>;

  constructor(private readonly pool: H2Pool, origin: string, endpoint: Endpoint) {
    // Our own socket: a session node:http2 closed (after GOAWAY, say) waits for the shadow to
    // close the connection, which a shadow may never do; we end it ourselves.
    this.socket = endpoint.tls
      ? tls.connect({
        host: endpoint.host, port: endpoint.port, ALPNProtocols: ['h2'],
        ...(endpoint.servername !== null ? { servername: endpoint.servername } : {}),
        ...(endpoint.ca !== null ? { ca: endpoint.ca } : {}),
      })
      : net.connect({ host: endpoint.host, port: endpoint.port });
    this.socket.setNoDelay(true);
    this.session = http2.connect(origin, {
      settings: { initialWindowSize: STREAM_WINDOW, enablePush: false },
      maxSendHeaderBlockLength: 1 << 20,
      maxHeaderListPairs: 4096,
      createConnection: () => this.socket,
    });
    const s = this.session;
    s.on('remoteSettings', (settings) => this.onSettings(settings));
    s.on('goaway', (code: number, lastStreamId: number) => this.onGoaway(code, lastStreamId));
    s.on('error', (err: Error & { code?: string }) => this.lose(err.code === 'ERR_HTTP2_ERROR' ? err.message : err.code ?? err.message));
    s.on('frameError', () => {});
    s.setTimeout(IDLE_MS, () => {
      if (this.active.size === 0 && this.pending.length === 0) this.shut();
    });
    // A connect error before the session is set up reaches the socket only.
    this.socket.on('error', (err: Error & { code?: string }) => this.lose(err.code ?? err.message));
    this.gone = new Promise((resolve) => s.once('close', () => {
      this.lose('session closed');
      resolve();
    }));
    this.connectTimer = setTimeout(() => this.lose('connect timeout', true), endpoint.connectTimeoutMs);
  }

  get load(): number {
    return this.active.size + this.pending.length;
  }

  get hasRoom(): boolean {
    return !this.closed && this.load < this.limit;
  }

  take(call: ShadowCall): void {
    const x = new H2Exchange(this, call);
    call.connection = x;
    if (this.ready) this.start(x);
    else this.pending.push(x);
  }

  private onSettings(settings: http2.Settings): void {
    const peer = settings.maxConcurrentStreams ?? MAX_STREAMS;
    this.limit = Math.max(1, Math.min(MAX_STREAMS, peer));
    if (this.ready) return this.pool.sendWaiting();
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.closed) return;
    this.ready = true;
    this.session.setLocalWindowSize(SESSION_WINDOW);
    for (const x of this.pending.splice(0)) this.start(x);
    this.pool.sendWaiting();
  }

  /** Opens the exchange's stream, writes its body and trailers, and follows its answer. */
  private start(x: H2Exchange): void {
    const call = x.call;
    const head = call.job.h2 as H2Head;
    const body = call.job.request.body;
    const hasBody = body !== null && body.length > 0;
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.session.request(head.headers, { endStream: !hasBody && head.trailers === null, waitForTrailers: head.trailers !== null });
    } catch (e) {
      // node:http2 refused the fields after all (h2Head() checks what it knows of).
      call.connection = null;
      return call.fail(`HTTP/2 request not sendable: ${(e as Error).message}`);
    }
    x.stream = stream;
    this.active.add(x);
    this.pool.stats.streams++;
    call.sent(performance.now(), false);
    if (head.trailers !== null) {
      const trailers = head.trailers;
      stream.once('wantTrailers', () => {
        try {
          stream.sendTrailers(trailers);
        } catch (e) {
          stream.destroy(e as Error);
        }
      });
    }
    if (hasBody) stream.end(body);
    else if (head.trailers !== null) stream.end();
    let error: string | null = null;
    // Whether the answer ended with END_STREAM: node:http2 ends the readable side of a stream
    // reset with NO_ERROR too, but only then after marking it closed.
    let endStream = false;
    const push = stream.push;
    stream.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (chunk === null && !stream.closed) endStream = true;
      return push.call(stream, chunk, encoding);
    };
    stream.on('response', (headers: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
      call.answered = true;
      call.onHead(Number(headers[':status']), call.keepsFields ? regularFields(raw) : noFields);
    });
    stream.on('data', (chunk: Buffer) => call.onBody(chunk, 0, chunk.length));
    stream.on('trailers', (_h: http2.IncomingHttpHeaders, _flags: number, raw: string[]) => {
      if (call.keepsFields) call.onTrailers(regularFields(raw));
    });
    stream.on('frameError', (type: number, code: number) => {
      error ??= `HTTP/2 frame of type ${type} not sent (${code})`;
    });
    stream.on('error', (err: Error & { code?: string }) => {
      error ??= err.code === 'ERR_HTTP2_STREAM_ERROR' ? null : err.code ?? err.message;
    });
    stream.once('close', () => this.closedStream(x, stream.id ?? 0, stream.rstCode, endStream, error));
  }

  /** A stream closed: its call is complete, or failed, or (unprocessed) goes again. */
  private closedStream(x: H2Exchange, id: number, rstCode: number, endStream: boolean, error: string | null): void {
    this.active.delete(x);
    const call = x.call;
    if (!call.done) {
      call.connection = null;
      const answered = call.answered;
      // Refused, or beyond a GOAWAY's last stream: the shadow did not process it.
      const beyondGoaway = id > this.goawayLast;
      const unprocessed = !answered && (rstCode === NGHTTP2_REFUSED_STREAM || beyondGoaway);
      if (rstCode === NGHTTP2_REFUSED_STREAM && !beyondGoaway) this.pool.stats.resets++;
      if (endStream && answered) {
        // A whole answer (a reset after it only stops the rest of our request: RFC 9113 §8.1).
        call.complete();
      } else if (unprocessed) {
        // RFC 9113 §8.7: any method may go once more.
        this.pool.resend(call, `refused by the shadow (${beyondGoaway ? this.why ?? 'GOAWAY' : 'REFUSED_STREAM'})`);
      } else if (this.session.destroyed) {
        // The session died under it (its error, the connection's, or our own shutdown).
        this.pool.lost(call, this.why ?? error ?? 'session closed', this.timedOut);
      } else if (error !== null || x.cancelled) {
        // Closed on our side: a frame node:http2 could not send, say.
        call.fail(error ?? 'stream cancelled');
      } else {
        // Reset by the shadow (NO_ERROR too, when it came before the answer's end), or by
        // node:http2 for an answer that breaks HTTP/2's rules (PROTOCOL_ERROR).
        this.pool.stats.resets++;
        const by = rstCode === NGHTTP2_PROTOCOL_ERROR ? 'for a protocol error in the answer, or by the shadow' : 'by the shadow';
        call.fail(`stream reset ${by} (RST_STREAM ${errorName(rstCode)})${answered ? ' mid-answer' : ''}`);
      }
    }
    if (this.closed && this.active.size === 0) this.end();
    this.pool.sendWaiting();
  }

  /** Forgets an exchange that was never started (its call timed out while waiting). */
  drop(x: H2Exchange): void {
    const i = this.pending.indexOf(x);
    if (i >= 0) this.pending.splice(i, 1);
  }

  /** The last stream a GOAWAY said the shadow processes (later ones it did not). */
  private goawayLast = Infinity;

  private onGoaway(code: number, lastStreamId: number): void {
    this.pool.stats.goaways++;
    this.goawayLast = Math.min(this.goawayLast, lastStreamId);
    this.why ??= `GOAWAY ${errorName(code)} (last stream ${lastStreamId})`;
    // Streams up to lastStreamId finish here; later ones are refused (retried); what has not
    // started goes to another session.
    this.retire();
  }

  /** Takes no more; hands its unstarted exchanges back to the pool. */
  private retire(): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.retired(this);
    for (const x of this.pending.splice(0)) {
      x.call.connection = null;
      this.pool.dispatch(x.call);
    }
  }

  /** Why it went (its first error), and whether that was the connect timeout. */
  private why: string | null = null;
  private timedOut = false;

  /** The session failed or closed: unstarted exchanges fail or go elsewhere; streams end with it. */
  lose(why: string, timedOut = false): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.why ??= why;
    this.timedOut ||= timedOut;
    const wasReady = this.ready;
    if (!this.closed) {
      this.closed = true;
      this.pool.retired(this);
    }
    for (const x of this.pending.splice(0)) {
      x.call.connection = null;
      // Never connected: the shadow is unreachable, as it would be for another session.
      if (wasReady) this.pool.lost(x.call, this.why, this.timedOut);
      else x.call.fail(this.why, this.timedOut);
    }
    this.end();
  }

  /** Ends the session and its connection now. */
  private end(): void {
    if (!this.session.destroyed) this.session.destroy();
    this.socket.destroy();
  }

  /** Closes it: now with `abort` (its streams fail), else once its streams are done. */
  shut(abort = false): void {
    this.retire();
    if (abort) this.lose('pool closed');
    else if (this.active.size === 0) this.end();
  }
}

const noFields: string[] = [];

/** A target's HTTP/2 sessions: at most `maxSessions`, the oldest with room takes the next
 * stream, a new one opens only when none has room; beyond, calls wait here. A session that
 * gets GOAWAY or fails takes no more, and a new one opens when needed. */
export class H2Pool {
  private readonly sessions: H2Session[] = [];
  private readonly waiting: ShadowCall[] = [];
  private readonly all = new Set<H2Session>();
  closing = false;

  constructor(private readonly origin: string, private readonly endpoint: Endpoint, private readonly maxSessions: number,
              readonly stats: H2Stats) {}

  dispatch(call: ShadowCall): void {
    if (this.closing) return call.fail('connection pool closed');
    for (const s of this.sessions) {
      if (s.hasRoom) return s.take(call);
    }
    if (this.sessions.length < this.maxSessions) return this.open().take(call);
    this.waiting.push(call);
  }

  private open(): H2Session {
    const s = new H2Session(this, this.origin, this.endpoint);
    this.sessions.push(s);
    this.all.add(s);
    void s.gone.then(() => this.all.delete(s));
    this.stats.sessionsOpened++;
    return s;
  }

  /** A session takes no more: it leaves the list new streams are placed from. */
  retired(s: H2Session): void {
    const i = this.sessions.indexOf(s);
    if (i >= 0) this.sessions.splice(i, 1);
  }

  /** A call whose session died under it: once more if it may (as HTTP/1's pool does), else failed. */
  lost(call: ShadowCall, why: string, timedOut: boolean): void {
    if (!this.closing && call.mayRetry()) {
      call.retry();
      this.dispatch(call);
    } else {
      call.fail(why, timedOut);
    }
  }

  /** A call the shadow did not process: once more on another stream, unless it was already. */
  resend(call: ShadowCall, why: string): void {
    if (this.closing || call.attempts > 1) return call.fail(why);
    call.retry();
    this.dispatch(call);
  }

  sendWaiting(): void {
    while (this.waiting.length > 0 && !this.closing) {
      const call = this.waiting[0];
      if (call.done) {
        this.waiting.shift();
        continue;
      }
      let s = this.sessions.find((x) => x.hasRoom);
      if (s === undefined && this.sessions.length < this.maxSessions) s = this.open();
      if (s === undefined) return;
      this.waiting.shift();
      s.take(call);
    }
  }

  /** Takes no more calls; with `abort`, every session goes now (what they carry fails), else
   * each once its streams are done. Resolves when every session closed. */
  close(abort: boolean): Promise<void> {
    this.closing = true;
    for (const call of this.waiting.splice(0)) call.fail('connection pool closed');
    const sessions = [...this.all];
    for (const s of sessions) s.shut(abort);
    return Promise.all(sessions.map((s) => s.gone)).then(() => undefined);
  }
}
