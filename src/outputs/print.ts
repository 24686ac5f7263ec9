// `read`'s output: one JSON line per exchange, written in large chunks with backpressure.

import { createHash } from 'node:crypto';
import type { Exchange, HttpRequest } from '../model';
import { headerValue, isNamed } from '../http';
import type { Output, Settle } from './index';

const plainJsonText = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A JSON string literal; the common all-printable-ASCII case without JSON.stringify. */
function quote(s: string | null): string {
  if (s === null) return 'null';
  return plainJsonText.test(s) ? `"${s}"` : JSON.stringify(s);
}

/** The part of every line that only depends on the connection, built once per connection. */
const connectionPrefix = new WeakMap<object, string>();

/** One exchange as a JSON line (with its newline). PrintOutput writes the same bytes without
 * making this string (LineBuffer); the tests hold the two to the same output. */
export function exchangeLine(ex: Exchange): string {
  const req = ex.request;
  const res = ex.response;
  const conn = req.conn;
  let prefix = connectionPrefix.get(conn);
  if (prefix === undefined) {
    prefix = `{"conn":${conn.id},"client":${quote(`${conn.client.address}:${conn.client.port}`)},` +
      `"server":${quote(`${conn.server.address}:${conn.server.port}`)},"index":`;
    connectionPrefix.set(conn, prefix);
  }
  return `${prefix}${req.index},"method":${quote(req.method)},"url":${quote(req.url)},` +
    `"host":${quote(headerValue(req.headers, 'host'))},"status":${res === null ? 'null' : res.statusCode},` +
    `"reqBodySize":${req.bodySize},"reqBodySha256":${quote(req.bodySha256)},` +
    `"resBodySize":${res === null ? 0 : res.bodySize},"resBodySha256":${quote(res === null ? null : res.bodySha256)},` +
    `"reqStartUs":${req.startUs},"reqEndUs":${req.endUs},` +
    `"resStartUs":${res === null ? 'null' : res.startUs},"resEndUs":${res === null ? 'null' : res.endUs},` +
    `"responseMissing":${quote(ex.responseMissing)}}\n`;
}

/** ASCII text as bytes, for the fixed parts of a line. */
const bytes = (text: string): Buffer => Buffer.from(text, 'latin1');
const NULL = bytes('null');
const AT_URL = bytes(',"url":');
const AT_REQ_BODY_SIZE = bytes(',"reqBodySize":');
const AT_REQ_BODY_SHA = bytes(',"reqBodySha256":');
const AT_RES_BODY_SIZE = bytes(',"resBodySize":');
const AT_RES_BODY_SHA = bytes(',"resBodySha256":');
const AT_REQ_START = bytes(',"reqStartUs":');
const AT_REQ_END = bytes(',"reqEndUs":');
const AT_RES_START = bytes(',"resStartUs":');
const AT_RES_END = bytes(',"resEndUs":');
const AT_MISSING = bytes(',"responseMissing":');
const LINE_END = bytes('}\n');
const HEX = bytes('0123456789abcdef');
/** Two decimal digits for each of 0..99. */
const DIGIT_PAIRS = bytes(Array.from({ length: 100 }, (_, k) => String(k).padStart(2, '0')).join(''));
/** JSON.stringify's two-character escapes, by character code (0: none). */
const SHORT_ESCAPE = new Uint8Array(128);
for (const [code, letter] of [[8, 'b'], [9, 't'], [10, 'n'], [12, 'f'], [13, 'r'], [34, '"'], [92, '\\']] as const) {
  SHORT_ESCAPE[code] = letter.charCodeAt(0);
}

// Runs of a line that repeat from line to line are kept as one piece of bytes each, so that a
// line is a few copies instead of a field at a time: a body that is empty with its hash, the
// end of a line without responseMissing, and (below) the pieces around a method, a host and a status.
const EMPTY_SHA256 = createHash('sha256').digest('hex');
const EMPTY_REQUEST_BODY = bytes(`0,"reqBodySha256":"${EMPTY_SHA256}","resBodySize":`);
const ANSWERED_LINE_END = bytes(',"responseMissing":null}\n');
const NULL_STATUS = bytes('null,"reqBodySize":');

