// From http to the outputs: each request the http stage produces is accounted for in the
// ledger, shadowtap's own replays are recognised, the traffic policy decides and rewrites,
// and the output takes the rest. One way through, whatever the command.

import type { Outcome, RequestLedger } from '../accounting';
import type { ConnectionInfo } from '../tcp';
import type { Exchange, HttpRequest, HttpSink, NoticeKind, RequestLoss } from '../http';
import { headerValue } from '../http';
import type { Output } from '../outputs';
import type { TrafficPolicy } from '../traffic';

/** Where shadowtap's own replays go when the capture sees them (wire timing). */
export interface OwnTraffic {
  ownRequest(req: HttpRequest): void;
  ownExchange(ex: Exchange): void;
}

export interface MirrorOptions {
  ledger: RequestLedger;
  output: Output;
  /** null: every request goes to the output. */
  policy: TrafficPolicy | null;
  /** Lower-case name of the header that marks shadowtap's replays (null: none). */
  ownMarker: string | null;
  ownTraffic?: OwnTraffic;
  notice: (kind: NoticeKind, conn: ConnectionInfo, detail: string) => void;
  /** A file source pauses while the output has no room; a live one never waits (null). */
  flow: { pause(): void; resume(): void } | null;
}

export class Mirror implements HttpSink {
  /** Changed by a reload, for the next request. */
  policy: TrafficPolicy | null;
  ownMarker: string | null;
  ownReplaysIgnored = 0;
  private readonly ledger: RequestLedger;
  private readonly output: Output;
  /** Requests not handed to the output (own replays, filtered): their exchanges go nowhere. */
  private readonly notMirrored = new WeakSet<HttpRequest>();
  private waitingForRoom = false;

  constructor(private readonly options: MirrorOptions) {
    this.ledger = options.ledger;
    this.output = options.output;
    this.policy = options.policy;
    this.ownMarker = options.ownMarker;
  }

  readonly settle = (outcome: Outcome): void => {
    this.ledger.settle(outcome);
    if (this.waitingForRoom && this.output.hasRoom) {
      this.waitingForRoom = false;
      this.options.flow?.resume();
    }
  };

  request(req: HttpRequest): void {
    // shadowtap's own replays, captured on their way to a shadow that shares the port:
    // replaying them again would feed back without end.
    if (this.isOwnReplay(req)) {
      this.ownReplaysIgnored++;
      this.notMirrored.add(req);
      this.options.ownTraffic?.ownRequest(req);
      return;
    }
    const policy = this.policy;
    const why = policy === null ? null : policy.decide(req);
    if (why !== null) {
      this.ledger.seenAndNotReplayed(why);
      this.notMirrored.add(req);
      return;
    }
    this.ledger.seenPending();
    this.output.request(req, policy === null ? req : policy.rewrite(req), this.settle);
    if (this.options.flow !== null && !this.output.hasRoom && !this.waitingForRoom) {
      this.waitingForRoom = true;
      this.options.flow.pause();
    }
  }

  exchange(ex: Exchange): void {
    if (this.notMirrored.delete(ex.request)) {
      if (this.options.ownTraffic !== undefined && this.isOwnReplay(ex.request)) this.options.ownTraffic.ownExchange(ex);
      return;
    }
    this.output.exchange(ex);
  }

  private isOwnReplay(req: HttpRequest): boolean {
    return this.ownMarker !== null && headerValue(req.headers, this.ownMarker) !== null;
  }

  lost(reason: RequestLoss): void {
    this.ledger.seenAndNotReplayed(reason);
  }

  notice(kind: NoticeKind, conn: ConnectionInfo, detail: string): void {
    this.options.notice(kind, conn, detail);
  }
}
