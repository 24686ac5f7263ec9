// Capture files out of time order, made from real ones: a classic pcap's records moved by a
// bounded distance (each record at most `distance - 1` places from where it was), or
// shuffled whole. The records are kept as they are (timestamps included): only their order
// in the file changes.
import * as fs from 'node:fs';
import { rng } from './packets';

export interface PcapRecords {
  /** The 24-byte file header. */
  header: Buffer;
  /** Each record with its 16-byte header. */
  records: Buffer[];
}

/** A classic pcap (either byte order, µs or ns) as its records. */
export function readPcapRecords(path: string): PcapRecords {
  const file = fs.readFileSync(path);
  const magic = file.readUInt32LE(0);
  const little = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  if (!little && file.readUInt32BE(0) !== 0xa1b2c3d4 && file.readUInt32BE(0) !== 0xa1b23c4d) {
    throw new Error(`${path}: not a classic pcap file (magic ${magic.toString(16)})`);
  }
  const records: Buffer[] = [];
  let p = 24;
  while (p + 16 <= file.length) {
    const caplen = little ? file.readUInt32LE(p + 8) : file.readUInt32BE(p + 8);
    if (p + 16 + caplen > file.length) throw new Error(`${path}: truncated record at ${p}`);
    records.push(file.subarray(p, p + 16 + caplen));
    p += 16 + caplen;
  }
  return { header: file.subarray(0, 24), records };
}

export function writePcapRecords(path: string, pcap: PcapRecords): void {
  fs.writeFileSync(path, Buffer.concat([pcap.header, ...pcap.records]));
}

/** Moves each record by less than `distance` places (a key i + [0, distance) sorted), seeded. */
export function shuffleWithin<T>(items: T[], distance: number, seed: number): T[] {
  const random = rng(seed);
  return items.map((item, i) => ({ item, key: i + random() * distance }))
    .sort((a, b) => a.key - b.key)
    .map((x) => x.item);
}

/** How far back in time the file goes at most, in records: for each record, how many records
 * before it in the file are later than it (the window that puts it back in place). */
export function disorder(records: Buffer[]): number {
  const ts = records.map((r) => r.readUInt32LE(0) * 1e6 + r.readUInt32LE(4));
  let worst = 0;
  for (let i = 0; i < ts.length; i++) {
    let later = 0;
    for (let j = 0; j < i; j++) if (ts[j] > ts[i]) later++;
    worst = Math.max(worst, later);
  }
  return worst;
}

/** Records moved (their place in the file is not the place of their time). */
export function movedRecords(original: Buffer[], shuffled: Buffer[]): number {
  let moved = 0;
  for (let i = 0; i < original.length; i++) if (original[i] !== shuffled[i]) moved++;
  return moved;
}