/** Strings at least this long are checked and copied whole when plain. */
const LONG_PLAIN = 24;
/** Most distinct methods or hosts whose pieces are kept (then forgotten, all at once). */
const MAX_PIECES = 256;

/** Written-out buffers kept for reuse. */
const MAX_SPARE_BUFFERS = 2;

/** The connection's part of every line, as bytes, made once per connection. */
const connectionPrefixBytes = new WeakMap<object, Buffer>();

/** The first Host header's value, as headerValue(headers, 'host'), without lower-casing names. */
function hostOf(headers: readonly string[]): string | null {
  for (let i = 0; i < headers.length; i += 2) if (isNamed(headers[i], 'host')) return headers[i + 1];
  return null;
}

/** Copies `part` to buf[at...]; returns the offset after it. */
function putBytes(buf: Buffer, at: number, part: Buffer): number {
  buf.set(part, at);
  return at + part.length;
}

/** Pieces of bytes by the string they are made from, at most MAX_PIECES of them. */
class Pieces {
  private readonly made = new Map<string, Buffer>();
  constructor(private readonly make: (key: string) => string) {}

  get(key: string): Buffer {
    let piece = this.made.get(key);
    if (piece === undefined) {
      if (this.made.size >= MAX_PIECES) this.made.clear();
      piece = Buffer.from(this.make(key), 'utf8');
      this.made.set(key, piece);
    }
    return piece;
  }
}

const methodPieces = new Pieces((method) => `,"method":${quote(method)},"url":`);

/** `,"method":…,"url":…,"host":…,"status":` for a target seen twice in a row of misses (the
 * same request again and again), by target; its method and host are checked. */
class RequestPiece {
  constructor(readonly method: string, readonly host: string | null, readonly bytes: Buffer) {}
}
const requestPieces = new Map<string, RequestPiece>();
let urlSeenOnce: string | null = null;

/** Writes a request's method, target and host, with their names, and the name after them. */
function putRequest(buf: Buffer, at: number, method: string, url: string, host: string | null): number {
  let piece = requestPieces.get(url);
  if (piece === undefined || piece.method !== method || piece.host !== host) {
    if (url !== urlSeenOnce) {
      urlSeenOnce = url;
      return putBytes(buf, putString(buf, putBytes(buf, at, methodPieces.get(method)), url), host === null ? NO_HOST : hostPieces.get(host));
    }
    if (requestPieces.size >= MAX_PIECES) requestPieces.clear();
    piece = new RequestPiece(method, host, Buffer.from(`,"method":${quote(method)},"url":${quote(url)},"host":${quote(host)},"status":`, 'utf8'));
    requestPieces.set(url, piece);
  }
  return putBytes(buf, at, piece.bytes);
}
const hostPieces = new Pieces((host) => `,"host":${quote(host)},"status":`);
const NO_HOST = bytes(',"host":null,"status":');
/** `${status},"reqBodySize":` for the statuses 0..999, made when first used. */
const statusPieces: (Buffer | undefined)[] = new Array(1000).fill(undefined);
/** `${status},"reqBodySize":0,"reqBodySha256":"<empty>","resBodySize":` likewise: an answer to
 * a request without a body. */
const statusEmptyBodyPieces: (Buffer | undefined)[] = new Array(1000).fill(undefined);

function putStatusEmptyBody(buf: Buffer, at: number, status: number): number {
  if (status >= 0 && status < 1000 && (status | 0) === status) {
    let piece = statusEmptyBodyPieces[status];
    if (piece === undefined) piece = statusEmptyBodyPieces[status] = Buffer.concat([bytes(`${status},"reqBodySize":`), EMPTY_REQUEST_BODY]);
    return putBytes(buf, at, piece);
  }
  return putBytes(buf, putStatus(buf, at, status), EMPTY_REQUEST_BODY);
}

