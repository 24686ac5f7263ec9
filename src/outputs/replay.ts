// The replay output: each mirrored request to every shadow (and the baseline), its answers to
// the ledger, the comparison and the metrics. A reload swaps the replayer; the old one finishes
// what it has. With wire timing each replay carries an id, and its exchange with the shadow,
// captured on the way, is timed from kernel timestamps like production's.

import type { CompareStage, EndpointOf } from '../compare';
import type { Exchange, HttpRequest } from '../model';
import { headerValue, joinedHeaderValue } from '../http';
import type { ReplayOptions, ReplayOutcome, ShadowResponse, TargetStats } from '../replay';
import { Replayer } from '../replay';
import type { Output, Settle } from './index';

export const WIRE_ID_HEADER = 'x-shadowtap-id';

export interface ReplayOutputOptions {
  replay: Partial<ReplayOptions> & { targets: string[] };
  /** Live capture drops what a full queue cannot take (counted); a file waits. */
  whenFull: 'drop' | 'wait';
  compare: CompareStage | null;
  /** The targets' addresses when their traffic is captured too (wire timing), else null. */
  wireTargets: Array<{ address: string; port: number }> | null;
  /** Sees every request's shadow answers (metrics, the trouble log); `sent` is the request as
   * submitted (its id is the exchange's: a replay worker settles by it). */
  observe: (outcome: ReplayOutcome, responses: ShadowResponse[], sent: HttpRequest) => void;
}

export class ReplayOutput implements Output {
  private replayer: Replayer;
  /** Replayers replaced by a reload, finishing what they had. */
  private readonly retired: Replayer[] = [];
  private readonly wire: WireTiming | null;

  constructor(private readonly options: ReplayOutputOptions) {
    this.replayer = new Replayer({ ...options.replay, whenFull: options.whenFull });
    this.wire = options.compare !== null && options.wireTargets !== null ? new WireTiming(options.compare, options.wireTargets) : null;
  }

  get hasRoom(): boolean {
    return this.replayer.hasRoom;
  }

  request(captured: HttpRequest, sent: HttpRequest, settle: Settle): void {
    this.settle = settle;
    if (this.wire === null) this.replayer.submit(sent, this.done);
    else this.replayer.submit(sent, this.done, this.wire.tag(captured));
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

  /** One of shadowtap's own replays, seen in the capture (its exchange follows). */
  ownRequest(req: HttpRequest): void {
    this.wire?.captured(req);
  }

  ownExchange(ex: Exchange): void {
    if (this.wire !== null && ex.response !== null) this.wire.answered(ex.request, ex.response);
  }

  /** New replay settings from now on; the old replayer finishes its requests within `drainMs`. */
  reload(replay: Partial<ReplayOptions> & { targets: string[] }, drainMs: number): void {
    const old = this.replayer;
    this.replayer = new Replayer({ ...replay, whenFull: this.options.whenFull });
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

  stats(): { shadows: TargetStats[]; retiredShadows?: TargetStats[][] } {
    return {
      shadows: this.replayer.stats(),
      ...(this.retired.length > 0 ? { retiredShadows: this.retired.map((r) => r.stats()) } : {}),
    };
  }
}

/** What the comparison needs of a captured request to time its replays on the wire: its
 * endpoint (method, URL, content type), and how many targets' answers are still to be seen. */
type WireEntry = EndpointOf & { remaining: number };

/** Replays waiting for their answers to be seen in the capture, by exchange id: an entry goes
 * once every target's answer was seen, or, never seen (a packet lost), as the oldest of
 * MAX_WIRE_ENTRIES. (It used to keep the captured request itself for the last 100,000 replays:
 * every request, body included, outlived the young generation and cost full collections.) */
const MAX_WIRE_ENTRIES = 100_000;

class WireTiming {
  private readonly byId = new Map<number, WireEntry>();
  private readonly idOf = new WeakMap<HttpRequest, number>();

  constructor(private readonly compare: CompareStage, private readonly targets: Array<{ address: string; port: number }>) {}

  /** The header field that carries the exchange id of `original`, the captured production
   * request, to the shadows. */
  tag(original: HttpRequest): string[] {
    const id = original.id;
    const contentType = joinedHeaderValue(original.headers, 'content-type');
    this.byId.set(id, {
      method: original.method, url: original.url, headers: contentType === null ? NO_HEADERS : ['content-type', contentType],
      remaining: this.targets.length,
    });
    if (this.byId.size > MAX_WIRE_ENTRIES) this.byId.delete(this.byId.keys().next().value as number);
    return [WIRE_ID_HEADER, String(id)];
  }

  /** One of our own replays, seen in the capture. */
  captured(req: HttpRequest): void {
    const id = headerValue(req.headers, WIRE_ID_HEADER);
    if (id !== null && /^[0-9]{1,15}$/.test(id)) this.idOf.set(req, Number(id));
  }

  /** Its answer, seen in the capture. */
  answered(req: HttpRequest, res: { endUs: number }): void {
    const id = this.idOf.get(req);
    const entry = id === undefined ? undefined : this.byId.get(id);
    if (entry === undefined) return;
    if (--entry.remaining <= 0) this.byId.delete(id as number);
    const server = req.conn.server;
    const target = this.targets.findIndex((t) => t.port === server.port && sameAddress(t.address, server.address));
    if (target >= 0) this.compare.wire(entry, target, res.endUs - req.startUs);
  }
}

const NO_HEADERS: string[] = [];

function sameAddress(a: string, b: string): boolean {
  return a === b || (a.includes(':') && b.includes(':') && new URL(`http://[${a}]`).hostname === new URL(`http://[${b}]`).hostname);
}
