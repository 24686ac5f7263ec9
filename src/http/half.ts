// One direction of an HTTP/1 connection: its parser, the message in progress and the state
// of looking for a message boundary.

import { BodyCollector, isChunked } from './body';
import { HeaderInfo, Parser, REQUEST, createParser, isIdle } from './parser';
import type { HttpMessage } from './types';

/** The fields requests and responses share, from the parsed head; the message started at the
 * half's first byte (or now). */
export function newMessage(half: HalfParser, info: HeaderInfo, nowUs: number): HttpMessage {
  const chunked = isChunked(info.headers);
  half.parser.isChunked = chunked; // http-parser-js only knows "Transfer-Encoding: chunked"
  const startUs = half.startUs < 0 ? nowUs : half.startUs;
  return {
    versionMajor: info.versionMajor, versionMinor: info.versionMinor, headers: info.headers, trailers: [],
    body: null, bodySize: 0, bodyTruncated: false, bodySha256: null, chunked, startUs, endUs: startUs,
  };
}

const inHead: Record<string, boolean> = { REQUEST_LINE: true, RESPONSE_LINE: true, HEADER: true };

export class HalfParser {
  /** Made at the first byte in this direction: a connection that never sends one (most
   * half-open ones never answer) holds no parser for it. */
  private made: Parser | null = null;
  /** Looking for a message boundary (mid-stream start, after a gap or an error). */
  syncing: boolean;
  dead = false;
  /** Capture time of the first byte of the message in progress; -1 when idle. */
  startUs = -1;
  /** Capture time of the last data seen in this direction; -1 before any. */
  lastDataUs = -1;
  /** While syncing: the tail of the skipped bytes that may begin a message line. */
  carry = '';
  /** While syncing: bytes skipped so far, and whether they may be the rest of a message
   * whose start fell into a gap between messages. (Not after a mid-stream start: those
   * bytes may belong to a request already counted on an evicted or expired connection.) */
  skipped = 0;
  headUnseen = false;
  carryUs = 0;
  body: BodyCollector | null = null;
  /** Between a message's head and its end: body bytes belong to it. */
  collecting = false;
  /** Before any parser is made: the start of a first message whose head is still arriving
   * (latin1). A connection that never finishes its head holds these bytes, not a parser. */
  stash = '';
  /** `stockHeads`: every head through http-parser-js's own code (HttpOptions.fastHeads off). */
  constructor(readonly type: string, syncing: boolean, private readonly bind: (parser: Parser) => void,
    private readonly stockHeads = false) {
    this.syncing = syncing;
  }
  get parser(): Parser {
    if (this.made === null) {
      this.made = createParser(this.type, this.stockHeads);
      this.bind(this.made);
    }
    return this.made;
  }
  get hasParser(): boolean {
    return this.made !== null;
  }
  get idle(): boolean {
    return this.made === null ? this.stash.length === 0 : isIdle(this.made, this.type);
  }
  /** Bytes of the message head in progress taken so far (0 between messages). */
  get headBytes(): number {
    const made = this.made as unknown as { headBytes: number; line: string; state: string } | null;
    if (made === null) return this.stash.length;
    if (this.idle || !inHead[made.state]) return 0;
    return made.headBytes + made.line.length;
  }
  reset(): void {
    this.made?.reinitialize(this.type);
    this.stash = '';
    this.body = null;
    this.collecting = false;
    this.startUs = -1;
  }
  /** Looks for the next message boundary before parsing again. */
  resync(): void {
    this.syncing = true;
    this.carry = '';
    this.skipped = 0;
    this.reset();
  }
}

/** The parser state while a message's first line is read. */
export function firstLineState(type: string): string {
  return type === REQUEST ? 'REQUEST_LINE' : 'RESPONSE_LINE';
}
