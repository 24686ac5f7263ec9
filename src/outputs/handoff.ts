// The hand-off between the capture thread and a replay worker: requests, exchanges and settled
// outcomes written one after another into one growable buffer per event-loop turn, posted as a
// transferable ArrayBuffer. Strings as length-prefixed ASCII (or UTF-8 when not ASCII), numbers
// as float64 (ids and µs timestamps pass 2^32) or uint32, bodies as raw bytes. No JSON per record.

import type { ConnectionInfo, Exchange, HttpRequest, HttpResponse, ReplayOutcome, ResponseMissing, ShadowResponse } from '../model';

/** What a record in a batch is. */
export const enum RecordKind {
  /** A request to replay: as sent, and (when the policy rewrote it) the captured method and url. */
  Request = 1,
  /** Production's side of a request handed over before. */
  Exchange = 2,
  /** A packet of one of shadowtap's own replays, located by the capture (--wire-timing). */
  Mark = 3,
}

/** One byte per outcome and per missing reason: listed in a Record, so that a reason added to
 * the model cannot be left out of the codec. */
const OUTCOME_CODES: Record<ReplayOutcome, number> = {
  replayed: 0, queueFull: 1, bodyTooLarge: 2, unreplayable: 3, shadowError: 4, shadowTimeout: 5, shutdown: 6, rateLimited: 7,
};
const MISSING_CODES: Record<ResponseMissing, number> = { gap: 0, parseError: 1, closed: 2, overflow: 3, memory: 4, reset: 5 };
const byCode = <K extends string>(codes: Record<K, number>): K[] => {
  const out: K[] = [];
  for (const k in codes) out[codes[k]] = k;
  return out;
};
const OUTCOMES = byCode(OUTCOME_CODES);
const MISSING = byCode(MISSING_CODES);
const NO_MISSING = 0xff;

/** Appends to one buffer, doubling it when full; take() hands the bytes over and starts afresh. */
export class BatchWriter {
  private buf: Buffer;
  private at = 0;

  constructor(private readonly initialBytes = 64 << 10) {
    this.buf = Buffer.from(new ArrayBuffer(initialBytes));
  }

  get length(): number {
    return this.at;
  }

  /** The batch written so far, as an ArrayBuffer of its own (to transfer), and a fresh buffer. */
  take(): { buffer: ArrayBuffer; length: number } {
    const out = { buffer: this.buf.buffer as ArrayBuffer, length: this.at };
    this.buf = Buffer.from(new ArrayBuffer(this.initialBytes));
    this.at = 0;
    return out;
  }

  private room(n: number): void {
    if (this.at + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.at + n) size *= 2;
    const grown = Buffer.from(new ArrayBuffer(size));
    this.buf.copy(grown, 0, 0, this.at);
    this.buf = grown;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.at++] = v;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.at);
    this.at += 4;
  }

  f64(v: number): void {
    this.room(8);
    this.buf.writeDoubleLE(v, this.at);
    this.at += 8;
  }

  /** Length × 2 + (1 when UTF-8), then the bytes: ASCII is copied char by char, anything else
   * through Buffer.write. */
  str(s: string): void {
    const n = s.length;
    this.room(4 + n);
    const start = this.at + 4;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      this.buf[start + i] = c;
    }
    if (i === n) {
      this.buf.writeUInt32LE(n * 2, this.at);
      this.at = start + n;
      return;
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.room(4 + bytes);
    this.buf.write(s, this.at + 4, bytes, 'utf8');
    this.buf.writeUInt32LE(bytes * 2 + 1, this.at);
    this.at += 4 + bytes;
  }

  /** null as 0xffffffff. */
  strOrNull(s: string | null): void {
    if (s === null) this.u32(0xffffffff);
    else this.str(s);
  }

  strings(list: readonly string[]): void {
    this.u32(list.length);
    for (let i = 0; i < list.length; i++) this.str(list[i]);
  }

  bytes(b: Buffer | null): void {
    if (b === null) return this.u32(0xffffffff);
    this.u32(b.length);
    this.room(b.length);
    b.copy(this.buf, this.at);
    this.at += b.length;
  }
}

export class BatchReader {
  private readonly buf: Buffer;
  private at = 0;

  constructor(buffer: ArrayBuffer, private readonly end: number) {
    this.buf = Buffer.from(buffer, 0, end);
  }

  get done(): boolean {
    return this.at >= this.end;
  }

  u8(): number {
    return this.buf[this.at++];
  }

