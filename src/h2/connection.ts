// HTTP/2 cleartext over one connection: each direction's frames (./frames.ts), header blocks
// decoded with that direction's HPACK table (./hpack.ts), and each client stream made into an
// exchange like an HTTP/1 one (the convention on the model's H2Stream), given to the same
// HttpSink. Flow control, priorities and pings are not followed: only what the streams carry.

import type { CloseReason, ConnectionInfo, Direction, StreamHandler } from '../tcp';
import { ToClient, ToServer } from '../tcp';
import type { AnalyzerContext, MessageHolder } from '../http/analyzer';
import { BodyCollector, fillEmptyBody } from '../http/body';
import type { HttpMessage, HttpRequest, HttpResponse, HttpStats, RequestLoss, ResponseMissing } from '../http/types';
import { Flag, FrameReader, FrameSink, FrameType, MAX_FRAME_SIZE } from './frames';
import { HpackDecoder, HpackError } from './hpack';
import type { H2Stats } from './stats';

/** Largest header block (HEADERS and its CONTINUATIONs) gathered before decoding. */
export const MAX_HEADER_BLOCK = 256 * 1024;

const SETTINGS_HEADER_TABLE_SIZE = 1;
const SETTINGS_MAX_FRAME_SIZE = 5;

/** One client stream: its request, production's response, and how far each got. */
interface Stream {
  id: number;
  /** Null until its head is decoded, or when it was lost before. */
  request: HttpRequest | null;
  requestBody: BodyCollector | null;
  /** The request ended (END_STREAM), or was lost (`lost`). */
  requestDone: boolean;
  lost: boolean;
  response: HttpResponse | null;
  responseBody: BodyCollector | null;
  /** The response ended, or will not come (`missing`). */
  responseDone: boolean;
  missing: ResponseMissing | null;
  /** Bytes of the request's decoded head, held until the request ends. */
  headBytes: number;
}

/** A header block still arriving in CONTINUATION frames. */
interface PendingBlock {
  streamId: number;
  /** END_STREAM of the HEADERS frame that began it. */
  endStream: boolean;
  /** A PUSH_PROMISE's block: decoded for the table's sake, then dropped. */
  promise: boolean;
  startUs: number;
  parts: Buffer[];
  size: number;
}

type Fault = 'hpack' | 'oversized' | 'headerBlock' | 'continuation' | 'protocol';

/** One direction: its frames, its encoder's table, the header block in progress. */
class Side implements FrameSink {
  readonly hpack = new HpackDecoder();
  readonly frames: FrameReader;
  block: PendingBlock | null = null;
  /** No longer read (a gap, or bytes that cannot be followed). */
  dead = false;
  nowUs = 0;

  constructor(readonly dir: Direction, private readonly conn: H2Connection, expectPreface: boolean) {
    this.frames = new FrameReader(this, expectPreface);
  }

  frame(type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    this.conn.onFrame(this, type, flags, streamId, buf, start, end);
  }

  data(streamId: number, buf: Buffer, start: number, end: number): void {
    this.conn.onData(this, streamId, buf, start, end);
  }

  dataEnd(streamId: number, flags: number): void {
    this.conn.onDataEnd(this, streamId, flags);
  }

  broken(kind: 'preface' | 'oversized' | 'padding', detail: string): void {
    this.conn.fault(this, kind === 'oversized' ? 'oversized' : 'protocol', detail);
  }
}

/** HTTP/2 over one connection, from its first bytes (or from an accepted Upgrade: h2c). */
export class H2Connection implements StreamHandler, MessageHolder {
  private readonly stats: HttpStats;
  private readonly h2: H2Stats;
  private readonly client: Side;
  private readonly server: Side;
  /** Client streams not finished yet, oldest first. */
  private readonly streams = new Map<number, Stream>();
  /** Highest client stream id seen: a lower unknown one is a stream already finished. */
  private lastStreamId = 0;
  private requestCount = 0;
  /** Set when the server's direction can no longer be read: requests that end from then on
   * go out at once without a response, for this reason. */
  private serverGone: ResponseMissing | null = null;
  private noticed = false;
  /** Bytes reported to the messages share. */
  private held = 0;
  /** Bytes the open streams hold: request heads in progress and bodies kept so far. */
  private streamBytes = 0;
  /** Collectors that may hold a view of the current chunk (detached after it). */
  private readonly touched: BodyCollector[] = [];