function putStatus(buf: Buffer, at: number, status: number): number {
  if (status >= 0 && status < 1000 && (status | 0) === status) {
    let piece = statusPieces[status];
    if (piece === undefined) piece = statusPieces[status] = bytes(`${status},"reqBodySize":`);
    return putBytes(buf, at, piece);
  }
  return putBytes(buf, putNumber(buf, at, status), AT_REQ_BODY_SIZE);
}

/** `${size},"resBodySha256":"<hash>"` by hash (the same hash is the same body, so the same
 * size; checked all the same), for hashes seen twice in a row of misses (the same small
 * answer again and again); at most MAX_PIECES of them. */
class HashPiece {
  constructor(readonly size: number, readonly bytes: Buffer) {}
}
const hashPieces = new Map<string, HashPiece>();
let hashSeenOnce: string | null = null;

/** Writes the response's body size and hash, and the name after them. */
function putResponseBody(buf: Buffer, at: number, size: number, hash: string | null): number {
  if (hash !== null) {
    let piece = hashPieces.get(hash);
    if (piece === undefined && hash === hashSeenOnce) {
      if (hashPieces.size >= MAX_PIECES) hashPieces.clear();
      piece = new HashPiece(size, Buffer.from(`${size},"resBodySha256":${quote(hash)}`, 'utf8'));
      hashPieces.set(hash, piece);
    }
    if (piece !== undefined && piece.size === size) return putBytes(buf, at, piece.bytes);
    hashSeenOnce = hash;
  }
  return putString(buf, putBytes(buf, putNumber(buf, at, size), AT_RES_BODY_SHA), hash);
}

/** A name followed by the upper digits of a large number (a timestamp's first 8 of 16 digits
 * change once in 100 s): one piece, remembered for the last upper digits written after it. */
class TaggedNumber {
  private high = -1;
  private piece: Buffer;

  constructor(private readonly tag: Buffer) {
    this.piece = tag;
  }

  /** Writes the name, then n as String(n) does. */
  put(buf: Buffer, at: number, n: number): number {
    if (n >= 1e8 && n <= Number.MAX_SAFE_INTEGER && Number.isInteger(n)) {
      const high = Math.floor(n / 1e8);
      if (high !== this.high) {
        this.piece = Buffer.concat([this.tag, Buffer.from(String(high), 'latin1')]);
        this.high = high;
      }
      return putEightDigits(buf, putBytes(buf, at, this.piece), n - high * 1e8);
    }
    return putNumber(buf, putBytes(buf, at, this.tag), n);
  }

  /** Writes the name, then null. */
  putNull(buf: Buffer, at: number): number {
    return putBytes(buf, putBytes(buf, at, this.tag), NULL);
  }
}

/** The upper digits of the last large number written (timestamps in µs share them for 100 s). */
let lastHigh = -1;
const lastHighDigits = Buffer.alloc(16);
let lastHighLength = 0;

/** Writes n as String(n) does: digits for a safe integer, String() itself for anything else. */
function putNumber(buf: Buffer, at: number, n: number): number {
  if (n >= 0 && n <= 0x7fffffff && (n | 0) === n) return putSmall(buf, at, n);
  if (!Number.isSafeInteger(n)) return at + buf.write(String(n), at, 'latin1');
  if (n < 0) {
    buf[at++] = 45; // '-'
    n = -n;
    if (n <= 0x7fffffff) return putSmall(buf, at, n);
  }
  // Timestamps in µs and the like: the upper digits (often the last ones again), then 8 more.
  const high = Math.floor(n / 1e8);
  if (high !== lastHigh) {
    lastHighLength = putSmall(lastHighDigits, 0, high);
    lastHigh = high;
  }
  for (let k = 0; k < lastHighLength; k++) buf[at++] = lastHighDigits[k];
  return putEightDigits(buf, at, n - high * 1e8);
}

