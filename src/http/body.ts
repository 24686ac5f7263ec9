// A message body as it arrives: counted, kept up to a cap, hashed when asked.

import { createHash, Hash, hash as oneShot } from 'node:crypto';
import { isNamed } from './parser';
import type { HttpMessage } from './types';

const EMPTY_SHA256 = createHash('sha256').digest('hex');

/** Bodies up to this size have their hashes remembered (a small table, by a sample of bytes). */
const MAX_REMEMBERED_BODY = 256;
const REMEMBERED_SLOTS = 256;
const rememberedBodies: (Buffer | null)[] = new Array<Buffer | null>(REMEMBERED_SLOTS).fill(null);
const rememberedHashes: string[] = new Array<string>(REMEMBERED_SLOTS).fill('');

/** Hashes of small bodies taken from the table (the same bytes seen before), since the process began. */
export const bodyHashes = { remembered: 0 };

/** The hex SHA-256 of buf[start..end). A small body with the very bytes of one hashed lately
 * (an API's answers repeat: {"ok":true}, a health check) gets that hash again instead of a new one. */
function sha256Hex(buf: Buffer, start: number, end: number): string {
  const length = end - start;
  if (length > MAX_REMEMBERED_BODY) return oneShot('sha256', buf.subarray(start, end), 'hex');
  const slot = (length * 31 + buf[start] * 7 + buf[end - 1] * 3 + buf[start + (length >> 1)]) & (REMEMBERED_SLOTS - 1);
  const known = rememberedBodies[slot];
  if (known !== null && known.length === length) {
    let k = 0;
    while (k < length && known[k] === buf[start + k]) k++;
    if (k === length) {
      bodyHashes.remembered++;
      return rememberedHashes[slot];
    }
  }
  const data = buf.subarray(start, end);
  const hex = oneShot('sha256', data, 'hex');
  rememberedBodies[slot] = Buffer.from(data);
  rememberedHashes[slot] = hex;
  return hex;
}

/** Bodies up to this size are hashed in one call at the end; longer ones incrementally. */
const ONE_SHOT_HASH_BYTES = 64 * 1024;

/** No chunks: never written to. */
const NO_CHUNKS: Buffer[] = [];

export class BodyCollector {
  size = 0;
  /** Copies of the body's chunks: kept for the caller, or held for a one-shot hash (NO_CHUNKS,
   * shared, until the first: most bodies are hashed where they are and never copied). */
  private chunks: Buffer[] = NO_CHUNKS;
  private held = 0;
  /** A chunk not copied yet, viewed[viewStart..viewEnd): valid only until the current data()
   * call returns (see detach). No Buffer view is made of it: most are hashed and forgotten. */
  private viewed: Buffer | null = null;
  private viewStart = 0;
  private viewEnd = 0;
  private truncated = false;
  private hash: Hash | null = null;

  constructor(private readonly keep: boolean, private readonly hashing: boolean, private readonly max: number) {}

  /** Bytes held in memory for this body. */
  get heldBytes(): number {
    return this.held;
  }

  add(chunk: Buffer, offset: number, length: number): void {
    if (length === 0) return;
    this.size += length;
    if (!this.keep && !this.hashing) return;
    if (this.viewed !== null) this.detach();
    else if (this.hashing && !this.keep && this.hash === null && this.held === 0 && length <= ONE_SHOT_HASH_BYTES) {
      // Most bodies arrive whole in one segment: hash them in place at fill().
      this.viewed = chunk;
      this.viewStart = offset;
      this.viewEnd = offset + length;
      this.held = length;
      return;
    }
    if (this.hashing && (this.hash !== null || (!this.keep && this.held + length > ONE_SHOT_HASH_BYTES))) {
      if (this.hash === null) {
        this.hash = createHash('sha256');
        for (const c of this.chunks) this.hash.update(c);
        this.chunks = NO_CHUNKS;
        this.held = 0;
      }
      this.hash.update(chunk.subarray(offset, offset + length));
      if (!this.keep) return;
    }
    if (this.truncated) return;
    const limit = this.keep ? this.max : ONE_SHOT_HASH_BYTES;
    const take = Math.min(limit - this.held, length);
    if (take > 0) {
      const copy = Buffer.allocUnsafe(take);
      chunk.copy(copy, 0, offset, offset + take);
      this.keepChunk(copy);
      this.held += take;
    }
    if (take < length) {
      this.truncated = true;
      if (this.hashing && this.hash === null) {
        // Kept bytes stop here; the hash must go on over the whole body.
        this.hash = createHash('sha256');
        for (const c of this.chunks) this.hash.update(c);
        this.hash.update(chunk.subarray(offset + take, offset + length));
      }
    }
  }

  /** Copies an in-place chunk before the buffer under it is reused. */
  detach(): void {
    const viewed = this.viewed;
    if (viewed === null) return;
    this.viewed = null;
    this.keepChunk(Buffer.from(viewed.subarray(this.viewStart, this.viewEnd))); // `held` already counts it
  }

  private keepChunk(chunk: Buffer): void {
    if (this.chunks === NO_CHUNKS) this.chunks = [];
    this.chunks.push(chunk);
  }

  fill(message: HttpMessage): void {
    message.bodySize = this.size;
    message.bodyTruncated = this.keep && this.truncated;
    const viewed = this.viewed;
    if (viewed !== null) {
      // In place (hashing, not keeping): the hash of the bytes where they are.
      this.viewed = null;
      message.bodySha256 = sha256Hex(viewed, this.viewStart, this.viewEnd);
      return;
    }
    const whole = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.held);
    if (this.hashing) {
      if (this.hash !== null) message.bodySha256 = this.hash.digest('hex');
      else message.bodySha256 = this.size === 0 ? EMPTY_SHA256 : sha256Hex(whole, 0, whole.length);
    }
    if (this.keep) message.body = whole;
  }
}

const NO_BODY = Buffer.alloc(0);

export function fillEmptyBody(message: HttpMessage, keep: boolean, hashing: boolean): void {
  message.bodySize = 0;
  message.bodyTruncated = false;
  if (hashing) message.bodySha256 = EMPTY_SHA256;
  if (keep) message.body = NO_BODY;
}

/** True when chunked is the final transfer coding (RFC 9112 §6.1), over all the
 * Transfer-Encoding headers: "gzip, chunked" is chunked, "chunked, gzip" is not. */
export function isChunked(headers: string[]): boolean {
  let last: string | null = null;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (isNamed(name, 'transfer-encoding')) last = headers[i + 1];
  }
  if (last === null) return false;
  const comma = last.lastIndexOf(',');
  return last.slice(comma + 1).trim().toLowerCase() === 'chunked';
}
