// Log lines shipped to a collector (`--log-to`), in process and never in the way of capture.
//
// pino hands every line to LogShipper.write(), which only appends it to a bounded in-memory
// queue (a constant-time push; beyond the cap the line is dropped and counted). A socket
// writer drains the queue whenever the collector takes data: at most WRITE_HIGH_WATER bytes
// sit in the socket's own buffer, so memory stays bounded by the queue cap plus that, whatever
// the collector does. A collector that is down is retried with exponential backoff; the
// first failure of an outage and the reconnection are logged once each, with the counts.
//
// This module does not import pino: main.ts loads it to flush at exit without loading pino.

import * as net from 'node:net';
import * as os from 'node:os';

export const DEFAULT_MAX_LINES = 10_000;
export const DEFAULT_MAX_BYTES = 4 << 20;
/** Bytes handed to the socket at most before waiting for 'drain'. */
const WRITE_HIGH_WATER = 64 << 10;
const CONNECT_TIMEOUT_MS = 5000;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 30_000;

export type LogTarget =
  | { kind: 'syslog+tcp'; url: string; host: string; port: number };

/** Parses a `--log-to` value; throws an Error whose message says what is wrong. */
export function parseLogTarget(raw: string): LogTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`not a URL: ${JSON.stringify(raw)} (expected syslog+tcp://HOST:PORT)`);
  }
  if (url.protocol !== 'syslog+tcp:') {
    throw new Error(`unsupported scheme ${url.protocol.replace(/:$/, '')}:// (expected syslog+tcp://HOST:PORT)`);
  }
  if (url.hostname === '') throw new Error(`no host in ${raw}`);
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new Error(`give HOST:PORT only (no path, query or credentials): ${raw}`);
  }
  const port = url.port === '' ? 514 : Number(url.port);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1'); // IPv6 literal
  return { kind: 'syslog+tcp', url: `syslog+tcp://${url.host}${url.port === '' ? ':514' : ''}`, host, port };
}

export interface LogShipStats {
  to: string;
  /** Lines written to the collector's connection (handed to TCP). */
  sent: number;
  /** Lines dropped because the queue was full (collector down or too slow). */
  dropped: number;
  /** Lines written to a connection that then failed before they left shadowtap. */
  lost: number;
  /** Lines waiting in the queue now. */
  queued: number;
  queuedBytes: number;
  connected: boolean;
  /** Successful connections so far (1 when it never went down). */
  connects: number;
}

export interface LogShipEvents {
  /** The collector could not be reached (once per outage). */
  down(stats: LogShipStats, error: string): void;
  /** Connected (first time: outageMs null), or back after an outage. */
  up(stats: LogShipStats, outage: { ms: number; droppedMeanwhile: number } | null): void;
  /** close() is done: the final counts. */
  closed(stats: LogShipStats): void;
}

/** pino level number → syslog severity (RFC 5424 §6.2.1). */
function severity(level: number): number {
  if (level >= 60) return 2; // fatal → critical
  if (level >= 50) return 3; // error
  if (level >= 40) return 4; // warning
  if (level >= 30) return 6; // informational
  return 7; // debug, trace
}

const FACILITY_DAEMON = 3;
const levelRe = /"level":(\d+)/;
const timeRe = /"time":"([^"]+)"/;

/**
 * An RFC 5424 message with octet-counting framing (RFC 6587 §3.4.1, as RFC 5425 uses):
 * `LEN <PRI>1 TIMESTAMP HOST shadowtap PID - - {json}`. The MSG is the pino JSON line.
 */
export function syslogFrame(line: string, hostname: string, pid: number): string {
  const json = line.endsWith('\n') ? line.slice(0, -1) : line;
  const head = json.slice(0, 120);
  const lm = levelRe.exec(head);
  const tm = timeRe.exec(head);
  const pri = FACILITY_DAEMON * 8 + severity(lm === null ? 30 : Number(lm[1]));
  const time = tm === null ? new Date().toISOString() : tm[1];
  const msg = `<${pri}>1 ${time} ${hostname} shadowtap ${pid} - - ${json}`;
  return `${Buffer.byteLength(msg)} ${msg}`;
}

/** A syslog hostname field: printable ASCII without spaces, at most 255 characters. */
function syslogHostname(): string {
  const h = os.hostname().replace(/[^\x21-\x7e]/g, '');
  return h === '' ? '-' : h.slice(0, 255);
}

export interface LogShipperOptions {
  maxLines?: number;
  maxBytes?: number;
  events?: Partial<LogShipEvents>;
}

export class LogShipper {
  private readonly queue: string[] = [];
  private head = 0;
  private queuedBytes = 0;
  private sent = 0;
  private dropped = 0;
  private lost = 0;
  private connects = 0;
  private socket: net.Socket | null = null;
  private connected = false;
  private waitingDrain = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private backoffMs = BACKOFF_MIN_MS;
  /** Set while the collector is unreachable: when the outage began and drops before it. */
  private outage: { since: number; droppedBefore: number } | null = null;
  private closing = false;
  /** After close(): further lines go to stdout only, not counted here. */
  private closed = false;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly hostname = syslogHostname();
  events: Partial<LogShipEvents>;

  constructor(readonly target: LogTarget, opts: LogShipperOptions = {}) {
    this.maxLines = opts.maxLines ?? DEFAULT_MAX_LINES;
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.events = opts.events ?? {};
    this.connect();
  }

