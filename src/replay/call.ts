// One request to one shadow: its answer as it comes in, and the deadlines of the calls in
// flight.

import { lowerName } from '../http';
import type { Job } from './job';
import type { Lane } from './lanes';
import type { Target } from './target';
import type { ReplayOutcome, ShadowResponse } from './types';

/** Methods that may be sent again when a connection died before any byte of their answer came
 * (RFC 9110 §9.2.2). */
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

export class ShadowCall {
  /** performance.now() when the request's bytes were written on a connected socket; until
   * then, when the call was made. Latency excludes connecting and waiting, as production's
   * (from capture) does. */
  private started = performance.now();
  private statusCode: number | null = null;
  private headers: ShadowResponse['headers'] = null;
  private trailers: string[] | null = null;
  private chunks: Buffer[] = [];
  private kept = 0;
  private size = 0;
  done = false;
  /** Its bytes went out on a socket (on the current attempt). */
  written = false;
  /** A byte of its answer arrived (on the current attempt). */
  answered = false;
  /** Written while earlier requests on its connection were still unanswered (pipelined): its
   * latency includes theirs. */
  queued = false;
  /** Times sent: a second attempt is made only after a connection died before any answer. */
  attempts = 1;
  /** The connection carrying it, while it does. */
  connection: { abandon(call: ShadowCall): void } | null = null;
  /** Its place in its target's deadline queue (CallDeadlines). */
  deadlineSlot = -1;

  constructor(private readonly target: Target, readonly job: Job, readonly lane: Lane | null,
              private readonly keep: number, readonly deadline: number) {}

  get method(): string {
    return this.job.fanout.request.method;
  }

  /** The connection it was on died unanswered; true when it may go out once more. */
  mayRetry(): boolean {
    return !this.done && !this.answered && this.attempts === 1 && (!this.written || idempotent.has(this.method));
  }

  /** Back to unsent, for a second attempt. */
  retry(): void {
    this.attempts++;
    this.written = false;
    this.queued = false;
    this.answered = false;
    this.connection = null;
  }

  /** Its bytes are being written on a connected socket. */
  sent(now: number, queued: boolean): void {
    this.written = true;
    this.queued = queued;
    this.started = now;
  }

  timeOut(timeoutMs: number): void {
    if (this.done) return;
    this.done = true; // before the connection lets go of it: no second attempt
    this.connection?.abandon(this);
    this.report('shadowTimeout', `no complete answer within ${timeoutMs} ms`);
  }

  onHead(statusCode: number, headers: string[]): void {
    this.statusCode = statusCode;
    // Only a comparison reads them (it keeps bodies too); a mirror without one skips the copy.
    if (this.keep > 0) {
      const list = new Array<string>(headers.length);
      for (let i = 0; i < headers.length; i += 2) {
        list[i] = lowerName(headers[i]);
        list[i + 1] = headers[i + 1];
      }
      this.headers = list;
    }
  }

  onBody(chunk: Buffer, offset: number, length: number): void {
    this.size += length;
    if (this.kept < this.keep) {
      const n = Math.min(length, this.keep - this.kept);
      // http-parser-js hands out views of the socket's chunk: copy what is kept.
      const copy = Buffer.allocUnsafe(n);
      chunk.copy(copy, 0, offset, offset + n);
      this.chunks.push(copy);
      this.kept += n;
    }
  }

  /** Whether the answer's fields are kept (only a comparison reads them). */
  get keepsFields(): boolean {
    return this.keep > 0;
  }

  /** The answer's trailers (HTTP/2), kept when headers are. */
  onTrailers(trailers: string[]): void {
    if (this.keep > 0 && trailers.length > 0) this.trailers = trailers;
  }

  complete(): void {
    this.finish('replayed', null);
  }

  /** The connection failed it: `code` says how (ECONNREFUSED, ECONNRESET, a parse error…). */
  fail(code: string, timedOut = false): void {
    if (this.target.aborting) return this.finish('shutdown', 'aborted at shutdown');
    this.finish(timedOut ? 'shadowTimeout' : 'shadowError', code);
  }

