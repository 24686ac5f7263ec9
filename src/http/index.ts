// Turns a connection's two byte streams into HTTP/1.x exchanges: each request with production's
// response and the capture timestamps of their first and last bytes. Knows nothing of shadows.

import { createHash, Hash, hash as oneShot } from 'node:crypto';
import type { CloseReason, ConnectionInfo, Direction, StreamFactory, StreamHandler } from '../tcp';
import { ToServer } from '../tcp';
import {
  HeaderInfo, HttpParseError, MAX_LINE, Parser, REQUEST, RESPONSE, checkContentLength, couldStartMessage, createParser,
  isIdle, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete, methods,
} from './parser';

export { headerValue } from './parser';

export interface HttpMessage {
  versionMajor: number;
  versionMinor: number;
  /** Raw header list as on the wire: [name, value, name, value, …]. */
  headers: string[];
  trailers: string[];
  /** The de-chunked body, when the stage keeps bodies; null otherwise. */
  body: Buffer | null;
  bodySize: number;
  /** The body exceeded its cap (maxBodyBytes / maxResponseBodyBytes): `body` holds only its start. */
  bodyTruncated: boolean;
  /** Hex sha256 of the whole de-chunked body, when hashing is on. */
  bodySha256: string | null;
  chunked: boolean;
  /** Capture timestamps (µs) of the message's first and last bytes. */
  startUs: number;
  endUs: number;
}

export interface HttpRequest extends HttpMessage {
  conn: ConnectionInfo;
  /** Position of the request on its connection, from 0. */
  index: number;
  method: string;
  /** The request target exactly as on the wire. */
  url: string;
}

export interface HttpResponse extends HttpMessage {
  statusCode: number;
  statusMessage: string;
}

/** Why an exchange carries no production response. */
export type ResponseMissing = 'gap' | 'parseError' | 'closed' | 'overflow';

export interface Exchange {
  request: HttpRequest;
  response: HttpResponse | null;
  responseMissing: ResponseMissing | null;
}

/** Why a request that was seen could not be produced whole. */
export type RequestLoss = 'incomplete' | 'parseError' | 'evicted' | 'upgrade' | 'pipelineOverflow';

export interface HttpSink {
  /** A complete request, as soon as its last byte is seen. */
  request(req: HttpRequest): void;
  /** The same request with production's response; per connection in request order. */
  exchange(ex: Exchange): void;
  /** A request that was seen but cannot be produced whole. */
  lost(reason: RequestLoss, conn: ConnectionInfo, detail: string): void;
  /** Something worth a log line; called at most once per kind per connection. */
  notice(kind: NoticeKind, conn: ConnectionInfo, detail: string): void;
}

export type NoticeKind = 'parseError' | 'nonHttp' | 'upgrade' | 'gap';

export interface HttpOptions {
  keepRequestBodies: boolean;
  keepResponseBodies: boolean;
  hashBodies: boolean;
  /** Bytes of one request body kept in memory; a longer body is marked truncated. */
  maxBodyBytes: number;
  /** The same for response bodies (kept only with keepResponseBodies). */
  maxResponseBodyBytes: number;
  /** Requests on one connection awaiting their responses. */
  maxPending: number;
  /** Servers ("address:port") whose connections are only timed: no bodies kept or hashed. */
  bodilessServers?: ReadonlySet<string>;
}

export const defaultHttpOptions: HttpOptions = {
  keepRequestBodies: true,
  keepResponseBodies: false,
  hashBodies: false,
  maxBodyBytes: 16 << 20,
  maxResponseBodyBytes: 1 << 20,
  maxPending: 1024,
};

export interface HttpStats {
  connections: number;
  nonHttpConnections: number;
  upgradedConnections: number;
  parseErrors: number;
  requests: number;
  lost: Record<RequestLoss, number>;
  responses: number;
  informationalResponses: number;
  /** Responses with no request to pair with (the request was never seen). */
  orphanResponses: number;
  /** Responses to requests that were lost. */
  responsesToLostRequests: number;
  responsesMissing: Record<ResponseMissing, number>;
  resyncs: number;
  /** Bytes skipped while looking for a message boundary. */
  bytesSkipped: number;
}

