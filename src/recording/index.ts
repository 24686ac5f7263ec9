// Recordings: captured exchanges kept in a file to be replayed later (`shadowtap record`,
// `shadowtap replay`). JSON lines: a header line, then one line per request (see README,
// "Recording format"); gzip-compressed when production's response bodies are kept. Secrets
// are masked by default; files are private (0600) and rotated by size.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { decodeBody } from '../compare/body';
import type { Exchange, HttpRequest, HttpResponse } from '../http';
import type { ResponseMissing } from '../model';
import { headerValue } from '../http';
import type { ConnectionInfo, Endpoint } from '../tcp';
import type { Redactor } from '../traffic/redact';

export const RECORDING_FORMAT = 'shadowtap-recording';
/** The major version: a reader refuses a newer one. Fields added within a major version are
 * optional, and readers ignore fields they do not know. */
export const RECORDING_VERSION = 1;

/** A recording that cannot be read: not one, a newer format, damaged. Its message is one line. */
export class RecordingError extends Error {}

export interface RecordingHeader {
  format: typeof RECORDING_FORMAT;
  version: number;
  /** ISO 8601 time the part was opened. */
  createdAt: string;
  /** Secrets were masked (the default); false: requests byte for byte. */
  redacted: boolean;
  /** Random id shared by all parts of one recording. */
  recording: string;
  /** 0 for PATH, n for PATH.n. */
  part: number;
  /** Production's response bodies are kept (`record --bodies`; the part is then gzip-compressed). */
  bodies?: boolean;
}

/** Production's answer: always summarised, with its body under `record --bodies`. */
export interface RecordedResponse {
  status: number;
  headers: string[];
  bodySize: number;
  /** Hex sha256 of the de-chunked body. */
  sha256: string | null;
  /** Capture timestamps of the response's first and last bytes, µs since the epoch. */
  startUs?: number;
  endUs?: number;
  /** `--bodies`: base64 of the de-chunked body (null: empty, or beyond --max-response-kb). */
  body?: string | null;
  /** `--bodies`: the body was beyond --max-response-kb and is not kept. */
  bodyTruncated?: boolean;
  /** `--bodies`: the body is kept decoded, its Content-Encoding header dropped (so that it could be redacted). */
  bodyDecoded?: boolean;
  /** `--bodies`: redaction changed the body. */
  bodyRedacted?: boolean;
  /** Trailers, when there were any (a gRPC call's status travels in them). */
  trailers?: string[];
}

export interface RecordedRequest {
  /** Capture timestamp of the request's first byte, µs since the epoch. */
  t: number;
  conn: number;
  client: string;
  server: string;
  /** Position on the connection, from 0. */
  index: number;
  method: string;
  url: string;
  /** [name, value, …] as captured (values masked when redacted). */
  headers: string[];
  /** Base64 of the de-chunked body; null when there is none. */
  body: string | null;
  /** Redaction changed the body (JSON, form or text with secrets masked). */
  bodyRedacted: boolean;
  response: RecordedResponse | null;
  /** Why `response` is null: gap, parseError, closed, overflow. */
  responseMissing: string | null;
  /** Captured over HTTP/2 (absent otherwise): replayed over HTTP/2 unless --shadow-protocol says. */
  h2?: true;
}

export interface RecordingWriterOptions {
  path: string;
  /** Masks secrets; null records byte for byte. */
  redactor: Redactor | null;
  /** A part is closed before a line would take it beyond this (a part holds at least one request). */
  maxFileBytes: number;
  /** Parts kept; the oldest is deleted beyond. */
  maxFiles: number;
  /** Keep production's response bodies (the parts are then gzip-compressed). */
  bodies?: boolean;
}

export interface RecordingStats {
  requests: number;
  bytes: number;
  bodiesRedacted: number;
  /** Parts opened, and deleted by --max-files. */
  parts: number;
  partsDeleted: number;
  /** The parts on disk, oldest first. */
  files: string[];
  /** Request lines accepted but not (entirely) written yet: buffered, or kept after a failed
   * write to be retried. After close() they never reached the file. `requests` and `bytes`
   * count what was written. */
  unwritten: number;
  /** Writes to the file that failed (each is reported once, by write()/append() or close()). */
  writeErrors: number;
  /** Bytes on disk after compression (equal to `bytes` for an uncompressed recording). */
  bytesOnDisk: number;
}

