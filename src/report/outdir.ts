// A run's comparison output directory: results.json (rewritten atomically as the run goes,
// complete at exit) and samples.jsonl (bounded, redacted mismatch samples).

import { closeSync, existsSync, fchmodSync, openSync, renameSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { MismatchSample, ResultsJson, SampleSink } from '../compare';
import { bodyText, decodeBody } from '../compare/body';
import { joinedHeaderValue as headerValue } from '../http';
import { headerList } from '../replay';
import { Redactor } from '../traffic/redact';
import { ConfigError } from '../config/error';
import { makeDirectory, writeJsonFile } from './index';

export const RESULTS_FILE = 'results.json';
export const SAMPLES_FILE = 'samples.jsonl';

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

function shownBody(body: Buffer | null, contentType: string | null, contentEncoding: string | null, max: number, redact: Redactor): string | null {
  if (body === null || body.length === 0) return null;
  const decoded = decodeBody(body, contentEncoding, 8 << 20).body;
  // Redacted whole first (a JSON body cut short no longer parses, and its keys would go
  // unmasked), then cut.
  const text = redact.bodyText(bodyText(decoded, contentType));
  return text.length > max ? `${text.slice(0, max)}… (${decoded.length} bytes)` : text;
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
  static open(dir: string, redactor: Redactor): OutputDir {
    try {
      return new OutputDir(dir, redactor);
    } catch (err) {
      throw new ConfigError('--out', (err as Error).message);
    }
  }

  constructor(readonly dir: string, private readonly redactor: Redactor, private readonly limits: SampleLimits = defaultSampleLimits) {
    makeDirectory(dir, 0o700);
    keepPreviousRuns(dir, [RESULTS_FILE, SAMPLES_FILE]);
    // Samples of production traffic: owner-only, started afresh for each run.
    this.samplesFd = openSync(join(dir, SAMPLES_FILE), 'w', 0o600);
    fchmodSync(this.samplesFd, 0o600); // the mode above applies to new files only
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
        body: shownBody(req.body, headerValue(req.headers, 'content-type'), headerValue(req.headers, 'content-encoding'), max, r),
      },
      production: {
        status: prod.statusCode, headers: r.headerList(prod.headers),
        body: shownBody(prod.body, headerValue(prod.headers, 'content-type'), headerValue(prod.headers, 'content-encoding'), max, r),
        latencyMs: (prod.endUs - req.startUs) / 1000,
      },
      shadow: {
        status: sh.statusCode, headers: r.headerList(sh.headers ?? []),
        body: shownBody(sh.body, headerValue(sh.headers ?? [], 'content-type'), headerValue(sh.headers ?? [], 'content-encoding'), max, r),
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

/** Samples as written (a line cut short by a crash is skipped). */
export function readSamples(dir: string): SampleLine[] {
  let text: string;
  try {
    text = readFileSync(join(dir, SAMPLES_FILE), 'utf8');
  } catch {
    return [];
  }
  const out: SampleLine[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const sample = JSON.parse(line) as SampleLine;
      sample.shadow.headers = headerListOf(sample.shadow.headers);
      out.push(sample);
    } catch { /* torn last line */ }
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

  private write(complete: boolean): void {
    try {
      this.dir.writeResults(this.produce(complete));
    } catch (err) {
      this.onError(err as Error);
    }
  }
}