  /** `upgraded`: the HTTP/1 request that asked for h2c (stream 1's), when the connection
   * switched to HTTP/2 after it; `settings`: its HTTP2-Settings header. */
  constructor(private readonly info: ConnectionInfo, private readonly context: AnalyzerContext,
    upgraded: { request: HttpRequest | null; settings: string | null } | null = null) {
    this.stats = context.stats;
    this.h2 = context.stats.h2;
    this.h2.connections++;
    this.client = new Side(ToServer, this, true);
    this.server = new Side(ToClient, this, false);
    if (upgraded === null) return;
    this.h2.upgraded++;
    this.lastStreamId = 1;
    if (upgraded.settings !== null) this.applySettings(this.client, Buffer.from(upgraded.settings, 'base64url'), 0);
    const request = upgraded.request;
    if (request === null) return;
    this.requestCount = request.index + 1;
    const stream = this.newStream(1);
    stream.request = request;
    stream.requestDone = true;
    this.context.sink.request(request);
  }

  data(dir: Direction, buf: Buffer, start: number, end: number, tsUs: number): void {
    const side = dir === ToServer ? this.client : this.server;
    if (side.dead) return;
    side.nowUs = tsUs;
    side.frames.feed(buf, start, end, tsUs);
    const touched = this.touched;
    for (let i = 0; i < touched.length; i++) touched[i].detach();
    touched.length = 0;
    this.reportHeld();
  }

  gap(dir: Direction, bytes: number, tsUs: number): void {
    const side = dir === ToServer ? this.client : this.server;
    if (side.dead) return;
    side.nowUs = tsUs;
    this.notify(`${bytes} bytes lost ${dir === ToServer ? 'client→server' : 'server→client'}: HTTP/2 cannot resume after a gap`);
    this.stop(side, 'incomplete', 'gap', `${bytes} bytes missing`);
  }

  fin(): void {
    // Streams end with END_STREAM; what is still open when the connection closes is settled then.
  }

  close(reason: CloseReason, tsUs: number): void {
    this.client.nowUs = tsUs;
    this.server.nowUs = tsUs;
    const loss: RequestLoss = reason === 'evicted' ? 'evicted' : 'incomplete';
    this.stop(this.client, loss, 'closed', `connection closed (${reason})`);
    this.stop(this.server, loss, 'closed', `connection closed (${reason})`);
    if (this.held !== 0) {
      this.held = 0;
      this.context.messages.hold(this, 0);
    }
  }

  /** The memory budget ran short: every message in progress is given up (requests as
   * 'memoryShed', responses as 'memory'); the framing and header tables are kept. */
  shed(): void {
    this.held = 0;
    for (const stream of [...this.streams.values()]) {
      if (!stream.requestDone) this.loseRequest(stream, 'memoryShed', 'request given up to stay within the memory budget');
      else if (stream.response !== null || stream.responseBody !== null) this.responseGone(stream, 'memory');
    }
  }

  // --- frames ------------------------------------------------------------------------------

  onFrame(side: Side, type: number, flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    if (side.block !== null && type !== FrameType.CONTINUATION) {
      return this.fault(side, 'continuation', `frame type ${type} where a CONTINUATION of stream ${side.block.streamId} was due`);
    }
    switch (type) {
      case FrameType.HEADERS: return this.onHeaders(side, flags, streamId, buf, start, end);
      case FrameType.CONTINUATION: return this.onContinuation(side, flags, streamId, buf, start, end);
      case FrameType.PUSH_PROMISE: return this.onPushPromise(side, flags, streamId, buf, start, end);
      case FrameType.SETTINGS:
        if ((flags & Flag.ACK) === 0) this.applySettings(side, buf, start, end);
        return;
      case FrameType.RST_STREAM: return this.onReset(side, streamId);
      case FrameType.GOAWAY:
        this.h2.goaways++;
        return;
      default:
        // PRIORITY, PING, WINDOW_UPDATE and unknown types (§5.5) carry nothing of the streams.
    }
  }

