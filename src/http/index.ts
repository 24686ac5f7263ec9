// Turns a connection's two byte streams into HTTP/1.x exchanges: each request with production's
// response and the capture timestamps of their first and last bytes. Knows nothing of shadows.

import { createHash, Hash, hash as oneShot } from 'node:crypto';
import type { CloseReason, ConnectionInfo, Direction, StreamFactory, StreamHandler } from '../tcp';
import { ToServer } from '../tcp';
import {
  HeaderInfo, HttpParseError, MAX_LINE, Parser, REQUEST, RESPONSE, checkContentLength, createParser,
  headerValue, isIdle, kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete, methods,
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
  /** The body exceeded maxBodyBytes: `body` holds only its start. */
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
  /** Bytes of one body kept in memory; a longer body is marked truncated. */
  maxBodyBytes: number;
  /** Requests on one connection awaiting their responses. */
  maxPending: number;
}

export const defaultHttpOptions: HttpOptions = {
  keepRequestBodies: true,
  keepResponseBodies: false,
  hashBodies: false,
  maxBodyBytes: 16 << 20,
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
const requestStart = new RegExp(`(?:^|\\n)(?:${methods.map((m) => m.replace('-', '\\-')).join('|')}) [^ \\r\\n]`);
const responseStart = /(?:^|\n)HTTP\/1\.[01] [0-9]{3}/;

/** Bodies up to this size are hashed in one call at the end; longer ones incrementally. */
const ONE_SHOT_HASH_BYTES = 64 * 1024;

class BodyCollector {
  size = 0;
  /** Copies of the body's chunks: kept for the caller, or held for a one-shot hash. */
  private chunks: Buffer[] = [];
  private held = 0;
  private truncated = false;
  private hash: Hash | null = null;

  constructor(private readonly keep: boolean, private readonly hashing: boolean, private readonly max: number) {}

  add(chunk: Buffer, offset: number, length: number): void {
    if (length === 0) return;
    this.size += length;
    if (!this.keep && !this.hashing) return;
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

  fill(message: HttpMessage): void {
    message.bodySize = this.size;
    message.bodyTruncated = this.keep && this.truncated;
    const whole = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.held);
    if (this.hashing) {
      if (this.hash !== null) message.bodySha256 = this.hash.digest('hex');
      else message.bodySha256 = this.size === 0 ? EMPTY_SHA256 : oneShotSha256(whole);
    }
    if (this.keep) message.body = whole;
  }
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

function newMessage(startUs: number): HttpMessage {
  return {
    versionMajor: 1, versionMinor: 1, headers: [], trailers: [], body: null, bodySize: 0,
    bodyTruncated: false, bodySha256: null, chunked: false, startUs, endUs: startUs,
  };
}

class HalfParser {
  readonly parser: Parser;
  /** Looking for a message boundary (mid-stream start, after a gap or an error). */
  syncing: boolean;
  dead = false;
  /** Capture time of the first byte of the message in progress; -1 when idle. */
  startUs = -1;
  body: BodyCollector | null = null;
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
  private nowUs = 0;
  /** Capture time of the last gap in the response stream; -1 if none since idle. */
  private responseGapUs = -1;
  private noticed = 0;

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
    if (half.syncing) {
      const found = this.findMessageStart(half, buf, start, end);
      if (found < 0) {
        this.stats.bytesSkipped += end - start;
        return;
      }
      this.stats.bytesSkipped += found - start;
      start = found;
      half.syncing = false;
      half.reset();
    }
    if (half.startUs < 0) half.startUs = tsUs;
    let outcome: number | Error;
    try {
      outcome = half.parser.execute(buf, start, end - start);
      if (!(outcome instanceof Error) && half.parser.line.length > MAX_LINE) {
        outcome = new HttpParseError('HPE_LINE_TOO_LONG', 'line longer than 64 KiB');
      }
    } catch (err) {
      outcome = err as Error;
    }
    if (outcome instanceof Error) {
      this.parseFailed(half, outcome, buf, start);
      return;
    }
    if (half.dead) return;
    if (half.idle) half.startUs = -1;
  }

  gap(dir: Direction, bytes: number, tsUs: number): void {
    this.nowUs = tsUs;
    const half = dir === ToServer ? this.req : this.res;
    if (half.dead) return;
    this.notify('gap', `${bytes} bytes lost ${dir === ToServer ? 'client→server' : 'server→client'}`);
    if (dir === ToServer) {
      if (!half.syncing && !half.idle) this.requestLost('incomplete', `${bytes} bytes missing`);
    } else {
      if (!half.syncing && !half.idle) this.responseBroken('gap');
      this.responseGapUs = tsUs;
    }
    this.resync(half);
  }

  fin(dir: Direction, tsUs: number): void {
    this.nowUs = tsUs;
    if (dir === ToServer || this.res.dead || this.res.syncing) return;
    // A response delimited by the connection's end completes here.
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

  private findMessageStart(half: HalfParser, buf: Buffer, start: number, end: number): number {
    // latin1 keeps one character per byte, so string offsets are byte offsets.
    const text = buf.toString('latin1', start, Math.min(end, start + 65536));
    const match = (half.type === REQUEST ? requestStart : responseStart).exec(text);
    if (match === null) return -1;
    this.stats.resyncs++;
    return start + match.index + (text[match.index] === '\n' ? 1 : 0);
  }

  private resync(half: HalfParser): void {
    half.syncing = true;
    half.reset();
  }

  private parseFailed(half: HalfParser, err: Error, buf: Buffer, start: number): void {
    if (half.dead) return;
    const code = (err as { code?: string }).code ?? err.message;
    if (half.type === REQUEST) {
      const firstMessage = this.requestCount === 0 && this.current === null && !this.info.midstream;
      if (firstMessage && !requestStart.test(buf.toString('latin1', start, start + 24))) {
        this.stats.nonHttpConnections++;
        this.notify('nonHttp', 'first bytes are not an HTTP request');
        this.req.dead = true;
        this.res.dead = true;
        return;
      }
      this.stats.parseErrors++;
      this.notify('parseError', `request: ${code}`);
      this.requestLost('parseError', code);
    } else {
      this.stats.parseErrors++;
      this.notify('parseError', `response: ${code}`);
      this.responseBroken('parseError');
    }
    this.resync(half);
  }

  /** The request in progress cannot be completed. */
  private requestLost(reason: RequestLoss, detail: string): void {
    const pending = this.current;
    this.current = null;
    if (pending !== null) {
      pending.lost = true;
    } else {
      // Headers never completed, but the server may still answer what it received.
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
      if (this.awaiting.length > 0) this.answerHead(null, why);
    }
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
      const message = newMessage(this.req.startUs < 0 ? this.nowUs : this.req.startUs) as HttpRequest;
      message.conn = this.info;
      message.index = this.requestCount++;
      message.method = methods[info.method];
      message.url = info.url;
      message.versionMajor = info.versionMajor;
      message.versionMinor = info.versionMinor;
      message.headers = info.headers;
      message.chunked = isChunked(info.headers);
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
        this.awaiting.shift();
        this.stats.responsesMissing.overflow++;
        this.stats.lost.pipelineOverflow++;
        this.sink.lost('pipelineOverflow', this.info, 'too many requests awaiting responses');
      }
      const pending: Pending = { request: message, complete: false, lost: false, response: null, missing: null, answered: false };
      this.current = pending;
      this.awaiting.push(pending);
      this.req.body = new BodyCollector(this.options.keepRequestBodies, this.options.hashBodies, this.options.maxBodyBytes);
      return 0;
    };
    parser[kOnBody] = (chunk, offset, length) => {
      this.req.body?.add(chunk, offset, length);
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
      this.req.body?.fill(request);
      this.req.body = null;
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
      const message = newMessage(this.res.startUs < 0 ? this.nowUs : this.res.startUs) as HttpResponse;
      message.statusCode = info.statusCode;
      message.statusMessage = info.statusMessage;
      message.versionMajor = info.versionMajor;
      message.versionMinor = info.versionMinor;
      message.headers = info.headers;
      message.chunked = isChunked(info.headers);
      this.response = message;
      this.res.body = new BodyCollector(this.options.keepResponseBodies, this.options.hashBodies, this.options.maxBodyBytes);
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
      return method === 'HEAD' ? 1 : 0;
    };
    parser[kOnBody] = (chunk, offset, length) => {
      this.res.body?.add(chunk, offset, length);
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

  private completeResponse(): void {
    const response = this.response;
    this.response = null;
    if (response === null) return;
    response.endUs = this.nowUs;
    this.res.body?.fill(response);
    this.res.body = null;
    if (response.statusCode >= 100 && response.statusCode < 200 && response.statusCode !== 101) {
      this.stats.informationalResponses++;
      return;
    }
    this.stats.responses++;
    this.answerHead(response, null);
    if (this.awaiting.length === 0) this.responseGapUs = -1;
  }
}

function isChunked(headers: string[]): boolean {
  const te = headerValue(headers, 'transfer-encoding');
  return te !== null && te.toLowerCase().includes('chunked');
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

  constructor(private readonly sink: HttpSink, options: Partial<HttpOptions> = {}) {
    this.options = { ...defaultHttpOptions, ...options };
  }

  open(info: ConnectionInfo): StreamHandler {
    return new HttpConnection(info, this.sink, this.options, this.stats);
  }
}
