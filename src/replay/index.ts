// Sends captured requests to the shadow targets through undici keep-alive pools (or, with
// preserveConnections, one connection per captured connection: lanes).
// The capture path never waits here: submit() either queues (bounded by count and bytes)
// or refuses at once, and every submission ends in exactly one outcome.

import { Client, Pool, errors } from 'undici';
import type { HttpRequest } from '../http';
import type { ConnectionInfo } from '../tcp';

export type ReplayOutcome =
  | 'replayed'
  | 'queueFull'
  | 'bodyTooLarge'
  | 'unreplayable'
  | 'shadowError'
  | 'shadowTimeout'
  | 'shutdown'
  /** Beyond --rate, in live capture (a file waits instead). */
  | 'rateLimited';

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
  /** Requests per second at most towards each target, or null for no ceiling. Beyond it,
   * 'drop' refuses at once ('rateLimited'); 'wait' holds requests back in the queue. */
  ratePerSecond: number | null;
  /** Requests of one captured connection go to each target in capture order, one after
   * another, over a connection of their own (a lane). Lanes per target are capped at
   * `concurrency` (each carries one request at a time, so in-flight stays bounded as with
   * the pool); beyond, the oldest idle lane is closed, and when none is idle the connection's
   * requests wait for one (counted against queueSize/queueBytes like any queued request). */
  preserveConnections: boolean;
  /** A lane idle this long is closed (its connection too). */
  laneIdleMs: number;
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
  ratePerSecond: null,
  preserveConnections: false,
  laneIdleMs: 30_000,
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
  /** Refused beyond --rate. */
  rateLimited: number;
  byStatusClass: Record<string, number>;
  inFlight: number;
  queued: number;
  /** Lanes open (preserveConnections). */
  lanes: number;
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

/** Token bucket for --rate: `rate` tokens a second, at most `burst` held. The burst is
 * max(1, rate/20), 50 ms worth of requests: enough to absorb timer jitter and the batching
 * of capture delivery (10 ms by default) without letting the shadow see a real spike. */
class TokenBucket {
  private tokens: number;
  private last = performance.now();
  readonly burst: number;
  constructor(private readonly rate: number) {
    this.burst = Math.max(1, rate / 20);
    this.tokens = this.burst;
  }
  private refill(): void {
    const now = performance.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  /** Gives back a token taken for a request that did not go out after all. */
  refund(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }
  /** Milliseconds until the next token. */
  waitMs(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) * 1000) / this.rate;
  }
}

/** With preserveConnections: one captured connection's requests to one target, sent one
 * after another in capture order over one undici Client (a single connection). */
