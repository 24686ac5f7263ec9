// Sends captured requests to the shadow targets through undici keep-alive pools.
// The capture path never waits here: submit() either queues (bounded by count and bytes)
// or refuses at once, and every submission ends in exactly one outcome.

import { Pool, errors } from 'undici';
import type { HttpRequest } from '../http';

export type ReplayOutcome =
  | 'replayed'
  | 'queueFull'
  | 'bodyTooLarge'
  | 'unreplayable'
  | 'shadowError'
  | 'shadowTimeout'
  | 'shutdown';

export interface ReplayOptions {
  targets: string[];
  /** Requests in flight at once, per target. */
  concurrency: number;
  /** Requests waiting for a free slot, per target. */
  queueSize: number;
  /** Body bytes waiting, per target. */
  queueBytes: number;
  timeoutMs: number;
  keepHost: boolean;
  /** Header added to every replayed request, or null for none. */
  marker: { name: string; value: string } | null;
  /** Bytes of each shadow response body to keep (0: drain and discard). */
  keepResponseBytes: number;
  /** When full: 'drop' refuses new requests (live capture); 'wait' queues them anyway and
   * the caller stops feeding while hasRoom is false (a file can wait). */
  whenFull: 'drop' | 'wait';
}

export const defaultReplayOptions: ReplayOptions = {
  targets: [],
  concurrency: 64,
  queueSize: 10_000,
  queueBytes: 256 << 20,
  timeoutMs: 10_000,
  keepHost: false,
  marker: { name: 'x-shadowtap', value: '1' },
  keepResponseBytes: 0,
  whenFull: 'drop',
};

export interface ShadowResponse {
  target: string;
  statusCode: number | null;
  headers: Record<string, string | string[] | undefined> | null;
  body: Buffer | null;
  bodySize: number;
  /** Wall-clock time from writing the request on a connected socket to the last body byte, in µs. */
  latencyUs: number;
  outcome: ReplayOutcome;
  error: string | null;
}

/** Runs once per submitted request; `responses` holds one entry per target the request was
 * handed to (none when it was refused before reaching any). */
export type ReplayDone = (outcome: ReplayOutcome, responses: ShadowResponse[], request: HttpRequest) => void;

export interface TargetStats {
  target: string;
  sent: number;
  responses: number;
  errors: number;
  timeouts: number;
  queueFull: number;
  byStatusClass: Record<string, number>;
  inFlight: number;
  queued: number;
}

/** Header names a proxy must not forward (RFC 9110 §7.6.1), plus Expect, which undici
 * negotiates itself, and Content-Length, which undici writes from the body. */
const hopByHop = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade',
  'expect', 'content-length',
]);

/** The header list to send: the captured one less hop-by-hop fields (and those named by
 * Connection), with the marker added and Host replaced by `host` unless it is null.
 * Order and case of the rest are kept. */
export function shadowHeaders(headers: string[], host: string | null, marker: ReplayOptions['marker']): string[] {
  let named: Set<string> | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() === 'connection') {
      for (const token of headers[i + 1].split(',')) {
        const t = token.trim().toLowerCase();
        if (t !== '') (named ??= new Set()).add(t);
      }
    }
  }
  const out: string[] = [];
  if (host !== null) out.push('host', host);
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i].toLowerCase();
    if (hopByHop.has(lower) || (named !== null && named.has(lower))) continue;
    if (host !== null && lower === 'host') continue;
    if (marker !== null && lower === marker.name.toLowerCase()) continue;
    out.push(headers[i], headers[i + 1]);
  }
  if (marker !== null) out.push(marker.name, marker.value);
  return out;
}