  onData(side: Side, streamId: number, buf: Buffer, start: number, end: number): void {
    const stream = this.streams.get(streamId);
    if (stream === undefined) return; // a pushed, finished or given-up stream
    const options = this.context.options;
    let body: BodyCollector;
    if (side === this.client) {
      if (stream.requestDone) return;
      body = stream.requestBody ??= new BodyCollector(options.keepRequestBodies, options.hashBodies, options.maxBodyBytes);
    } else {
      if (stream.response === null) return;
      body = stream.responseBody ??= new BodyCollector(options.keepResponseBodies, options.hashBodies, options.maxResponseBodyBytes);
    }
    const before = body.heldBytes;
    body.add(buf, start, end - start);
    this.streamBytes += body.heldBytes - before;
    this.touched.push(body);
  }

  onDataEnd(side: Side, streamId: number, flags: number): void {
    if ((flags & Flag.END_STREAM) === 0) return;
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    if (side === this.client) {
      if (!stream.requestDone && stream.request !== null) this.requestEnded(stream);
    } else if (stream.response !== null) {
      this.responseEnded(stream);
    }
  }

  private onHeaders(side: Side, flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    if (streamId === 0) return this.fault(side, 'protocol', 'HEADERS on stream 0');
    let from = start;
    let to = end;
    if ((flags & Flag.PADDED) !== 0) {
      if (from >= to) return this.fault(side, 'protocol', 'padded HEADERS without its pad length');
      to -= buf[from++];
    }
    if ((flags & Flag.PRIORITY) !== 0) from += 5;
    if (from > to) return this.fault(side, 'protocol', 'HEADERS padding beyond the frame');
    this.beginBlock(side, { streamId, endStream: (flags & Flag.END_STREAM) !== 0, promise: false, startUs: side.frames.frameStartUs, parts: [], size: 0 },
      flags, buf, from, to);
  }

  private onPushPromise(side: Side, flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    if (side === this.client) return this.fault(side, 'protocol', 'PUSH_PROMISE from the client');
    let from = start;
    let to = end;
    if ((flags & Flag.PADDED) !== 0) {
      if (from >= to) return this.fault(side, 'protocol', 'padded PUSH_PROMISE without its pad length');
      to -= buf[from++];
    }
    from += 4; // the promised stream id: its frames are the server's own, never read
    if (from > to) return this.fault(side, 'protocol', 'PUSH_PROMISE shorter than its fields');
    this.h2.pushPromises++;
    this.beginBlock(side, { streamId, endStream: false, promise: true, startUs: side.frames.frameStartUs, parts: [], size: 0 }, flags, buf, from, to);
  }

  private beginBlock(side: Side, block: PendingBlock, flags: number, buf: Buffer, from: number, to: number): void {
    if ((flags & Flag.END_HEADERS) !== 0) return this.headerBlock(side, block, buf, from, to);
    side.block = block;
    this.addFragment(side, block, buf, from, to);
  }

  private onContinuation(side: Side, flags: number, streamId: number, buf: Buffer, start: number, end: number): void {
    const block = side.block;
    if (block === null || block.streamId !== streamId) {
      return this.fault(side, 'continuation', `CONTINUATION of stream ${streamId} without a header block in progress on it`);
    }
    this.addFragment(side, block, buf, start, end);
    if (side.dead || (flags & Flag.END_HEADERS) === 0) return;
    side.block = null;
    const whole = Buffer.concat(block.parts, block.size);
    this.headerBlock(side, block, whole, 0, whole.length);
  }

  private addFragment(side: Side, block: PendingBlock, buf: Buffer, from: number, to: number): void {
    block.size += to - from;
    if (block.size > MAX_HEADER_BLOCK) {
      return this.fault(side, 'headerBlock', `header block of stream ${block.streamId} beyond ${MAX_HEADER_BLOCK} bytes`);
    }
    block.parts.push(Buffer.from(buf.subarray(from, to)));
  }

  /** A whole header block: decoded (keeping the table in step), then given to its stream. */
  private headerBlock(side: Side, block: PendingBlock, buf: Buffer, from: number, to: number): void {
    let fields: string[];
    let tooLarge: boolean;
    try {
      ({ fields, tooLarge } = side.hpack.decode(buf, from, to));
    } catch (err) {
      if (!(err instanceof HpackError)) throw err;
      side.block = block; // what it began is lost with the rest (see stop)
      return this.fault(side, 'hpack', `stream ${block.streamId}: ${err.message}`);
    }
    if (tooLarge) this.h2.headerListTooLarge++;
    if (block.promise) return;
    if (side === this.client) this.requestHead(block, fields, tooLarge);
    else this.responseHead(block, fields, tooLarge);
  }

