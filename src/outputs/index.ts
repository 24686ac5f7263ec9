// Everything an exchange can be sent to, behind one interface: replay (to shadows), record (a
// file), print (`read`'s JSON lines), publish (a broker, for fleet mode). The pipeline hands each output
// the requests the traffic policy mirrors and their exchanges; the output settles each request
// in the ledger exactly once.

import type { Outcome } from '../accounting';
import type { Exchange, HttpRequest } from '../model';

/** Settles one request handed to an output. */
export type Settle = (outcome: Outcome) => void;

export interface Output {
  /**
   * A request to mirror, as captured and as to be sent (the traffic policy's rewrite, or the
   * same object). `settle` (the same function for every request) runs exactly once for it.
   */
  request(captured: HttpRequest, sent: HttpRequest, settle: Settle): void;
  /** The exchange of a request handed to request(), once production's answer is complete or
   * known to be missing; per connection in request order. */
  exchange(ex: Exchange): void;
  /** False while the output can take no more: a file source pauses until a request settles. */
  readonly hasRoom: boolean;
  /** Finishes what is under way, waiting at most `timeoutMs`; then closes. */
  drain(timeoutMs: number): Promise<void>;
  /** Counters for the summary, under the output's own keys. */
  stats(): Record<string, unknown>;
}

export { PrintOutput, exchangeLine } from './print';
export { RecordOutput } from './record';
export { ReplayOutput } from './replay';
export { PublishOutput } from './publish';
export type { PublishStats } from './publish';
