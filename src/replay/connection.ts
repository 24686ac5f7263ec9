// One connection to a shadow: requests written as bytes, several per write when they queue up
// together, and the answers framed by the parser that frames production's.

import * as net from 'node:net';
import * as tls from 'node:tls';
import {
  HeaderInfo, Parser, RESPONSE, checkContentLength, createParser, isChunked, kOnBody, kOnHeadersComplete,
  kOnMessageComplete, readOrdinaryHead,
} from '../http';
import type { HttpRequest } from '../http';
import type { ShadowCall } from './call';

/** Where a target's connections go. */
export interface Endpoint {
  host: string;
  port: number;
  tls: boolean;
  /** TLS: the name the certificate must carry (null for an address). */
  servername: string | null;
  /** TLS: trusted CA certificates (PEM) instead of the system's, or null. */
  ca: string | null;
  connectTimeoutMs: number;
  /** Told where each request begins and each answer ends in the connection's byte streams
   * (plain TCP only), as target number `target`; null: nobody asks. */
  wire: { watch: WireWatch; target: number } | null;
}

/** Learns, per plain TCP connection to a target (by its local port), the offset in the stream
 * sent at which each request began and the offset in the stream received at which its answer
 * ended: wire timing matches them with the packets the capture saw. Offsets are mod 2^32. */
export interface WireWatch {
  opened(target: number, localPort: number): void;
  /** No more requests or answers on it (what was sent unanswered is retried elsewhere or failed). */
  closed(target: number, localPort: number): void;
  /** `queued`: written behind unanswered requests on its connection (pipelined), so not timed. */
  sent(target: number, localPort: number, offset: number, req: HttpRequest, queued: boolean): void;
  answered(target: number, localPort: number, endOffset: number, req: HttpRequest): void;
}

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** It has bytes to write: flush() it before this turn of the event loop ends. */
  wantsFlush(conn: ShadowConnection): void;
  /** It answered a request (a slot is free), or is done with `calls` (it died or must close:
   * they never got their answer). */
  answered(conn: ShadowConnection): void;
  lost(conn: ShadowConnection, calls: ShadowCall[], code: string, timedOut: boolean): void;
}

/** What every plain connection reads into, one read at a time: a read is parsed before the next
 * one, and the parser and the calls copy what they keep (no buffer allocated per read). */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Bodies up to this size are copied into the batch; larger ones are written as they are. */
const COPY_BODY_MAX = 64 * 1024;

export class ShadowConnection {
  private readonly socket: net.Socket;
  private readonly parser: Parser;
  /** Calls on this connection, oldest first: calls[0] is being answered; the last `unsent`
   * ones are not written yet. */
  readonly calls: ShadowCall[] = [];
  private unsent = 0;
  /** It is in its pool's list of connections to flush this turn. */
  flushDue = false;
  connected = false;
  /** Dead, or closing: takes no more calls. */
  closed = false;
  /** The current response is an interim one (1xx): it answers nothing. */
  private interim = false;
  /** The last response allows another request on this connection. */
  private reusable = true;
  /** Calls answered on this connection, waiting to be told so once the parser returns. */
  private readonly answeredCalls: ShadowCall[] = [];
  private connectTimer: NodeJS.Timeout | null;
  /** performance.now() when it last had nothing in flight. */
  idleSince = performance.now();
  /** How long it may stay idle: the pool's limit, lowered by the shadow's Keep-Alive hint. */
  idleLimitMs: number;
  /** Resolves once the socket is closed. */
  readonly gone: Promise<void>;
  /** Wire timing's watch (plain TCP only), and the local port it knows this connection by. */
  private readonly wire: Endpoint['wire'];
  private localPort = 0;
  /** Bytes written and received so far. */
  private sentBytes = 0;
  private receivedBytes = 0;
  /** Where in the received stream the chunk being parsed starts. */
  private chunkStart = 0;
  /** The shadow closed: an answer ending now ends at the last byte received. */
  private atClose = false;