/** Bytes buffered before they go to disk (also flushed every 200 ms and at close). */
const FLUSH_BYTES = 256 << 10;

const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** The body as it goes into a redacted recording: unchanged unless a secret was masked, and
 * still a valid body of its type (JSON stays JSON, a form stays a form). Compressed and
 * non-UTF-8 bodies are kept as captured. */
export function redactBody(body: Buffer, headers: string[], redactor: Redactor): { body: Buffer; changed: boolean } {
  const same = { body, changed: false };
  const encoding = headerValue(headers, 'content-encoding');
  if (encoding !== null && encoding.trim().toLowerCase() !== 'identity') return same;
  let text: string;
  try {
    text = textDecoder.decode(body);
  } catch {
    return same;
  }
  const type = (headerValue(headers, 'content-type') ?? '').toLowerCase();
  let out: string;
  let unchanged = text;
  if (type.includes('application/x-www-form-urlencoded')) {
    out = redactor.url(`?${text}`).slice(1);
  } else {
    const start = text.trimStart()[0];
    if (start === '{' || start === '[') {
      try {
        unchanged = JSON.stringify(JSON.parse(text)); // what bodyText gives when nothing is masked
      } catch { /* text */ }
    }
    out = redactor.bodyText(text);
  }
  if (out === unchanged) return same;
  return { body: Buffer.from(out, 'utf8'), changed: true };
}

function withoutHeader(headers: string[], lowerName: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) if (headers[i].toLowerCase() !== lowerName) out.push(headers[i], headers[i + 1]);
  return out;
}

/** Production's response as recorded: status, headers, the body's size and hash, its start and
 * end times, and with `bodies` the body itself (decoded first when redacting, so that a compressed
 * body is redacted too). */
function recordResponse(res: HttpResponse, redactor: Redactor | null, bodies: boolean): RecordedResponse {
  let headers = res.headers;
  const out: RecordedResponse = { status: res.statusCode, headers, bodySize: res.bodySize, sha256: res.bodySha256, startUs: res.startUs, endUs: res.endUs };
  if (bodies) {
    let body = res.body !== null && res.body.length > 0 && !res.bodyTruncated ? res.body : null;
    const encoding = headerValue(headers, 'content-encoding');
    if (body !== null && redactor !== null && encoding !== null && encoding.trim().toLowerCase() !== 'identity') {
      const decoded = decodeBody(body, encoding, 64 << 20);
      if (decoded.error === null) {
        body = decoded.body;
        headers = withoutHeader(headers, 'content-encoding');
        out.bodyDecoded = true;
      }
    }
    let bodyRedacted = false;
    if (body !== null && redactor !== null) {
      const r = redactBody(body, headers, redactor);
      body = r.body;
      bodyRedacted = r.changed;
    }
    out.body = body === null ? null : body.toString('base64');
    if (res.bodyTruncated) out.bodyTruncated = true;
    if (bodyRedacted) out.bodyRedacted = true;
  }
  out.headers = redactor === null ? headers : redactor.headerList(headers);
  if (res.trailers.length > 0) out.trailers = redactor === null ? res.trailers : redactor.headerList(res.trailers);
  return out;
}

/** One exchange as a recording entry (null when the request body was cut by --max-body-mb). */
export function recordEntry(ex: Exchange, redactor: Redactor | null, bodies = false): RecordedRequest | null {
  const req = ex.request;
  if (req.bodyTruncated) return null;
  const res = ex.response;
  const conn = req.conn;
  let body = req.body !== null && req.body.length > 0 ? req.body : null;
  let bodyRedacted = false;
  if (body !== null && redactor !== null) {
    const r = redactBody(body, req.headers, redactor);
    body = r.body;
    bodyRedacted = r.changed;
  }
  return {
    t: req.startUs,
    conn: conn.id,
    // The client's address is personal data too (--redact-pii): hashed, its port kept.
    client: `${redactor?.options.pii === true ? redactor.pii(conn.client.address) : conn.client.address}:${conn.client.port}`,
    server: `${conn.server.address}:${conn.server.port}`,
    index: req.index,
    method: req.method,
    url: redactor === null ? req.url : redactor.url(req.url),
    headers: redactor === null ? req.headers : redactor.headerList(req.headers),
    body: body === null ? null : body.toString('base64'),
    bodyRedacted,
    response: res === null ? null : recordResponse(res, redactor, bodies),
    responseMissing: res === null ? ex.responseMissing ?? 'closed' : null,
    ...(req.versionMajor === 2 ? { h2: true as const } : {}),
  };
}

