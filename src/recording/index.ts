// Recordings: captured exchanges kept in a file to be replayed later (`shadowtap record`,
// `shadowtap replay`). JSON lines: a header line, then one line per request (see README,
// "Recording format"). Secrets are masked by default; files are private (0600) and rotated
// by size.

import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as readline from 'node:readline';
import type { Exchange, HttpRequest } from '../http';
import { headerValue } from '../http';
import type { ConnectionInfo, Endpoint } from '../tcp';
import type { Redactor } from '../traffic/redact';

export const RECORDING_FORMAT = 'shadowtap-recording';
export const RECORDING_VERSION = 1;

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
}

/** Production's answer, summarised (no body). */
export interface RecordedResponse {
  status: number;
  headers: string[];
  bodySize: number;
  /** Hex sha256 of the de-chunked body. */
  sha256: string | null;
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
}

export interface RecordingWriterOptions {
  path: string;
  /** Masks secrets; null records byte for byte. */
  redactor: Redactor | null;
  /** A part is closed before a line would take it beyond this (a part holds at least one request). */
  maxFileBytes: number;
  /** Parts kept; the oldest is deleted beyond. */
  maxFiles: number;
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

/** One exchange as a recording entry (null when the request body was cut by --max-body-mb). */
export function recordEntry(ex: Exchange, redactor: Redactor | null): RecordedRequest | null {
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
    client: `${conn.client.address}:${conn.client.port}`,
    server: `${conn.server.address}:${conn.server.port}`,
    index: req.index,
    method: req.method,
    url: redactor === null ? req.url : redactor.url(req.url),
    headers: redactor === null ? req.headers : redactor.headerList(req.headers),
    body: body === null ? null : body.toString('base64'),
    bodyRedacted,
    response: res === null ? null : {
      status: res.statusCode,
      headers: redactor === null ? res.headers : redactor.headerList(res.headers),
      bodySize: res.bodySize,
      sha256: res.bodySha256,
    },
    responseMissing: res === null ? ex.responseMissing ?? 'closed' : null,
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
  private readonly counters = { requests: 0, bytes: 0, bodiesRedacted: 0, parts: 0, partsDeleted: 0, writeErrors: 0 };

  /** Creates PATH (which must not exist; its directory must). */
  constructor(private readonly options: RecordingWriterOptions) {
    this.fd = openPrivate(options.path);
    this.startPart(options.path);
    this.timer = setInterval(() => this.flushQuietly(), 200);
    this.timer.unref();
  }

  /** Records the exchange; false when it cannot be recorded whole (body beyond --max-body-mb).
   * Throws (and records nothing) when the recording cannot be written. */
  write(ex: Exchange): boolean {
    const entry = recordEntry(ex, this.options.redactor);
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
  }

  /** Writes what is buffered; on error the unwritten bytes are kept (retried next time). */
  flush(): void {
    if (this.pendingBytes === 0) return;
    if (this.fd < 0) throw new Error('recording closed');
    let data: Buffer;
    if (this.pending.length === 0) data = this.retry as Buffer;
    else {
      const fresh = Buffer.from(this.pending.length === 1 ? this.pending[0] : this.pending.join(''), 'utf8');
      data = this.retry === null ? fresh : Buffer.concat([this.retry, fresh]);
    }
    const lines = this.retryLines + this.pending.length;
    this.pending = [];
    this.retry = null;
    this.retryLines = 0;
    let off = 0;
    try {
      while (off < data.length) off += fs.writeSync(this.fd, data, off);
    } catch (err) {
      const rest = data.subarray(off);
      this.retry = rest;
      this.retryLines = off === 0 ? lines : countNewlines(rest);
      this.pendingBytes = rest.length;
      this.headerLeft = Math.max(0, this.headerLeft - off);
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

/** What a file holds, by content: a recording's header line, or a pcap/pcapng magic number. */
export function sniffFile(path: string): FileKind {
  const fd = fs.openSync(path, 'r');
  try {
    const head = Buffer.alloc(4096);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    if (n >= 4 && pcapMagics.has(head.readUInt32BE(0))) return 'pcap';
    const text = head.toString('utf8', 0, n);
    if (/^\{\s*"format"\s*:\s*"shadowtap-recording"/.test(text)) return 'recording';
    return 'unknown';
  } finally {
    fs.closeSync(fd);
  }
}

/** The first line of a file, parsed as a recording header (null if it is not one). */
function readHeader(path: string): RecordingHeader | null {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(4096);
    const n = fs.readSync(fd, buf, 0, buf.length, 0);
    const nl = buf.subarray(0, n).indexOf(10);
    if (nl < 0) return null;
    const h = JSON.parse(buf.toString('utf8', 0, nl)) as RecordingHeader;
    return h !== null && h.format === RECORDING_FORMAT ? h : null;
  } catch {
    return null;
  } finally {
    fs.closeSync(fd);
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
  return {
    versionMajor: 1, versionMinor: 1, headers: r.headers, trailers: [], body, bodySize: body.length,
    bodyTruncated: false, bodySha256: null, chunked: false, startUs: r.t, endUs: r.t,
    id: nextRecordedId++, conn, index: r.index, method: r.method, url: r.url,
  };
}

/** Reads a recording from the part given, then its later parts (PATH.n+1 …, same recording id). */
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

  static open(path: string): RecordingReader {
    const header = readHeader(path);
    if (header === null) throw new Error(`${path}: not a shadowtap recording (no header line)`);
    if (header.version !== RECORDING_VERSION) throw new Error(`${path}: recording version ${header.version}, this shadowtap reads ${RECORDING_VERSION}`);
    const files = [path];
    const suffix = `.${header.part}`;
    const base = header.part > 0 && path.endsWith(suffix) ? path.slice(0, -suffix.length) : path;
    for (let part = header.part + 1; ; part++) {
      const next = partPath(base, part);
      const h = readHeader(next);
      if (h === null || h.recording !== header.recording || h.part !== part) break;
      files.push(next);
    }
    return new RecordingReader(header, files);
  }

  /** Bytes read so far, over all parts. */
  get bytesRead(): number {
    return this.done + (this.stream?.bytesRead ?? 0);
  }

  /** Request lines in all parts (a quick pass counting newlines). */
  async countRequests(): Promise<number> {
    let lines = 0;
    for (const f of this.files) {
      for await (const chunk of fs.createReadStream(f, { highWaterMark: 1 << 20 })) {
        const b = chunk as Buffer;
        for (let i = b.indexOf(10); i >= 0; i = b.indexOf(10, i + 1)) lines++;
      }
      lines--; // the header
    }
    return lines;
  }

  /** The requests of every part, in file order. */
  async *requests(): AsyncGenerator<RecordedRequest> {
    for (const f of this.files) {
      const stream = fs.createReadStream(f, { highWaterMark: 1 << 20 });
      this.stream = stream;
      const lines = readline.createInterface({ input: stream, crlfDelay: Infinity });
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
          throw new Error(`${f}:${at}: not a JSON line`);
        }
        if (typeof r.t !== 'number' || typeof r.method !== 'string' || typeof r.url !== 'string' || !Array.isArray(r.headers)) {
          throw new Error(`${f}:${at}: not a recorded request`);
        }
        return r;
      };
      try {
        for await (const line of lines) {
          if (n++ === 0 || line === '') continue;
          if (held !== null) {
            const r = parse(held, heldAt, false);
            if (r !== null) yield r;
          }
          held = line;
          heldAt = n;
        }
        if (held !== null) {
          const r = parse(held, heldAt, true);
          if (r !== null) yield r;
        }
      } finally {
        lines.close();
        stream.destroy();
        this.done += stream.bytesRead;
        this.stream = null;
      }
    }
  }
}
