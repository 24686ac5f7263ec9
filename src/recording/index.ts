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

/** Opens a new private file: mode 0600 whatever the umask, refusing to follow a symlink. */
function openPrivate(path: string, exclusive: boolean): number {
  const flags = fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW |
    (exclusive ? fs.constants.O_EXCL : fs.constants.O_TRUNC);
  const fd = fs.openSync(path, flags, 0o600);
  try {
    fs.fchmodSync(fd, 0o600); // an existing stale part, or a umask that took bits away
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}

/** Writes a recording: PATH, then PATH.1, PATH.2, … as each part fills. */
export class RecordingWriter {
  readonly id = randomBytes(8).toString('hex');
  private fd: number;
  private part = 0;
  /** Bytes in the current part (written or buffered), and request lines in it. */
  private partBytes = 0;
  private partLines = 0;
  private pending: string[] = [];
  private pendingBytes = 0;
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly kept: string[] = [];
  private readonly counters = { requests: 0, bytes: 0, bodiesRedacted: 0, parts: 0, partsDeleted: 0 };

  /** Creates PATH (which must not exist; its directory must). */
  constructor(private readonly options: RecordingWriterOptions) {
    this.fd = openPrivate(options.path, true);
    this.startPart(options.path);
    this.timer = setInterval(() => this.flushQuietly(), 200);
    this.timer.unref();
  }

  /** Records the exchange; false when it cannot be recorded whole (body beyond --max-body-mb). */
  write(ex: Exchange): boolean {
    const entry = recordEntry(ex, this.options.redactor);
    if (entry === null) return false;
    this.append(entry);
    return true;
  }

  /** Records an entry as it is (already redacted or not, as the caller decided). */
  append(entry: RecordedRequest): void {
    if (this.closed) throw new Error('recording closed');
    const line = `${JSON.stringify(entry)}\n`;
    const bytes = Buffer.byteLength(line);
    if (this.partLines > 0 && this.partBytes + bytes > this.options.maxFileBytes) this.rotate();
    this.push(line, bytes);
    this.partLines++;
    this.counters.requests++;
    if (entry.bodyRedacted) this.counters.bodiesRedacted++;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const data = Buffer.from(this.pending.length === 1 ? this.pending[0] : this.pending.join(''), 'utf8');
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    while (off < data.length) off += fs.writeSync(this.fd, data, off);
  }

  close(): void {
    if (this.closed) return;
    clearInterval(this.timer);
    try {
      this.flush();
    } finally {
      this.closed = true;
      fs.closeSync(this.fd);
    }
  }

  get stats(): RecordingStats {
    return { ...this.counters, files: this.kept.slice() };
  }

  /** Flush from the timer; an error surfaces at the next write or close. */
  private flushQuietly(): void {
    try {
      this.flush();
    } catch { /* reported by the next flush() */ }
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
    this.push(line, Buffer.byteLength(line));
  }

  private rotate(): void {
    this.flush();
    fs.closeSync(this.fd);
    this.part++;
    const path = partPath(this.options.path, this.part);
    this.fd = openPrivate(path, false);
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

/** A recorded request in the form the replay stage takes; `conn` should be one object per
 * recorded connection (the replay tells connections apart by it). */
export function toHttpRequest(r: RecordedRequest, conn: ConnectionInfo = connectionOf(r)): HttpRequest {
  const body = r.body === null ? Buffer.alloc(0) : Buffer.from(r.body, 'base64');
  return {
    versionMajor: 1, versionMinor: 1, headers: r.headers, trailers: [], body, bodySize: body.length,
    bodyTruncated: false, bodySha256: null, chunked: false, startUs: r.t, endUs: r.t,
    conn, index: r.index, method: r.method, url: r.url,
  };
}

/** Reads a recording from the part given, then its later parts (PATH.n+1 …, same recording id). */
export class RecordingReader {
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
      try {
        for await (const line of lines) {
          if (n++ === 0 || line === '') continue;
          let r: RecordedRequest;
          try {
            r = JSON.parse(line) as RecordedRequest;
          } catch {
            throw new Error(`${f}:${n}: not a JSON line`);
          }
          if (typeof r.t !== 'number' || typeof r.method !== 'string' || typeof r.url !== 'string' || !Array.isArray(r.headers)) {
            throw new Error(`${f}:${n}: not a recorded request`);
          }
          yield r;
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
