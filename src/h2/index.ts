// HTTP/2 cleartext (h2c), the http stage's second protocol analyzer: chosen by the client's
// connection preface (prior knowledge) or the server's first SETTINGS frame, or taken over
// from HTTP/1 when production accepts `Upgrade: h2c` (101). A connection picked up midway
// whose first bytes are HTTP/2 frames is counted, not read (see MidstreamProbe).

import type { ConnectionInfo, Direction, StreamHandler } from '../tcp';
import { ToServer } from '../tcp';
import type { AnalyzerContext, ProtocolAnalyzer, Recognition } from '../http/analyzer';
import { H2Connection } from './connection';
import { FRAME_HEADER, FrameType, looksLikeFrames, PREFACE } from './frames';

export { H2Connection, MAX_HEADER_BLOCK, regularFields } from './connection';
export { MAX_FRAME_SIZE } from './frames';
export { MAX_HEADER_LIST, MAX_TABLE_SIZE } from './hpack';
export { newH2Stats } from './stats';
export type { H2Stats } from './stats';

const PREFACE_TEXT = PREFACE.toString('latin1');

/** Shortest start of the preface taken as a maybe ("PRI "): HTTP/1 knows no such method. */
const PREFACE_START = 4;

export const h2c: ProtocolAnalyzer = {
  name: 'h2c',
  recognize(dir: Direction, head: string): Recognition {
    if (dir === ToServer) {
      if (head.length >= PREFACE_TEXT.length) return head.startsWith(PREFACE_TEXT) ? 'yes' : 'no';
      return head.length >= PREFACE_START && PREFACE_TEXT.startsWith(head) ? 'maybe' : 'no';
    }
    // The server speaks first: its SETTINGS frame (not an ACK, on stream 0, whole settings).
    if (head.length < FRAME_HEADER) return 'no';
    const length = (head.charCodeAt(0) << 16) | (head.charCodeAt(1) << 8) | head.charCodeAt(2);
    const stream = head.charCodeAt(5) | head.charCodeAt(6) | head.charCodeAt(7) | head.charCodeAt(8);
    return head.charCodeAt(3) === FrameType.SETTINGS && head.charCodeAt(4) === 0 && stream === 0 && length % 6 === 0 ? 'yes' : 'no';
  },
  open: (info, context) => new H2Connection(info, context),
  upgrade(protocol, info, context, request, settings) {
    if (protocol.trim().toLowerCase() !== 'h2c') return null;
    return new H2Connection(info, context, { request, settings });
  },
};

/**
 * A connection picked up midway: its first chunk in either direction decides. Whole HTTP/2
 * frames back to back mean an h2c connection whose header tables cannot be rebuilt (they
 * hold what came before): counted (`h2.midstream`) and left unread. Anything else goes to
 * `fallback` (HTTP/1, which resynchronises), from that chunk on.
 */
export class MidstreamProbe implements StreamHandler {
  private handler: StreamHandler | null = null;
  private ignored = false;

  constructor(private readonly context: AnalyzerContext, private readonly fallback: () => StreamHandler) {}

  data(dir: Direction, buf: Buffer, start: number, end: number, tsUs: number): void {
    if (this.ignored) return;
    if (this.handler === null) {
      if (looksLikeFrames(buf, start, end)) {
        this.ignored = true;
        this.context.stats.h2.midstream++;
        return;
      }
      this.handler = this.fallback();
    }
    this.handler.data(dir, buf, start, end, tsUs);
  }

  gap(dir: Direction, bytes: number, tsUs: number): void {
    if (!this.ignored) this.open().gap(dir, bytes, tsUs);
  }

  fin(dir: Direction, tsUs: number): void {
    if (!this.ignored) this.open().fin(dir, tsUs);
  }

  close(reason: Parameters<StreamHandler['close']>[0], tsUs: number): void {
    if (!this.ignored) this.open().close(reason, tsUs);
  }

  private open(): StreamHandler {
    return (this.handler ??= this.fallback());
  }
}

export function probeMidstream(info: ConnectionInfo, context: AnalyzerContext, fallback: () => StreamHandler): StreamHandler {
  return info.midstream ? new MidstreamProbe(context, fallback) : fallback();
}
