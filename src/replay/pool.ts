// A target's connections: at most `max`, each carrying up to `pipeline` requests; the oldest
// connection with room takes the next request, a new one opens only when none has room. Writes
// queued during one turn of the event loop go out together at its end.

import type { ShadowCall } from './call';
import { ConnectionOwner, Endpoint, ShadowConnection } from './connection';

export class ShadowPool implements ConnectionOwner {
  private readonly conns: ShadowConnection[] = [];
  /** Calls no connection had room for (only when more are sent than max × pipeline). */
  private readonly waiting: ShadowCall[] = [];
  private readonly toFlush: ShadowConnection[] = [];
  private flushQueued = false;
  private closing = false;
  private sweeper: NodeJS.Timeout | null = null;
  /** Connections opened so far. */
  opened = 0;

  /** `idleMs`: an idle connection is closed after this long (null: kept until the pool closes
   * or the shadow closes it). */
  constructor(private readonly endpoint: Endpoint, private readonly max: number, private readonly pipeline: number,
              private readonly idleMs: number | null) {}

  get connections(): number {
    return this.conns.length;
  }

  dispatch(call: ShadowCall): void {
    if (this.closing) return call.fail('connection pool closed');
    for (const conn of this.conns) {
      if (conn.inFlight < this.pipeline) return conn.send(call);
    }
    if (this.conns.length < this.max) return this.open().send(call);
    this.waiting.push(call);
  }

  private open(): ShadowConnection {
    const conn = new ShadowConnection(this.endpoint, this, this.idleMs ?? Infinity);
    this.conns.push(conn);
    this.opened++;
    if (this.idleMs !== null && this.sweeper === null) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(10, Math.min(1000, this.idleMs / 4)));
      this.sweeper.unref();
    }
    return conn;
  }

  wantsFlush(conn: ShadowConnection): void {
    if (conn.flushDue) return;
    conn.flushDue = true;
    this.toFlush.push(conn);
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(this.flushAll);
  }

  private readonly flushAll = (): void => {
    this.flushQueued = false;
    const conns = this.toFlush.splice(0);
    for (const conn of conns) conn.flush();
  };

  answered(conn: ShadowConnection): void {
    if (this.closing && conn.inFlight === 0) conn.destroy('pool closed');
    this.sendWaiting();
  }

  lost(conn: ShadowConnection, calls: ShadowCall[], code: string, timedOut: boolean): void {
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
    // A connection that worked and then died: calls that got no byte of answer go once more
    // (if idempotent, or never written); the others end with the connection's error.
    for (const call of calls) {
      if (conn.connected && !this.closing && call.mayRetry()) {
        call.retry();
        this.dispatch(call);
      } else {
        call.fail(code, timedOut);
      }
    }
    this.sendWaiting();
  }

  private sendWaiting(): void {
    while (this.waiting.length > 0 && !this.closing) {
      const call = this.waiting[0];
      if (call.done) {
        this.waiting.shift();
        continue;
      }
      let conn = this.conns.find((c) => c.inFlight < this.pipeline);
      if (conn === undefined && this.conns.length < this.max) conn = this.open();
      if (conn === undefined) return;
      this.waiting.shift();
      conn.send(call);
    }
  }

  /** Closes connections idle past their limit. */
  private sweep(): void {
    const now = performance.now();
    for (const conn of this.conns.slice()) {
      if (conn.inFlight === 0 && now - conn.idleSince >= conn.idleLimitMs) conn.destroy('idle');
    }
    if (this.conns.length === 0 && this.sweeper !== null) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }

  /** Takes no more calls. With `abort`, every connection goes now (what they carry fails);
   * else idle ones go now and busy ones once answered. Resolves when all sockets closed. */
  close(abort: boolean): Promise<void> {
    this.closing = true;
    if (this.sweeper !== null) clearInterval(this.sweeper);
    this.sweeper = null;
    const waiting = this.waiting.splice(0);
    for (const call of waiting) call.fail('connection pool closed');
    const gone = this.conns.map((c) => c.gone);
    for (const conn of this.conns.slice()) {
      if (abort || conn.inFlight === 0) conn.destroy('pool closed');
    }
    return Promise.all(gone).then(() => undefined);
  }
}