class Lane {
  readonly jobs: Job[] = [];
  sending = false;
  closed = false;
  /** When the lane last became idle (performance.now()). */
  idleSince = 0;
  constructor(readonly conn: ConnectionInfo, readonly client: Client) {}
  get idle(): boolean {
    return !this.sending && this.jobs.length === 0;
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
  /** --rate: null when unlimited. */
  private readonly bucket: TokenBucket | null;
  /** In 'wait' mode the bucket paces sending: the timer that runs when the next token is due. */
  private pacer: NodeJS.Timeout | null = null;
  // preserveConnections only:
  private readonly lanes = new Map<ConnectionInfo, Lane>();
  /** Idle lanes, in the order they became idle (the oldest first). */
  private readonly idleLanes = new Set<Lane>();
  /** Connections waiting for a lane (every lane busy and at the cap), in arrival order. */
  private readonly homeless = new Map<ConnectionInfo, Job[]>();
  /** Lanes whose next job waits for a token ('wait' mode with a rate), in order. */
  private readonly paced = new Set<Lane>();
  /** Jobs waiting in lanes or for a lane. */
  private laneWaiting = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly clientOptions: Client.Options;

  constructor(readonly origin: string, private readonly options: ReplayOptions) {
    const url = new URL(origin);
    this.host = url.host;
    this.clientOptions = {
      headersTimeout: options.timeoutMs + 1000,
      bodyTimeout: options.timeoutMs + 1000,
      connectTimeout: Math.min(options.timeoutMs, 10_000),
    };
    this.pool = new Pool(url.origin, { ...this.clientOptions, connections: options.concurrency, pipelining: 1 });
    this.bucket = options.ratePerSecond !== null && options.ratePerSecond > 0 ? new TokenBucket(options.ratePerSecond) : null;
    this.stats = {
      target: url.origin, sent: 0, responses: 0, errors: 0, timeouts: 0, queueFull: 0, rateLimited: 0,
      byStatusClass: {}, inFlight: 0, queued: 0, lanes: 0,
    };
  }

  /** Jobs accepted but not yet sent. */
  private get waiting(): number {
    return this.queue.length - this.queueHead + this.laneWaiting;
  }

  get busy(): number {
    return this.inFlight + this.waiting;
  }

  get hasRoom(): boolean {
    return this.waiting < this.options.queueSize && this.queuedBytes < this.options.queueBytes;
  }

  /** In 'wait' mode with a rate, takes a token to send now (false: none yet, the pacer is
   * set). Otherwise always true: 'drop' mode took its token when the job was accepted. */
  private paceOk(): boolean {
    if (this.bucket === null || this.options.whenFull !== 'wait') return true;
    if (this.bucket.take()) return true;
    if (this.pacer === null) {
      this.pacer = setTimeout(() => {
        this.pacer = null;
        this.pump();
      }, Math.max(1, Math.ceil(this.bucket.waitMs())));
    }
    return false;
  }

  /** Queues or sends the job; returns null, or the outcome it is refused with. */
  offer(job: Job): ReplayOutcome | null {
    // A live capture refuses what goes beyond the rate at once, before it takes queue room.
    if (this.bucket !== null && this.options.whenFull === 'drop' && !this.bucket.take()) {
      this.stats.rateLimited++;
      return 'rateLimited';
    }
    const refused = this.options.preserveConnections ? this.offerToLane(job) : this.offerToPool(job);
    if (refused !== null && this.bucket !== null && this.options.whenFull === 'drop') this.bucket.refund();
    return refused;
  }

  private full(bytes: number): boolean {
    return this.waiting >= this.options.queueSize || this.queuedBytes + bytes > this.options.queueBytes;
  }

  private offerToPool(job: Job): ReplayOutcome | null {
    const bytes = job.request.bodySize;
    const waiting = this.queue.length - this.queueHead;
    if (this.inFlight < this.options.concurrency && waiting === 0 && this.paceOk()) {
      this.send(job, null);
      return null;
    }
    if (this.full(bytes) && this.options.whenFull === 'drop') {
      this.stats.queueFull++;
      return 'queueFull';
    }
    this.queue.push(job);
    this.queuedBytes += bytes;
    this.stats.queued = this.waiting;
    return null;
  }

  private offerToLane(job: Job): ReplayOutcome | null {
    const conn = job.request.conn;
    const bytes = job.request.bodySize;
    const waitingForLane = this.homeless.get(conn);
    let lane = waitingForLane === undefined ? this.lanes.get(conn) ?? this.openLane(conn) : null;
    // An idle lane sends at once; anything else waits, and waiting counts against the limits.
    if (!(lane !== null && lane !== undefined && lane.idle) && this.full(bytes) && this.options.whenFull === 'drop') {
      this.stats.queueFull++;
      return 'queueFull';
    }
    this.laneWaiting++;
    this.queuedBytes += bytes;
    if (lane === null || lane === undefined) {
      if (waitingForLane !== undefined) waitingForLane.push(job);
      else this.homeless.set(conn, [job]);
    } else {
      // Capture order: requests arrive in index order, but hold to it whatever happens.
      let i = lane.jobs.length;
      while (i > 0 && lane.jobs[i - 1].request.index > job.request.index) i--;
      lane.jobs.splice(i, 0, job);
      this.idleLanes.delete(lane);
      this.pumpLane(lane);
    }
    this.stats.queued = this.waiting;
    return null;
  }

  /** A lane for `conn`, or null when every lane is busy and their number is at the cap
   * (concurrency): then the oldest idle lane, if any, is closed to make room. */
  private openLane(conn: ConnectionInfo): Lane | null {
    if (this.lanes.size >= this.options.concurrency) {
      const oldest = this.idleLanes.values().next();
      if (oldest.done === true) return null;
      this.closeLane(oldest.value);
    }
    // The Client keeps its socket as long as the lane lives (unless the shadow closes it
    // first, when the lane goes on over a new connection, as a client would).
    const client = new Client(this.stats.target, {
      ...this.clientOptions, pipelining: 1,
      keepAliveTimeout: this.options.laneIdleMs, keepAliveMaxTimeout: this.options.laneIdleMs,
    });
    const lane = new Lane(conn, client);
    lane.idleSince = performance.now();
    this.lanes.set(conn, lane);
    this.stats.lanes = this.lanes.size;
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweepLanes(), Math.max(10, Math.min(5000, this.options.laneIdleMs / 4)));
      this.sweeper.unref();
    }
    return lane;
  }

  private closeLane(lane: Lane): void {
    lane.closed = true;
    this.lanes.delete(lane.conn);
    this.idleLanes.delete(lane);
    this.paced.delete(lane);
    this.stats.lanes = this.lanes.size;
    lane.client.close().catch(() => {});
    if (this.lanes.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /** Closes lanes idle for laneIdleMs. */
  private sweepLanes(): void {
    const cutoff = performance.now() - this.options.laneIdleMs;
    for (const lane of this.idleLanes) {
      if (lane.idleSince > cutoff) break;
      this.closeLane(lane);
    }
  }

  /** Sends the lane's next job if it has one and nothing in flight. */
  private pumpLane(lane: Lane): void {
    if (lane.closed || lane.sending || lane.jobs.length === 0) return;
    if (this.bucket !== null && this.options.whenFull === 'wait') {
      // Paced lanes go in the order they became ready.
      this.paced.add(lane);
      this.pump();
      return;
    }
    this.sendFromLane(lane);
  }

  private sendFromLane(lane: Lane): void {
    const job = lane.jobs.shift() as Job;
    this.laneWaiting--;
    this.queuedBytes -= job.request.bodySize;
    this.stats.queued = this.waiting;
    lane.sending = true;
    this.send(job, lane);
  }

  /** The lane's job settled: its next one goes, or it becomes idle (and, when connections
   * wait for a lane, makes room for the first of them). */
  private laneSettled(lane: Lane): void {
    lane.sending = false;
    if (lane.closed) return;
    if (lane.jobs.length > 0) return this.pumpLane(lane);
    const first = this.homeless.entries().next();
    if (first.done !== true) {
      const [conn, jobs] = first.value;
      this.homeless.delete(conn);
      this.closeLane(lane);
      const next = this.openLane(conn) as Lane; // room was just made
      next.jobs.push(...jobs);
      this.pumpLane(next);
      return;
    }
    lane.idleSince = performance.now();
    this.idleLanes.add(lane);
  }

  /** Sends what waits, as far as concurrency (and, in 'wait' mode, the rate) allows. */
  private pump(): void {
    if (this.options.preserveConnections) {
      for (const lane of this.paced) {
        if (!this.paceOk()) break;
        this.paced.delete(lane);
        if (lane.closed || lane.sending || lane.jobs.length === 0) {
          this.bucket?.refund();
          continue;
        }
        this.sendFromLane(lane);
      }
    } else {
      while (this.inFlight < this.options.concurrency && this.queueHead < this.queue.length && this.paceOk()) {
        const job = this.queue[this.queueHead];
        this.queue[this.queueHead++] = undefined as unknown as Job;
        this.queuedBytes -= job.request.bodySize;
        if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
          this.queue.splice(0, this.queueHead);
          this.queueHead = 0;
        }
        this.send(job, null);
      }
    }
    this.stats.queued = this.waiting;
    if (this.busy === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Ends every waiting job with `outcome` (used at shutdown). */
  abandonQueued(outcome: ReplayOutcome): void {
    const jobs: Job[] = [];
    while (this.queueHead < this.queue.length) {
      jobs.push(this.queue[this.queueHead]);
      this.queue[this.queueHead++] = undefined as unknown as Job;
    }
    this.queue.length = 0;
    this.queueHead = 0;
    for (const lane of this.lanes.values()) jobs.push(...lane.jobs.splice(0));
    for (const waiting of this.homeless.values()) jobs.push(...waiting);
    this.homeless.clear();
    this.paced.clear();
    if (this.pacer !== null) {
      clearTimeout(this.pacer);
      this.pacer = null;
    }
    this.laneWaiting = 0;
    this.queuedBytes = 0;
    this.stats.queued = 0;
    for (const job of jobs) job.finish(this.result(outcome, null, 0, 'not sent before shutdown'));
  }

  /** Closes the pool and every lane; with `abort`, requests in flight are cut off. */
  close(abort: boolean): Promise<unknown> {
    if (this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
    const dispatchers: Array<Pool | Client> = [this.pool];
    for (const lane of this.lanes.values()) {
      lane.closed = true;
      dispatchers.push(lane.client);
    }
    this.lanes.clear();
    this.idleLanes.clear();
    this.stats.lanes = 0;
    return Promise.all(dispatchers.map((d) => (abort ? d.destroy() : d.close())));
  }

  whenIdle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private result(outcome: ReplayOutcome, statusCode: number | null, latencyUs: number, error: string | null): ShadowResponse {
    return { target: this.stats.target, statusCode, headers: null, body: null, bodySize: 0, latencyUs, outcome, error };
  }

  private send(job: Job, lane: Lane | null): void {
    this.inFlight++;
    this.stats.inFlight = this.inFlight;
    this.stats.sent++;
    const req = job.request;
    const body = req.body !== null && req.body.length > 0 ? req.body : null;
    const call = new ShadowCall(this, job, lane, this.options.keepResponseBytes, performance.now() + this.options.timeoutMs);
    this.calls.add(call);
    if (this.timer === null) {
      this.timer = setInterval(() => this.expire(), Math.max(5, Math.min(100, this.options.timeoutMs / 10)));
    }
    (lane === null ? this.pool : lane.client).dispatch(
      { origin: this.stats.target, method: req.method, path: req.url, headers: job.headers, body }, call);
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
  settled(call: ShadowCall, job: Job, lane: Lane | null, r: ShadowResponse): void {
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
    // A lane's next request is dispatched a microtask later: never from inside undici's own
    // callback (it errors the rest of its queue after calling us) nor before a timed-out
    // request has been aborted.
    if (lane !== null) queueMicrotask(() => this.laneSettled(lane));
    this.pump();
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

  constructor(private readonly target: Target, private readonly job: Job, private readonly lane: Lane | null,
              private readonly keep: number, readonly deadline: number) {}

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
    this.target.settled(this, this.job, this.lane, {
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
      const refused = target.offer(job);
      if (refused !== null) job.finish({
        target: target.stats.target, statusCode: null, headers: null, body: null, bodySize: 0,
        latencyUs: 0, outcome: refused, error: refused === 'rateLimited' ? 'beyond the rate ceiling' : 'queue full',
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
   * the rest with 'shutdown' and closes the pools and lanes. */
  private draining: Promise<void> | null = null;

  /** Idempotent: a second call gets the first drain. */
  drain(timeoutMs: number): Promise<void> {
    this.draining ??= this.drainOnce(timeoutMs);
    return this.draining;
  }

  private async drainOnce(timeoutMs: number): Promise<void> {
    this.closing = true;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => { timer = setTimeout(resolve, timeoutMs); });
    await Promise.race([Promise.all(this.targets.map((t) => t.whenIdle())), deadline]);
    clearTimeout(timer);
    for (const t of this.targets) {
      t.abandonQueued('shutdown');
      t.aborting = t.busy > 0;
    }
    await Promise.all(this.targets.map((t) => t.close(t.aborting)));
    await Promise.all(this.targets.map((t) => t.whenIdle()));
  }
}
