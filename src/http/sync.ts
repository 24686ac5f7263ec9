// Finding a message boundary in an HTTP/1 byte stream: after a gap, a parse error, or when a
// connection is picked up mid-stream, bytes are skipped up to the next start line.

import type { HalfParser } from './half';
import { REQUEST, methods } from './parser';
import type { HttpStats } from './types';

const methodAlternatives = methods.map((m) => m.replace('-', '\\-')).join('|');
/** A request (status) line's start: at the very beginning or after a newline. */
const requestStart = new RegExp(`(?:^|\\n)(?:${methodAlternatives}) [^ \\r\\n]`);
const responseStart = /(?:^|\n)HTTP\/1\.[01] [0-9]{3}/;
/** The same, only exactly at lastIndex (sticky). */
const requestStartHere = new RegExp(`(?:${methodAlternatives}) [^ \\r\\n]`, 'y');
const responseStartHere = /HTTP\/1\.[01] [0-9]{3}/y;
/** The same, only at the very start. */
export const requestLineStart = new RegExp(`^(?:${methodAlternatives}) [^ \\r\\n]`);
export const responseLineStart = /^HTTP\/1\.[01] [0-9]{3}/;
/** Skipped bytes kept while syncing, so that a message start split over two segments is
 * still found: longer than any method + space + one byte, and than "HTTP/1.1 200". */
const SYNC_CARRY = 16;

/** What syncing reports to its connection. */
export interface SyncReport {
  readonly stats: HttpStats;
  /** `bytes` skipped after a gap were the rest of a request whose start was not captured. */
  unseenStartLost(bytes: number): void;
}

/**
 * Looks for the start of a message in the carried tail of earlier skipped bytes followed by
 * buf[start, end): at the start of either, or after a newline. Found: the parser is reset
 * (and fed the carried part the message starts in) and the offset in buf to parse from is
 * returned. Not found: everything is skipped, a short tail is carried, -1.
 */
export function findMessageStart(half: HalfParser, buf: Buffer, start: number, end: number, tsUs: number, conn: SyncReport): number {
  const carry = half.carry;
  // latin1 keeps one character per byte, so string offsets are byte offsets.
  const text = carry + buf.toString('latin1', start, end);
  const request = half.type === REQUEST;
  const match = (request ? requestStart : responseStart).exec(text);
  let at = match === null ? -1 : match.index + (text[match.index] === '\n' ? 1 : 0);
  if (carry.length > 0 && (at < 0 || at > carry.length)) {
    // The chunk's own start is a candidate too (segments often begin a message).
    const here = request ? requestStartHere : responseStartHere;
    here.lastIndex = carry.length;
    if (here.test(text)) at = carry.length;
  }
  if (at < 0) {
    conn.stats.bytesSkipped += end - start;
    half.skipped += end - start;
    // Carry the tail from the last place a message could start, if it is short enough to
    // be the beginning of a start line.
    const newline = text.lastIndexOf('\n');
    const from = newline >= carry.length ? newline + 1 : text.length <= SYNC_CARRY ? 0 : carry.length;
    if (text.length - from <= SYNC_CARRY) {
      if (from >= carry.length) half.carryUs = tsUs;
      half.carry = text.slice(from);
    } else {
      half.carry = '';
    }
    return -1;
  }
  conn.stats.resyncs++;
  const skipped = half.skipped - Math.max(0, carry.length - at) + Math.max(0, at - carry.length);
  if (half.type === REQUEST && half.headUnseen && skipped > 0) {
    // A message boundary after skipped bytes: they were the rest of a request whose start
    // was never captured. Seen in part, so counted.
    conn.unseenStartLost(skipped);
  }
  half.syncing = false;
  half.headUnseen = false;
  half.carry = '';
  half.reset();
  if (at < carry.length) {
    // The message began in bytes skipped earlier: give them back to the parser.
    conn.stats.bytesSkipped -= carry.length - at;
    half.startUs = half.carryUs;
    half.parser.execute(Buffer.from(carry.slice(at), 'latin1'), 0, carry.length - at);
    return start;
  }
  conn.stats.bytesSkipped += at - carry.length;
  return start + (at - carry.length);
}
