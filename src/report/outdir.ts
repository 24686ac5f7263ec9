// A run's comparison output directory: results.json (rewritten atomically as the run goes,
// complete at exit), samples.jsonl (bounded, redacted mismatch samples) and, when the run has
// an id source (fleet workers), exchanges.ids (the id of every exchange counted, one a line).

import { closeSync, existsSync, fchmodSync, openSync, readSync, renameSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { MismatchSample, ResultsJson, SampleSink } from '../compare';
import { bodyText, decodeBody } from '../compare/body';
import { decodeGrpcMessages, isGrpcContentType } from '../compare/grpc';
import { joinedHeaderValue as headerValue } from '../http';
import { headerList } from '../replay';
import { Redactor } from '../traffic/redact';
import { ConfigError } from '../config/error';
import { makeDirectory, writeJsonFile } from './index';

export const RESULTS_FILE = 'results.json';
export const SAMPLES_FILE = 'samples.jsonl';
export const IDS_FILE = 'exchanges.ids';

/** Bytes of ids held before they are appended to exchanges.ids (they are also appended before
 * every results.json write, so the file always lists at least the exchanges results.json counts). */
const IDS_BUFFER_BYTES = 64 << 10;

/** An id as one line of exchanges.ids: printable ASCII other than % as is, every other byte
 * (newlines, spaces, non-ASCII) as %XX — lossless, so equal lines mean equal ids. */
export function idLine(id: string): string {
  if (/^[\x21-\x24\x26-\x7e]+$/.test(id)) return id;
  let out = '';
  for (const b of Buffer.from(id, 'utf8')) {
    out += b >= 0x21 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** What results.json says of exchanges.ids: the ids appended by the time it was written. */
export type IdsJson = NonNullable<ResultsJson['ids']>;

export interface OutputDirOptions {
  /** Keep exchanges.ids: the run has an id source and calls compared(id) for each exchange. */
  recordIds?: boolean;
  /** A replay worker's share of a directory the run opened already (--workers): its samples
   * are added to the run's samples.jsonl (whole lines, O_APPEND); nothing is rotated. */
  append?: boolean;
}

export interface SampleLimits {
  maxSamples: number;
  maxBytes: number;
  /** Body text shown per message. */
  maxBodyChars: number;
}

export const defaultSampleLimits: SampleLimits = { maxSamples: 1000, maxBytes: 16 << 20, maxBodyChars: 4096 };

export interface SampleLine {
  target: string;
  endpoint: string;
  request: { method: string; url: string; headers: string[]; body: string | null };
  production: { status: number; headers: string[]; body: string | null; latencyMs: number };
  shadow: { status: number | null; headers: string[]; body: string | null; latencyMs: number };
  diffs: Array<{ path: string; at: string; kind: string; expected?: unknown; actual?: unknown }>;
}

function shownBody(body: Buffer | null, contentType: string | null, contentEncoding: string | null, max: number, redact: Redactor, headers: readonly string[] = []): string | null {
  if (body === null || body.length === 0) return null;
  if (isGrpcContentType(contentType)) return shownGrpcBody(body, headers, max, redact);
  const decoded = decodeBody(body, contentEncoding, 8 << 20).body;
  // Redacted whole first (a JSON body cut short no longer parses, and its keys would go
  // unmasked), then cut.
  const text = redact.bodyText(bodyText(decoded, contentType));
  return text.length > max ? `${text.slice(0, max)}… (${decoded.length} bytes)` : text;
}

/** A gRPC body as the JSON array of its messages, decoded schema-less (fields by number) as the
 * comparison decodes them, so that redaction sees the values; a framing fault is named after it. */
function shownGrpcBody(body: Buffer, headers: readonly string[], max: number, redact: Redactor): string {
  const d = decodeGrpcMessages(body, headers, null, 'response', null, 8 << 20);
  const text = redact.bodyText(JSON.stringify(d.values)) + (d.error === null ? '' : ` (grpc: ${d.error})`);
  return text.length > max ? `${text.slice(0, max)}… (${body.length} bytes)` : text;
}

/** Earlier runs' files in the same directory (a restart after a crash, say) are never
 * overwritten: NAME becomes NAME.1, NAME.1 becomes NAME.2, …; the oldest beyond this is dropped. */
export const KEPT_RUNS = 5;

function keepPreviousRuns(dir: string, names: string[]): void {
  for (const name of names) {
    const at = (i: number): string => join(dir, i === 0 ? name : `${name}.${i}`);
    if (!existsSync(at(0))) continue;
    for (let i = KEPT_RUNS - 1; i >= 0; i--) if (existsSync(at(i))) renameSync(at(i), at(i + 1));
  }
}

export class OutputDir implements SampleSink {
  private readonly samplesFd: number;
  private samples = 0;
  private bytes = 0;

  /** For `--out`: a directory that cannot be made or written is a configuration error. */
  static open(dir: string, redactor: Redactor, options: OutputDirOptions = {}): OutputDir {
    try {
      return new OutputDir(dir, redactor, defaultSampleLimits, options);
    } catch (err) {
      throw new ConfigError('--out', (err as Error).message);
    }
  }

  private readonly idsFd: number | null = null;
  private idsPending = '';
  private idsPendingCount = 0;
  private idsWritten = 0;
  private idsLost = 0;

  constructor(readonly dir: string, private readonly redactor: Redactor, private readonly limits: SampleLimits = defaultSampleLimits,
    options: OutputDirOptions = {}) {
    if (options.append === true) {
      this.samplesFd = openSync(join(dir, SAMPLES_FILE), 'a', 0o600);
      return;
    }
    makeDirectory(dir, 0o700);
    // An earlier run's id list goes with its results, whether or not this run keeps one.
    keepPreviousRuns(dir, [RESULTS_FILE, SAMPLES_FILE, IDS_FILE]);
    // Samples of production traffic: owner-only, started afresh for each run.
    this.samplesFd = openSync(join(dir, SAMPLES_FILE), 'w', 0o600);
    fchmodSync(this.samplesFd, 0o600); // the mode above applies to new files only
    if (options.recordIds === true) {
      this.idsFd = openSync(join(dir, IDS_FILE), 'w', 0o600);
      fchmodSync(this.idsFd, 0o600);
    }
  }

  /** The exchange `id` is counted in these results (call once per exchange handed to the
   * comparison). Buffered; appended before the next results.json write (see flushIds). */
  compared(id: string): void {
    if (this.idsFd === null) throw new Error('OutputDir.compared(): this directory was opened without recordIds');
    this.idsPending += `${idLine(id)}\n`;
    this.idsPendingCount++;
    if (this.idsPending.length >= IDS_BUFFER_BYTES) this.flushIds();
  }

  /** Appends the buffered ids to exchanges.ids. A failed write loses them (counted in
   * results.json's ids.lost, which tells `report` the list is incomplete). */
  flushIds(): void {
    if (this.idsFd === null || this.idsPendingCount === 0) return;
    const text = this.idsPending;
    const n = this.idsPendingCount;
    this.idsPending = '';
    this.idsPendingCount = 0;
    if (this.idsLost > 0) { // after a failed write the file is incomplete anyway: stop writing
      this.idsLost += n;
      return;
    }
    try {
      writeSync(this.idsFd, text);
      this.idsWritten += n;
    } catch {
      this.idsLost += n;
    }
  }

  /** For results.json: how many ids exchanges.ids holds (nothing when ids are not kept). */
  get idsJson(): IdsJson | null {
    return this.idsFd === null ? null : { file: IDS_FILE, written: this.idsWritten, lost: this.idsLost };
  }

  /** Diff values are redacted before the diff shortens them (see SampleSink). */
  prepareValue(at: string, value: unknown): unknown {
    return this.redactor.value(at, value);
  }

  get hasRoom(): boolean {
    return this.sampleError === null && this.samples < this.limits.maxSamples && this.bytes < this.limits.maxBytes;
  }

  /** The first failed sample write (a full disk): no more samples are written after it. */
  sampleError: Error | null = null;
  /** Runs once, at the first failed sample write. */
  onSampleError: (err: Error) => void = () => {};

  write(s: MismatchSample): boolean {
    const r = this.redactor;
    const max = this.limits.maxBodyChars;
    const req = s.request;
    const prod = s.production;
    const sh = s.shadow;
    const line: SampleLine = {
      target: s.target,
      endpoint: s.endpoint,
      request: {
        method: req.method, url: r.url(req.url), headers: r.headerList(req.headers),
        body: shownBody(req.body, headerValue(req.headers, 'content-type'), headerValue(req.headers, 'content-encoding'), max, r, req.headers),
      },
      production: {
        status: prod.statusCode, headers: r.headerList(prod.headers),
        body: shownBody(prod.body, headerValue(prod.headers, 'content-type'), headerValue(prod.headers, 'content-encoding'), max, r, prod.headers),
        latencyMs: (prod.endUs - req.startUs) / 1000,
      },
      shadow: {
        status: sh.statusCode, headers: r.headerList(sh.headers ?? []),
        body: shownBody(sh.body, headerValue(sh.headers ?? [], 'content-type'), headerValue(sh.headers ?? [], 'content-encoding'), max, r, sh.headers ?? []),
        latencyMs: sh.latencyUs / 1000,
      },
      diffs: s.diffs.map((d) => ({ path: d.path, at: d.at, kind: d.kind, expected: r.value(d.at, d.expected), actual: r.value(d.at, d.actual) })),
    };
    const text = `${JSON.stringify(line)}\n`;
    try {
      writeSync(this.samplesFd, text);
    } catch (err) {
      this.sampleError = err as Error;
      this.onSampleError(this.sampleError);
      return false;
    }
    this.samples++;
    this.bytes += Buffer.byteLength(text);
    return true;
  }

  writeResults(results: ResultsJson): void {
    writeJsonFile(join(this.dir, RESULTS_FILE), results, 0o600);
  }

  close(): void {
    closeSync(this.samplesFd);
    if (this.idsFd !== null) {
      this.flushIds();
      closeSync(this.idsFd);
    }
  }
}

export function readResults(dir: string): unknown {
  return JSON.parse(readFileSync(join(dir, RESULTS_FILE), 'utf8'));
}

/** Samples written before the shadow's headers became a raw list held them as an object. */
function headerListOf(h: string[] | Record<string, string | string[]> | null | undefined): string[] {
  if (Array.isArray(h)) return h;
  return h !== null && typeof h === 'object' ? headerList(h) : [];
}

/** What forEachLine passed over. */
export interface LineStats {
  /** Bytes of a last line without its newline (torn by a crash): not passed on. */
  tornBytes: number;
  /** Lines longer than the limit: skipped whole. */
  overlong: number;
}

/**
 * Calls `line` with each complete line of a file, read in chunks (never the whole file at
 * once, nor a line longer than `maxLineBytes`); stops when `line` returns false. Throws when
 * the file cannot be opened or read.
 */
export function forEachLine(path: string, line: (text: string) => boolean | void, maxLineBytes = 1 << 20): LineStats {
  const stats: LineStats = { tornBytes: 0, overlong: 0 };
  const fd = openSync(path, 'r');
  try {
    const chunkBytes = 1 << 20;
    const chunk = Buffer.allocUnsafe(chunkBytes);
    let carry: Buffer = Buffer.alloc(0);
    let skipping = false; // inside an overlong line: dropped up to its newline
    for (;;) {
      const n = readSync(fd, chunk, 0, chunkBytes, null);
      if (n === 0) {
        stats.tornBytes = carry.length;
        return stats;
      }
      const data = carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, n)]) : chunk.subarray(0, n);
      let start = 0;
      for (let nl = data.indexOf(10, start); nl >= 0; nl = data.indexOf(10, start)) {
        if (skipping) skipping = false;
        else if (nl - start > maxLineBytes) stats.overlong++;
        else if (line(data.toString('utf8', start, nl)) === false) return stats;
        start = nl + 1;
      }
      if (data.length - start > maxLineBytes) {
        if (!skipping) stats.overlong++;
        skipping = true;
        carry = Buffer.alloc(0);
      } else {
        carry = Buffer.from(data.subarray(start)); // copied: `chunk` is reused
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Samples as written (a line cut short by a crash is skipped); at most `limit.samples` of
 * them and about `limit.bytes` of text. */
export function readSamples(dir: string, limit: { samples: number; bytes: number } = { samples: Infinity, bytes: Infinity }): SampleLine[] {
  const out: SampleLine[] = [];
  let bytes = 0;
  try {
    forEachLine(join(dir, SAMPLES_FILE), (line) => {
      if (line === '') return true;
      try {
        const sample = JSON.parse(line) as SampleLine;
        sample.shadow.headers = headerListOf(sample.shadow.headers);
        out.push(sample);
        bytes += line.length;
      } catch { /* a damaged line */ }
      return out.length < limit.samples && bytes < limit.bytes;
    });
  } catch {
    return out;
  }
  return out;
}

/** results.json kept at most `everyMs` behind the run, and complete at the end. */
export class ResultsFile {
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly dir: OutputDir, private readonly produce: (complete: boolean) => ResultsJson,
    private readonly onError: (err: Error) => void, everyMs = 5000) {
    this.write(false);
    this.timer = setInterval(() => this.write(false), everyMs);
  }

  /** The final, complete results; then the samples file is closed. */
  finish(): void {
    clearInterval(this.timer);
    this.write(true);
    this.dir.close();
  }

  /** Writes the results so far now (ids first): a fleet worker calls this before it
   * acknowledges the exchanges counted, so that a redelivered one shows up as a duplicate.
   * False when results.json could not be written (then do not acknowledge). */
  flush(): boolean {
    return this.write(false);
  }

  private write(complete: boolean): boolean {
    try {
      // Ids before the results that count them: exchanges.ids never lists fewer.
      this.dir.flushIds();
      const ids = this.dir.idsJson;
      const results = this.produce(complete);
      this.dir.writeResults(ids === null ? results : { ...results, ids });
      return true;
    } catch (err) {
      this.onError(err as Error);
      return false;
    }
  }
}
