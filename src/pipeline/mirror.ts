// From http to the outputs: each request the http stage produces is booked in the ledger,
// shadowtap's own replays are recognised, the traffic policy decides and rewrites, and the
// output takes the rest. One way through, whatever the command.

import type { Outcome, RequestLedger } from '../accounting';
import type { ConnectionInfo, Exchange, HttpRequest, RequestLoss } from '../model';
import type { HttpSink, NoticeKind } from '../http';
import { headerValue } from '../http';
import type { Output } from '../outputs';
import type { TrafficPolicy } from '../traffic';

/** Books each request seen: shadowtap's own replay, the policy's decision, or pending. */
export class Admission {
  ownReplaysIgnored = 0;

  /** `policy` null: every request is mirrored; `ownMarker`: lower-case header name marking
   * shadowtap's replays (null: none). Both may change on a reload. */
  constructor(private readonly ledger: RequestLedger, public policy: TrafficPolicy | null, public ownMarker: string | null) {}

  /**
   * What to send for a request seen — the policy's rewrite (or the request), now pending in the
   * ledger — or null when it is not mirrored: shadowtap's own replay, captured on its way to a
   * shadow that shares the port (replaying it again would feed back without end), or a request
   * the policy declines (booked under its reason).
   */
  admit(req: HttpRequest): HttpRequest | null {
    if (this.isOwnReplay(req)) {
      this.ownReplaysIgnored++;
      return null;
    }
    const policy = this.policy;
    const why = policy === null ? null : policy.decide(req);
    if (why !== null) {
      this.ledger.seenAndNotReplayed(why);
      return null;
    }
    this.ledger.seenPending();
    return policy === null ? req : policy.rewrite(req);
  }

  isOwnReplay(req: HttpRequest): boolean {
    return this.ownMarker !== null && headerValue(req.headers, this.ownMarker) !== null;
  }
}

export interface MirrorOptions {
  ledger: RequestLedger;
  admission: Admission;
  output: Output;
  notice: (kind: NoticeKind, conn: ConnectionInfo, detail: string) => void;
  /** A file source pauses while the output has no room; a live one never waits (null). */
  flow: { pause(): void; resume(): void } | null;
}

export class Mirror implements HttpSink {
  private readonly ledger: RequestLedger;
  private readonly output: Output;
  /** Requests not handed to the output (own replays, declined): their exchanges go nowhere. */
  private readonly notMirrored = new WeakSet<HttpRequest>();
  private waitingForRoom = false;

  constructor(private readonly options: MirrorOptions) {
    this.ledger = options.ledger;
    this.output = options.output;
  }

  readonly settle = (outcome: Outcome): void => {
    this.ledger.settle(outcome);
    if (this.waitingForRoom && this.output.hasRoom) {
      this.waitingForRoom = false;
      this.options.flow?.resume();
    }
  };

  request(req: HttpRequest): void {
    const sent = this.options.admission.admit(req);
    if (sent === null) {
      this.notMirrored.add(req);
      return;
    }
    this.output.request(req, sent, this.settle);
    if (this.options.flow !== null && !this.output.hasRoom && !this.waitingForRoom) {
      this.waitingForRoom = true;
      this.options.flow.pause();
    }
  }

  exchange(ex: Exchange): void {
    if (this.notMirrored.delete(ex.request)) return;
    this.output.exchange(ex);
  }

  lost(reason: RequestLoss): void {
    this.ledger.seenAndNotReplayed(reason);
  }

  notice(kind: NoticeKind, conn: ConnectionInfo, detail: string): void {
    this.options.notice(kind, conn, detail);
  }
}
