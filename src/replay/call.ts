// One request to one shadow: the undici dispatch handler that collects the answer, and the
// deadlines of the calls in flight.

import { errors } from 'undici';
import type { Job } from './job';
import type { Lane } from './lanes';
import type { Target } from './target';
import type { ReplayOutcome, ShadowResponse } from './types';

/** undici dispatch handler for one request to one target: collects the response without
 * streams or promises, and settles its job exactly once. */
/** undici's header object as the raw list production's headers come in (names lower case). */
export function headerList(headers: Record<string, string | string[]>): string[] {
  const out: string[] = [];
  for (const name in headers) {
    const v = headers[name];
    if (typeof v === 'string') out.push(name, v);
    else for (const x of v) out.push(name, x);
  }
  return out;
}

export class ShadowCall {
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
    // Only a comparison reads them (it keeps bodies too); a mirror without one skips the copy.
    if (this.keep > 0) this.headers = headerList(headers);
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

/** Times out a target's calls past their deadline; undici's own timers are coarse (about
 * 1 s). All calls share one timeout, so the set (in start order) is in deadline order. */
export class CallDeadlines {
  private readonly calls = new Set<ShadowCall>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly timeoutMs: number) {}

  add(call: ShadowCall): void {
    this.calls.add(call);
    if (this.timer === null) {
      this.timer = setInterval(() => this.expire(), Math.max(5, Math.min(100, this.timeoutMs / 10)));
    }
  }

  delete(call: ShadowCall): void {
    this.calls.delete(call);
  }

  private expire(): void {
    const now = performance.now();
    for (const call of this.calls) {
      if (call.deadline > now) break;
      call.timeOut(this.timeoutMs);
    }
    if (this.calls.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}
