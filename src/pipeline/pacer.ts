// `replay`'s engine: requests from a feed go out at the pace they were captured. Request i is
// due (t_i − t_0) / speed after its pass began; requests are read a window ahead and sent in
// capture-time order within it (a recording lists them as their exchanges completed, a pcap
// as their last bytes arrived), and one recorded connection's requests wait for each other's
// answers, so the shadow sees them in their recorded order.

import type { RequestLedger } from '../accounting';
import type { HttpRequest, ReplayOutcome, ShadowResponse } from '../model';
import type { Replayer } from '../replay';
import type { Feed, Timed } from './feed';
import { MinHeap } from './heap';

const WINDOW_REQUESTS = 1000;
const WINDOW_BYTES = 64 << 20;
/** A request sent this much after its due time counts as late. */
const LATE_MS = 10;

/** The read-ahead's bytes: the request's body, and production's recorded one. */
const heldBytes = (item: Timed): number => item.req.bodySize + (item.production?.response?.body?.length ?? 0);

export interface PacerOptions {
  /** 1: as recorded; 2: twice as fast; 0: as fast as the shadows take it. */
  speed: number;
  loop: number;
  /** False while the comparison holds as many exchanges waiting for their answers as it should:
   * no more are read in until answers come (a file waits; it never overflows the joins). */
  comparisonHasRoom?: () => boolean;
}

export interface PassStats { requests: number; recordedSpanMs: number; sendSpanMs: number }

export class Pacer {
  sent = 0;
  private late = 0;
  private maxLateMs = 0;
  private readonly passes: PassStats[] = [];
  private stopping = false;
  /** Per recorded connection: the requests waiting behind the one in flight. */
  private readonly conns = new Map<string, Array<{ item: Timed; due: number }>>();
  private readonly connOf = new WeakMap<HttpRequest, string>();
  private held = 0;
  /** Wakes the loop: room in the queue, a held request sent, a request settled, a stop. */
  private onProgress: (() => void) | null = null;
  private cancelSleep: (() => void) | null = null;

  /** `admit` books a request in the ledger and says what to send (null: not mirrored); `observe`
   * sees every request's answers (`sent`: the request as sent). */
  constructor(private readonly replayer: Replayer, private readonly ledger: RequestLedger, private readonly options: PacerOptions,
    private readonly admit: (req: HttpRequest, item: Timed) => HttpRequest | null,
    private readonly observe: (outcome: ReplayOutcome, responses: ShadowResponse[], sent: HttpRequest) => void) {}

  /** No more requests are sent; the loop winds down. */
  stop(): void {
    this.stopping = true;
    this.cancelSleep?.();
    this.notify();
  }

  get stats(): { late: number; lateThresholdMs: number; maxLateMs: number; passes: PassStats[] } {
    return { late: this.late, lateThresholdMs: LATE_MS, maxLateMs: Math.round(this.maxLateMs), passes: this.passes };
  }

  /** Every pass over the feed; resolves once everything sent is answered (or the stop cut it
   * short). A read error ends the passes: it is returned. `onFirstPass` gets the first pass's count. */
  async run(feed: Feed, abandon: (item: Timed) => void, onFirstPass: (requests: number) => void): Promise<Error | null> {
    let failure: Error | null = null;
    // The read-ahead: its requests are counted as seen (pending) as they enter it.
    let heap = new MinHeap();
    try {
      for (let pass = 0; pass < this.options.loop && !this.stopping; pass++) {
        heap = new MinHeap();
        const p = await this.pass(feed, heap, abandon);
        if (pass === 0) onFirstPass(p.requests);
        this.passes.push(p);
      }
    } catch (err) {
      failure = err as Error;
      this.stopping = true;
    }
    // The read-ahead left when the pass stopped (signal, read error): seen, never sent.
    while (heap.size > 0) {
      heap.pop();
      this.ledger.settle('shutdown');
    }
    // Everything sent is answered (or times out); a stop cuts the wait short.
    while (!this.stopping && this.ledger.pending > this.held) await this.waitProgress();
    if (this.held > 0) {
      for (const [, waiting] of this.conns) for (let i = 0; i < waiting.length; i++) this.ledger.settle('shutdown');
      this.held = 0;
      this.conns.clear();
    }
    return failure;
  }