/** Why a request cannot be sent as captured, or null. */
export function unreplayableReason(req: HttpRequest): string | null {
  const url = req.url;
  if (url.length === 0 || /[^\u0021-\u00ff]/.test(url)) return 'target has characters a request line cannot carry';
  if (url[0] !== '/' && !/^https?:\/\//i.test(url)) return `target form not replayable: ${url.slice(0, 40)}`;
  if (req.method === 'CONNECT') return 'CONNECT';
  return null;
}

const headerToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** Bytes a header value cannot carry (undici refuses them, as Node's http does). */
const badHeaderValue = /[^\t\x20-\x7e\x80-\xff]/;

/** Why a header list (as shadowHeaders() builds it) cannot be sent, or null. */
export function unsendableHeaders(headers: string[]): string | null {
  let hosts = 0;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (!headerToken.test(name)) return `header name not a token: ${JSON.stringify(name.slice(0, 40))}`;
    if (badHeaderValue.test(headers[i + 1])) return `header ${name} has bytes a header cannot carry`;
    if (name.length === 4 && name.toLowerCase() === 'host' && ++hosts > 1) return 'more than one Host header';
  }
  return null;
}

/** One request on its way to every target; done() runs once all targets settled. */
class Fanout {
  private readonly results: ShadowResponse[];
  private remaining: number;
  constructor(readonly request: HttpRequest, targets: number, private readonly done: ReplayDone) {
    this.results = new Array(targets);
    this.remaining = targets;
  }
  settle(index: number, r: ShadowResponse): void {
    this.results[index] = r;
    if (--this.remaining > 0) return;
    // The request's outcome: replayed if every target answered, else the first failure.
    let outcome: ReplayOutcome = 'replayed';
    for (const x of this.results) {
      if (x.outcome !== 'replayed') {
        outcome = x.outcome;
        break;
      }
    }
    this.done(outcome, this.results, this.request);
  }
}

/** The request as it goes to one target. */
class Job {
  constructor(readonly fanout: Fanout, readonly index: number, readonly headers: string[]) {}
  get request(): HttpRequest {
    return this.fanout.request;
  }
  finish(r: ShadowResponse): void {
    this.fanout.settle(this.index, r);
  }
}

class Target {
  readonly stats: TargetStats;
  readonly pool: Pool;
  readonly host: string;
  private readonly queue: Job[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  /** Set at shutdown: requests still in flight are being aborted. */
  aborting = false;
  /** Calls in flight, oldest first. */
  private readonly calls = new Set<ShadowCall>();
  private timer: NodeJS.Timeout | null = null;

  constructor(readonly origin: string, private readonly options: ReplayOptions) {
    const url = new URL(origin);
    this.host = url.host;
    this.pool = new Pool(url.origin, {
      connections: options.concurrency,
      pipelining: 1,
      headersTimeout: options.timeoutMs + 1000,
      bodyTimeout: options.timeoutMs + 1000,
      connectTimeout: Math.min(options.timeoutMs, 10_000),
    });
    this.stats = {
      target: url.origin, sent: 0, responses: 0, errors: 0, timeouts: 0, queueFull: 0,
      byStatusClass: {}, inFlight: 0, queued: 0,
    };
  }

  get busy(): number {
    return this.inFlight + this.queue.length - this.queueHead;
  }

  get hasRoom(): boolean {
    return this.queue.length - this.queueHead < this.options.queueSize && this.queuedBytes < this.options.queueBytes;
  }

  /** Queues the job, or returns false when the queue is full. */
  offer(job: Job): boolean {
    const bytes = job.request.bodySize;
    const waiting = this.queue.length - this.queueHead;
    if (this.inFlight < this.options.concurrency && waiting === 0) {
      this.send(job);
      return true;
    }
    const full = waiting >= this.options.queueSize || this.queuedBytes + bytes > this.options.queueBytes;
    if (full && this.options.whenFull === 'drop') {
      this.stats.queueFull++;
      return false;
    }
    this.queue.push(job);
    this.queuedBytes += bytes;
    this.stats.queued = waiting + 1;
    return true;
  }

  private next(): void {
    while (this.inFlight < this.options.concurrency && this.queueHead < this.queue.length) {
      const job = this.queue[this.queueHead];
      this.queue[this.queueHead++] = undefined as unknown as Job;
      this.queuedBytes -= job.request.bodySize;
      if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
        this.queue.splice(0, this.queueHead);
        this.queueHead = 0;
      }
      this.send(job);
    }
    this.stats.queued = this.queue.length - this.queueHead;
    if (this.busy === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Ends every waiting job with `outcome` (used at shutdown). */
  abandonQueued(outcome: ReplayOutcome): void {
    while (this.queueHead < this.queue.length) {
      const job = this.queue[this.queueHead];
      this.queue[this.queueHead++] = undefined as unknown as Job;
      job.finish(this.result(outcome, null, 0, 'not sent before shutdown'));
    }
    this.queue.length = 0;
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.stats.queued = 0;
  }

  whenIdle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private result(outcome: ReplayOutcome, statusCode: number | null, latencyUs: number, error: string | null): ShadowResponse {
    return { target: this.stats.target, statusCode, headers: null, body: null, bodySize: 0, latencyUs, outcome, error };
  }

  private send(job: Job): void {
    this.inFlight++;
    this.stats.inFlight = this.inFlight;
    this.stats.sent++;
    const req = job.request;
    const body = req.body !== null && req.body.length > 0 ? req.body : null;
    const call = new ShadowCall(this, job, this.options.keepResponseBytes, performance.now() + this.options.timeoutMs);
    this.calls.add(call);
    if (this.timer === null) {
      this.timer = setInterval(() => this.expire(), Math.max(5, Math.min(100, this.options.timeoutMs / 10)));
    }
    this.pool.dispatch({ origin: this.stats.target, method: req.method, path: req.url, headers: job.headers, body }, call);
  }

  /** Times out the calls past their deadline. All share one timeout, so the set (in start
   * order) is also in deadline order. undici's own timers are coarse (about 1 s). */
  private expire(): void {
    const now = performance.now();
    for (const call of this.calls) {
      if (call.deadline > now) break;
      call.timeOut(this.options.timeoutMs);
    }
    if (this.calls.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Called once per sent job by its ShadowCall. */
  settled(call: ShadowCall, job: Job, r: ShadowResponse): void {
    this.calls.delete(call);
    this.inFlight--;
    this.stats.inFlight = this.inFlight;
    if (r.outcome === 'replayed') {
      this.stats.responses++;
      const cls = `${Math.floor((r.statusCode as number) / 100)}xx`;
      this.stats.byStatusClass[cls] = (this.stats.byStatusClass[cls] ?? 0) + 1;
    } else if (r.outcome === 'shadowTimeout') {
      this.stats.timeouts++;
    } else if (r.outcome === 'shadowError') {
      this.stats.errors++;
    }
    // The queue moves first, so that whoever job.finish() tells sees the room it made.
    this.next();
    job.finish(r);
  }
}

/** undici dispatch handler for one request to one target: collects the response without
 * streams or promises, and settles its job exactly once. */
class ShadowCall {
  /** From dispatch until the request goes out on a connected socket, then from there: the
   * latency excludes connecting and pool queueing, as production's (from capture) does. */
  private started = process.hrtime.bigint();
  private statusCode: number | null = null;
  private headers: ShadowResponse['headers'] = null;
  private chunks: Buffer[] = [];
  private kept = 0;
  private size = 0;
  private done = false;
  private controller: { abort(reason: Error): void } | null = null;

  constructor(private readonly target: Target, private readonly job: Job, private readonly keep: number,
              readonly deadline: number) {}

  onRequestStart(controller: { abort(reason: Error): void }): void {
    this.controller = controller;
    this.started = process.hrtime.bigint();
    // Timed out while undici still held it (say, connecting): it must not go out after all.
    if (this.done) controller.abort(new Error('shadow timeout'));
  }

  timeOut(timeoutMs: number): void {
    if (this.done) return;
    this.finish('shadowTimeout', `no complete answer within ${timeoutMs} ms`);
    this.controller?.abort(new Error('shadow timeout'));
  }

  onResponseStart(_c: unknown, statusCode: number, headers: Record<string, string | string[]>): void {
    this.statusCode = statusCode;
    this.headers = headers;
  }

  onResponseData(_c: unknown, chunk: Buffer): void {
    this.size += chunk.length;
    if (this.kept < this.keep) {
      const part = chunk.subarray(0, this.keep - this.kept);
      this.chunks.push(part);
      this.kept += part.length;
    }
  }

  onResponseEnd(): void {
    this.finish('replayed', null);
  }

  onResponseError(_c: unknown, err: Error & { code?: string }): void {
    if (this.target.aborting) return this.finish('shutdown', 'aborted at shutdown');
    const timeout = err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError ||
      err instanceof errors.ConnectTimeoutError;
    this.finish(timeout ? 'shadowTimeout' : 'shadowError', err.code ?? err.message);
  }

  private finish(outcome: ReplayOutcome, error: string | null): void {
    if (this.done) return;
    this.done = true;
    const replayed = outcome === 'replayed';
    this.target.settled(this, this.job, {
      target: this.target.stats.target,
      statusCode: replayed ? this.statusCode : null,
      headers: replayed ? this.headers : null,
      body: replayed && this.keep > 0 ? Buffer.concat(this.chunks, this.kept) : null,
      bodySize: this.size,
      latencyUs: Number((process.hrtime.bigint() - this.started) / 1000n),
      outcome,
      error,
    });
  }
}

export class Replayer {
  private readonly targets: Target[];
  private readonly options: ReplayOptions;
  private closing = false;

  constructor(options: Partial<ReplayOptions> & { targets: string[] }) {
    this.options = { ...defaultReplayOptions, ...options };
    if (this.options.targets.length === 0) throw new Error('at least one shadow target is needed');
    this.targets = this.options.targets.map((t) => new Target(t, this.options));
  }

  /** Replays `req` to every target; `done` is called exactly once with the outcome. */
  submit(req: HttpRequest, done: ReplayDone): void {
    if (this.closing) return done('shutdown', [], req);
    if (req.bodyTruncated) return done('bodyTooLarge', [], req);
    if (unreplayableReason(req) !== null) return done('unreplayable', [], req);
    // The lists differ only in Host (a valid host:port): the first one speaks for all.
    const lists = this.targets.map((t) => shadowHeaders(req.headers, this.options.keepHost ? null : t.host, this.options.marker));
    if (unsendableHeaders(lists[0]) !== null) return done('unreplayable', [], req);
    const fanout = new Fanout(req, this.targets.length, done);
    for (let i = 0; i < this.targets.length; i++) {
      const target = this.targets[i];
      const job = new Job(fanout, i, lists[i]);
      if (!target.offer(job)) job.finish({
        target: target.stats.target, statusCode: null, headers: null, body: null, bodySize: 0,
        latencyUs: 0, outcome: 'queueFull', error: 'queue full',
      });
    }
  }

  /** Requests queued or in flight, over all targets. */
  get busy(): number {
    let n = 0;
    for (const t of this.targets) n += t.busy;
    return n;
  }

  /** True when every target's queue is below its limits. */
  get hasRoom(): boolean {
    return this.targets.every((t) => t.hasRoom);
  }

  stats(): TargetStats[] {
    return this.targets.map((t) => ({ ...t.stats, byStatusClass: { ...t.stats.byStatusClass } }));
  }

  /** Stops accepting, waits up to timeoutMs for queued and in-flight requests, then ends
   * the rest with 'shutdown' and closes the pools. */
  async drain(timeoutMs: number): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
    await Promise.race([Promise.all(this.targets.map((t) => t.whenIdle())), deadline]);
    clearTimeout(timer);
    for (const t of this.targets) {
      t.abandonQueued('shutdown');
      t.aborting = t.busy > 0;
    }
    await Promise.all(this.targets.map((t) => (t.aborting ? t.pool.destroy() : t.pool.close())));
    await Promise.all(this.targets.map((t) => t.whenIdle()));
  }
}
