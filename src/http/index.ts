// Turns a connection's two byte streams into exchanges: each request with production's
// response and the capture timestamps of their first and last bytes. Which protocol analyzer
// reads a connection is chosen from its first bytes (./analyzer.ts); today HTTP/1.x.
// Knows nothing of shadows.

import type { ConnectionInfo, StreamFactory, StreamHandler } from '../tcp';
import { SharedAllowance } from '../accounting/memory';
import type { AnalyzerContext, MessageHolder, ProtocolAnalyzer } from './analyzer';
import { http1 } from './connection';
import { h2c, probeMidstream } from '../h2';
import { HttpOptions, HttpSink, HttpStats, defaultHttpOptions, newHttpStats } from './types';

export * from './types';
export { headerValue, isNamed, joinedHeaderValue, lowerName } from './parser';
// The framing production's responses go through, for replay to frame the shadows' answers alike.
export { RESPONSE, checkContentLength, createParser, kOnBody, kOnHeadersComplete, kOnMessageComplete, readOrdinaryHead } from './parser';
export type { HeaderInfo, Parser } from './parser';
export { isChunked } from './body';
export type { ProtocolAnalyzer, Recognition } from './analyzer';

/** The analyzers a connection's first bytes choose among, in order (h2c's preface would
 * otherwise begin like an HTTP/1 request line). */
export const analyzers: readonly ProtocolAnalyzer[] = [h2c, http1];

export class HttpStage implements StreamFactory {
  readonly stats: HttpStats = newHttpStats();
  /** Heads and bodies in progress, within the memory budget's share. */
  readonly messages: SharedAllowance<MessageHolder>;
  private readonly context: AnalyzerContext;

  constructor(sink: HttpSink, options: Partial<HttpOptions> = {}, known: readonly ProtocolAnalyzer[] = analyzers) {
    const all = { ...defaultHttpOptions, ...options };
    this.messages = new SharedAllowance<MessageHolder>(all.maxMessageBytes, (holder) => holder.shed());
    this.context = { sink, options: all, stats: this.stats, analyzers: known, ids: { next: 1 }, messages: this.messages };
  }

  /** Every connection starts with the HTTP/1 analyzer, which hands it over if its first
   * bytes choose another (see Http1Connection); one picked up midway is first probed for
   * HTTP/2 frames (see MidstreamProbe). */
  open(info: ConnectionInfo): StreamHandler {
    this.stats.connections++;
    const context = this.context;
    return probeMidstream(info, context, () => http1.open(info, context));
  }
}
