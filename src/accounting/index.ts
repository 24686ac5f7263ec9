// The ledger: every request seen ends in exactly one outcome — replayed (or, for `record`,
// recorded), or one named reason it was not. Every command keeps its books the same way.

import type { NotReplayed, Outcome } from '../model';

export type { NotReplayed, Outcome } from '../model';

export interface LedgerSnapshot {
  seen: number;
  replayed: number;
  notReplayed: Partial<Record<NotReplayed, number>>;
  pending: number;
}

/** seen = replayed + Σ notReplayed + pending, at every moment. */
export class RequestLedger {
  seen = 0;
  replayed = 0;
  readonly notReplayed: Partial<Record<NotReplayed, number>> = {};

  /** A request was seen and settled at once (not replayable, filtered, lost …). */
  seenAndNotReplayed(reason: NotReplayed): void {
    this.seen++;
    this.notReplayed[reason] = (this.notReplayed[reason] ?? 0) + 1;
  }

  /** A request was seen and handed on; settle() follows exactly once. */
  seenPending(): void {
    this.seen++;
  }

  settle(outcome: Outcome): void {
    if (outcome === 'replayed') this.replayed++;
    else this.notReplayed[outcome] = (this.notReplayed[outcome] ?? 0) + 1;
  }

  /** `n` requests counted as replayed turn out not to be (a recording's unwritten tail). */
  revoke(n: number, reason: NotReplayed): void {
    this.replayed -= n;
    this.notReplayed[reason] = (this.notReplayed[reason] ?? 0) + n;
  }

  /** Requests seen but not yet settled (in the replay queue or in flight). */
  get pending(): number {
    let settled = this.replayed;
    for (const k in this.notReplayed) settled += this.notReplayed[k as NotReplayed] ?? 0;
    return this.seen - settled;
  }

  snapshot(): LedgerSnapshot {
    return { seen: this.seen, replayed: this.replayed, notReplayed: { ...this.notReplayed }, pending: this.pending };
  }
}
