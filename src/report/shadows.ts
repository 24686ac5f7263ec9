// Each shadow's health as its answers tell it: for /readyz and for the log.

/** Consecutive failures (errors or timeouts) after which a shadow counts as failing. */
export const FAILING_AFTER = 3;

export interface ShadowState {
  target: string;
  /** unknown: no answer yet; failing: FAILING_AFTER failures in a row or more. */
  state: 'unknown' | 'ok' | 'failing';
  answered: number;
  failed: number;
  consecutiveFailures: number;
  lastError: string | null;
  lastErrorAt: string | null;
}

type Answer = { target: string; outcome: string; error: string | null };

const failure = (outcome: string): boolean => outcome === 'shadowError' || outcome === 'shadowTimeout';

export class ShadowHealth {
  private readonly byTarget = new Map<string, ShadowState>();

  /** `redact` cleans error texts (they may quote what the shadow was sent). */
  constructor(targets: readonly string[], private readonly redact: (text: string) => string = (t) => t) {
    this.setTargets(targets);
  }

  /** After a reload: new targets start unknown, dropped ones are forgotten. */
  setTargets(targets: readonly string[]): void {
    for (const t of [...this.byTarget.keys()]) if (!targets.includes(t)) this.byTarget.delete(t);
    for (const t of targets) if (!this.byTarget.has(t)) this.byTarget.set(t, this.fresh(t));
  }

  note(responses: readonly Answer[]): void {
    for (const r of responses) {
      const s = this.byTarget.get(r.target);
      if (s === undefined) continue;
      if (r.outcome === 'replayed') {
        s.answered++;
        s.consecutiveFailures = 0;
        s.state = 'ok';
      } else if (failure(r.outcome)) {
        s.failed++;
        s.consecutiveFailures++;
        s.lastError = r.error === null ? r.outcome : this.redact(r.error);
        s.lastErrorAt = new Date().toISOString();
        if (s.consecutiveFailures >= FAILING_AFTER) s.state = 'failing';
      }
    }
  }

  states(): ShadowState[] {
    return [...this.byTarget.values()].map((s) => ({ ...s }));
  }

  /** Every shadow is failing: nothing mirrored reaches a working shadow. */
  get allFailing(): boolean {
    return this.byTarget.size > 0 && [...this.byTarget.values()].every((s) => s.state === 'failing');
  }

  private fresh(target: string): ShadowState {
    return { target, state: 'unknown', answered: 0, failed: 0, consecutiveFailures: 0, lastError: null, lastErrorAt: null };
  }
}
