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

export class HalfParser {
  readonly parser: Parser;
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
  constructor(readonly type: string, syncing: boolean) {
    this.parser = createParser(type);
    this.syncing = syncing;
  }
  get idle(): boolean {
    return isIdle(this.parser, this.type);
  }
  reset(): void {
    this.parser.reinitialize(this.type);
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
