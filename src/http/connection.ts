// HTTP/1.x over one connection: requests and production's responses parsed from its two
// byte streams and paired into exchanges, in request order, whatever was lost between.

import type { CloseReason, ConnectionInfo, Direction, StreamHandler } from '../tcp';
import { ToServer } from '../tcp';
import { AnalyzerContext, MessageHolder, ProtocolAnalyzer, Recognition, selectAnalyzer } from './analyzer';
import { BodyCollector, fillEmptyBody } from './body';
import { HalfParser, firstLineState, newMessage } from './half';
import {
  HeaderInfo, HttpParseError, MAX_LINE, Parser, REQUEST, RESPONSE, checkContentLength, couldStartMessage, headerValue,
  kOnBody, kOnHeaders, kOnHeadersComplete, kOnMessageComplete, methods, readOrdinaryHead,
} from './parser';
import { SyncReport, findMessageStart, requestLineStart, responseLineStart } from './sync';
import type {
  HttpMessage, HttpOptions, HttpRequest, HttpResponse, HttpSink, HttpStats, RequestLoss, ResponseMissing,
} from './types';

/** Longest start of a first message kept before a parser is made for it. */
const STASH_LIMIT = 1024;

/** True when `text`, a direction's first bytes, is the start of a message head short of its
 * end (the parser judges everything else at once). */
function mayStash(type: string, text: string): boolean {
  if (/\n\r?\n/.test(text)) return false;
  const from = /^[\r\n]*/.exec(text)![0].length;
  const newline = text.indexOf('\n', from);
  const line = text.slice(from, newline < 0 ? text.length : newline).replace(/\r$/, '');
  return couldStartMessage(type, line);
}

/** True when buf[start..end) holds the end of a head (a line feed, an optional CR, a line
 * feed): what mayStash's first test finds in the same bytes as text. */
function holdsHeadEnd(buf: Buffer, start: number, end: number): boolean {
  for (let i = start; i + 1 < end; i++) {
    if (buf[i] === 10 && (buf[i + 1] === 10 || (buf[i + 1] === 13 && i + 2 < end && buf[i + 2] === 10))) return true;
  }
  return false;
}

/** Client bytes kept at most while an Upgrade request (or a CONNECT) waits for production's answer. */
const MAX_HELD_BYTES = 256 * 1024;

/** A request whose headers were seen, waiting for completion and for its response. */
interface Pending {
  request: HttpRequest;
  complete: boolean;
  lost: boolean;
  response: HttpResponse | null;
  missing: ResponseMissing | null;
  answered: boolean;
  /** It asked to switch protocols (Upgrade:): reported only once production answers without
   * switching (101 makes it lost as 'upgrade'); `held` while complete and waiting for that.
   * A CONNECT is one too (http-parser-js says so): a 2xx answer opens a tunnel. */
  upgrade?: boolean;
  held?: boolean;
}

/** HTTP/1.x over one connection. Also every connection's analyzer until its first bytes are
 * seen (and for good when they are not: a connection picked up mid-stream), when it hands the
 * connection to the analyzer they choose, or counts it as not HTTP when none is chosen. */
export class Http1Connection implements StreamHandler, SyncReport, MessageHolder {
  private readonly sink: HttpSink;
  private readonly options: HttpOptions;
  private readonly fastHeads: boolean;
  readonly stats: HttpStats;
  /** The connection's first bytes are still to choose its analyzer. */
  private choosing: boolean;
  /** The analyzer's handler the connection went to, when not this one. */
  private handover: StreamHandler | null = null;
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
  /** Bytes of heads and bodies in progress reported to the budget's messages share. */
  private held = 0;

  /** Client bytes after an Upgrade request, kept until production answers it: HTTP/1 again
   * unless it switches protocols (or accepts a CONNECT: tunnel bytes). Null when no request is held. */
  private heldBytes: Buffer[] | null = null;
  private heldByteCount = 0;
  /** Client bytes behind an unanswered CONNECT beyond MAX_HELD_BYTES: its tunnel's, counted, not kept. */
  private heldUnkept = 0;