  u32(): number {
    const v = this.buf.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }

  f64(): number {
    const v = this.buf.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }

  str(): string {
    const tagged = this.u32();
    return this.text(tagged);
  }

  strOrNull(): string | null {
    const tagged = this.u32();
    return tagged === 0xffffffff ? null : this.text(tagged);
  }

  private text(tagged: number): string {
    const n = tagged >>> 1;
    const start = this.at;
    this.at += n;
    return (tagged & 1) === 0 ? this.buf.toString('latin1', start, this.at) : this.buf.toString('utf8', start, this.at);
  }

  strings(): string[] {
    const n = this.u32();
    const out = new Array<string>(n);
    for (let i = 0; i < n; i++) out[i] = this.str();
    return out;
  }

  /** A copy: the batch's buffer is not kept alive by a body that waits in a queue. */
  bytes(): Buffer | null {
    const n = this.u32();
    if (n === 0xffffffff) return null;
    const b = Buffer.allocUnsafe(n);
    this.buf.copy(b, 0, this.at, this.at + n);
    this.at += n;
    return b;
  }
}

// Flags of a request record.
const REWRITTEN = 1;
const H2 = 2;
const TRUNCATED = 4;
const CHUNKED = 8;
const MIDSTREAM = 16;

/** A request to replay: as sent, and as captured when the policy rewrote it (its exchange,
 * which comes later, carries no request: the worker keeps the captured one till then). */
export function writeRequest(w: BatchWriter, captured: HttpRequest, sent: HttpRequest): void {
  w.u8(RecordKind.Request);
  const rewritten = captured !== sent;
  w.u8(rewritten ? REWRITTEN : 0);
  writeOneRequest(w, sent);
  if (rewritten) writeOneRequest(w, captured);
}

function writeOneRequest(w: BatchWriter, r: HttpRequest): void {
  w.u8((r.h2 !== undefined ? H2 : 0) | (r.bodyTruncated ? TRUNCATED : 0) | (r.chunked ? CHUNKED : 0) | (r.conn.midstream ? MIDSTREAM : 0));
  writeRequestBody(w, r);
}

function writeRequestBody(w: BatchWriter, r: HttpRequest): void {
  w.f64(r.id);
  writeConn(w, r.conn);
  w.u32(r.index);
  w.str(r.method);
  w.str(r.url);
  if (r.h2 !== undefined) {
    w.u32(r.h2.streamId);
    w.str(r.h2.scheme);
  }
  w.u8(r.versionMajor);
  w.u8(r.versionMinor);
  w.strings(r.headers);
  w.strings(r.trailers);
  w.bytes(r.body);
  w.f64(r.bodySize);
  w.strOrNull(r.bodySha256);
  w.f64(r.startUs);
  w.f64(r.endUs);
}

function writeConn(w: BatchWriter, c: ConnectionInfo): void {
  w.f64(c.id);
  w.str(c.client.address);
  w.u32(c.client.port);
  w.str(c.server.address);
  w.u32(c.server.port);
  w.u8(c.ipVersion);
  w.f64(c.openedUs);
}

/** A request record read back: as sent, and as captured (the same object unless rewritten). */
export function readRequest(r: BatchReader): { captured: HttpRequest; sent: HttpRequest } {
  const rewritten = (r.u8() & REWRITTEN) !== 0;
  const sent = readOneRequest(r);
  return { captured: rewritten ? readOneRequest(r) : sent, sent };
}

function readOneRequest(r: BatchReader): HttpRequest {
  const flags = r.u8();
  const id = r.f64();
  const conn: ConnectionInfo = {
    id: r.f64(), client: { address: r.str(), port: r.u32() }, server: { address: r.str(), port: r.u32() },
    ipVersion: r.u8(), midstream: (flags & MIDSTREAM) !== 0, openedUs: r.f64(),
  };
  const index = r.u32();
  const method = r.str();
  const url = r.str();
  const h2 = (flags & H2) !== 0 ? { streamId: r.u32(), scheme: r.str() } : undefined;
  const req: HttpRequest = {
    id, conn, index, method, url,
    versionMajor: r.u8(), versionMinor: r.u8(), headers: r.strings(), trailers: r.strings(), body: r.bytes(),
    bodySize: r.f64(), bodyTruncated: (flags & TRUNCATED) !== 0, bodySha256: r.strOrNull(),
    chunked: (flags & CHUNKED) !== 0, startUs: r.f64(), endUs: r.f64(),
  };
  if (h2 !== undefined) req.h2 = h2;
  return req;
}