const EMPTY_SHA256 = createHash('sha256').digest('hex');
const oneShotSha256 = (data: Buffer): string => oneShot('sha256', data, 'hex');
const methodAlternatives = methods.map((m) => m.replace('-', '\\-')).join('|');
const requestStart = new RegExp(`(?:^|\\n)(?:${methodAlternatives}) [^ \\r\\n]`);
const responseStart = /(?:^|\n)HTTP\/1\.[01] [0-9]{3}/;
/** The same, only exactly at lastIndex (sticky). */
const requestStartHere = new RegExp(`(?:${methodAlternatives}) [^ \\r\\n]`, 'y');
const responseStartHere = /HTTP\/1\.[01] [0-9]{3}/y;
/** The same, only at the very start. */
const requestLineStart = new RegExp(`^(?:${methodAlternatives}) [^ \\r\\n]`);
const responseLineStart = /^HTTP\/1\.[01] [0-9]{3}/;
/** Skipped bytes kept while syncing, so that a message start split over two segments is
 * still found: longer than any method + space + one byte, and than "HTTP/1.1 200". */
const SYNC_CARRY = 16;

/** Bodies up to this size are hashed in one call at the end; longer ones incrementally. */
const ONE_SHOT_HASH_BYTES = 64 * 1024;

class BodyCollector {
  size = 0;
  /** Copies of the body's chunks: kept for the caller, or held for a one-shot hash. */
  private chunks: Buffer[] = [];
  private held = 0;
  /** A chunk not copied yet: valid only until the current data() call returns (see detach). */
  private view: Buffer | null = null;
  private truncated = false;
  private hash: Hash | null = null;

  constructor(private readonly keep: boolean, private readonly hashing: boolean, private readonly max: number) {}

  add(chunk: Buffer, offset: number, length: number): void {
    if (length === 0) return;
    this.size += length;
    if (!this.keep && !this.hashing) return;
    if (this.view !== null) this.detach();
    else if (this.hashing && !this.keep && this.hash === null && this.held === 0 && length <= ONE_SHOT_HASH_BYTES) {
      // Most bodies arrive whole in one segment: hash them in place at fill().
      this.view = chunk.subarray(offset, offset + length);
      this.held = length;
      return;
    }
    if (this.hashing && (this.hash !== null || (!this.keep && this.held + length > ONE_SHOT_HASH_BYTES))) {
      if (this.hash === null) {
        this.hash = createHash('sha256');
        for (const c of this.chunks) this.hash.update(c);
        this.chunks = [];
        this.held = 0;
      }
      this.hash.update(chunk.subarray(offset, offset + length));
      if (!this.keep) return;
    }
    if (this.truncated) return;
    const limit = this.keep ? this.max : ONE_SHOT_HASH_BYTES;
    const take = Math.min(limit - this.held, length);
    if (take > 0) {
      const copy = Buffer.allocUnsafe(take);
      chunk.copy(copy, 0, offset, offset + take);
      this.chunks.push(copy);
      this.held += take;
    }
    if (take < length) {
      this.truncated = true;
      if (this.hashing && this.hash === null) {
        // Kept bytes stop here; the hash must go on over the whole body.
        this.hash = createHash('sha256');
        for (const c of this.chunks) this.hash.update(c);
        this.hash.update(chunk.subarray(offset + take, offset + length));
      }
    }
  }

  /** Copies an in-place chunk before the buffer under it is reused. */
  detach(): void {
    const view = this.view;
    if (view === null) return;
    this.view = null;
    this.chunks.push(Buffer.from(view)); // `held` already counts it
  }

  fill(message: HttpMessage): void {
    message.bodySize = this.size;
    message.bodyTruncated = this.keep && this.truncated;
    const whole = this.view ?? (this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.held));
    this.view = null;
    if (this.hashing) {
      if (this.hash !== null) message.bodySha256 = this.hash.digest('hex');
      else message.bodySha256 = this.size === 0 ? EMPTY_SHA256 : oneShotSha256(whole);
    }
    if (this.keep) message.body = whole;
  }
}

const NO_BODY = Buffer.alloc(0);

function fillEmptyBody(message: HttpMessage, keep: boolean, hashing: boolean): void {
  message.bodySize = 0;
  message.bodyTruncated = false;
  if (hashing) message.bodySha256 = EMPTY_SHA256;
  if (keep) message.body = NO_BODY;
}