  private async pass(feed: Feed, heap: MinHeap, abandon: (item: Timed) => void): Promise<PassStats> {
    const speed = this.options.speed;
    let heapBytes = 0;
    let passStart = 0;
    let t0: number | null = null;
    let tLast = 0;
    let firstSend = 0;
    let lastSend = 0;
    let count = 0;
    const next = async (): Promise<void> => {
      const item = heap.pop() as Timed;
      heapBytes -= heldBytes(item);
      if (t0 === null) {
        t0 = item.t; // pacing starts with the first request, not with reading
        passStart = performance.now();
      }
      if (item.t > tLast) tLast = item.t;
      let due = performance.now();
      if (speed > 0) {
        due = passStart + (item.t - t0) / 1000 / speed;
        const wait = due - performance.now();
        if (wait >= 1) await this.sleep(wait);
      }
      while (!this.stopping && !this.replayer.hasRoom) await this.waitProgress();
      if (this.stopping) {
        this.ledger.settle('shutdown'); // seen when it entered the read-ahead
        return;
      }
      lastSend = performance.now();
      if (count++ === 0) firstSend = lastSend;
      this.dispatch(item, due);
    };
    const comparisonHasRoom = this.options.comparisonHasRoom;
    for await (const item of feed.items()) {
      if (this.stopping) {
        abandon(item);
        break;
      }
      if (comparisonHasRoom !== undefined) {
        // The read-ahead goes out first; with none left, wait for answers.
        while (!this.stopping && !comparisonHasRoom()) {
          if (heap.size > 0) await next();
          else await this.waitProgress();
        }
        if (this.stopping) {
          abandon(item);
          break;
        }
      }
      const sent = this.admit(item.req, item);
      if (sent === null) continue;
      item.req = sent;
      heap.push(item);
      heapBytes += heldBytes(item);
      while (!this.stopping && (heap.size > WINDOW_REQUESTS || heapBytes > WINDOW_BYTES)) await next();
    }
    while (!this.stopping && heap.size > 0) await next();
    // The pass ends once its last request was sent (held ones included).
    while (!this.stopping && this.held > 0) await this.waitProgress();
    return { requests: count, recordedSpanMs: t0 === null ? 0 : Math.round((tLast - t0) / 1000), sendSpanMs: Math.round(lastSend - firstSend) };
  }

  /** Sends a request, or holds it behind its connection's request in flight. */
  private dispatch(item: Timed, due: number): void {
    this.connOf.set(item.req, item.conn);
    const waiting = this.conns.get(item.conn);
    if (waiting !== undefined) {
      waiting.push({ item, due });
      this.held++;
      return;
    }
    this.conns.set(item.conn, []);
    this.submit(item, due);
  }

  private submit(item: Timed, due: number): void {
    const lateMs = performance.now() - due;
    if (lateMs > LATE_MS) this.late++;
    if (lateMs > this.maxLateMs) this.maxLateMs = lateMs;
    this.sent++;
    this.replayer.submit(item.req, this.done);
  }

  private readonly done = (outcome: ReplayOutcome, responses: ShadowResponse[], req: HttpRequest): void => {
    this.ledger.settle(outcome);
    this.observe(outcome, responses, req);
    const key = this.connOf.get(req) as string;
    const waiting = this.conns.get(key);
    if (waiting !== undefined) {
      if (this.stopping) {
        for (let i = 0; i < waiting.length; i++) this.ledger.settle('shutdown');
        this.held -= waiting.length;
        this.conns.delete(key);
      } else {
        const next = waiting.shift();
        if (next === undefined) this.conns.delete(key);
        else {
          this.held--;
          this.submit(next.item, next.due);
        }
      }
    }
    this.notify();
  };

  private notify(): void {
    const f = this.onProgress;
    this.onProgress = null;
    f?.();
  }

  private waitProgress(): Promise<void> {
    return new Promise((resolve) => { this.onProgress = resolve; });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.cancelSleep = null; resolve(); }, ms);
      this.cancelSleep = () => { clearTimeout(timer); this.cancelSleep = null; resolve(); };
    });
  }
}
