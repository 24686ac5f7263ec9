// Integer reads from a Buffer for the per-packet hot path: Buffer's readUInt16BE and friends
// first check their offset argument through a wrapper that V8 does not inline (a tenth of the
// decode stage's time); these read the same bytes and, like them, throw a RangeError for a
// read past the end, but take the offset as the number it always is here.

function pastEnd(buf: Buffer, at: number, size: number): never {
  throw new RangeError(`read of ${size} bytes at ${at} is outside a buffer of ${buf.length}`);
}

/** buf.readUInt16BE(at). */
export function u16be(buf: Buffer, at: number): number {
  const hi = buf[at];
  const lo = buf[at + 1];
  if (hi === undefined || lo === undefined) pastEnd(buf, at, 2);
  return (hi << 8) | lo;
}

/** buf.readUInt32BE(at). */
export function u32be(buf: Buffer, at: number): number {
  const a = buf[at];
  const d = buf[at + 3];
  if (a === undefined || d === undefined) pastEnd(buf, at, 4);
  return a * 0x1000000 + ((buf[at + 1] << 16) | (buf[at + 2] << 8) | d);
}