function partPath(base: string, part: number): string {
  return part === 0 ? base : `${base}.${part}`;
}

/** Opens a new private file: mode 0600 whatever the umask, refusing to follow a symlink. The
 * file must not exist (O_EXCL): a file we create is ours, owner included. */
function openPrivate(path: string): number {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW;
  const fd = fs.openSync(path, flags, 0o600);
  try {
    fs.fchmodSync(fd, 0o600); // a umask that took bits away
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}

/** Opens PATH.n afresh: a stale file (or symlink) left there by an older recording is removed
 * first, never reused in place — it would keep its owner, who could read the new part. */
function openPart(path: string): number {
  try {
    fs.unlinkSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err; // a directory, EPERM …
  }
  return openPrivate(path);
}

function countNewlines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) n++;
  return n;
}

/** Writes a recording: PATH, then PATH.1, PATH.2, … as each part fills.
 *
 * Errors: a line is accepted (buffered) or write()/append() throws and it is not in the file.
 * Buffered bytes that fail to reach the disk are kept and retried (the next flush, close());
 * a failure in the background flush is remembered and thrown by the next write()/append(), or
 * by close(). `stats.unwritten` counts the accepted lines not on disk yet (lost, after close). */
export class RecordingWriter {
  readonly id = randomBytes(8).toString('hex');
  /** The current part; always a descriptor this writer opened and has not closed (-1 once closed). */
  private fd: number;
  private part = 0;
  /** Bytes in the current part (written or buffered), and request lines in it. */
  private partBytes = 0;
  private partLines = 0;
  /** Lines not handed to the kernel yet, after `retry` (the tail of a write that failed). */
  private pending: string[] = [];
  private retry: Buffer | null = null;
  /** Lines in `retry`, counted when it was cut. */
  private retryLines = 0;
  /** Bytes of `retry` plus `pending`. */
  private pendingBytes = 0;
  /** Bytes of the part's header line not written yet (it comes first in the unwritten data). */
  private headerLeft = 0;
  /** A write error not yet reported to the caller. */
  private error: Error | null = null;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly kept: string[] = [];
  private readonly counters = { requests: 0, bytes: 0, bodiesRedacted: 0, parts: 0, partsDeleted: 0, writeErrors: 0, bytesOnDisk: 0 };
  /** Each flush becomes one gzip member (a file of members is one gzip stream to a reader). */
  private readonly compress: boolean;

  /** Creates PATH (which must not exist; its directory must). */
  constructor(private readonly options: RecordingWriterOptions) {
    this.compress = options.bodies === true;
    this.fd = openPrivate(options.path);
    this.startPart(options.path);
    this.timer = setInterval(() => this.flushQuietly(), 200);
    this.timer.unref();
  }

  /** Records the exchange; false when it cannot be recorded whole (body beyond --max-body-mb).
   * Throws (and records nothing) when the recording cannot be written. */
  write(ex: Exchange): boolean {
    const entry = recordEntry(ex, this.options.redactor, this.options.bodies === true);
    if (entry === null) return false;
    this.append(entry);
    return true;
  }

  /** Records an entry as it is (already redacted or not, as the caller decided). Throws, the
   * entry not recorded, on a write error (this one's or an earlier background flush's). */
  append(entry: RecordedRequest): void {
    if (this.closed) throw new Error('recording closed');
    this.throwPending();
    const line = `${JSON.stringify(entry)}\n`;
    const bytes = Buffer.byteLength(line);
    if (this.partLines > 0 && this.partBytes + bytes > this.options.maxFileBytes) this.rotate();
    if (this.pendingBytes > 0 && this.pendingBytes + bytes > FLUSH_BYTES) this.flush();
    this.push(line, bytes);
    this.partLines++;
    this.counters.requests++;
    if (entry.bodyRedacted) this.counters.bodiesRedacted++;
    if (entry.response?.bodyRedacted === true) this.counters.bodiesRedacted++;
  }