  constructor(private readonly info: ConnectionInfo, private readonly context: AnalyzerContext) {
    this.sink = context.sink;
    this.options = context.options;
    this.fastHeads = context.options.fastHeads !== false;
    this.stats = context.stats;
    this.choosing = !info.midstream;
    this.req = new HalfParser(REQUEST, info.midstream, (parser) => this.bindRequestParser(parser), !this.fastHeads);
    this.res = new HalfParser(RESPONSE, info.midstream, (parser) => this.bindResponseParser(parser), !this.fastHeads);
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsUs: number): void {
    this.parse(dir, buf, start, end, tsUs);
    this.reportHeld();
  }

  private parse(dir: Direction, buf: Buffer, start: number, end: number, tsUs: number): void {
    this.nowUs = tsUs;
    if (dir === ToServer && this.heldBytes !== null && !this.req.dead) return this.holdBytes(buf, start, end);
    const half = dir === ToServer ? this.req : this.res;
    if (this.choosing && !half.dead) this.choose(dir, buf, start, end);
    if (half.dead) {
      if (this.handover !== null) this.handover.data(dir, buf, start, end, tsUs);
      return;
    }
    half.lastDataUs = tsUs;
    if (!half.hasParser && !half.syncing) {
      // A first head still arriving is kept as it is; the parser is made once it is whole.
      const stashed = half.stash;
      let text: string | null = null;
      // Most first chunks hold a whole head: no text is made of them to find that out.
      if (stashed.length + (end - start) < STASH_LIMIT && (stashed !== '' || !holdsHeadEnd(buf, start, end))) {
        text = stashed + buf.toString('latin1', start, end);
        if (mayStash(half.type, text)) {
          if (half.startUs < 0) half.startUs = tsUs;
          half.stash = text;
          return;
        }
      }
      if (stashed !== '') {
        half.stash = '';
        buf = Buffer.from(text ?? stashed + buf.toString('latin1', start, end), 'latin1');
        start = 0;
        end = buf.length;
      }
    }
    // One round per message boundary found: after a parse error, the rest of the chunk is
    // searched for the next message (a good request pipelined behind a bad one).
    while (start < end && !half.dead) {
      if (half.syncing) {
        start = findMessageStart(half, buf, start, end, tsUs, this);
        if (start < 0) return;
      }
      if (half.startUs < 0) half.startUs = tsUs;
      const parser = half.parser;
      const lineBefore = parser.line;
      let outcome: number | Error;
      let head: string | null = null;
      try {
        // An ordinary head is read here; http-parser-js goes on from its last CRLF.
        let from = start;
        if (this.fastHeads && parser.line === '' && parser.state === firstLineState(half.type)) {
          const headEnd = readOrdinaryHead(parser, half.type, buf, start, end);
          if (headEnd >= 0) from = headEnd;
        }
        outcome = parser.execute(buf, from, end - from);
        if (typeof outcome === 'number') outcome += from - start;
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
      if (half.dead) {
        // Switched to a protocol another analyzer reads, or a CONNECT tunnel opened: the rest of the chunk is its.
        if (this.handover !== null && outcome < end - start) this.handover.data(dir, buf, start + outcome, end, tsUs);
        return;
      }
      if (half.idle) half.startUs = -1;
      // http-parser-js stops after an Upgrade request's head: what follows waits for production's answer.
      if (outcome > 0 && outcome < end - start) {
        if (this.heldBytes !== null) this.holdBytes(buf, start + outcome, end);
        else {
          start += outcome;
          continue;
        }
      }
      break;
    }
    if (half.body !== null) half.body.detach();
  }

  /** Heads in progress count three times their bytes (http-parser-js keeps them as strings and
   * arrays of strings); bodies what is kept of them; client bytes held behind an Upgrade. */
  private reportHeld(): void {
    const req = this.req;
    const res = this.res;
    const held = 3 * (req.headBytes + res.headBytes) + (req.body?.heldBytes ?? 0) + (res.body?.heldBytes ?? 0) + this.heldByteCount;
    if (held !== this.held) {
      this.held = held;
      this.context.messages.hold(this, held);
    }
  }

  /** The memory budget ran short and this connection holds among the most: the request in
   * progress is given up (counted 'memoryShed') and so is the response in progress (its
   * exchange goes out without it, 'memory'); each side then looks for its next message, as
   * after a gap. */
  shed(): void {
    this.held = 0;
    const req = this.req;
    if (!req.dead && !req.syncing && !req.idle) {
      this.requestLost('memoryShed', `${req.headBytes > 0 ? `request head of ${req.headBytes} bytes` : 'request body'} given up`);
      req.resync();
    }
    const res = this.res;
    if (!res.dead && !res.syncing && !res.idle) {
      this.responseBroken('memory');
      res.resync();
    }
  }

  gap(dir: Direction, bytes: number, tsUs: number): void {
    this.nowUs = tsUs;
    this.choosing = false; // what follows is not the connection's start: HTTP/1 resyncs
    const half = dir === ToServer ? this.req : this.res;
    if (half.dead) {
      if (this.handover !== null) this.handover.gap(dir, bytes, tsUs);
      return;
    }
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
      half.resync();
      half.skipped = tailSeen;
    } else {
      if (!half.syncing && !half.idle) this.responseBroken('gap');
      this.responseGapUs = tsUs;
      half.resync();
    }
    this.reportHeld();
  }