  private finish(outcome: ReplayOutcome, error: string | null): void {
    if (this.done) return;
    this.done = true;
    this.report(outcome, error);
  }

  /** The kept body in one piece (most answers came in one chunk: no second copy). */
  private body(): Buffer {
    if (this.chunks.length === 1) return this.chunks[0];
    return Buffer.concat(this.chunks, this.kept);
  }

  private report(outcome: ReplayOutcome, error: string | null): void {
    this.connection = null;
    const replayed = outcome === 'replayed';
    const response: ShadowResponse = {
      target: this.target.stats.target,
      statusCode: replayed ? this.statusCode : null,
      headers: replayed ? this.headers : null,
      body: replayed && this.keep > 0 ? this.body() : null,
      bodySize: this.size,
      latencyUs: Math.round((performance.now() - this.started) * 1000),
      outcome,
      error,
    };
    // (Set only when there are some: no spread of a conditional object per answer.)
    if (replayed && this.trailers !== null) response.trailers = this.trailers;
    if (this.queued) response.queued = true;
    this.target.settled(this, this.job, this.lane, response);
  }
}

/** Times out a target's calls past their deadline. All calls share one timeout, so start order
 * is deadline order: they wait in a queue whose slot is emptied when a call settles. (A Set
 * did the same, but its hash tables, once in the old generation, are reallocated there as it
 * churns, and a discarded table kept every call it held alive through the next scavenges: at
 * 10k requests/s, 16% of the young generation survived and 97% of that was promoted.) */
export class CallDeadlines {
  private slots: Array<ShadowCall | null> = [];
  /** Index of slots[0] since the first call: a call's place is its number less this. */
  private base = 0;
  private head = 0;
  private live = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly timeoutMs: number) {}

  add(call: ShadowCall): void {
    // The queue starts afresh with the calls still waiting once most of it is slots already
    // passed, or emptied slots behind a call stalled at the front (four times the waiting ones).
    const ahead = this.slots.length - this.head;
    if ((this.head >= 1024 && this.head >= ahead) || ahead > 4 * this.live + 1024) this.compact();
    call.deadlineSlot = this.base + this.slots.length;
    this.slots.push(call);
    this.live++;
    if (this.timer === null) {
      this.timer = setInterval(() => this.expire(), Math.max(5, Math.min(100, this.timeoutMs / 10)));
    }
  }

  delete(call: ShadowCall): void {
    const i = call.deadlineSlot - this.base;
    if (i < this.head || i >= this.slots.length || this.slots[i] !== call) return;
    this.slots[i] = null;
    this.live--;
    if (i === this.head) this.skipEmpty();
  }

  private skipEmpty(): void {
    const slots = this.slots;
    while (this.head < slots.length && slots[this.head] === null) this.head++;
    if (this.head === slots.length) {
      this.base += slots.length;
      slots.length = 0;
      this.head = 0;
    }
  }

  private compact(): void {
    const waiting: ShadowCall[] = [];
    for (let i = this.head; i < this.slots.length; i++) {
      const call = this.slots[i];
      if (call !== null) waiting.push(call);
    }
    this.base += this.slots.length; // places are never given twice
    for (let i = 0; i < waiting.length; i++) waiting[i].deadlineSlot = this.base + i;
    this.slots = waiting;
    this.head = 0;
  }

  private expire(): void {
    const now = performance.now();
    while (this.head < this.slots.length) {
      const slots = this.slots; // timeOut() below may add calls, and a new queue with them
      const call = slots[this.head];
      if (call !== null && call.deadline > now) break;
      slots[this.head++] = null;
      if (call === null) continue;
      this.live--;
      call.timeOut(this.timeoutMs); // may settle or add others: the queue is consistent here
    }
    this.skipEmpty();
    if (this.live === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