  /** Writes what is buffered; on error the unwritten bytes are kept (retried next time). */
  flush(): void {
    if (this.pendingBytes === 0) return;
    if (this.fd < 0) throw new Error('recording closed');
    let data: Buffer;
    if (this.pending.length === 0) data = this.retry as Buffer;
    else {
      let fresh = Buffer.from(this.pending.length === 1 ? this.pending[0] : this.pending.join(''), 'utf8');
      // Level 1: 2.2× the speed of the default level for a part ~20 % larger (README, "Recording format").
      if (this.compress) fresh = zlib.gzipSync(fresh, { level: 1 });
      data = this.retry === null ? fresh : Buffer.concat([this.retry, fresh]);
    }
    const lines = this.retryLines + this.pending.length;
    this.pending = [];
    this.retry = null;
    this.retryLines = 0;
    let off = 0;
    try {
      while (off < data.length) {
        const n = fs.writeSync(this.fd, data, off);
        off += n;
        this.counters.bytesOnDisk += n;
      }
    } catch (err) {
      const rest = data.subarray(off);
      this.retry = rest;
      // Compressed, a member cut short holds no readable line: all of them count as unwritten.
      this.retryLines = off === 0 || this.compress ? lines : countNewlines(rest);
      // `pendingBytes` counts uncompressed bytes, what `bytes` and the part size count.
      if (!this.compress) {
        this.pendingBytes = rest.length;
        this.headerLeft = Math.max(0, this.headerLeft - off);
      }
      this.counters.writeErrors++;
      throw err;
    }
    this.pendingBytes = 0;
    this.headerLeft = 0;
  }

  /** Writes what is buffered and closes the file. Throws when something could not be written
   * (`stats.unwritten` lines are then missing) or a write error was never reported. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    let failure: Error | null = null;
    try {
      this.flush();
    } catch (err) {
      failure = err as Error;
    }
    try {
      fs.closeSync(this.fd);
    } catch (err) {
      failure ??= err as Error;
    }
    this.fd = -1;
    // An earlier write error whose bytes got out on a retry lost nothing: it stays counted in
    // stats.writeErrors but does not fail the close.
    if (this.stats.unwritten > 0) failure ??= this.error;
    this.error = null;
    if (failure !== null) throw failure;
  }

  get stats(): RecordingStats {
    const unwrittenLines = this.retryLines + this.pending.length;
    const unwritten = unwrittenLines - (this.headerLeft > 0 ? 1 : 0);
    return {
      ...this.counters,
      requests: this.counters.requests - unwritten,
      bytes: this.counters.bytes - this.pendingBytes,
      files: this.kept.slice(),
      unwritten,
    };
  }

  /** Flush from the timer; an error is kept for the next write or close. */
  private flushQuietly(): void {
    if (this.error !== null) return; // not reported yet: the next write or close retries
    try {
      this.flush();
    } catch (err) {
      this.error = err as Error;
    }
  }

  private throwPending(): void {
    const err = this.error;
    if (err === null) return;
    this.error = null;
    throw err;
  }

  private push(line: string, bytes: number): void {
    this.pending.push(line);
    this.pendingBytes += bytes;
    this.partBytes += bytes;
    this.counters.bytes += bytes;
  }

  private startPart(path: string): void {
    const header: RecordingHeader = {
      format: RECORDING_FORMAT,
      version: RECORDING_VERSION,
      createdAt: new Date().toISOString(),
      redacted: this.options.redactor !== null,
      recording: this.id,
      part: this.part,
      ...(this.compress ? { bodies: true } : {}),
    };
    this.partBytes = 0;
    this.partLines = 0;
    this.counters.parts++;
    this.kept.push(path);
    const line = `${JSON.stringify(header)}\n`;
    const bytes = Buffer.byteLength(line);
    this.headerLeft = bytes; // nothing is buffered before it: rotate() flushed
    this.push(line, bytes);
  }

  /** Moves on to the next part. The next part is opened before the current one is closed: when
   * that fails nothing changes (the current part stays open and is retried next time). */
  private rotate(): void {
    this.flush();
    const part = this.part + 1;
    const path = partPath(this.options.path, part);
    const fd = openPart(path);
    const old = this.fd;
    this.fd = fd;
    this.part = part;
    try {
      fs.closeSync(old);
    } catch (err) {
      this.counters.writeErrors++;
      this.error ??= err as Error; // written data may be lost (NFS …): reported by the next write
    }
    this.startPart(path);
    while (this.kept.length > this.options.maxFiles) {
      const oldest = this.kept.shift() as string;
      try {
        fs.unlinkSync(oldest);
      } catch { /* already gone */ }
      this.counters.partsDeleted++;
    }
  }
}