  fin(dir: Direction, tsUs: number): void {
    this.nowUs = tsUs;
    if (this.handover !== null) return this.handover.fin(dir, tsUs);
    if (dir === ToServer || this.res.dead || this.res.syncing) return;
    // A response delimited by the connection's end completes here; its last byte is the
    // last data seen, not the FIN (which may come much later).
    if (this.res.lastDataUs >= 0) this.nowUs = this.res.lastDataUs;
    if (this.res.idle) {
      this.res.dead = true; // nothing in progress to end
      return;
    }
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
    this.end(reason, tsUs);
    if (this.held !== 0) {
      this.held = 0;
      this.context.messages.hold(this, 0);
    }
  }

  private end(reason: CloseReason, tsUs: number): void {
    this.nowUs = tsUs;
    if (this.handover !== null) return this.handover.close(reason, tsUs);
    if (this.heldBytes !== null) this.releaseHeld(); // no answer will come: HTTP/1 still
    const req = this.req;
    if (!req.dead && req.syncing && req.headUnseen && req.skipped > 0) {
      // The connection's end is a boundary too: the tail seen after a gap was a request's.
      this.unseenStartLost(req.skipped);
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

  /** The connection's first bytes choose its analyzer: this one, another (which gets the
   * connection from these bytes on), or none (the connection is counted, not parsed). */
  private choose(dir: Direction, buf: Buffer, start: number, end: number): void {
    this.choosing = false;
    const chosen = selectAnalyzer(this.context.analyzers, dir, buf, start, end);
    if (chosen === http1) return;
    if (chosen === null) return this.notHttp(dir === ToServer);
    this.req.dead = true;
    this.res.dead = true;
    this.handover = chosen.open(this.info, this.context);
  }

  /** The connection does not speak HTTP (TLS, SSH, HTTP/2 ...): it is counted, not parsed. */
  private notHttp(request: boolean): void {
    this.stats.nonHttpConnections++;
    this.notify('nonHttp', `first bytes are not an HTTP ${request ? 'request' : 'response'}`);
    this.req.dead = true;
    this.res.dead = true;
  }

  unseenStartLost(bytes: number): void {
    this.stats.lost.incomplete++;
    this.sink.lost('incomplete', this.info, `${bytes} bytes of a request whose start was not captured`);
  }

  private notify(kind: 'parseError' | 'nonHttp' | 'upgrade' | 'gap', detail: string): void {
    const bit = kind === 'parseError' ? 1 : kind === 'nonHttp' ? 2 : kind === 'upgrade' ? 4 : 8;
    if ((this.noticed & bit) !== 0) return;
    this.noticed |= bit;
    this.sink.notice(kind, this.info, detail);
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
      this.notHttp(request);
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
    half.resync();
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
    const held = head.held === true;
    if (held) {
      head.held = false; // production did not switch protocols: an ordinary request
      this.sink.request(head.request);
    }
    head.response = response;
    head.missing = response === null ? why ?? 'closed' : null;
    if (head.missing !== null) this.stats.responsesMissing[head.missing]++;
    // An early answer (before the request's last byte) waits for the request to complete.
    if (head.complete) this.emitExchange(head);
    if (held) this.parseHeldBytes();
  }

  private holdBytes(buf: Buffer, start: number, end: number): void {
    if (this.heldUnkept > 0) {
      this.heldUnkept += end - start;
      return;
    }
    this.heldBytes!.push(Buffer.from(buf.subarray(start, end)));
    this.heldByteCount += end - start;
    if (this.heldByteCount <= MAX_HELD_BYTES) return;
    if (this.awaiting.some((p) => p.held === true && p.request.method === 'CONNECT')) {
      // This far into a CONNECT's tunnel before the answer: its bytes are counted, no longer kept.
      this.heldUnkept = this.heldByteCount;
      this.heldBytes = [];
      this.heldByteCount = 0;
      return;
    }
    // A client that does not wait for the answer: stop waiting too (the request is mirrored).
    this.releaseHeld();
  }

  /** The held Upgrade request goes on as an ordinary one, before its answer. */
  private releaseHeld(): void {
    const held = this.awaiting.find((p) => p.held === true);
    if (held !== undefined) {
      held.held = false;
      this.sink.request(held.request);
    }
    this.parseHeldBytes();
  }

  private parseHeldBytes(): void {
    const bytes = this.heldBytes;
    this.heldBytes = null;
    this.heldByteCount = 0;
    if (this.heldUnkept > 0) {
      // A CONNECT's tunnel bytes that were not kept cannot be parsed: skipped, and the next
      // request looked for.
      this.stats.bytesSkipped += this.heldUnkept;
      this.heldUnkept = 0;
      if (!this.req.dead) this.req.resync();
      return;
    }
    if (bytes !== null && bytes.length > 0 && !this.req.dead) {
      const all = Buffer.concat(bytes);
      this.data(ToServer, all, 0, all.length, this.nowUs);
    }
  }

  private emitExchange(p: Pending): void {
    this.sink.exchange({ request: p.request, response: p.response, responseMissing: p.missing });
  }

  private bindRequestParser(parser: Parser): void {
    parser[kOnHeadersComplete] = (info: HeaderInfo) => {
      checkContentLength(info.headers);
      this.dropAnswersLostInGap();
      const message = newMessage(this.req, info, this.nowUs) as HttpRequest;
      message.id = this.context.ids.next++;
      message.conn = this.info;
      message.index = this.requestCount++;
      message.method = methods[info.method];
      message.url = info.url;
      if (this.awaiting.length >= this.options.maxPending) {
        // The oldest request stops waiting for its response. It was already reported through
        // request() (or lost()), so it is not lost again: its exchange goes out without one.
        this.overflow();
      }
      const pending: Pending = { request: message, complete: false, lost: false, response: null, missing: null, answered: false, upgrade: info.upgrade };
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
      if (pending.upgrade === true && !pending.answered) {
        pending.held = true; // until production answers: 101 or not
        this.heldBytes = [];
        return;
      }
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

  private bindResponseParser(parser: Parser): void {
    parser[kOnHeadersComplete] = (info: HeaderInfo) => {
      checkContentLength(info.headers);
      const message = newMessage(this.res, info, this.nowUs) as HttpResponse;
      message.statusCode = info.statusCode;
      message.statusMessage = info.statusMessage;
      this.response = message;
      this.res.collecting = true;
      const head = this.awaiting.length > 0 ? this.awaiting[0] : null;
      const method = head !== null && !head.lost ? head.request.method : '';
      if (method === 'CONNECT' && info.statusCode >= 200 && info.statusCode < 300) return this.openTunnel();
      if (info.upgrade || info.statusCode === 101) {
        // The connection leaves HTTP: pair this answer (an Upgrade request's is lost as
        // 'upgrade': what follows is not HTTP/1), then stop parsing.
        this.stats.upgradedConnections++;
        this.notify('upgrade', `status ${info.statusCode}`);
        if (head !== null && head.upgrade === true && !head.lost) {
          if (info.statusCode !== 101 || !this.upgradeTo(head, info.headers)) this.switchedProtocols(head);
        } else this.completeResponse();
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

  /** Production switched `head`, a complete Upgrade request, to a protocol another analyzer
   * reads (h2c): that analyzer takes the connection, the request (which the new protocol
   * answers) and the client bytes held since. False when none does. */
  private upgradeTo(head: Pending, responseHeaders: string[]): boolean {
    const protocol = headerValue(responseHeaders, 'upgrade');
    if (protocol === null || !head.complete) return false;
    const settings = headerValue(head.request.headers, 'http2-settings');
    for (const analyzer of this.context.analyzers) {
      const handler = analyzer.upgrade?.(protocol, this.info, this.context, head.request, settings) ?? null;
      if (handler === null) continue;
      this.awaiting.shift();
      this.response = null;
      head.held = false;
      this.handover = handler;
      const bytes = this.heldBytes;
      this.heldBytes = null;
      this.heldByteCount = 0;
      if (bytes !== null && bytes.length > 0) {
        const all = Buffer.concat(bytes);
        handler.data(ToServer, all, 0, all.length, this.nowUs);
      }
      return true;
    }
    return false;
  }

  /** Production switched protocols for `head`, an Upgrade request: it is lost as 'upgrade'. */
  private switchedProtocols(head: Pending): void {
    this.heldBytes = null; // the new protocol's
    this.heldByteCount = 0;
    this.awaiting.shift();
    if (this.current === head) this.current = null;
    this.response = null;
    if (head.complete) this.stats.requests--; // counted as lost instead, as before it completed
    this.stats.lost.upgrade++;
    this.sink.lost('upgrade', this.info, `${head.request.method} upgrade`);
  }

  /** Production accepted a CONNECT (2xx): the answer, which has no body, completes its
   * exchange, and from here the connection is a tunnel whose bytes are counted, not parsed
   * (client bytes held while the CONNECT waited are its first). Returns 2: the parser stops. */
  private openTunnel(): 2 {
    const tunnel = new TunnelCounter(this.stats);
    const held = this.heldBytes;
    this.heldBytes = null;
    this.heldByteCount = 0;
    if (held !== null) for (const chunk of held) tunnel.data(ToServer, chunk, 0, chunk.length);
    this.stats.tunnelBytesToServer += this.heldUnkept;
    this.heldUnkept = 0;
    this.stats.tunnels++;
    this.req.dead = true;
    this.res.dead = true;
    this.handover = tunnel;
    this.completeResponse();
    return 2;
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

/** A CONNECT tunnel's bytes: counted each way (tunnelBytesToServer/ToClient), never parsed. */
class TunnelCounter implements StreamHandler {
  constructor(private readonly stats: HttpStats) {}

  data(dir: Direction, _buf: Buffer, start: number, end: number): void {
    if (dir === ToServer) this.stats.tunnelBytesToServer += end - start;
    else this.stats.tunnelBytesToClient += end - start;
  }

  gap(): void {} // the tcp stage counts what was lost
  fin(): void {}
  close(): void {}
}

/** HTTP/1.x: a request line from the client, a status line from the server. */
export const http1: ProtocolAnalyzer = {
  name: 'http/1',
  recognize(dir: Direction, head: string): Recognition {
    let from = 0;
    while (from < head.length && (head[from] === '\r' || head[from] === '\n')) from++;
    if (from === head.length) return 'maybe';
    const newline = head.indexOf('\n', from);
    let line = head.slice(from, newline < 0 ? head.length : newline);
    if (line.endsWith('\r')) line = line.slice(0, -1);
    const request = dir === ToServer;
    if (!couldStartMessage(request ? REQUEST : RESPONSE, line)) return 'no';
    // Anything else that begins like a message is left to the parser to judge.
    return (request ? requestLineStart : responseLineStart).test(line) ? 'yes' : 'maybe';
  },
  open: (info, context) => new Http1Connection(info, context),
};
