// The reorder window against a plain model of it (hold, release the earliest when full, late
// when earlier than one released), over batches of every size: ordered, shuffled within the
// window, and shuffled beyond it, limited by packets and by bytes.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ReorderLimits, ReorderWindow, forEachRecord } from '../../src/capture';
import { randInt, rng } from '../support/packets';
import { shuffleWithin } from '../support/pcap-shuffle';

interface Rec { ts: number; id: number; bytes: Buffer }

/** A record in batch format; its data says which it is. */
function record(ts: number, id: number, size: number): Rec {
  const bytes = Buffer.alloc(16 + size, id & 0xff);
  bytes.writeUInt32LE(Math.floor(ts / 1e6), 0);
  bytes.writeUInt32LE(ts % 1e6, 4);
  bytes.writeUInt32LE(size, 8);
  bytes.writeUInt32LE(size, 12);
  if (size >= 4) bytes.writeUInt32LE(id, 16);
  return { ts, id, bytes };
}

/** The window as the README says it works, one record at a time. */
function model(recs: Rec[], limits: ReorderLimits): { order: number[]; late: number; outOfOrder: number } {
  const held: Array<Rec & { seq: number }> = [];
  const order: number[] = [];
  let bytes = 0;
  let lastReleased = -Infinity;
  let latest = -Infinity;
  let late = 0;
  let outOfOrder = 0;
  const releaseEarliest = (): void => {
    let k = 0;
    for (let i = 1; i < held.length; i++) if (held[i].ts < held[k].ts || (held[i].ts === held[k].ts && held[i].seq < held[k].seq)) k = i;
    const [r] = held.splice(k, 1);
    bytes -= r.bytes.length;
    lastReleased = r.ts;
    order.push(r.id);
  };
  recs.forEach((r, seq) => {
    if (r.ts < latest) outOfOrder++;
    latest = Math.max(latest, r.ts);
    if (r.ts < lastReleased) {
      late++;
      order.push(r.id);
      return;
    }
    held.push({ ...r, seq });
    bytes += r.bytes.length;
    while (held.length > limits.packets || bytes > limits.bytes) releaseEarliest();
  });
  while (held.length > 0) releaseEarliest();
  return { order, late, outOfOrder };
}

/** Feeds `recs` to a window in batches of random sizes up to `maxBatch` (or of the sizes
 * given); the ids in the order they come out. */
function through(recs: Rec[], limits: ReorderLimits, seed: number, maxBatch: number | number[], batchBytes = 4096) {
  const order: number[] = [];
  const emitted: Array<{ batch: Buffer; count: number }> = [];
  const w = new ReorderWindow(limits, (batch, count) => {
    emitted.push({ batch, count });
    forEachRecord(batch, count, (_ts, buf, offset, caplen) => {
      order.push(caplen >= 4 ? buf.readUInt32LE(offset) : -1);
    });
  }, batchBytes);
  const random = rng(seed);
  let i = 0;
  const buffers = new Set<ArrayBufferLike>();
  while (i < recs.length) {
    const n = Math.min(recs.length - i, typeof maxBatch === 'number' ? randInt(random, 1, maxBatch) : maxBatch.shift()!);
    const parts = recs.slice(i, i + n).map((r) => r.bytes);
    const size = parts.reduce((s, b) => s + b.length, 0);
    const buf = w.buffer(Math.max(size, batchBytes));
    buffers.add(buf.buffer);
    Buffer.concat(parts).copy(buf);
    w.push(n);
    i += n;
  }
  w.flush();
  return { order, stats: w.stats, emitted, readBuffers: buffers };
}

/** The share of records that came out as views of the buffers they were read into. */
function viewShare(got: ReturnType<typeof through>): number {
  let views = 0;
  let all = 0;
  for (const b of got.emitted) {
    all += b.count;
    if (got.readBuffers.has(b.batch.buffer)) views += b.count;
  }
  return views / all;
}

function timeline(n: number, seed: number, sizes: [number, number] = [4, 200]): Rec[] {
  const random = rng(seed);
  let ts = 1_700_000_000_000_000;
  const out: Rec[] = [];
  for (let id = 0; id < n; id++) {
    ts += randInt(random, 0, 3); // equal timestamps too
    out.push(record(ts, id, randInt(random, sizes[0], sizes[1])));
  }
  return out;
}

