// With preserveConnections: one captured connection's requests go to a target in capture
// order, one at a time, over a connection of their own (a lane).

import type { ConnectionInfo } from '../tcp';
import type { Job } from './job';
import { ShadowPool } from './pool';
import type { Target } from './target';
import type { ReplayOutcome } from './types';

/** One captured connection's requests to one target, sent one after another in capture
 * order over a pool of one connection (a new one if the shadow closes it). */
export class Lane {
  readonly jobs: Job[] = [];
  sending = false;
  closed = false;
  /** When the lane last became idle (performance.now()). */
  idleSince = 0;
  constructor(readonly conn: ConnectionInfo, readonly pool: ShadowPool) {}
  get idle(): boolean {
    return !this.sending && this.jobs.length === 0;
  }
}

/** A target's lanes: at most `max` (each carries one request at a time, so in-flight stays
 * bounded as with the pool); beyond, the oldest idle lane is closed, and when none is idle
 * the connection's requests wait for one. Waiting jobs count in the target's limits. */
export class Lanes {
  private readonly byConn = new Map<ConnectionInfo, Lane>();
  /** Idle lanes, in the order they became idle (the oldest first). */
  private readonly idle = new Set<Lane>();
  /** Connections waiting for a lane (every lane busy and at the cap), in arrival order. */
  private readonly homeless = new Map<ConnectionInfo, Job[]>();
  /** Lanes whose next job waits for a token (the target is pacing), in order. */
  private readonly paced = new Set<Lane>();
  /** Jobs waiting in lanes or for a lane. */
  waiting = 0;
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly target: Target, private readonly max: number, private readonly idleMs: number) {}

  /** Puts the job in its connection's lane (sent at once when the lane is idle); returns
   * null, or the outcome it is refused with. */
  offer(job: Job): ReplayOutcome | null {
    const target = this.target;
    const conn = job.request.conn;
    const bytes = job.heldBytes;
    const waitingForLane = this.homeless.get(conn);
    const lane = waitingForLane === undefined ? this.byConn.get(conn) ?? this.open(conn) : null;
    // An idle lane sends at once; anything else waits, and waiting counts against the limits.
    if (!(lane !== null && lane.idle) && target.full(bytes) && target.options.whenFull === 'drop') {
      target.stats.queueFull++;
      return 'queueFull';
    }
    this.waiting++;
    target.queuedBytes += bytes;
    if (lane === null) {
      if (waitingForLane !== undefined) waitingForLane.push(job);
      else this.homeless.set(conn, [job]);
    } else {
      // Capture order: requests arrive in index order, but hold to it whatever happens.
      let i = lane.jobs.length;
      while (i > 0 && lane.jobs[i - 1].request.index > job.request.index) i--;
      lane.jobs.splice(i, 0, job);
      this.idle.delete(lane);
      this.pump(lane);
    }
    target.stats.queued = target.waiting;
    return null;
  }

  /** A lane for `conn`, or null when every lane is busy and their number is at the cap:
   * then the oldest idle lane, if any, is closed to make room. */
  private open(conn: ConnectionInfo): Lane | null {
    if (this.byConn.size >= this.max) {
      const oldest = this.idle.values().next();
      if (oldest.done === true) return null;
      this.close(oldest.value);
    }
    // The pool keeps its connection as long as the lane lives (unless the shadow closes it
    // first, when the lane goes on over a new connection, as a client would).
    const lane = new Lane(conn, new ShadowPool(this.target.endpoint, 1, 1, null));
    lane.idleSince = performance.now();
    this.byConn.set(conn, lane);
    this.target.stats.lanes = this.byConn.size;
    if (this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(5000, this.idleMs / 4)));
      this.sweeper.unref();
    }
    return lane;
  }

  private close(lane: Lane): void {
    lane.closed = true;
    this.byConn.delete(lane.conn);
    this.idle.delete(lane);
    this.paced.delete(lane);
    this.target.stats.lanes = this.byConn.size;
    void lane.pool.close(false);
    if (this.byConn.size === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /** Closes lanes idle for idleMs. */
  private sweep(): void {
    const cutoff = performance.now() - this.idleMs;
    for (const lane of this.idle) {
      if (lane.idleSince > cutoff) break;
      this.close(lane);
    }
  }

  /** Sends the lane's next job if it has one and nothing in flight. */
  private pump(lane: Lane): void {
    if (lane.closed || lane.sending || lane.jobs.length === 0) return;
    if (this.target.pacing) {
      // Paced lanes go in the order they became ready.
      this.paced.add(lane);
      this.target.pump();
      return;
    }
    this.sendNext(lane);
  }

  private sendNext(lane: Lane): void {
    const target = this.target;
    const job = lane.jobs.shift() as Job;
    this.waiting--;
    target.queuedBytes -= job.heldBytes;
    target.stats.queued = target.waiting;
    lane.sending = true;
    target.send(job, lane);
  }

  /** Pacing: sends the ready lanes' next jobs while tokens last. */
  sendPaced(): void {
    const target = this.target;
    for (const lane of this.paced) {
      if (!target.paceOk()) break;
      this.paced.delete(lane);
      if (lane.closed || lane.sending || lane.jobs.length === 0) {
        target.bucket?.refund();
        continue;
      }
      this.sendNext(lane);
    }
  }

  /** The lane's job settled: its next one goes, or it becomes idle (and, when connections
   * wait for a lane, makes room for the first of them). */
  settled(lane: Lane): void {
    lane.sending = false;
    if (lane.closed) return;
    if (lane.jobs.length > 0) return this.pump(lane);
    const first = this.homeless.entries().next();
    if (first.done !== true) {
      const [conn, jobs] = first.value;
      this.homeless.delete(conn);
      this.close(lane);
      const next = this.open(conn) as Lane; // room was just made
      next.jobs.push(...jobs);
      this.pump(next);
      return;
    }
    lane.idleSince = performance.now();
    this.idle.add(lane);
  }

  /** Moves every waiting job to `out` (at shutdown). */
  abandon(out: Job[]): void {
    for (const lane of this.byConn.values()) out.push(...lane.jobs.splice(0));
    for (const waiting of this.homeless.values()) out.push(...waiting);
    this.homeless.clear();
    this.paced.clear();
    this.waiting = 0;
  }

  /** Marks every lane closed and returns their pools, for the target to close. */
  closeAll(): ShadowPool[] {
    if (this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
    const pools: ShadowPool[] = [];
    for (const lane of this.byConn.values()) {
      lane.closed = true;
      pools.push(lane.pool);
    }
    this.byConn.clear();
    this.idle.clear();
    this.target.stats.lanes = 0;
    return pools;
  }
}