/** A request whose headers were seen, waiting for completion and for its response. */
interface Pending {
  request: HttpRequest;
  complete: boolean;
  lost: boolean;
  response: HttpResponse | null;
  missing: ResponseMissing | null;
  answered: boolean;
}

/** The fields requests and responses share, from the parsed head; the message started at the
 * half's first byte (or now). */
function newMessage(half: HalfParser, info: HeaderInfo, nowUs: number): HttpMessage {
  const chunked = isChunked(info.headers);
  half.parser.isChunked = chunked; // http-parser-js only knows "Transfer-Encoding: chunked"
  const startUs = half.startUs < 0 ? nowUs : half.startUs;
  return {
    versionMajor: info.versionMajor, versionMinor: info.versionMinor, headers: info.headers, trailers: [],
    body: null, bodySize: 0, bodyTruncated: false, bodySha256: null, chunked, startUs, endUs: startUs,
  };
}

class HalfParser {
  readonly parser: Parser;
  /** Looking for a message boundary (mid-stream start, after a gap or an error). */
  syncing: boolean;
  dead = false;
  /** Capture time of the first byte of the message in progress; -1 when idle. */
  startUs = -1;
  /** Capture time of the last data seen in this direction; -1 before any. */
  lastDataUs = -1;
  /** While syncing: the tail of the skipped bytes that may begin a message line. */
  carry = '';
  /** While syncing: bytes skipped so far, and whether they may be the rest of a message
   * whose start fell into a gap between messages. (Not after a mid-stream start: those
   * bytes may belong to a request already counted on an evicted or expired connection.) */
  skipped = 0;
  headUnseen = false;
  carryUs = 0;
  body: BodyCollector | null = null;
  /** Between a message's head and its end: body bytes belong to it. */
  collecting = false;
  constructor(readonly type: string, syncing: boolean) {
    this.parser = createParser(type);
    this.syncing = syncing;
  }
  get idle(): boolean {
    return isIdle(this.parser, this.type);
  }
  reset(): void {
    this.parser.reinitialize(this.type);
    this.body = null;
    this.collecting = false;
    this.startUs = -1;
  }
}

class HttpConnection implements StreamHandler {
  private readonly req: HalfParser;
  private readonly res: HalfParser;
  private readonly awaiting: Pending[] = [];
  private current: Pending | null = null;
  private response: HttpResponse | null = null;
  private requestCount = 0;
  private responseCount = 0;
  private nowUs = 0;
  /** Capture time of the last gap in the response stream; -1 if none since idle. */
  private responseGapUs = -1;
  private noticed = 0;
  /** Requests that stopped waiting at maxPending whose responses are still to come: those
   * responses are skipped, not paired with the requests behind them. */
  private overflowed = 0;

  constructor(
    private readonly info: ConnectionInfo,
    private readonly sink: HttpSink,
    private readonly options: HttpOptions,
    private readonly stats: HttpStats,
  ) {
    stats.connections++;
    this.req = new HalfParser(REQUEST, info.midstream);
    this.res = new HalfParser(RESPONSE, info.midstream);
    this.bindRequestParser();
    this.bindResponseParser();
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsUs: number): void {
    this.nowUs = tsUs;
    const half = dir === ToServer ? this.req : this.res;
    if (half.dead) return;
    half.lastDataUs = tsUs;
    // One round per message boundary found: after a parse error, the rest of the chunk is
    // searched for the next message (a good request pipelined behind a bad one).
    while (start < end && !half.dead) {
      if (half.syncing) {
        start = this.findMessageStart(half, buf, start, end, tsUs);
        if (start < 0) return;
      }
      if (half.startUs < 0) half.startUs = tsUs;
      const parser = half.parser;
      const lineBefore = parser.line;
      let outcome: number | Error;
      let head: string | null = null;
      try {
        outcome = parser.execute(buf, start, end - start);
        if (!(outcome instanceof Error) && !half.dead) {
          if (parser.line.length > MAX_LINE) {
            outcome = new HttpParseError('HPE_LINE_TOO_LONG', `line longer than ${MAX_LINE} bytes`);
          } else if (parser.state === firstLineState(half.type) && !couldStartMessage(half.type, parser.line)) {
            head = parser.line;
            outcome = new HttpParseError('HPE_INVALID_CONSTANT', 'not the start of an HTTP message');
          }
        }
      } catch (err) {
        outcome = err as Error;
      }
      if (outcome instanceof Error) {
        if (head === null) head = (lineBefore + buf.toString('latin1', start, Math.min(end, start + 64))).replace(/^[\r\n]+/, '');
        const resume = Math.min(end, Math.max(start + 1, parser.offset));
        if (!this.parseFailed(half, outcome, head)) return;
        start = resume;
        continue;
      }
      if (half.dead) return;
      if (half.idle) half.startUs = -1;
      break;
    }
    if (half.body !== null) half.body.detach();
  }