  // --- requests ----------------------------------------------------------------------------

  private requestHead(block: PendingBlock, fields: string[], tooLarge: boolean): void {
    const id = block.streamId;
    const known = this.streams.get(id);
    if (known !== undefined) {
      if (known.requestDone) return; // a late frame for a request already settled
      return this.requestTrailers(known, block, fields, tooLarge);
    }
    if ((id & 1) === 0) {
      this.h2.protocolErrors++; // a client stream's id is odd
      return;
    }
    if (id <= this.lastStreamId) return; // a stream already settled (finished, reset or shed)
    this.lastStreamId = id;
    const stream = this.newStream(id);
    if (tooLarge) return this.loseRequest(stream, 'parseError', `stream ${id}: request head beyond the header list limit`);
    const request = this.toRequest(fields, id, block.startUs);
    if (request === null) {
      this.h2.protocolErrors++;
      return this.loseRequest(stream, 'parseError', `stream ${id}: request head without :method or :path`);
    }
    stream.request = request;
    stream.headBytes = headSize(request.headers) + request.url.length;
    this.streamBytes += stream.headBytes;
    if (block.endStream) this.requestEnded(stream);
  }

  private requestTrailers(stream: Stream, block: PendingBlock, fields: string[], tooLarge: boolean): void {
    if (tooLarge) return this.loseRequest(stream, 'parseError', `stream ${stream.id}: request trailers beyond the header list limit`);
    if (stream.request === null) return;
    stream.request.trailers = regularFields(fields);
    if (block.endStream) this.requestEnded(stream);
  }

  /** A new client stream, within maxPending open ones (the oldest is given up beyond). */
  private newStream(id: number): Stream {
    this.h2.streams++;
    if (this.streams.size >= this.context.options.maxPending) this.shedOldest();
    const stream: Stream = {
      id, request: null, requestBody: null, requestDone: false, lost: false,
      response: null, responseBody: null, responseDone: false, missing: null, headBytes: 0,
    };
    this.streams.set(id, stream);
    return stream;
  }

  private shedOldest(): void {
    const oldest = this.streams.values().next().value as Stream;
    this.h2.streamsShed++;
    if (!oldest.requestDone) this.loseRequest(oldest, 'pipelineOverflow', `more than ${this.context.options.maxPending} streams open`);
    else this.responseGone(oldest, 'overflow');
    this.streams.delete(oldest.id);
  }

