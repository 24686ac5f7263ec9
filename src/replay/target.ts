// One shadow target: the pool and the queue in front of it (or, with preserveConnections,
// its lanes), the rate ceiling, and the counts of what was sent and how it ended.

import { isIP } from 'node:net';
import { CallDeadlines, ShadowCall } from './call';
import type { Endpoint } from './connection';
import { H2Pool, H2Stats, newH2Stats } from './h2';
import type { Job } from './job';
import { Lane, Lanes } from './lanes';
import { ShadowPool } from './pool';
import { JobQueue } from './queue';
import { TokenBucket } from './rate';
import type { ReplayOptions, ReplayOutcome, ShadowResponse, TargetStats } from './types';

/** A pooled connection idle this long is closed (lowered by a shadow's Keep-Alive hint). */
const POOL_IDLE_MS = 4000;
/** HTTP/2 sessions per target at most (each carries many streams). */
const H2_SESSIONS = 4;

export class Target {
  readonly stats: TargetStats;
  readonly pool: ShadowPool;
  /** host:port as a Host header names it. */
  readonly host: string;
  readonly endpoint: Endpoint;
  /** 'http' or 'https': HTTP/2's :scheme. */
  readonly scheme: string;
  /** HTTP/2 sessions, opened for the first request that goes over HTTP/2. */
  private h2: H2Pool | null = null;
  readonly h2Stats: H2Stats = newH2Stats();
  /** Requests in flight at most: connections × pipeline. */
  private readonly capacity: number;
  private readonly queue = new JobQueue();
  /** Bytes the jobs waiting hold (Job.heldBytes), in the queue or in lanes. */
  queuedBytes = 0;
  private inFlight = 0;
  private idleWaiters: Array<() => void> = [];
  /** Set at shutdown: requests still in flight are being aborted. */
  aborting = false;
  private readonly deadlines: CallDeadlines;
  /** --rate: null when unlimited. */
  readonly bucket: TokenBucket | null;
  /** 'wait' mode with a rate: the bucket paces sending. */
  readonly pacing: boolean;
  /** While pacing: the timer that runs when the next token is due. */
  private pacer: NodeJS.Timeout | null = null;
  private readonly lanes: Lanes;

  /** `index`: its position among the replayer's targets. */
  constructor(readonly origin: string, readonly options: ReplayOptions, index = 0) {
    const url = new URL(origin);
    this.host = url.host;
    const secure = url.protocol === 'https:';
    this.scheme = secure ? 'https' : 'http';
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    this.endpoint = {
      host, port: url.port !== '' ? Number(url.port) : secure ? 443 : 80, tls: secure,
      servername: secure && isIP(host) === 0 ? host : null, ca: options.ca,
      connectTimeoutMs: Math.min(options.timeoutMs, 10_000),
      wire: options.wire === null ? null : { watch: options.wire, target: index },
    };
    // Lanes carry one request at a time: pipelining is for the pool only.
    const pipeline = options.preserveConnections ? 1 : options.pipeline;
    this.capacity = options.concurrency * pipeline;
    this.pool = new ShadowPool(this.endpoint, options.concurrency, pipeline, POOL_IDLE_MS);
    this.lanes = new Lanes(this, options.concurrency, options.laneIdleMs);
    this.deadlines = new CallDeadlines(options.timeoutMs);
    this.bucket = options.ratePerSecond !== null && options.ratePerSecond > 0 ? new TokenBucket(options.ratePerSecond) : null;
    this.pacing = this.bucket !== null && options.whenFull === 'wait';
    this.stats = {
      target: url.origin, sent: 0, responses: 0, errors: 0, timeouts: 0, queueFull: 0, rateLimited: 0,
      byStatusClass: {}, inFlight: 0, queued: 0, lanes: 0, h2: this.h2Stats,
    };
  }

  /** Jobs accepted but not yet sent. */
  get waiting(): number {
    return this.queue.length + this.lanes.waiting;
  }

  get busy(): number {
    return this.inFlight + this.waiting;
  }

