// HPACK (RFC 7541): one direction's header blocks decoded into [name, value, ...] with the
// dynamic table that direction's encoder keeps. Bounded: the table by the size the peer
// allows (at most MAX_TABLE_SIZE), a block's header list by MAX_HEADER_LIST; a block beyond
// the list cap is still decoded to its end, so that the table stays in step with the encoder.

import { decodeHuffman } from './huffman';

/** RFC 7541 Appendix A: [name, value, ...] of indices 1..61. */
const STATIC: readonly string[] = [
  ':authority', '', ':method', 'GET', ':method', 'POST', ':path', '/', ':path', '/index.html',
  ':scheme', 'http', ':scheme', 'https', ':status', '200', ':status', '204', ':status', '206',
  ':status', '304', ':status', '400', ':status', '404', ':status', '500', 'accept-charset', '',
  'accept-encoding', 'gzip, deflate', 'accept-language', '', 'accept-ranges', '', 'accept', '',
  'access-control-allow-origin', '', 'age', '', 'allow', '', 'authorization', '', 'cache-control', '',
  'content-disposition', '', 'content-encoding', '', 'content-language', '', 'content-length', '',
  'content-location', '', 'content-range', '', 'content-type', '', 'cookie', '', 'date', '', 'etag', '',
  'expect', '', 'expires', '', 'from', '', 'host', '', 'if-match', '', 'if-modified-since', '',
  'if-none-match', '', 'if-range', '', 'if-unmodified-since', '', 'last-modified', '', 'link', '',
  'location', '', 'max-forwards', '', 'proxy-authenticate', '', 'proxy-authorization', '', 'range', '',
  'referer', '', 'refresh', '', 'retry-after', '', 'server', '', 'set-cookie', '',
  'strict-transport-security', '', 'transfer-encoding', '', 'user-agent', '', 'vary', '', 'via', '',
  'www-authenticate', '',
];
const STATIC_ENTRIES = STATIC.length / 2;

/** The default dynamic table size (SETTINGS_HEADER_TABLE_SIZE before any SETTINGS). */
export const DEFAULT_TABLE_SIZE = 4096;
/** Largest dynamic table followed, whatever a peer advertises. */
export const MAX_TABLE_SIZE = 64 * 1024;
/** Largest decoded header list (RFC 7541 sizes: name + value + 32 per field) kept. */
export const MAX_HEADER_LIST = 256 * 1024;

/** What went wrong in a header block: the encoder's state can no longer be followed. */
export class HpackError extends Error {}

export interface DecodedBlock {
  /** [name, value, ...] in order, pseudo-headers included; empty when `tooLarge`. */
  fields: string[];
  /** The header list passed MAX_HEADER_LIST: its fields were decoded but not kept. */
  tooLarge: boolean;
}

/** One direction's decoding context. */
export class HpackDecoder {
  /** Dynamic table entries, newest last: names and values. */
  private names: string[] = [];
  private values: string[] = [];
  /** Index in names/values of the oldest entry still in the table. */
  private oldest = 0;
  /** The table's size in RFC 7541 terms (name + value + 32 per entry). */
  size = 0;
  /** The size the encoder chose (a size update), within `limit`. */
  private capacity = DEFAULT_TABLE_SIZE;
  /** The most the peer's SETTINGS allow the encoder (SETTINGS_HEADER_TABLE_SIZE). */
  private limit = DEFAULT_TABLE_SIZE;

  /** The receiving peer announced SETTINGS_HEADER_TABLE_SIZE: the encoder may use up to it.
   * Never lowered below what the encoder may still use before it sees the change. */
  allow(size: number): void {
    if (size > this.limit) this.limit = Math.min(size, MAX_TABLE_SIZE);
  }

  get entries(): number {
    return this.names.length - this.oldest;
  }