// ---------------------------------------------------------------------------
// reading


export type FileKind = 'recording' | 'pcap' | 'unknown';

const pcapMagics = new Set([0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1, 0x0a0d0d0a]);

const isGzip = (b: Buffer): boolean => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/** The first bytes of a file, decompressed when it is gzip ('' and `damaged` when they do not
 * decompress). */
function fileStart(file: string): { text: string; raw: Buffer; damaged?: boolean } {
  const fd = fs.openSync(file, 'r');
  try {
    // A header line is ~200 bytes: the first KiB of gzip holds it (and damage further on is
    // found by reading, which names the place).
    const raw = Buffer.alloc(8192);
    const n = fs.readSync(fd, raw, 0, raw.length, 0);
    const head = raw.subarray(0, n);
    if (!isGzip(head)) return { text: head.toString('utf8'), raw: head };
    try {
      // A member cut short (here, or in a truncated file) gives what it holds, no error.
      const out = zlib.gunzipSync(head.subarray(0, 1024), { finishFlush: zlib.constants.Z_SYNC_FLUSH });
      return { text: out.toString('utf8'), raw: head };
    } catch {
      return { text: '', raw: head, damaged: true };
    }
  } finally {
    fs.closeSync(fd);
  }
}

const HEADER_START = /^\{\s*"format"\s*:\s*"shadowtap-recording"/;
const HEADER_PREFIX = '{"format":"shadowtap-recording"';

/** What a file holds, by content: a recording's header line (plain or gzip), a pcap/pcapng
 * magic number; a directory is a recording's parts. */
export function sniffFile(file: string): FileKind {
  if (fs.statSync(file).isDirectory()) return 'recording';
  const { text, raw } = fileStart(file);
  if (raw.length >= 4 && pcapMagics.has(raw.readUInt32BE(0))) return 'pcap';
  if (HEADER_START.test(text)) return 'recording';
  // gzip holding no whole line yet, or damaged: a compressed recording cut short or corrupt
  // (reading it says which).
  if (isGzip(raw) && text.indexOf('\n') < 0 && (text === '' || HEADER_PREFIX.startsWith(text.slice(0, HEADER_PREFIX.length)))) return 'recording';
  return 'unknown';
}

/** The first line of a file, parsed as a recording header: null if it is not one; throws
 * RecordingError when it is one that cannot be read (cut short, a newer version). */
function readHeader(file: string): RecordingHeader | null {
  let text: string;
  try {
    const start = fileStart(file);
    if (start.damaged === true) throw new RecordingError(`${file}: its first bytes do not decompress (a corrupt recording)`);
    text = start.text;
  } catch (err) {
    if (err instanceof RecordingError) throw err;
    return null;
  }
  const nl = text.indexOf('\n');
  if (!HEADER_START.test(text)) {
    if (text.indexOf('\n') < 0 && sniffFile(file) === 'recording') throw new RecordingError(`${file}: the recording's header line is cut short (a truncated recording)`);
    return null;
  }
  if (nl < 0) throw new RecordingError(`${file}: the recording's header line is cut short (a truncated recording)`);
  let h: RecordingHeader;
  try {
    h = JSON.parse(text.slice(0, nl)) as RecordingHeader;
  } catch {
    throw new RecordingError(`${file}: the recording's header line is damaged (a corrupt recording)`);
  }
  if (typeof h.version !== 'number' || !Number.isInteger(h.version)) throw new RecordingError(`${file}: the recording's header has no version`);
  if (h.version > RECORDING_VERSION) {
    throw new RecordingError(`${file}: recording format version ${h.version} is newer than this shadowtap reads (${RECORDING_VERSION}): upgrade shadowtap`);
  }
  if (h.version < 1 || typeof h.recording !== 'string' || typeof h.part !== 'number') {
    throw new RecordingError(`${file}: the recording's header line is damaged (a corrupt recording)`);
  }
  return h;
}

/** A part's header, or null when the file is not a part of a recording (a bad one is skipped). */
function partHeader(file: string): RecordingHeader | null {
  try {
    return readHeader(file);
  } catch {
    return null;
  }
}

function endpoint(s: string): Endpoint {
  const colon = s.lastIndexOf(':');
  return { address: s.slice(0, colon), port: Number(s.slice(colon + 1)) };
}

/** The connection a recorded request came on. */
export function connectionOf(r: RecordedRequest): ConnectionInfo {
  const client = endpoint(r.client);
  return {
    id: r.conn, client, server: endpoint(r.server), ipVersion: client.address.includes(':') ? 6 : 4,
    midstream: false, openedUs: r.t,
  };
}

let nextRecordedId = 1;

/** A recorded request in the form the replay stage takes; `conn` should be one object per
 * recorded connection (the replay tells connections apart by it). */
export function toHttpRequest(r: RecordedRequest, conn: ConnectionInfo = connectionOf(r)): HttpRequest {
  const body = r.body === null ? Buffer.alloc(0) : Buffer.from(r.body, 'base64');
  const h2 = r.h2 === true;
  return {
    versionMajor: h2 ? 2 : 1, versionMinor: h2 ? 0 : 1, headers: r.headers, trailers: [], body, bodySize: body.length,
    bodyTruncated: false, bodySha256: null, chunked: false, startUs: r.t, endUs: r.t,
    id: nextRecordedId++, conn, index: r.index, method: r.method, url: r.url,
  };
}

/** Production's recorded answer in the form the compare stage takes (null without one). A
 * response recorded without its body compares by status and headers only (as truncated). */
export function toHttpResponse(r: RecordedRequest): HttpResponse | null {
  const res = r.response;
  if (res === null) return null;
  const body = typeof res.body === 'string' ? Buffer.from(res.body, 'base64') : null;
  const kept = res.body !== undefined && res.bodyTruncated !== true;
  return {
    versionMajor: 1, versionMinor: 1, headers: res.headers, trailers: res.trailers ?? [], body: kept ? body ?? Buffer.alloc(0) : body,
    bodySize: res.bodySize, bodyTruncated: !kept, bodySha256: res.sha256, chunked: false,
    startUs: res.startUs ?? r.t, endUs: res.endUs ?? r.t, statusCode: res.status, statusMessage: '',
  };
}

/** A recorded request with production's recorded answer, as the http stage would have given
 * them (`request`: the entry as toHttpRequest made it). */
export function toExchange(r: RecordedRequest, request: HttpRequest): Exchange {
  return { request, response: toHttpResponse(r), responseMissing: r.response === null ? (r.responseMissing ?? 'closed') as ResponseMissing : null };
}

/** Splits a byte stream into lines (without their '\n'); the last one may lack it. */
async function* lines(stream: AsyncIterable<Buffer>): AsyncGenerator<{ line: string; ended: boolean }> {
  let rest: Buffer | null = null;
  for await (const chunk of stream) {
    let buf: Buffer = rest === null ? chunk : Buffer.concat([rest, chunk]);
    let start = 0;
    for (let nl = buf.indexOf(10); nl >= 0; nl = buf.indexOf(10, start)) {
      yield { line: buf.toString('utf8', start, nl), ended: true };
      start = nl + 1;
    }
    buf = buf.subarray(start);
    rest = buf.length > 0 ? Buffer.from(buf) : null;
  }
  if (rest !== null) yield { line: rest.toString('utf8'), ended: false };
}

/** Reads a recording from the part given, then its later parts (PATH.n+1 …, same recording id);
 * or, given a directory, every part of the one recording it holds, in part order. */
export class RecordingReader {
  /** Last lines cut short (a full disk, a killed writer): skipped and counted. */
  tornLines = 0;
  /** The parts to read, in order. */
  readonly files: string[];
  readonly totalBytes: number;
  private done = 0;
  private stream: fs.ReadStream | null = null;

  private constructor(readonly header: RecordingHeader, files: string[]) {
    this.files = files;
    this.totalBytes = files.reduce((n, f) => n + fs.statSync(f).size, 0);
  }

  /** Throws RecordingError (one line) when `file` is not a readable recording. */
  static open(file: string): RecordingReader {
    if (fs.statSync(file).isDirectory()) return RecordingReader.openDirectory(file);
    const header = readHeader(file);
    if (header === null) throw new RecordingError(`${file}: not a shadowtap recording (no header line)`);
    const files = [file];
    const suffix = `.${header.part}`;
    const base = header.part > 0 && file.endsWith(suffix) ? file.slice(0, -suffix.length) : file;
    for (let part = header.part + 1; ; part++) {
      const next = partPath(base, part);
      const h = partHeader(next);
      if (h === null || h.recording !== header.recording || h.part !== part) break;
      files.push(next);
    }
    return new RecordingReader(header, files);
  }

  private static openDirectory(dir: string): RecordingReader {
    const parts: Array<{ file: string; header: RecordingHeader }> = [];
    for (const name of fs.readdirSync(dir).sort()) {
      const file = path.join(dir, name);
      if (!fs.statSync(file).isFile()) continue;
      const header = readHeader(file); // a newer version or a damaged header refuses the directory
      if (header !== null) parts.push({ file, header });
    }
    if (parts.length === 0) throw new RecordingError(`${dir}: holds no shadowtap recording`);
    const ids = new Set(parts.map((p) => p.header.recording));
    if (ids.size > 1) throw new RecordingError(`${dir}: holds parts of ${ids.size} recordings (${[...ids].join(', ')}): give one part's path instead`);
    parts.sort((a, b) => a.header.part - b.header.part);
    return new RecordingReader(parts[0].header, parts.map((p) => p.file));
  }

  /** Bytes read so far, over all parts (as on disk: compressed bytes for a compressed part). */
  get bytesRead(): number {
    return this.done + (this.stream?.bytesRead ?? 0);
  }

  /** One part's bytes, decompressed when it is gzip. */
  private open(file: string): { raw: fs.ReadStream; bytes: AsyncIterable<Buffer> } {
    const raw = fs.createReadStream(file, { highWaterMark: 1 << 20 });
    if (!isGzip(fileStart(file).raw)) return { raw, bytes: raw };
    // A member cut short (a killed writer) ends the stream quietly: its last line is torn.
    const gunzip = zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH });
    raw.on('error', (err) => gunzip.destroy(err));
    return { raw, bytes: raw.pipe(gunzip) };
  }

  /** Request lines in all parts (a quick pass counting newlines). */
  async countRequests(): Promise<number> {
    let count = 0;
    for (const f of this.files) {
      const { raw, bytes } = this.open(f);
      try {
        for await (const chunk of bytes) {
          const b = chunk as Buffer;
          for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) count++;
        }
      } catch {
        /* the reading pass reports it */
      } finally {
        raw.destroy();
      }
      count--; // the header
    }
    return count;
  }

  /** The requests of every part, in file order. Throws RecordingError on damage. */
  async *requests(): AsyncGenerator<RecordedRequest> {
    for (const f of this.files) {
      const { raw, bytes } = this.open(f);
      this.stream = raw;
      let n = 0;
      // Each line is judged once the next one is read: only a part's last line may be torn.
      let held: string | null = null;
      let heldAt = 0;
      const parse = (line: string, at: number, last: boolean): RecordedRequest | null => {
        let r: RecordedRequest;
        try {
          r = JSON.parse(line) as RecordedRequest;
        } catch {
          if (last) {
            this.tornLines++;
            return null;
          }
          throw new RecordingError(`${f}:${at}: not a JSON line (a corrupt recording)`);
        }
        if (r === null || typeof r.t !== 'number' || typeof r.method !== 'string' || typeof r.url !== 'string' || !Array.isArray(r.headers)) {
          throw new RecordingError(`${f}:${at}: not a recorded request (a corrupt recording)`);
        }
        return r;
      };
      try {
        for await (const { line, ended } of lines(bytes)) {
          if (n++ === 0 || line === '') continue;
          if (held !== null) {
            const r = parse(held, heldAt, false);
            if (r !== null) yield r;
          }
          held = line;
          heldAt = n;
          // A line without its newline is the part's last, cut short.
          if (!ended) break;
        }
        if (held !== null) {
          const r = parse(held, heldAt, true);
          if (r !== null) yield r;
        }
      } catch (err) {
        if (err instanceof RecordingError) throw err;
        throw new RecordingError(`${f}: cannot be read (${(err as Error).message}): a corrupt recording`);
      } finally {
        raw.destroy();
        this.done += raw.bytesRead;
        this.stream = null;
      }
    }
  }
}