  private toRequest(fields: string[], streamId: number, startUs: number): HttpRequest | null {
    let method: string | null = null;
    let path: string | null = null;
    let scheme = '';
    let authority: string | null = null;
    let hasHost = false;
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i];
      if (name.charCodeAt(0) !== 58) {
        if (name === 'host') hasHost = true;
        continue;
      }
      if (name === ':method') method = fields[i + 1];
      else if (name === ':path') path = fields[i + 1];
      else if (name === ':scheme') scheme = fields[i + 1];
      else if (name === ':authority') authority = fields[i + 1];
    }
    if (method === null) return null;
    // CONNECT names its target in :authority alone.
    const url = path ?? (method === 'CONNECT' ? authority : null);
    if (url === null) return null;
    const headers = authority !== null && !hasHost ? ['host', authority] : [];
    appendRegular(headers, fields);
    return {
      versionMajor: 2, versionMinor: 0, headers, trailers: [], body: null, bodySize: 0, bodyTruncated: false,
      bodySha256: null, chunked: false, startUs, endUs: startUs,
      id: this.context.ids.next++, conn: this.info, index: this.requestCount++, method, url,
      h2: { streamId, scheme },
    };
  }

  private requestEnded(stream: Stream): void {
    const request = stream.request!;
    request.endUs = this.client.nowUs;
    this.fillBody(request, stream.requestBody, this.context.options.keepRequestBodies);
    this.releaseRequest(stream);
    stream.requestDone = true;
    this.stats.requests++;
    this.context.sink.request(request);
    if (this.serverGone !== null && !stream.responseDone) this.responseGone(stream, this.serverGone);
    else this.finishIfDone(stream);
  }

  /** The request in progress on `stream` cannot be completed. */
  private loseRequest(stream: Stream, reason: RequestLoss, detail: string): void {
    if (stream.lost || stream.requestDone) return;
    stream.lost = true;
    stream.requestDone = true;
    stream.request = null;
    this.releaseRequest(stream);
    this.stats.lost[reason]++;
    this.context.sink.lost(reason, this.info, detail);
    this.finishIfDone(stream);
  }

  // --- responses ---------------------------------------------------------------------------

  private responseHead(block: PendingBlock, fields: string[], tooLarge: boolean): void {
    const stream = this.streams.get(block.streamId);
    if (stream === undefined) {
      // Pushed streams are the server's own; any other unknown stream answers a request never seen.
      if ((block.streamId & 1) === 1 && block.streamId > this.lastStreamId) this.stats.orphanResponses++;
      return;
    }
    if (stream.responseDone) return;
    if (stream.response !== null) {
      // Trailers.
      if (tooLarge) return this.responseGone(stream, 'parseError');
      stream.response.trailers = regularFields(fields);
      if (block.endStream) this.responseEnded(stream);
      return;
    }
    if (tooLarge) return this.responseGone(stream, 'parseError');
    const status = statusOf(fields);
    if (status === null) {
      this.h2.protocolErrors++;
      return this.responseGone(stream, 'parseError');
    }
    if (status < 200) {
      this.stats.informationalResponses++;
      return;
    }
    stream.response = {
      versionMajor: 2, versionMinor: 0, headers: regularFields(fields), trailers: [], body: null, bodySize: 0,
      bodyTruncated: false, bodySha256: null, chunked: false, startUs: block.startUs, endUs: block.startUs,
      statusCode: status, statusMessage: '',
    };
    if (block.endStream) this.responseEnded(stream);
  }

  private responseEnded(stream: Stream): void {
    const response = stream.response!;
    response.endUs = this.server.nowUs;
    this.fillBody(response, stream.responseBody, this.context.options.keepResponseBodies);
    this.releaseResponse(stream);
    stream.responseDone = true;
    this.stats.responses++;
    if (stream.lost) this.stats.responsesToLostRequests++;
    this.finishIfDone(stream);
  }

  /** Production's response to `stream` will not be had. */
  private responseGone(stream: Stream, why: ResponseMissing): void {
    if (stream.responseDone) return;
    stream.response = null;
    this.releaseResponse(stream);
    stream.responseDone = true;
    stream.missing = why;
    if (!stream.lost) this.stats.responsesMissing[why]++;
    this.finishIfDone(stream);
  }

  /** A stream whose request and response are both settled goes out as an exchange. */
  private finishIfDone(stream: Stream): void {
    if (!stream.requestDone || !stream.responseDone) return;
    this.streams.delete(stream.id);
    if (stream.lost || stream.request === null) return;
    this.context.sink.exchange({ request: stream.request, response: stream.response, responseMissing: stream.missing });
  }

  private onReset(side: Side, streamId: number): void {
    this.h2.resets++;
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    const by = side === this.client ? 'client' : 'server';
    if (!stream.requestDone) this.loseRequest(stream, 'reset', `stream ${streamId} reset by the ${by} before its request ended`);
    if (!stream.responseDone) {
      // A response already complete went out with its request; one in progress is cut off.
      this.responseGone(stream, 'reset');
    }
  }

  // --- settings, faults --------------------------------------------------------------------

  /** SETTINGS sent by `side` bound what the other direction may use: its table and frames. */
  private applySettings(side: Side, buf: Buffer, start: number, end = buf.length): void {
    const other = side === this.client ? this.server : this.client;
    for (let at = start; at + 6 <= end; at += 6) {
      const id = buf.readUInt16BE(at);
      const value = buf.readUInt32BE(at + 2);
      if (id === SETTINGS_HEADER_TABLE_SIZE) other.hpack.allow(value);
      else if (id === SETTINGS_MAX_FRAME_SIZE && value > other.frames.maxFrame) other.frames.maxFrame = Math.min(value, MAX_FRAME_SIZE);
    }
  }

  /** `side`'s bytes cannot be followed any further: counted, and that direction stops. */
  fault(side: Side, fault: Fault, detail: string): void {
    if (side.dead) return;
    const h2 = this.h2;
    if (fault === 'hpack') h2.hpackErrors++;
    else if (fault === 'oversized') h2.oversizedFrames++;
    else if (fault === 'headerBlock') h2.headerBlockTooLarge++;
    else if (fault === 'continuation') h2.continuationErrors++;
    else h2.protocolErrors++;
    this.stats.parseErrors++;
    this.notify(`${side === this.client ? 'client' : 'server'}: ${detail}`);
    this.stop(side, 'parseError', 'parseError', detail);
  }

  /** `side` is no longer read: the messages it was sending are lost (`loss` for requests,
   * `missing` for responses), and so is a request whose head was still arriving. */
  private stop(side: Side, loss: RequestLoss, missing: ResponseMissing, detail: string): void {
    if (side.dead) return;
    side.dead = true;
    side.frames.stopped = true;
    const block = side.block;
    side.block = null;
    if (side === this.client) {
      if (block !== null && !block.promise && !this.streams.has(block.streamId)) {
        // A new request whose head never completed.
        this.stats.lost[loss]++;
        this.context.sink.lost(loss, this.info, detail);
      }
      for (const stream of [...this.streams.values()]) {
        if (!stream.requestDone) this.loseRequest(stream, loss, detail);
      }
    } else {
      this.serverGone = missing;
      for (const stream of [...this.streams.values()]) {
        if (stream.requestDone) this.responseGone(stream, missing);
      }
    }
    this.reportHeld();
  }

  private notify(detail: string): void {
    if (this.noticed) return;
    this.noticed = true;
    this.context.sink.notice('parseError', this.info, `HTTP/2: ${detail}`);
  }

  // --- bodies and memory -------------------------------------------------------------------

  private fillBody(message: HttpMessage, body: BodyCollector | null, keep: boolean): void {
    if (body !== null) body.fill(message);
    else fillEmptyBody(message, keep, this.context.options.hashBodies);
  }

  /** The request's head and body no longer count as held (it ended, or was given up). */
  private releaseRequest(stream: Stream): void {
    this.streamBytes -= stream.headBytes + (stream.requestBody?.heldBytes ?? 0);
    stream.headBytes = 0;
    stream.requestBody = null;
  }

  private releaseResponse(stream: Stream): void {
    this.streamBytes -= stream.responseBody?.heldBytes ?? 0;
    stream.responseBody = null;
  }

  /** Frames split across chunks, header blocks in progress, request heads and bodies. */
  private reportHeld(): void {
    const held = this.client.frames.heldBytes + this.server.frames.heldBytes + (this.client.block?.size ?? 0) +
      (this.server.block?.size ?? 0) + this.streamBytes;
    if (held !== this.held) {
      this.held = held;
      this.context.messages.hold(this, held);
    }
  }
}