  get hasRoom(): boolean {
    return this.waiting < this.options.queueSize && this.queuedBytes < this.options.queueBytes;
  }

  /** While pacing, takes a token to send now (false: none yet, the pacer is set).
   * Otherwise always true: 'drop' mode took its token when the job was accepted. */
  paceOk(): boolean {
    if (this.bucket === null || !this.pacing) return true;
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
    const refused = this.options.preserveConnections ? this.lanes.offer(job) : this.offerToPool(job);
    if (refused !== null && this.bucket !== null && this.options.whenFull === 'drop') this.bucket.refund();
    return refused;
  }

  /** Whether `bytes` more waiting would pass the queue's limits. */
  full(bytes: number): boolean {
    return this.waiting >= this.options.queueSize || this.queuedBytes + bytes > this.options.queueBytes;
  }

  private offerToPool(job: Job): ReplayOutcome | null {
    const bytes = job.heldBytes;
    if (this.inFlight < this.capacity && this.queue.length === 0 && this.paceOk()) {
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

  /** Sends what waits, as far as concurrency (and, while pacing, the rate) allows. */
  pump(): void {
    if (this.options.preserveConnections) {
      this.lanes.sendPaced();
    } else {
      while (this.inFlight < this.capacity && this.queue.length > 0 && this.paceOk()) {
        const job = this.queue.shift();
        this.queuedBytes -= job.heldBytes;
        this.send(job, null);
      }
    }
    this.stats.queued = this.waiting;
    if (this.busy === 0) for (const wake of this.idleWaiters.splice(0)) wake();
  }

  /** Ends every waiting job with `outcome` (used at shutdown). */
  abandonQueued(outcome: ReplayOutcome): void {
    const jobs: Job[] = [];
    this.queue.drainInto(jobs);
    this.lanes.abandon(jobs);
    if (this.pacer !== null) {
      clearTimeout(this.pacer);
      this.pacer = null;
    }
    this.queuedBytes = 0;
    this.stats.queued = 0;
    for (const job of jobs) job.finish(this.result(outcome, null, 0, 'not sent before shutdown'));
  }

  /** Closes the pool and every lane; with `abort`, requests in flight are cut off. */
  close(abort: boolean): Promise<unknown> {
    const pools: Array<{ close(abort: boolean): Promise<unknown> }> = [this.pool, ...this.lanes.closeAll()];
    if (this.h2 !== null) pools.push(this.h2);
    return Promise.all(pools.map((p) => p.close(abort)));
  }

  whenIdle(): Promise<void> {
    if (this.busy === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private result(outcome: ReplayOutcome, statusCode: number | null, latencyUs: number, error: string | null): ShadowResponse {
    return { target: this.stats.target, statusCode, headers: null, body: null, bodySize: 0, latencyUs, outcome, error };
  }

  /** Sends the job, over its lane or else the pool. */
  send(job: Job, lane: Lane | null): void {
    this.inFlight++;
    this.stats.inFlight = this.inFlight;
    this.stats.sent++;
    const call = new ShadowCall(this, job, lane, this.options.keepResponseBytes, performance.now() + this.options.timeoutMs);
    this.deadlines.add(call);
    // Over HTTP/2 a lane's requests share the target's sessions: the lane still sends them one
    // at a time, in capture order.
    if (job.h2 !== null) this.h2Pool().dispatch(call);
    else (lane === null ? this.pool : lane.pool).dispatch(call);
  }

  private h2Pool(): H2Pool {
    this.h2 ??= new H2Pool(this.stats.target, this.endpoint, Math.min(H2_SESSIONS, this.options.concurrency), this.h2Stats);
    return this.h2;
  }

  /** Called once per sent job by its ShadowCall. */
  settled(call: ShadowCall, job: Job, lane: Lane | null, r: ShadowResponse): void {
    this.deadlines.delete(call);
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
    // A lane's next request is sent a microtask later, once the connection that settled this
    // one is done with it.
    if (lane !== null) queueMicrotask(() => this.lanes.settled(lane));
    this.pump();
    job.finish(r);
  }
}
