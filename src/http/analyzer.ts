// Which protocol a connection speaks is chosen once, from its first bytes (as Zeek does),
// among the analyzers the stage knows; a connection none of them recognizes is counted
// (nonHttpConnections), not guessed at.

import type { ConnectionInfo, Direction, StreamHandler } from '../tcp';
import type { SharedAllowance } from '../accounting/memory';
import type { HttpOptions, HttpRequest, HttpSink, HttpStats } from './types';

/** How a connection's first bytes look to an analyzer: 'maybe' when it cannot tell yet
 * (too few bytes) or lets its own parser decide. */
export type Recognition = 'yes' | 'no' | 'maybe';

/** What every analyzer's connections report to, shared by the stage's connections. */
export interface AnalyzerContext {
  readonly sink: HttpSink;
  readonly options: HttpOptions;
  readonly stats: HttpStats;
  readonly analyzers: readonly ProtocolAnalyzer[];
  /** The stage's exchange ids: each request takes the next. */
  readonly ids: { next: number };
  /** Bytes of heads and bodies still arriving, by connection, within the memory budget. */
  readonly messages: SharedAllowance<MessageHolder>;
}

/** A connection holding message bytes; told to give them up when the budget runs short. */
export interface MessageHolder {
  shed(): void;
}

/** One protocol's reading of a connection's two byte streams into exchanges. */
export interface ProtocolAnalyzer {
  readonly name: string;
  /** `head`: the connection's first bytes (up to HEAD_BYTES, latin1) in direction `dir`. */
  recognize(dir: Direction, head: string): Recognition;
  /** The handler for a connection this analyzer was chosen for; it gets every event from
   * the first bytes on. */
  open(info: ConnectionInfo, context: AnalyzerContext): StreamHandler;
  /** The handler for an HTTP/1 connection production switched (101) to `protocol` (the
   * response's Upgrade value), or null when this analyzer does not speak it. `request`: the
   * complete Upgrade request, not yet given to the sink (the handler does), which the new
   * protocol answers; `settings`: its HTTP2-Settings header, if any. */
  upgrade?(protocol: string, info: ConnectionInfo, context: AnalyzerContext, request: HttpRequest | null,
    settings: string | null): StreamHandler | null;
}

/** Bytes of a connection's first data an analyzer is shown. */
export const HEAD_BYTES = 64;

/** The first analyzer that says 'yes' to the connection's first bytes, else the first that
 * says 'maybe', else null: no analyzer for this connection. */
export function selectAnalyzer(analyzers: readonly ProtocolAnalyzer[], dir: Direction, buf: Buffer, start: number,
                               end: number): ProtocolAnalyzer | null {
  const head = buf.toString('latin1', start, Math.min(end, start + HEAD_BYTES));
  let maybe: ProtocolAnalyzer | null = null;
  for (const analyzer of analyzers) {
    const answer = analyzer.recognize(dir, head);
    if (answer === 'yes') return analyzer;
    if (answer === 'maybe' && maybe === null) maybe = analyzer;
  }
  return maybe;
}