  gap(dir: Direction, bytes: number, tsUs: number): void {
    this.nowUs = tsUs;
    const half = dir === ToServer ? this.req : this.res;
    if (half.dead) return;
    this.notify('gap', `${bytes} bytes lost ${dir === ToServer ? 'client→server' : 'server→client'}`);
    if (dir === ToServer) {
      // Bytes skipped since an earlier gap between messages are still the tail of a request
      // whose start was not captured: a second gap must not forget them.
      const tailSeen = half.syncing && half.headUnseen ? half.skipped : 0;
      if (!half.syncing) {
        // Mid-message: that request is lost now. Between messages: what follows the gap may be
        // the rest of a request whose start fell into it, counted once a boundary proves it.
        half.headUnseen = half.idle;
        if (!half.idle) this.requestLost('incomplete', `${bytes} bytes missing`);
      }
      this.resync(half);
      half.skipped = tailSeen;
      return;
    }
    if (!half.syncing && !half.idle) this.responseBroken('gap');
    this.responseGapUs = tsUs;
    this.resync(half);
  }

  fin(dir: Direction, tsUs: number): void {
    this.nowUs = tsUs;
    if (dir === ToServer || this.res.dead || this.res.syncing) return;
    // A response delimited by the connection's end completes here; its last byte is the
    // last data seen, not the FIN (which may come much later).
    if (this.res.lastDataUs >= 0) this.nowUs = this.res.lastDataUs;
    let outcome: void | Error;
    try {
      outcome = this.res.parser.finish();
    } catch (err) {
      outcome = err as Error;
    }
    if (outcome instanceof Error) this.responseBroken('closed');
    this.res.dead = true;
  }

  close(reason: CloseReason, tsUs: number): void {
    this.nowUs = tsUs;
    const req = this.req;
    if (!req.dead && req.syncing && req.headUnseen && req.skipped > 0) {
      // The connection's end is a boundary too: the tail seen after a gap was a request's.
      this.stats.lost.incomplete++;
      this.sink.lost('incomplete', this.info, `${req.skipped} bytes of a request whose start was not captured`);
      req.headUnseen = false;
    }
    if (!this.req.dead && !this.req.syncing && !this.req.idle) {
      this.requestLost(reason === 'evicted' ? 'evicted' : 'incomplete', `connection closed (${reason})`);
    }
    if (this.current !== null && !this.current.complete) {
      this.requestLost(reason === 'evicted' ? 'evicted' : 'incomplete', `connection closed (${reason})`);
    }
    while (this.awaiting.length > 0) this.answerHead(null, 'closed');
  }

  private notify(kind: 'parseError' | 'nonHttp' | 'upgrade' | 'gap', detail: string): void {
    const bit = kind === 'parseError' ? 1 : kind === 'nonHttp' ? 2 : kind === 'upgrade' ? 4 : 8;
    if ((this.noticed & bit) !== 0) return;
    this.noticed |= bit;
    this.sink.notice(kind, this.info, detail);
  }

