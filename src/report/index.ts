// What people and machines read: the summary object, pino logs.

import { accessSync, closeSync, constants, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import pino from 'pino';
import type { ConnectionInfo } from '../tcp';
import { LogShipStats, LogShipper, logShipStats, parseLogTarget, registerShipper } from './logship';

export type Logger = pino.Logger;
export { ShadowHealth, FAILING_AFTER } from './shadows';
export type { ShadowState } from './shadows';

/**
 * pino JSON lines on stdout; with `logTo` (--log-to) every line also goes to that collector
 * through a bounded, non-blocking in-process queue (see ./logship).
 */
export function createLogger(level: string, logTo?: { url: string; maxLines: number }): Logger {
  const opts = { level, base: { svc: 'shadowtap' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (logTo === undefined) return pino(opts);
  const stdout = pino.destination(1);
  const shipper = new LogShipper(parseLogTarget(logTo.url), { maxLines: logTo.maxLines });
  registerShipper(shipper);
  const log = pino(opts, { write: (line: string) => { stdout.write(line); shipper.write(line); } });
  shipper.events = {
    down: (st, error) => log.warn({ logShipping: st, error }, 'log collector unreachable: lines are queued, beyond the cap dropped and counted'),
    up: (st, outage) => {
      if (outage === null) log.info({ logShipping: st }, 'log collector connected');
      else log.info({ logShipping: st, outageMs: outage.ms, droppedMeanwhile: outage.droppedMeanwhile }, 'log collector reconnected');
    },
    closed: (st) => log.info({ logShipping: st }, 'log shipping closed'),
  };
  return log;
}

/** `{ logShipping: counts }` for a summary when --log-to is on, else nothing. */
export function logShippingSummary(): { logShipping?: LogShipStats } {
  const all = logShipStats();
  return all.length === 0 ? {} : { logShipping: all[0] };
}

/** Lets at most `perSecond` repetitive log lines through each second; counts the rest. */
export class LogLimiter {
  suppressed = 0;
  private windowStart = 0;
  private inWindow = 0;

  constructor(private readonly perSecond: number, private readonly now: () => number = Date.now) {}

  /** True if a line may be logged now. */
  allow(): boolean {
    const t = this.now();
    if (t - this.windowStart >= 1000) {
      this.windowStart = t;
      this.inWindow = 0;
    }
    if (this.inWindow < this.perSecond) {
      this.inWindow++;
      return true;
    }
    this.suppressed++;
    return false;
  }
}

/** A warn line per connection and kind of trouble (parse errors, gaps, …), no more than 20 a
 * second; `redact` cleans the detail, which may quote captured bytes. */
export class ConnectionNotices {
  private readonly limiter = new LogLimiter(20);

  constructor(private readonly log: Logger, private readonly redact: (text: string) => string = (t) => t) {}

  get suppressed(): number {
    return this.limiter.suppressed;
  }

  readonly notice = (kind: string, conn: ConnectionInfo, detail: string): void => {
    if (!this.limiter.allow()) return;
    this.log.warn({
      kind, conn: conn.id, client: `${conn.client.address}:${conn.client.port}`,
      server: `${conn.server.address}:${conn.server.port}`, detail: this.redact(detail), suppressedBefore: this.limiter.suppressed,
    }, `connection ${conn.id}: ${kind}`);
  };
}

/** A warn line for each shadow that fails or times out, named: at most 5 a second per shadow,
 * the rest counted. */
export class ShadowTroubleLog {
  private readonly limiters = new Map<string, LogLimiter>();
  private dropped = 0;

  /** `redact` cleans the error text (it may quote what the shadow was sent). */
  constructor(private readonly log: Logger, private readonly redact: (text: string) => string) {}

  get suppressed(): number {
    let n = this.dropped;
    for (const l of this.limiters.values()) n += l.suppressed;
    return n;
  }

  note(_outcome: string, responses: ReadonlyArray<{ outcome: string; target: string; error: string | null }>): void {
    for (const r of responses) {
      if (r.outcome !== 'shadowError' && r.outcome !== 'shadowTimeout') continue;
      let limiter = this.limiters.get(r.target);
      if (limiter === undefined) {
        if (this.limiters.size >= 64) { this.dropped++; continue; } // targets change only by reload
        limiter = new LogLimiter(5);
        this.limiters.set(r.target, limiter);
      }
      if (!limiter.allow()) continue;
      this.log.warn({ outcome: r.outcome, target: r.target, error: r.error ? this.redact(r.error) : null, suppressedBefore: limiter.suppressed },
        `shadow ${r.target} ${r.outcome === 'shadowTimeout' ? 'timed out' : 'failed'}`);
    }
  }
}

/** Writes JSON atomically (temp file, then rename), so readers never see half a summary; a
 * failed write leaves no temp file behind. */
export function writeJsonFile(path: string, value: unknown, mode = 0o644): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`, { mode });
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Creates a directory and its missing parents one level at a time (Node's recursive mkdir
 * never returns under /proc); an existing directory is fine. */
export function makeDirectory(dir: string, mode: number): void {
  const parts = resolve(dir).split(sep).filter((p) => p !== '');
  let at: string = sep;
  for (const part of parts) {
    at = join(at, part);
    try {
      mkdirSync(at, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!statSync(at).isDirectory()) throw new Error(`${at} exists and is not a directory`);
    }
  }
}

/** A directory that can be made (or is there) and written: its nearest existing ancestor (or
 * itself) is a writable directory. Nothing is created. */
export function checkWritableDir(dir: string): void {
  let at = resolve(dir);
  while (!existsSync(at) && dirname(at) !== at) at = dirname(at);
  if (!statSync(at).isDirectory()) throw new Error(`${dir}: ${at} is not a directory`);
  try {
    accessSync(at, constants.W_OK);
    const probe = join(at, `.shadowtap-probe-${process.pid}`);
    closeSync(openSync(probe, 'wx', 0o600));
    rmSync(probe, { force: true });
  } catch (err) {
    throw new Error(`${dir}: cannot write in ${at} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** Fails at start, not at exit, when a file cannot be written at `path` later: its directory
 * must exist and be writable. */
export function checkWritableFile(path: string): void {
  const dir = dirname(resolve(path));
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new Error(`${path}: its directory ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new Error(`${path}: ${dir} is not a directory`);
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new Error(`${path}: ${dir} is not writable`);
  }
  const existed = existsSync(path);
  if (existed && !statSync(path).isFile()) throw new Error(`${path} exists and is not a regular file`);
  // What access() cannot tell (root under /proc, a read-only mount): try it.
  try {
    closeSync(openSync(path, existed ? 'r+' : 'wx', 0o600));
    if (!existed) rmSync(path, { force: true });
  } catch (err) {
    throw new Error(`${path}: cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