  /** Decodes one whole header block buf[start, end); throws HpackError. */
  decode(buf: Buffer, start: number, end: number): DecodedBlock {
    const fields: string[] = [];
    let listSize = 0;
    let tooLarge = false;
    let at = start;
    let first = true;
    while (at < end) {
      const b = buf[at];
      let name: string;
      let value: string;
      if (b >= 0x80) {
        // Indexed field (§6.1).
        const index = this.readInt(buf, at, end, 7);
        at = this.next;
        if (index === 0) throw new HpackError('index 0');
        name = this.nameAt(index);
        value = this.valueAt(index);
      } else if ((b & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        const size = this.readInt(buf, at, end, 5);
        at = this.next;
        if (!first) throw new HpackError('table size update after a field');
        if (size > this.limit) throw new HpackError(`table size update to ${size} beyond the allowed ${this.limit}`);
        this.capacity = size;
        this.evict(0);
        continue;
      } else {
        // Literal (§6.2): with incremental indexing (01), without (0000) or never indexed (0001).
        const indexing = (b & 0xc0) === 0x40;
        const index = this.readInt(buf, at, end, indexing ? 6 : 4);
        at = this.next;
        name = index === 0 ? this.readString(buf, at, end) : this.nameAt(index);
        if (index === 0) at = this.next;
        value = this.readString(buf, at, end);
        at = this.next;
        if (indexing) this.insert(name, value);
      }
      first = false;
      listSize += name.length + value.length + 32;
      if (listSize > MAX_HEADER_LIST) tooLarge = true;
      if (!tooLarge) fields.push(name, value);
    }
    return { fields: tooLarge ? [] : fields, tooLarge };
  }

  /** Where the last readInt/readString stopped. */
  private next = 0;

  /** An integer with an N-bit prefix (§5.1) at buf[at]. */
  private readInt(buf: Buffer, at: number, end: number, prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = buf[at++] & max;
    if (value === max) {
      let shift = 0;
      for (;;) {
        if (at >= end) throw new HpackError('integer cut short');
        const b = buf[at++];
        value += (b & 0x7f) * 2 ** shift;
        shift += 7;
        if ((b & 0x80) === 0) break;
        if (shift > 28) throw new HpackError('integer too large');
      }
    }
    this.next = at;
    return value;
  }

  /** A string literal (§5.2) at buf[at]: plain (latin1) or Huffman-coded. */
  private readString(buf: Buffer, at: number, end: number): string {
    if (at >= end) throw new HpackError('string cut short');
    const huffman = (buf[at] & 0x80) !== 0;
    const length = this.readInt(buf, at, end, 7);
    at = this.next;
    if (length > end - at) throw new HpackError('string longer than its block');
    this.next = at + length;
    if (!huffman) return buf.toString('latin1', at, at + length);
    const text = decodeHuffman(buf, at, at + length);
    if (text === null) throw new HpackError('invalid Huffman code');
    return text;
  }

  private nameAt(index: number): string {
    if (index <= STATIC_ENTRIES) return STATIC[2 * (index - 1)];
    return this.names[this.dynamicSlot(index)];
  }

  private valueAt(index: number): string {
    if (index <= STATIC_ENTRIES) return STATIC[2 * (index - 1) + 1];
    return this.values[this.dynamicSlot(index)];
  }

  /** Where dynamic index `index` (62 = newest) is kept. */
  private dynamicSlot(index: number): number {
    const back = index - STATIC_ENTRIES; // 1 = newest
    if (back > this.entries) throw new HpackError(`index ${index} beyond the table (${this.entries} dynamic entries)`);
    return this.names.length - back;
  }

  private insert(name: string, value: string): void {
    const cost = name.length + value.length + 32;
    this.evict(cost);
    // An entry larger than the table empties it and is not kept (§4.4).
    if (cost > this.capacity) return;
    this.names.push(name);
    this.values.push(value);
    this.size += cost;
  }

  /** Evicts the oldest entries until `room` more bytes fit within the capacity. */
  private evict(room: number): void {
    while (this.size + room > this.capacity && this.oldest < this.names.length) {
      this.size -= this.names[this.oldest].length + this.values[this.oldest].length + 32;
      this.oldest++;
    }
    // The arrays' evicted heads are dropped now and then, not on every eviction.
    if (this.oldest > 64 && this.oldest * 2 > this.names.length) {
      this.names = this.names.slice(this.oldest);
      this.values = this.values.slice(this.oldest);
      this.oldest = 0;
    }
  }
}