  /** pino's destination interface: queue the line (or drop and count it). Never blocks. */
  write(line: string): boolean {
    if (this.closed) return true;
    if (this.closing && !this.connected) {
      this.dropped++;
      return true;
    }
    if (this.queue.length - this.head >= this.maxLines) {
      this.dropped++;
      return true;
    }
    const frame = syslogFrame(line, this.hostname, process.pid);
    if (this.queuedBytes + frame.length > this.maxBytes) {
      this.dropped++;
      return true;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.length;
    if (this.connected && !this.waitingDrain) this.pump();
    return true;
  }

  stats(): LogShipStats {
    return {
      to: this.target.url,
      sent: this.sent,
      dropped: this.dropped,
      lost: this.lost,
      queued: this.queue.length - this.head,
      queuedBytes: this.queuedBytes,
      connected: this.connected,
      connects: this.connects,
    };
  }

  private connect(): void {
    this.reconnectTimer = null;
    if (this.closing) return;
    const s = net.connect({ host: this.target.host, port: this.target.port });
    this.socket = s;
    s.unref(); // shipping logs never keeps the process alive (close() flushes at exit)
    s.setNoDelay(true);
    s.setTimeout(CONNECT_TIMEOUT_MS, () => s.destroy(new Error(`connect timed out after ${CONNECT_TIMEOUT_MS} ms`)));
    let failure = '';
    s.once('connect', () => {
      s.setTimeout(0);
      s.setKeepAlive(true, 30_000);
      this.connected = true;
      this.connects++;
      this.backoffMs = BACKOFF_MIN_MS;
      const o = this.outage;
      this.outage = null;
      this.pump();
      this.events.up?.(this.stats(), o === null ? null : { ms: Date.now() - o.since, droppedMeanwhile: this.dropped - o.droppedBefore });
    });
    s.on('drain', () => {
      this.waitingDrain = false;
      this.pump();
    });
    s.on('error', (err) => { failure = err.message; });
    // The collector never sends anything on this protocol; read and discard whatever comes.
    s.on('data', () => {});
    s.on('end', () => s.end());
    s.once('close', () => {
      const wasConnected = this.connected;
      this.connected = false;
      this.waitingDrain = false;
      if (this.socket === s) this.socket = null;
      if (this.closing) return;
      if (this.outage === null) {
        this.outage = { since: Date.now(), droppedBefore: this.dropped };
        this.events.down?.(this.stats(), failure || (wasConnected ? 'connection closed by the collector' : 'connection failed'));
      }
      const jitter = 0.8 + Math.random() * 0.4;
      this.reconnectTimer = setTimeout(() => this.connect(), Math.round(this.backoffMs * jitter));
      this.reconnectTimer.unref();
      this.backoffMs = Math.min(BACKOFF_MAX_MS, this.backoffMs * 2);
    });
  }

  /** Hands queued frames to the socket until its buffer holds WRITE_HIGH_WATER bytes. */
  private pump(): void {
    const s = this.socket;
    if (s === null || !this.connected) return;
    while (this.head < this.queue.length && s.writableLength < WRITE_HIGH_WATER) {
      let chunk = '';
      let lines = 0;
      while (this.head < this.queue.length && chunk.length < WRITE_HIGH_WATER) {
        const f = this.queue[this.head];
        this.queue[this.head++] = '';
        this.queuedBytes -= f.length;
        chunk += f;
        lines++;
      }
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue.splice(0, this.head);
        this.head = 0;
      }
      const ok = s.write(chunk, (err) => {
        if (err) this.lost += lines;
        else this.sent += lines;
      });
      if (!ok) {
        this.waitingDrain = true;
        return;
      }
    }
  }

  /**
   * At exit: give the queue up to `timeoutMs` to reach the collector (when connected), then
   * close. Lines still queued then are counted as dropped.
   */
  close(timeoutMs: number): Promise<LogShipStats> {
    this.closing = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const s = this.socket;
    const finish = (): LogShipStats => {
      const unsent = this.queue.length - this.head;
      this.dropped += unsent;
      this.queue.length = 0;
      this.head = 0;
      this.queuedBytes = 0;
      this.closed = true;
      const st = this.stats();
      this.events.closed?.(st);
      return st;
    };
    if (s === null || !this.connected) {
      s?.destroy();
      return Promise.resolve(finish());
    }
    s.ref();
    return new Promise((resolve) => {
      const deadline = setTimeout(() => s.destroy(), timeoutMs);
      const check = (): void => {
        if (this.head < this.queue.length) return; // pump() runs on 'drain'
        s.off('drain', check);
        s.end();
      };
      s.once('close', () => {
        clearTimeout(deadline);
        resolve(finish());
      });
      s.on('drain', check);
      this.pump();
      check();
    });
  }
}

const shippers = new Set<LogShipper>();

export function registerShipper(s: LogShipper): void {
  shippers.add(s);
}

/** Statistics of every shipper of this process (normally zero or one). */
export function logShipStats(): LogShipStats[] {
  return [...shippers].map((s) => s.stats());
}

/** Flush and close every shipper (at exit); resolves with their final statistics. */
export async function closeLogShippers(timeoutMs = 2000): Promise<LogShipStats[]> {
  const all = [...shippers];
  shippers.clear();
  return Promise.all(all.map((s) => s.close(timeoutMs)));
}