/** Writes n (0 ≤ n < 10^8) as exactly eight digits, leading zeros included. */
function putEightDigits(buf: Buffer, at: number, n: number): number {
  for (let k = 6; k >= 0; k -= 2) {
    const q = (n / 100) | 0;
    const pair = (n - q * 100) << 1;
    buf[at + k] = DIGIT_PAIRS[pair];
    buf[at + k + 1] = DIGIT_PAIRS[pair + 1];
    n = q;
  }
  return at + 8;
}

/** Writes n (0 ≤ n < 2^31) in decimal. */
function putSmall(buf: Buffer, at: number, n: number): number {
  if (n < 10) {
    buf[at] = 48 + n;
    return at + 1;
  }
  let digits = 2;
  for (let rest = n; rest >= 100; rest = (rest / 10) | 0) digits++;
  let end = at + digits;
  const after = end;
  while (n >= 100) {
    const q = (n / 100) | 0;
    const pair = (n - q * 100) << 1;
    buf[--end] = DIGIT_PAIRS[pair + 1];
    buf[--end] = DIGIT_PAIRS[pair];
    n = q;
  }
  if (n >= 10) {
    buf[--end] = DIGIT_PAIRS[(n << 1) + 1];
    buf[--end] = DIGIT_PAIRS[n << 1];
  } else buf[--end] = 48 + n;
  return after;
}

/** Writes quote(s) in UTF-8: 'null', or the JSON string literal JSON.stringify makes. */
function putString(buf: Buffer, at: number, s: string | null): number {
  if (s === null) return putBytes(buf, at, NULL);
  const from = at;
  buf[at++] = 34;
  if (s.length >= LONG_PLAIN && plainJsonText.test(s)) {
    // Long and plain (a body hash, most targets): copied by Node in one call.
    at += (buf as unknown as { latin1Write(text: string, offset: number): number }).latin1Write(s, at);
    buf[at++] = 34;
    return at;
  }
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x20 && c < 0x80 && c !== 34 && c !== 92) {
      buf[at++] = c;
    } else if (c < 0x80) {
      buf[at++] = 92;
      const short = SHORT_ESCAPE[c];
      if (short !== 0) buf[at++] = short;
      else {
        buf[at++] = 117; // u00XX
        buf[at++] = 48;
        buf[at++] = 48;
        buf[at++] = HEX[c >> 4];
        buf[at++] = HEX[c & 15];
      }
    } else if (c < 0x100) {
      buf[at++] = 0xc0 | (c >> 6);
      buf[at++] = 0x80 | (c & 0x3f);
    } else {
      // Beyond latin1 (never from a parsed message): JSON.stringify and Buffer's UTF-8.
      return from + buf.write(JSON.stringify(s), from, 'utf8');
    }
  }
  buf[at++] = 34;
  return at;
}

/**
 * Exchange lines written straight into a Buffer as UTF-8, the same bytes as exchangeLine()'s
 * string written as UTF-8, but no string is made for a line: runs that repeat are copied as
 * pieces, numbers and JSON strings are encoded byte by byte.
 */
class LineBuffer {
  private buf: Buffer = Buffer.allocUnsafe(4 << 20);
  private used = 0;
  private readonly reqStart = new TaggedNumber(AT_REQ_START);
  private readonly reqEnd = new TaggedNumber(AT_REQ_END);
  private readonly resStart = new TaggedNumber(AT_RES_START);
  private readonly resEnd = new TaggedNumber(AT_RES_END);

