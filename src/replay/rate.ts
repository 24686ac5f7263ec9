// --rate: a token bucket per target.

/** `rate` tokens a second, at most `burst` held. The burst is max(1, rate/20), 50 ms worth of
 * requests: enough to absorb timer jitter and the batching of capture delivery (10 ms by
 * default) without letting the shadow see a real spike. Times are performance.now()
 * milliseconds; tests pass their own. */
export class TokenBucket {
  private tokens: number;
  private last: number;
  readonly burst: number;
  constructor(private readonly rate: number, now = performance.now()) {
    this.burst = Math.max(1, rate / 20);
    this.tokens = this.burst;
    this.last = now;
  }
  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
  }
  take(now = performance.now()): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  /** Gives back a token taken for a request that did not go out after all. */
  refund(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }
  /** Milliseconds until the next token. */
  waitMs(now = performance.now()): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : ((1 - this.tokens) * 1000) / this.rate;
  }
}
