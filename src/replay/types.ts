// What the replay stage takes and gives: its options, outcomes, shadow answers and counters.

import { defaultOf } from '../config/options';
import type { HttpRequest, ReplayOutcome, ShadowResponse } from '../model';
import type { WireWatch } from './connection';
import type { H2Stats, ShadowProtocol } from './h2';
import { replayOptions } from './options';

export type { ReplayOutcome, ShadowResponse } from '../model';

export interface ReplayOptions {
  targets: string[];
  /** Connections per target at most; each carries up to `pipeline` requests at once. */
  concurrency: number;
  /** Requests in flight at once on one connection (HTTP/1.1 pipelining when above 1). */
  pipeline: number;
  /** PEM certificate(s) trusted for https:// targets instead of the system's, or null. */
  ca: string | null;
  /** Requests waiting for a free slot, per target. */
  queueSize: number;
  /** Body bytes waiting, per target. */
  queueBytes: number;
  timeoutMs: number;
  keepHost: boolean;
  /** Header added to every replayed request, or null for none. */
  marker: { name: string; value: string } | null;
  /** Bytes of each shadow response body to keep (0: drain and discard). */
  keepResponseBytes: number;
  /** When full: 'drop' refuses new requests (live capture); 'wait' queues them anyway and
   * the caller stops feeding while hasRoom is false (a file can wait). */
  whenFull: 'drop' | 'wait';
  /** Requests per second at most towards each target, or null for no ceiling. Beyond it,
   * 'drop' refuses at once ('rateLimited'); 'wait' holds requests back in the queue. */
  ratePerSecond: number | null;
  /** Requests of one captured connection go to each target in capture order, one after
   * another, over a connection of their own (a lane). Lanes per target are capped at
   * `concurrency` (each carries one request at a time, so in-flight stays bounded as with
   * the pool); beyond, the oldest idle lane is closed, and when none is idle the connection's
   * requests wait for one (counted against queueSize/queueBytes like any queued request). */
  preserveConnections: boolean;
  /** A lane idle this long is closed (its connection too). */
  laneIdleMs: number;
  /** How requests reach the shadows: as captured (auto: HTTP/2 for what came over HTTP/2,
   * HTTP/1.1 otherwise), or all over one. */
  shadowProtocol: ShadowProtocol;
  /** Wire timing: told where requests and answers lie in each plain HTTP/1 connection's
   * streams (target numbers are positions in `targets`); null: not timed so. */
  wire: WireWatch | null;
}

export const defaultReplayOptions: ReplayOptions = {
  targets: [],
  concurrency: defaultOf(replayOptions.concurrency),
  pipeline: defaultOf(replayOptions.pipeline),
  ca: null,
  queueSize: defaultOf(replayOptions.queueSize),
  queueBytes: defaultOf(replayOptions.queueMb) * 2 ** 20,
  timeoutMs: defaultOf(replayOptions.timeoutMs),
  keepHost: false,
  marker: { name: 'x-shadowtap', value: '1' },
  keepResponseBytes: 0,
  whenFull: 'drop',
  ratePerSecond: null,
  preserveConnections: false,
  laneIdleMs: 30_000,
  shadowProtocol: 'auto',
  wire: null,
};

/** Runs once per submitted request; `responses` holds one entry per target the request was
 * handed to (none when it was refused before reaching any). */
export type ReplayDone = (outcome: ReplayOutcome, responses: ShadowResponse[], request: HttpRequest) => void;

export interface TargetStats {
  target: string;
  sent: number;
  responses: number;
  errors: number;
  timeouts: number;
  queueFull: number;
  /** Refused beyond --rate. */
  rateLimited: number;
  byStatusClass: Record<string, number>;
  inFlight: number;
  queued: number;
  /** Lanes open (preserveConnections). */
  lanes: number;
  /** HTTP/2 sessions and streams (requests replayed over HTTP/2). */
  h2?: H2Stats;
}