  add(ex: Exchange): void {
    const req = ex.request;
    const res = ex.response;
    const conn = req.conn;
    let prefix = connectionPrefixBytes.get(conn);
    if (prefix === undefined) {
      prefix = Buffer.from(`{"conn":${conn.id},"client":${quote(`${conn.client.address}:${conn.client.port}`)},` +
        `"server":${quote(`${conn.server.address}:${conn.server.port}`)},"index":`, 'utf8');
      connectionPrefixBytes.set(conn, prefix);
    }
    const host = hostOf(req.headers);
    // Numbers take at most 24 bytes, a string's character at most 6 (an escape).
    const most = prefix.length + 400 + 6 * (req.method.length + req.url.length + (host === null ? 0 : host.length) +
      (req.bodySha256 === null ? 0 : req.bodySha256.length) + (res === null || res.bodySha256 === null ? 0 : res.bodySha256.length) +
      (ex.responseMissing === null ? 0 : ex.responseMissing.length));
    if (this.buf.length - this.used < most) this.grow(most);
    const buf = this.buf;
    let at = putBytes(buf, this.used, prefix);
    at = putNumber(buf, at, req.index);
    at = putRequest(buf, at, req.method, req.url, host);
    if (req.bodySize === 0 && req.bodySha256 === EMPTY_SHA256) {
      at = res === null ? putBytes(buf, putBytes(buf, at, NULL_STATUS), EMPTY_REQUEST_BODY) : putStatusEmptyBody(buf, at, res.statusCode);
    } else {
      at = res === null ? putBytes(buf, at, NULL_STATUS) : putStatus(buf, at, res.statusCode);
      at = putNumber(buf, at, req.bodySize);
      at = putBytes(buf, putString(buf, putBytes(buf, at, AT_REQ_BODY_SHA), req.bodySha256), AT_RES_BODY_SIZE);
    }
    at = res === null ? putResponseBody(buf, at, 0, null) : putResponseBody(buf, at, res.bodySize, res.bodySha256);
    at = this.reqStart.put(buf, at, req.startUs);
    at = this.reqEnd.put(buf, at, req.endUs);
    at = res === null ? this.resStart.putNull(buf, at) : this.resStart.put(buf, at, res.startUs);
    at = res === null ? this.resEnd.putNull(buf, at) : this.resEnd.put(buf, at, res.endUs);
    if (ex.responseMissing === null) this.used = putBytes(buf, at, ANSWERED_LINE_END);
    else this.used = putBytes(buf, putString(buf, putBytes(buf, at, AT_MISSING), ex.responseMissing), LINE_END);
  }

  /** Buffers the stream is done with, to write the next lines into (fresh pages cost the
   * kernel a fault each; these are already mapped). */
  private readonly spare: Buffer[] = [];

  /** Hands out what was written; the next add() starts in a spare buffer, or a fresh one. */
  take(): Buffer | null {
    if (this.used === 0) return null;
    const out = this.buf.subarray(0, this.used);
    const spare = this.spare.pop();
    this.buf = spare !== undefined && spare.length >= this.buf.length ? spare : Buffer.allocUnsafe(this.buf.length);
    this.used = 0;
    return out;
  }

  /** `chunk` (from take()) was written out: its buffer can take new lines. */
  giveBack(chunk: Buffer): void {
    if (this.spare.length < MAX_SPARE_BUFFERS) this.spare.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.buffer.byteLength - chunk.byteOffset));
  }

  private grow(need: number): void {
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.used + need));
    this.buf.copy(bigger, 0, 0, this.used);
    this.buf = bigger;
  }
}

/** Lists exchanges; requests are inspected, never replayed. */
export class PrintOutput implements Output {
  readonly hasRoom = true;
  private readonly lines = new LineBuffer();

  constructor(private readonly out: NodeJS.WritableStream) {}

  request(_captured: HttpRequest, _sent: HttpRequest, settle: Settle): void {
    settle('inspectOnly');
  }

  exchange(ex: Exchange): void {
    this.lines.add(ex);
  }

  /** Writes what was buffered; false when the stream wants the writer to wait for 'drain'. */
  flush(): boolean {
    const chunk = this.lines.take();
    if (chunk === null) return true;
    return this.out.write(chunk, (err?: Error | null) => {
      if (!err) this.lines.giveBack(chunk);
    });
  }

  drain(): Promise<void> {
    this.flush();
    return Promise.resolve();
  }

  stats(): Record<string, unknown> {
    return {};
  }
}