/** Production's side of a request handed over before (by its id): the response, or why there is none. */
export function writeExchange(w: BatchWriter, ex: Exchange): void {
  w.u8(RecordKind.Exchange);
  w.f64(ex.request.id);
  w.u8(ex.responseMissing === null ? NO_MISSING : MISSING_CODES[ex.responseMissing]);
  const res = ex.response;
  w.u8(res === null ? 0 : 1);
  if (res === null) return;
  w.u8((res.bodyTruncated ? TRUNCATED : 0) | (res.chunked ? CHUNKED : 0));
  w.u32(res.statusCode);
  w.str(res.statusMessage);
  w.u8(res.versionMajor);
  w.u8(res.versionMinor);
  w.strings(res.headers);
  w.strings(res.trailers);
  w.bytes(res.body);
  w.f64(res.bodySize);
  w.strOrNull(res.bodySha256);
  w.f64(res.startUs);
  w.f64(res.endUs);
}

/** An exchange record read back; `request(id)` gives the request kept from its request record
 * (undefined: it was not kept, and the exchange cannot be joined). */
export function readExchange(r: BatchReader, request: (id: number) => HttpRequest | undefined): Exchange | { unknownId: number } {
  const id = r.f64();
  const req = request(id);
  const missing = r.u8();
  let response: HttpResponse | null = null;
  if (r.u8() === 1) {
    const flags = r.u8();
    response = {
      statusCode: r.u32(), statusMessage: r.str(), versionMajor: r.u8(), versionMinor: r.u8(),
      headers: r.strings(), trailers: r.strings(), body: r.bytes(), bodySize: r.f64(), bodyTruncated: (flags & TRUNCATED) !== 0,
      bodySha256: r.strOrNull(), chunked: (flags & CHUNKED) !== 0, startUs: r.f64(), endUs: r.f64(),
    };
  }
  if (req === undefined) return { unknownId: id };
  return { request: req, response, responseMissing: missing === NO_MISSING ? null : MISSING[missing] };
}

/** A packet of a replay connection as the capture located it (see SequenceMarkSink.mark). */
export function writeMark(w: BatchWriter, target: number, localPort: number, toServer: boolean, offset: number, length: number, tsUs: number): void {
  w.u8(RecordKind.Mark);
  w.u32(target);
  w.u32(localPort);
  w.u8(toServer ? 1 : 0);
  w.u32(offset);
  w.u32(length);
  w.f64(tsUs);
}

/** Reads a mark written by writeMark into `to`'s mark(). */
export function readMark(r: BatchReader, to: { mark(target: number, localPort: number, toServer: boolean, offset: number, length: number, tsUs: number): void }): void {
  const target = r.u32();
  const localPort = r.u32();
  const toServer = r.u8() === 1;
  const offset = r.u32();
  to.mark(target, localPort, toServer, offset, r.u32(), r.f64());
}

/**
 * A settled request, worker to main: its id, its outcome, and what the main thread's observers
 * (metrics, the trouble log, shadow health) read of each shadow's answer.
 */
export function writeSettled(w: BatchWriter, id: number, outcome: ReplayOutcome, responses: readonly ShadowResponse[]): void {
  w.f64(id);
  w.u8(OUTCOME_CODES[outcome]);
  w.u32(responses.length);
  for (let i = 0; i < responses.length; i++) {
    const s = responses[i];
    w.str(s.target);
    w.u8(OUTCOME_CODES[s.outcome]);
    w.u32(s.statusCode === null ? 0xffffffff : s.statusCode);
    w.f64(s.latencyUs);
    w.strOrNull(s.error);
  }
}

/** Reads one settled record; the answers carry no headers or bodies (the main thread needs none). */
export function readSettled(r: BatchReader): { id: number; outcome: ReplayOutcome; responses: ShadowResponse[] } {
  const id = r.f64();
  const outcome = OUTCOMES[r.u8()];
  const n = r.u32();
  const responses = new Array<ShadowResponse>(n);
  for (let i = 0; i < n; i++) {
    const target = r.str();
    const o = OUTCOMES[r.u8()];
    const status = r.u32();
    responses[i] = {
      target, outcome: o, statusCode: status === 0xffffffff ? null : status, latencyUs: r.f64(), error: r.strOrNull(),
      headers: null, body: null, bodySize: 0,
    };
  }
  return { id, outcome, responses };
}