  /**
   * Looks for the start of a message in the carried tail of earlier skipped bytes followed by
   * buf[start, end): at the start of either, or after a newline. Found: the parser is reset
   * (and fed the carried part the message starts in) and the offset in buf to parse from is
   * returned. Not found: everything is skipped, a short tail is carried, -1.
   */
  private findMessageStart(half: HalfParser, buf: Buffer, start: number, end: number, tsUs: number): number {
    const carry = half.carry;
    // latin1 keeps one character per byte, so string offsets are byte offsets.
    const text = carry + buf.toString('latin1', start, end);
    const request = half.type === REQUEST;
    const match = (request ? requestStart : responseStart).exec(text);
    let at = match === null ? -1 : match.index + (text[match.index] === '\n' ? 1 : 0);
    if (carry.length > 0 && (at < 0 || at > carry.length)) {
      // The chunk's own start is a candidate too (segments often begin a message).
      const here = request ? requestStartHere : responseStartHere;
      here.lastIndex = carry.length;
      if (here.test(text)) at = carry.length;
    }
    if (at < 0) {
      this.stats.bytesSkipped += end - start;
      half.skipped += end - start;
      // Carry the tail from the last place a message could start, if it is short enough to
      // be the beginning of a start line.
      const newline = text.lastIndexOf('\n');
      const from = newline >= carry.length ? newline + 1 : text.length <= SYNC_CARRY ? 0 : carry.length;
      if (text.length - from <= SYNC_CARRY) {
        if (from >= carry.length) half.carryUs = tsUs;
        half.carry = text.slice(from);
      } else {
        half.carry = '';
      }
      return -1;
    }
    this.stats.resyncs++;
    const skipped = half.skipped - Math.max(0, carry.length - at) + Math.max(0, at - carry.length);
    if (half.type === REQUEST && half.headUnseen && skipped > 0) {
      // A message boundary after skipped bytes: they were the rest of a request whose start
      // was never captured. Seen in part, so counted.
      this.stats.lost.incomplete++;
      this.sink.lost('incomplete', this.info, `${skipped} bytes of a request whose start was not captured`);
    }
    half.syncing = false;
    half.headUnseen = false;
    half.carry = '';
    half.reset();
    if (at < carry.length) {
      // The message began in bytes skipped earlier: give them back to the parser.
      this.stats.bytesSkipped -= carry.length - at;
      half.startUs = half.carryUs;
      half.parser.execute(Buffer.from(carry.slice(at), 'latin1'), 0, carry.length - at);
      return start;
    }
    this.stats.bytesSkipped += at - carry.length;
    return start + (at - carry.length);
  }

  private resync(half: HalfParser): void {
    half.syncing = true;
    half.carry = '';
    half.skipped = 0;
    half.reset();
  }

  /**
   * A parse error in `half`; `head` is the start of the line it failed on. Returns false
   * when the connection turned out not to speak HTTP (parsing stops), true after a resync.
   */
  private parseFailed(half: HalfParser, err: Error, head: string): boolean {
    if (half.dead) return false;
    const code = (err as { code?: string }).code ?? err.message;
    const request = half.type === REQUEST;
    // Failing on the very first line of a connection whose start was seen, on bytes that do
    // not even begin like HTTP: the connection is not HTTP (TLS, SSH, HTTP/2 ...). A first
    // message that began like HTTP and broke later is an ordinary parse error.
    const nothingYet = !this.info.midstream && this.requestCount === 0 && this.current === null &&
      this.awaiting.length === 0 && this.responseCount === 0;
    if (nothingYet && half.parser.state === firstLineState(half.type) &&
        !(request ? requestLineStart : responseLineStart).test(head)) {
      this.stats.nonHttpConnections++;
      this.notify('nonHttp', `first bytes are not an HTTP ${request ? 'request' : 'response'}`);
      this.req.dead = true;
      this.res.dead = true;
      return false;
    }
    this.stats.parseErrors++;
    if (request) {
      this.notify('parseError', `request: ${code}`);
      this.requestLost('parseError', code);
    } else {
      this.notify('parseError', `response: ${code}`);
      // Broken on its status line the parser looks idle, but a response was coming: it goes
      // to the oldest request, which would otherwise take the next response for its own.
      if (half.parser.state === firstLineState(half.type)) {
        this.response = null;
        this.responseEnded(null, 'parseError');
      } else {
        this.responseBroken('parseError');
      }
    }
    this.resync(half);
    return true;
  }

  /** The request in progress cannot be completed. */
  private requestLost(reason: RequestLoss, detail: string): void {
    const pending = this.current;
    this.current = null;
    if (pending !== null) {
      pending.lost = true;
    } else {
      // Headers never completed, but the server may still answer what it received.
      if (this.awaiting.length >= this.options.maxPending) this.overflow();
      this.awaiting.push({ request: null as unknown as HttpRequest, complete: false, lost: true, response: null, missing: null, answered: false });
    }
    this.req.startUs = -1;
    this.stats.lost[reason]++;
    this.sink.lost(reason, this.info, detail);
  }

  /** The response in progress is unusable: its request goes without one. */
  private responseBroken(why: ResponseMissing): void {
    if (this.response !== null || !this.res.idle) {
      this.response = null;
      this.responseEnded(null, why);
    }
  }