describe('capture: reorder window', () => {
  it('an ordered file comes out as it went in, as views of the buffers it was read into, nothing counted', () => {
    const recs = timeline(5000, 1);
    for (const maxBatch of [1, 7, 300, 5000]) {
      const got = through(recs, { packets: 64, bytes: 1 << 20 }, maxBatch, maxBatch);
      assert.deepEqual(got.order, recs.map((r) => r.id));
      assert.deepEqual(got.stats, { outOfOrder: 0, lateBeyondWindow: 0 });
      // Large batches are released as views of the buffers they were read into (releases of
      // fewer than 16 records, as from batches of a few, are gathered into a copy).
      if (maxBatch >= 300) assert.ok(viewShare(got) > 0.95, `${viewShare(got)} of the records in views`);
    }
  });

  it('shuffled within the window: timestamp order (read order among equal times), nothing late', () => {
    const recs = timeline(4000, 2);
    for (const distance of [2, 10, 100]) {
      const shuffled = shuffleWithin(recs, distance, distance);
      for (const maxBatch of [1, 50, 4000]) {
        const got = through(shuffled, { packets: distance, bytes: 1 << 30 }, 7 * distance + maxBatch, maxBatch);
        const want = model(shuffled, { packets: distance, bytes: 1 << 30 });
        assert.deepEqual(got.order, want.order, `distance ${distance}, batches up to ${maxBatch}`);
        assert.equal(got.stats.lateBeyondWindow, 0);
        assert.ok(got.stats.outOfOrder > 0);
        assert.equal(got.stats.outOfOrder, want.outOfOrder);
        const ts = new Map(recs.map((r) => [r.id, r.ts]));
        for (let i = 1; i < got.order.length; i++) assert.ok(ts.get(got.order[i - 1])! <= ts.get(got.order[i])!, `in time order at ${i}`);
      }
    }
  });

  it('a window smaller than the disorder (by packets or by bytes): every packet once, the late ones counted as the model counts them', () => {
    const recs = timeline(3000, 3, [4, 3000]);
    for (const [distance, limits] of [
      [50, { packets: 8, bytes: 1 << 30 }], [3000, { packets: 100, bytes: 1 << 30 }],
      [200, { packets: 10_000, bytes: 64 * 1024 }], [20, { packets: 1, bytes: 1 }],
    ] as Array<[number, ReorderLimits]>) {
      const shuffled = shuffleWithin(recs, distance, distance + 1);
      for (const maxBatch of [1, 33, 3000]) {
        const got = through(shuffled, limits, maxBatch, maxBatch);
        const want = model(shuffled, limits);
        assert.deepEqual(got.order, want.order, `distance ${distance}, ${JSON.stringify(limits)}, batches up to ${maxBatch}`);
        assert.deepEqual([...got.order].sort((a, b) => a - b), recs.map((r) => r.id), 'every packet exactly once');
        assert.deepEqual(got.stats, { outOfOrder: want.outOfOrder, lateBeyondWindow: want.late });
        assert.ok(got.stats.lateBeyondWindow > 0, 'some are late');
      }
    }
  });

  it('the window is exactly its size: a packet behind the last `packets` read is placed, one further back is late', () => {
    const ordered = Array.from({ length: 100 }, (_, id) => record(id * 10, id, 8));
    for (const [ts, late] of [[895, 0], [885, 1]]) {
      const input = [...ordered, record(ts, 1000, 8)];
      const got = through(input, { packets: 10, bytes: 1 << 20 }, 1, [100, 1]); // the 100 in one batch, then it
      assert.deepEqual(got.order, model(input, { packets: 10, bytes: 1 << 20 }).order);
      assert.deepEqual(got.stats, { outOfOrder: 1, lateBeyondWindow: late }, `timestamp ${ts}`);
      if (late === 0) assert.deepEqual(got.order.slice(88, 92), [88, 89, 1000, 90]);
    }
  });

  it('the buffers holding records are bounded by the bytes limit: beyond, the oldest one\'s records are copied out', () => {
    const recs = timeline(20_000, 5, [4, 40]);
    const limits = { packets: 10_000, bytes: 64 * 1024 }; // 64 KiB in 16 KiB batches: 6 buffers at most
    for (const input of [recs, shuffleWithin(recs, 30, 5)]) {
      const got = through(input, limits, 3, 40, 16 * 1024);
      assert.deepEqual(got.order, model(input, limits).order);
      assert.ok(got.readBuffers.size <= 7, `${got.readBuffers.size} read buffers`);
    }
  });

  it('ordered, then out of order, then ordered again: back to views once an ordered batch follows everything held', () => {
    const recs = timeline(600, 4);
    const middle = shuffleWithin(recs.slice(200, 400), 20, 9);
    const input = [...recs.slice(0, 200), ...middle, ...recs.slice(400)];
    const got = through(input, { packets: 32, bytes: 1 << 20 }, 5, 150);
    assert.deepEqual(got.order, model(input, { packets: 32, bytes: 1 << 20 }).order);
    const ts = new Map(recs.map((r) => [r.id, r.ts]));
    for (let i = 1; i < got.order.length; i++) assert.ok(ts.get(got.order[i - 1])! <= ts.get(got.order[i])!, `in time order at ${i}`);
    assert.ok(viewShare(got) > 0.5, `${viewShare(got)}: the ordered stretches before and after are delivered as views`);
  });
});