  constructor(endpoint: Endpoint, private readonly owner: ConnectionOwner, idleLimitMs: number) {
    this.idleLimitMs = idleLimitMs;
    this.wire = endpoint.tls ? null : endpoint.wire;
    this.socket = endpoint.tls
      ? tls.connect({
        host: endpoint.host, port: endpoint.port, ALPNProtocols: ['http/1.1'],
        ...(endpoint.servername !== null ? { servername: endpoint.servername } : {}),
        ...(endpoint.ca !== null ? { ca: endpoint.ca } : {}),
      })
      : net.connect({ host: endpoint.host, port: endpoint.port, onread: { buffer: READ_BUFFER, callback: (n: number) => { this.onData(READ_BUFFER, n); return true; } } });
    const socket = this.socket;
    socket.setNoDelay(true);
    socket.once(endpoint.tls ? 'secureConnect' : 'connect', () => this.onConnect());
    if (endpoint.tls) socket.on('data', (chunk: Buffer) => this.onData(chunk, chunk.length));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err: Error & { code?: string }) => this.lose(err.code ?? err.message, false));
    this.gone = new Promise((resolve) => socket.once('close', () => {
      this.lose('ECONNRESET', false);
      resolve();
    }));
    this.connectTimer = setTimeout(() => this.lose('connect timeout', true), endpoint.connectTimeoutMs);

    const parser = createParser(RESPONSE);
    parser[kOnHeadersComplete] = (info) => this.onHead(info);
    parser[kOnBody] = (chunk, offset, length) => {
      if (!this.interim) this.calls[0].onBody(chunk, offset, length);
    };
    parser[kOnMessageComplete] = () => this.onMessageEnd();
    this.parser = parser;
  }

  get inFlight(): number {
    return this.calls.length;
  }

  /** Takes the call; its bytes go out at the next flush (once connected). */
  send(call: ShadowCall): void {
    call.connection = this;
    this.calls.push(call);
    this.unsent++;
    if (this.connected) this.owner.wantsFlush(this);
  }

  /** Writes every unsent call: small ones in one buffer, large bodies as they are. */
  flush(): void {
    this.flushDue = false;
    if (!this.connected || this.closed || this.unsent === 0) return;
    const from = this.calls.length - this.unsent;
    this.unsent = 0;
    let size = 0;
    for (let i = from; i < this.calls.length; i++) {
      const req = this.calls[i].job;
      size += req.head.length;
      const body = req.request.body;
      if (body !== null && body.length <= COPY_BODY_MAX) size += body.length;
    }
    const socket = this.socket;
    const now = performance.now();
    let buf = Buffer.allocUnsafe(size);
    let at = 0;
    /** Bytes of the stream before buf[0]. */
    let before = this.sentBytes;
    let corked = false;
    const wire = this.wire;
    for (let i = from; i < this.calls.length; i++) {
      const call = this.calls[i];
      const job = call.job;
      // Behind an unanswered request on this connection, its answer waits for that one's.
      const queued = i > 0;
      if (wire !== null) wire.watch.sent(wire.target, this.localPort, (before + at) % 2 ** 32, job.request, queued);
      at += buf.write(job.head, at, 'latin1');
      const body = job.request.body;
      if (body !== null && body.length > 0) {
        if (body.length <= COPY_BODY_MAX) {
          at += body.copy(buf, at);
        } else {
          if (!corked) socket.cork();
          corked = true;
          socket.write(buf.subarray(0, at));
          socket.write(body);
          before += at + body.length;
          buf = buf.subarray(at);
          at = 0;
        }
      }
      call.sent(now, queued);
    }
    if (at > 0) socket.write(at === buf.length ? buf : buf.subarray(0, at));
    if (corked) socket.uncork();
    this.sentBytes = before + at;
  }

  /** A call timed out: unsent, it is dropped; written, the connection goes (an HTTP/1 request
   * cannot be taken back), with whatever else it carried. */
  abandon(call: ShadowCall): void {
    const i = this.calls.indexOf(call);
    if (i < 0) return;
    if (i >= this.calls.length - this.unsent) {
      this.calls.splice(i, 1);
      this.unsent--;
      if (this.calls.length === 0) this.idleSince = performance.now();
      return;
    }
    this.lose('timed out', false);
  }

  /** Closes it now; calls still on it are handed back to the pool. */
  destroy(code: string): void {
    this.lose(code, false);
  }

  private onConnect(): void {
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    if (this.closed) return;
    this.connected = true;
    this.socket.setKeepAlive(true, 60_000);
    if (this.wire !== null) {
      this.localPort = this.socket.localPort ?? 0;
      this.wire.watch.opened(this.wire.target, this.localPort);
    }
    if (this.unsent > 0) this.owner.wantsFlush(this);
  }

  /** chunk[0, length) came from the shadow (in READ_BUFFER for a plain connection: nothing of it
   * is kept past this call but copies). */
  private onData(chunk: Buffer, length: number): void {
    if (this.closed) return;
    if (this.calls.length === 0) return this.lose('bytes from the shadow with no request in flight', false);
    // Bytes up to the end of an answer are the oldest call's; a call behind it is answered
    // once the parser stops inside its answer.
    this.calls[0].answered = true;
    let error: Error | null = null;
    this.chunkStart = this.receivedBytes;
    this.receivedBytes += length;
    try {
      // An ordinary head is read straight from the bytes (as production's are); the parser goes on from its last line.
      const parser = this.parser;
      let from = 0;
      if (parser.line === '' && parser.state === 'RESPONSE_LINE') {
        const headEnd = readOrdinaryHead(parser, RESPONSE, chunk, 0, length);
        if (headEnd >= 0) from = headEnd;
      }
      const r = parser.execute(chunk, from, length - from);
      if (r instanceof Error) error = r;
    } catch (e) {
      error = e as Error;
    }
    if (error === null && this.calls.length > 0 && !(this.parser.state === 'RESPONSE_LINE' && this.parser.line.trim() === '')) {
      this.calls[0].answered = true;
    }
    // Unanswered calls go back to the pool before the answered ones make room for more.
    if (error !== null) this.lose((error as Error & { code?: string }).code ?? error.message, false);
    else if (!this.reusable) this.lose('closed by the shadow', false);
    this.settleAnswered();
  }

  private onEnd(): void {
    if (this.closed) return;
    // A body delimited by the close ends here.
    if (this.calls.length > 0 && this.parser.state === 'BODY_RAW') {
      this.atClose = true;
      try {
        this.parser.finish();
      } catch {
        // lost below
      }
    }
    this.lose(this.calls.length > 0 && this.calls[0].answered ? 'closed mid-answer' : 'closed by the shadow', false);
    this.settleAnswered();
  }

  private onHead(info: HeaderInfo): number {
    checkContentLength(info.headers);
    const status = info.statusCode;
    if (status < 200) {
      // 101 would leave HTTP: no request we send asks for it.
      if (status === 101) throw Object.assign(new Error('101 Switching Protocols'), { code: 'HPE_UPGRADE' });
      this.interim = true;
      return 1;
    }
    this.interim = false;
    const headers = info.headers;
    this.parser.isChunked = isChunked(headers); // http-parser-js only knows "Transfer-Encoding: chunked"
    this.reusable = this.keepsAlive(info);
    const call = this.calls[0];
    call.onHead(status, headers);
    // No body after HEAD, 204 or 304, whatever Content-Length says (RFC 9110 §6.4.1).
    return call.method === 'HEAD' || status === 204 || status === 304 ? 1 : 0;
  }

  /** Whether the connection stays open after this response; reads a Keep-Alive timeout hint. */
  private keepsAlive(info: HeaderInfo): boolean {
    let close = false;
    let keepAlive = false;
    const headers = info.headers;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      if (name.length === 10) {
        const lower = name.toLowerCase();
        if (lower === 'connection') {
          const v = headers[i + 1].toLowerCase();
          if (v.includes('close')) close = true;
          if (v.includes('keep-alive')) keepAlive = true;
        } else if (lower === 'keep-alive') {
          // Leave a second's margin before the shadow's own limit, as undici does.
          const hint = /timeout\s*=\s*(\d+)/i.exec(headers[i + 1]);
          if (hint !== null) this.idleLimitMs = Math.min(this.idleLimitMs, Math.max(0, Number(hint[1]) * 1000 - 1000));
        }
      }
    }
    if (close) return false;
    return info.versionMajor > 1 || (info.versionMajor === 1 && info.versionMinor >= 1) || keepAlive;
  }

  private onMessageEnd(): void {
    if (this.interim) {
      this.interim = false;
      return;
    }
    const call = this.calls.shift() as ShadowCall;
    call.connection = null;
    this.answeredCalls.push(call);
    // The parser stands just past the answer's last byte (or, at a close, all was read).
    const wire = this.wire;
    if (wire !== null) {
      const end = this.atClose ? this.receivedBytes : this.chunkStart + this.parser.offset;
      wire.watch.answered(wire.target, this.localPort, end % 2 ** 32, call.job.request);
    }
  }

  /** Tells the calls answered during the last parse, outside the parser's callbacks. */
  private settleAnswered(): void {
    if (this.answeredCalls.length === 0) return;
    if (this.calls.length === 0) this.idleSince = performance.now();
    const calls = this.answeredCalls.splice(0);
    for (const call of calls) call.complete();
    this.owner.answered(this);
  }

  private lose(code: string, timedOut: boolean): void {
    if (this.closed) return;
    this.closed = true;
    if (this.connectTimer !== null) clearTimeout(this.connectTimer);
    this.connectTimer = null;
    this.socket.destroy();
    if (this.wire !== null && this.localPort !== 0) this.wire.watch.closed(this.wire.target, this.localPort);
    const calls = this.calls.splice(0);
    this.unsent = 0;
    for (const call of calls) call.connection = null;
    this.owner.lost(this, calls, code, timedOut);
  }
}
