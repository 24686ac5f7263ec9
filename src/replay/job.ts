// One submitted request fanned out to every target, and its part for one target.

import type { HttpRequest } from '../http';
import type { H2Head } from './h2';
import type { ReplayDone, ReplayOutcome, ShadowResponse } from './types';

/** One request on its way to every target; done() runs once all targets settled. */
export class Fanout {
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

/** The request as it goes to one target; `head` is its head as sent over HTTP/1 (see
 * requestHead()), or `h2` its fields over HTTP/2 (then `head` is empty). */
export class Job {
  constructor(readonly fanout: Fanout, readonly index: number, readonly head: string, readonly h2: H2Head | null = null) {}
  get request(): HttpRequest {
    return this.fanout.request;
  }
  /** What it holds while it waits, against --queue-mb (the memory budget's replay share): the
   * body, the head (as sent, and as captured) and the objects around them. */
  get heldBytes(): number {
    return 512 + 2 * (this.h2 === null ? this.head.length : this.h2.size) + this.request.bodySize;
  }
  finish(r: ShadowResponse): void {
    this.fanout.settle(this.index, r);
  }
}