/** Bytes of a header list's names and values. */
function headSize(headers: string[]): number {
  let n = 0;
  for (let i = 0; i < headers.length; i++) n += headers[i].length;
  return n;
}

/** The fields that are not pseudo-headers, in order (split cookies joined): production's as
 * captured and, in replay, the shadow's, so that both compare in one shape. */
export function regularFields(fields: string[]): string[] {
  const out: string[] = [];
  appendRegular(out, fields);
  return out;
}

/** Appends the regular fields to `out`; cookies split into several fields (RFC 9113
 * §8.2.3) are joined into one, where the first was, as HTTP/1 carries them. */
function appendRegular(out: string[], fields: string[]): void {
  let cookieAt = -1;
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i];
    if (name.charCodeAt(0) === 58) continue;
    if (name === 'cookie') {
      if (cookieAt >= 0) {
        out[cookieAt] += `; ${fields[i + 1]}`;
        continue;
      }
      cookieAt = out.length + 1;
    }
    out.push(name, fields[i + 1]);
  }
}

/** A response head's :status, or null when it has none that is a number. */
function statusOf(fields: string[]): number | null {
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] === ':status') {
      const value = fields[i + 1];
      return /^[1-9][0-9][0-9]$/.test(value) ? Number(value) : null;
    }
  }
  return null;
}
