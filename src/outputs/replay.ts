// The replay output: each mirrored request to every shadow (and the baseline), its answers to
// the ledger, the comparison and the metrics. A reload swaps the replayer; the old one finishes
// what it has. With wire timing the replays' packets, located by the capture, time them from
// kernel timestamps like production's (see wire-clock.ts).

import type { CompareStage } from '../compare';
import type { Exchange, HttpRequest } from '../model';
import type { ReplayOptions, ReplayOutcome, ShadowResponse, TargetStats } from '../replay';
import { Replayer } from '../replay';
import type { SequenceMarkSink } from '../tcp';
import type { Output, Settle } from './index';
import { WireClock, WireClockStats } from './wire-clock';

export interface ReplayOutputOptions {
  replay: Partial<ReplayOptions> & { targets: string[] };
  /** Live capture drops what a full queue cannot take (counted); a file waits. */
  whenFull: 'drop' | 'wait';
  compare: CompareStage | null;
  /** The targets' addresses when their traffic is captured too (wire timing), else null. */
  wireTargets: ReadonlyArray<{ address: string; port: number }> | null;
  /** Sees every request's shadow answers (metrics, the trouble log); `sent` is the request as
   * submitted (its id is the exchange's: a replay worker settles by it). */
  observe: (outcome: ReplayOutcome, responses: ShadowResponse[], sent: HttpRequest) => void;
}

export class ReplayOutput implements Output, SequenceMarkSink {
  private replayer: Replayer;
  /** Replayers replaced by a reload, finishing what they had. */
  private readonly retired: Replayer[] = [];
  private readonly wire: WireClock | null;
  /** The captured request of each rewritten one in flight: its endpoint is the one timed. */
  private readonly capturedOf = new WeakMap<HttpRequest, HttpRequest>();

  constructor(private readonly options: ReplayOutputOptions) {
    const compare = options.compare;
    this.wire = compare !== null && options.wireTargets !== null
      ? new WireClock((sent, target, us) => compare.wire(this.capturedOf.get(sent) ?? sent, target, us)) : null;
    this.replayer = this.newReplayer(options.replay);
  }

  private newReplayer(replay: Partial<ReplayOptions> & { targets: string[] }): Replayer {
    // The capture locates the first targets' packets: a reload to others leaves them untimed.
    const timed = this.wire !== null && sameTargets(replay.targets, this.options.wireTargets);
    return new Replayer({ ...replay, whenFull: this.options.whenFull, wire: timed ? this.wire : null });
  }

  get hasRoom(): boolean {
    return this.replayer.hasRoom;
  }

  request(captured: HttpRequest, sent: HttpRequest, settle: Settle): void {
    this.settle = settle;
    if (this.wire !== null && sent !== captured) this.capturedOf.set(sent, captured);
    this.replayer.submit(sent, this.done);
  }

  private settle: Settle = () => {};

  /** One callback for every request: the request it gets carries the captured one's exchange id,
   * which is what compare joins on. */
  private readonly done = (outcome: ReplayOutcome, responses: ShadowResponse[], sent: HttpRequest): void => {
    this.settle(outcome);
    this.options.observe(outcome, responses, sent);
    this.options.compare?.replayed(sent, responses);
  };

  exchange(ex: Exchange): void {
    this.options.compare?.exchange(ex);
  }

  /** A packet of a replay, located by the capture (wire timing). */
  mark(target: number, localPort: number, toServer: boolean, offset: number, length: number, tsUs: number): void {
    this.wire?.mark(target, localPort, toServer, offset, length, tsUs);
  }

  /** New replay settings from now on; the old replayer finishes its requests within `drainMs`. */
  reload(replay: Partial<ReplayOptions> & { targets: string[] }, drainMs: number): void {
    const old = this.replayer;
    this.replayer = this.newReplayer(replay);
    this.retired.push(old);
    void old.drain(drainMs);
  }

  /** Stop waiting for the shadows: in-flight requests end as shutdown. */
  hurry(): void {
    for (const r of this.replayers) r.hurry();
  }

  async drain(timeoutMs: number): Promise<void> {
    await Promise.all(this.replayers.map((r) => r.drain(timeoutMs)));
  }

  private get replayers(): Replayer[] {
    return [this.replayer, ...this.retired];
  }

  stats(): { shadows: TargetStats[]; retiredShadows?: TargetStats[][]; wireTiming?: WireClockStats } {
    return {
      shadows: this.replayer.stats(),
      ...(this.wire !== null ? { wireTiming: { ...this.wire.stats } } : {}),
      ...(this.retired.length > 0 ? { retiredShadows: this.retired.map((r) => r.stats()) } : {}),
    };
  }
}

/** Whether `targets` (URLs) are the wire-timed addresses, in order. */
function sameTargets(targets: string[], wired: ReadonlyArray<{ address: string; port: number }> | null): boolean {
  if (wired === null || targets.length !== wired.length) return false;
  return targets.every((t, i) => {
    const url = new URL(t);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const port = url.port !== '' ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    return port === wired[i].port && sameAddress(host, wired[i].address);
  });
}

function sameAddress(a: string, b: string): boolean {
  return a === b || (a.includes(':') && b.includes(':') && new URL(`http://[${a}]`).hostname === new URL(`http://[${b}]`).hostname);
}