  /** A response (or a broken one) ended: it answers the oldest request still waiting, unless
   * it answers one that stopped waiting at maxPending. */
  private responseEnded(response: HttpResponse | null, why: ResponseMissing | null): void {
    if (this.overflowed > 0) {
      this.overflowed--;
      return;
    }
    if (response !== null || this.awaiting.length > 0) this.answerHead(response, why);
  }

  /** The oldest request stops waiting for its response, which is then skipped when it comes. */
  private overflow(): void {
    this.answerHead(null, 'overflow');
    this.overflowed++;
  }

  /** Pairs `response` (or its absence) with the oldest request awaiting one. */
  private answerHead(response: HttpResponse | null, why: ResponseMissing | null): void {
    const head = this.awaiting.shift();
    if (head === undefined) {
      if (response !== null) this.stats.orphanResponses++;
      return;
    }
    head.answered = true;
    if (head.lost) {
      if (response !== null) this.stats.responsesToLostRequests++;
      return;
    }
    head.response = response;
    head.missing = response === null ? why ?? 'closed' : null;
    if (head.missing !== null) this.stats.responsesMissing[head.missing]++;
    // An early answer (before the request's last byte) waits for the request to complete.
    if (head.complete) this.emitExchange(head);
  }

  private emitExchange(p: Pending): void {
    this.sink.exchange({ request: p.request, response: p.response, responseMissing: p.missing });
  }

  private bindRequestParser(): void {
    const parser = this.req.parser;
    parser[kOnHeadersComplete] = (info: HeaderInfo) => {
      checkContentLength(info.headers);
      this.dropAnswersLostInGap();
      const message = newMessage(this.req, info, this.nowUs) as HttpRequest;
      message.conn = this.info;
      message.index = this.requestCount++;
      message.method = methods[info.method];
      message.url = info.url;
      if (info.upgrade) {
        this.stats.upgradedConnections++;
        this.notify('upgrade', `${message.method} ${message.url.slice(0, 200)}`);
        this.stats.lost.upgrade++;
        this.sink.lost('upgrade', this.info, `${message.method} upgrade`);
        this.req.dead = true;
        this.res.dead = true;
        return true;
      }
      if (this.awaiting.length >= this.options.maxPending) {
        // The oldest request stops waiting for its response. It was already reported through
        // request() (or lost()), so it is not lost again: its exchange goes out without one.
        this.overflow();
      }
      const pending: Pending = { request: message, complete: false, lost: false, response: null, missing: null, answered: false };
      this.current = pending;
      this.awaiting.push(pending);
      this.req.collecting = true;
      return 0;
    };
    parser[kOnBody] = (chunk, offset, length) => {
      if (this.req.collecting) this.bodyOf(this.req, this.options.keepRequestBodies, this.options.maxBodyBytes).add(chunk, offset, length);
    };
    parser[kOnHeaders] = (trailers) => {
      if (this.current !== null) this.current.request.trailers = trailers;
    };
    parser[kOnMessageComplete] = () => {
      const pending = this.current;
      this.current = null;
      if (pending === null) return;
      const request = pending.request;
      request.endUs = this.nowUs;
      this.fillBody(this.req, request, this.options.keepRequestBodies);
      this.req.startUs = this.nowUs; // a pipelined successor starts in this chunk, if at all
      pending.complete = true;
      this.stats.requests++;
      this.sink.request(request);
      if (pending.answered) this.emitExchange(pending);
    };
  }

  /** After a response-stream gap, a new request means the client had its earlier answers:
   * requests completed before that gap lost their responses in it. */
  private dropAnswersLostInGap(): void {
    if (this.responseGapUs < 0) return;
    this.overflowed = 0; // the client had those answers too
    while (this.awaiting.length > 0) {
      const head = this.awaiting[0];
      if (!head.lost && !(head.complete && head.request.endUs <= this.responseGapUs)) break;
      this.answerHead(null, 'gap');
    }
    this.responseGapUs = -1;
  }

  private bindResponseParser(): void {
    const parser = this.res.parser;
    parser[kOnHeadersComplete] = (info: HeaderInfo) => {
      checkContentLength(info.headers);
      const message = newMessage(this.res, info, this.nowUs) as HttpResponse;
      message.statusCode = info.statusCode;
      message.statusMessage = info.statusMessage;
      this.response = message;
      this.res.collecting = true;
      const head = this.awaiting.length > 0 ? this.awaiting[0] : null;
      const method = head !== null && !head.lost ? head.request.method : '';
      if (info.upgrade || info.statusCode === 101 || (method === 'CONNECT' && info.statusCode >= 200 && info.statusCode < 300)) {
        // The connection leaves HTTP: pair this answer, then stop parsing.
        this.stats.upgradedConnections++;
        this.notify('upgrade', `status ${info.statusCode}`);
        this.completeResponse();
        this.req.dead = true;
        this.res.dead = true;
        return true;
      }
      // No body after HEAD, 1xx, 204 or 304, whatever Content-Length says (RFC 9110 §6.4.1).
      const status = info.statusCode;
      return method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200) ? 1 : 0;
    };
    parser[kOnBody] = (chunk, offset, length) => {
      if (this.res.collecting) this.bodyOf(this.res, this.options.keepResponseBodies, this.options.maxResponseBodyBytes).add(chunk, offset, length);
    };
    parser[kOnHeaders] = (trailers) => {
      if (this.response !== null) this.response.trailers = trailers;
    };
    parser[kOnMessageComplete] = () => {
      if (this.res.dead) return;
      this.completeResponse();
      this.res.startUs = this.nowUs;
    };
  }

  /** The half's body collector, made when the first body byte arrives (most messages have none). */
  private bodyOf(half: HalfParser, keep: boolean, max: number): BodyCollector {
    if (half.body === null) half.body = new BodyCollector(keep, this.options.hashBodies, max);
    return half.body;
  }

  private fillBody(half: HalfParser, message: HttpMessage, keep: boolean): void {
    if (half.body !== null) half.body.fill(message);
    else fillEmptyBody(message, keep, this.options.hashBodies);
    half.body = null;
    half.collecting = false;
  }

  private completeResponse(): void {
    const response = this.response;
    this.response = null;
    if (response === null) return;
    response.endUs = this.nowUs;
    this.fillBody(this.res, response, this.options.keepResponseBodies);
    this.responseCount++;
    if (response.statusCode >= 100 && response.statusCode < 200 && response.statusCode !== 101) {
      this.stats.informationalResponses++;
      return;
    }
    this.stats.responses++;
    this.responseEnded(response, null);
    if (this.awaiting.length === 0) this.responseGapUs = -1;
  }
}

function firstLineState(type: string): string {
  return type === REQUEST ? 'REQUEST_LINE' : 'RESPONSE_LINE';
}

/** True when chunked is the final transfer coding (RFC 9112 §6.1), over all the
 * Transfer-Encoding headers: "gzip, chunked" is chunked, "chunked, gzip" is not. */
function isChunked(headers: string[]): boolean {
  let last: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === 17 && name.toLowerCase() === 'transfer-encoding') last = headers[i + 1];
  }
  if (last === null) return false;
  const comma = last.lastIndexOf(',');
  return last.slice(comma + 1).trim().toLowerCase() === 'chunked';
}

export class HttpStage implements StreamFactory {
  readonly stats: HttpStats = {
    connections: 0,
    nonHttpConnections: 0,
    upgradedConnections: 0,
    parseErrors: 0,
    requests: 0,
    lost: { incomplete: 0, parseError: 0, evicted: 0, upgrade: 0, pipelineOverflow: 0 },
    responses: 0,
    informationalResponses: 0,
    orphanResponses: 0,
    responsesToLostRequests: 0,
    responsesMissing: { gap: 0, parseError: 0, closed: 0, overflow: 0 },
    resyncs: 0,
    bytesSkipped: 0,
  };
  private readonly options: HttpOptions;
  private readonly bodiless: HttpOptions;

  constructor(private readonly sink: HttpSink, options: Partial<HttpOptions> = {}) {
    this.options = { ...defaultHttpOptions, ...options };
    this.bodiless = { ...this.options, keepRequestBodies: false, keepResponseBodies: false, hashBodies: false };
  }

  open(info: ConnectionInfo): StreamHandler {
    const servers = this.options.bodilessServers;
    const bodiless = servers !== undefined && servers.has(`${info.server.address}:${info.server.port}`);
    return new HttpConnection(info, this.sink, bodiless ? this.bodiless : this.options, this.stats);
  }
}
