// A capture file's packets in timestamp order, within a bounded window. Files appended with
// `mergecap -a`, or written by several capture points, go back in time (and so, by a few
// packets, do captures of a busy multi-core host); tcp reassembly reads capture order as time
// order. The window holds at most `packets` records and `bytes` bytes, releases the earliest
// when it is full, and everything at the file's end. A packet earlier than one already
// released is late: counted and delivered at once (reassembly may still place it).
//
// Records in time order stay where they were read: each batch is read into its own buffer and
// its in-order stretches are held as ranges of it, released as views (no copy). A record
// earlier than one read before it (a straggler) is copied into a heap; releasing takes the
// earlier of the heap's first record and the first held range's.

/** Bytes of a record's header (batch format: see ./index.ts). */
const HEADER_BYTES = 16;
/** Bytes of the buffer records released from the heap (or late) are gathered in. */
const OUT_BYTES = 1024 * 1024;
/** Fewer records released from a range at once are gathered too: a batch of a record or two
 * each (a shuffled file's short ranges) would cost the consumer more than the copy. */
const MIN_VIEW_RECORDS = 16;

export interface ReorderLimits {
  /** Packets held at most. */
  packets: number;
  /** Bytes of records (headers included) held at most. */
  bytes: number;
}

export interface ReorderStats {
  /** Packets with a timestamp earlier than one read before them. */
  outOfOrder: number;
  /** Of those, packets earlier than one already released: delivered late, out of time order. */
  lateBeyondWindow: number;
}

/** A buffer one batch was read into, with where each record starts and its time. */
interface Slot {
  buf: Buffer;
  /** starts[count] is where the batch ends. */
  starts: Int32Array;
  ts: Float64Array;
  count: number;
  /** Read position of record 0 (ties in time keep read order). */
  seq0: number;
  /** Held ranges of this batch: the buffer is reused once none is left. */
  ranges: number;
}

/** Records [next, end) of a slot, in time order, after every range held before it. */
interface Range {
  slot: Slot;
  next: number;
  end: number;
}

/** A straggler, copied out of its batch. */
interface Held {
  ts: number;
  seq: number;
  record: Buffer;
}

const earlier = (a: Held, b: Held): boolean => a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);

export class ReorderWindow {
  readonly stats: ReorderStats = { outOfOrder: 0, lateBeyondWindow: 0 };
  /** In-order records, as ranges of the buffers they were read into, oldest first. */
  private runs: Range[] = [];
  private runsHead = 0;
  /** Stragglers, earliest first. */
  private readonly heap: Held[] = [];
  private heldPackets = 0;
  private heldBytes = 0;
  /** Time of the latest record read (the last one held in a range). */
  private latest = -Infinity;
  private lastReleased = -Infinity;
  private seq = 0;
  /** The buffer the next batch is read into, and buffers free to become it. */
  private current: Slot | null = null;
  private readonly free: Slot[] = [];
  /** Buffers holding ranges, and how many may before their oldest records are copied out. */
  private slotsInUse = 0;
  private readonly maxSlotsInUse: number;
  /** Records released from the heap (or late), gathered into one batch. */
  private out = Buffer.allocUnsafe(OUT_BYTES);
  private outBytes = 0;
  private outCount = 0;

  /** `batchBytes`: the size batches are read in (bounds the buffers that hold ranges). */
  constructor(private readonly limits: ReorderLimits, private readonly emit: (batch: Buffer, count: number) => void,
    batchBytes: number) {
    this.maxSlotsInUse = Math.ceil(limits.bytes / batchBytes) + 2;
  }

  /** A buffer of at least `bytes` to read the next batch into (no held record lives in it). */
  buffer(bytes: number): Buffer {
    let slot = this.current;
    if (slot === null || slot.buf.length < bytes) {
      while (this.free.length === 0 && this.slotsInUse >= this.maxSlotsInUse) this.copyOldestSlot();
      slot = this.free.pop() ?? null;
      if (slot === null || slot.buf.length < bytes) {
        slot = { buf: Buffer.allocUnsafe(bytes), starts: new Int32Array(1024), ts: new Float64Array(1024), count: 0, seq0: 0, ranges: 0 };
      }
      this.current = slot;
    }
    return slot.buf;
  }

  /** The `count` records just read into buffer()'s buffer: what leaves the window is emitted. */
  push(count: number): void {
    const slot = this.current!;
    if (slot.starts.length <= count) {
      slot.starts = new Int32Array(2 * (count + 1));
      slot.ts = new Float64Array(2 * (count + 1));
    }
    slot.count = count;
    slot.starts[0] = 0;
    slot.seq0 = this.seq;
    this.seq += count;
    let from = 0;
    while (from < count) {
      // Records [from, to) are in order; record `to`, if any, is a straggler.
      const to = scanInOrder(slot, from, this.latest);
      if (to > from) this.latest = slot.ts[to - 1];
      this.hold(slot, from, to);
      if (to < count) this.straggler(slot, to);
      from = to + 1;
    }
    if (slot.ranges > 0) {
      this.current = null;
      this.slotsInUse++;
    }
    this.flushOut();
  }

  /** The file ended: everything held, in order. */
  flush(): void {
    this.release(0, 0);
    this.flushOut();
  }

  /** Holds the slot's in-order records [from, to), then releases what the limits ask. */
  private hold(slot: Slot, from: number, to: number): void {
    if (to === from) return;
    this.runs.push({ slot, next: from, end: to });
    slot.ranges++;
    this.heldPackets += to - from;
    this.heldBytes += slot.starts[to] - slot.starts[from];
    this.release(this.limits.packets, this.limits.bytes);
  }

  /** Record i came after a later one: late if one later still was released, else held in the heap. */
  private straggler(slot: Slot, i: number): void {
    this.stats.outOfOrder++;
    const start = slot.starts[i];
    const end = slot.starts[i + 1];
    if (slot.ts[i] < this.lastReleased) {
      this.stats.lateBeyondWindow++;
      this.append(slot.buf, start, end);
      return;
    }
    this.heapPush({ ts: slot.ts[i], seq: slot.seq0 + i, record: copy(slot.buf, start, end) });
    this.heldPackets++;
    this.heldBytes += end - start;
    this.release(this.limits.packets, this.limits.bytes);
  }

  /** Releases the earliest held records until at most `packets` and `bytes` are held. */
  private release(packets: number, bytes: number): void {
    while (this.heldPackets > packets || this.heldBytes > bytes) {
      const range = this.runsHead < this.runs.length ? this.runs[this.runsHead] : null;
      const first = this.heap.length > 0 ? this.heap[0] : null;
      if (range === null || (first !== null && this.heapFirst(first, range))) {
        this.releaseHeld(this.pop());
        continue;
      }
      // As many of the range's records as the limits ask, up to the heap's first record.
      const { slot } = range;
      // With no straggler held, the packet limit says at once how many go.
      let to = first === null ? Math.min(range.end, range.next + Math.max(0, this.heldPackets - packets)) : range.next;
      let heldPackets = this.heldPackets - (to - range.next);
      let heldBytes = this.heldBytes - (slot.starts[to] - slot.starts[range.next]);
      while (to < range.end && (heldPackets > packets || heldBytes > bytes)) {
        if (first !== null && (first.ts < slot.ts[to] || (first.ts === slot.ts[to] && first.seq < slot.seq0 + to))) break;
        heldBytes -= slot.starts[to + 1] - slot.starts[to];
        heldPackets--;
        to++;
      }
      this.releaseRange(range, to);
    }
  }

  private heapFirst(first: Held, range: Range): boolean {
    const t = range.slot.ts[range.next];
    return first.ts < t || (first.ts === t && first.seq < range.slot.seq0 + range.next);
  }

  /** Emits the first range's records up to `to` as one view of its buffer (or gathers a few). */
  private releaseRange(range: Range, to: number): void {
    const { slot, next } = range;
    const { starts } = slot;
    this.heldPackets -= to - next;
    this.heldBytes -= starts[to] - starts[next];
    this.lastReleased = slot.ts[to - 1];
    range.next = to;
    if (to - next < MIN_VIEW_RECORDS) {
      for (let i = next; i < to; i++) this.append(slot.buf, starts[i], starts[i + 1]);
      if (to === range.end) this.dropFirstRange();
      return;
    }
    this.flushOut(); // records released before these go first
    if (to === range.end) this.dropFirstRange();
    this.emit(slot.buf.subarray(starts[next], starts[to]), to - next);
  }

  private dropFirstRange(): void {
    const range = this.runs[this.runsHead++];
    if (this.runsHead > 1024 && this.runsHead * 2 > this.runs.length) {
      this.runs = this.runs.slice(this.runsHead);
      this.runsHead = 0;
    }
    const slot = range.slot;
    if (--slot.ranges === 0 && slot !== this.current) {
      this.slotsInUse--;
      this.free.push(slot);
    }
  }

  /** Too many buffers hold ranges: the oldest one's records are copied into the heap. */
  private copyOldestSlot(): void {
    const oldest = this.runs[this.runsHead].slot;
    while (this.runsHead < this.runs.length && this.runs[this.runsHead].slot === oldest) {
      const range = this.runs[this.runsHead];
      for (let i = range.next; i < range.end; i++) {
        this.heapPush({ ts: oldest.ts[i], seq: oldest.seq0 + i, record: copy(oldest.buf, oldest.starts[i], oldest.starts[i + 1]) });
      }
      this.dropFirstRange();
    }
  }

  private releaseHeld(held: Held): void {
    this.heldPackets--;
    this.heldBytes -= held.record.length;
    this.lastReleased = held.ts;
    this.append(held.record, 0, held.record.length);
  }

  private append(from: Buffer, start: number, end: number): void {
    const length = end - start;
    if (this.outBytes + length > this.out.length) {
      this.flushOut();
      if (length > this.out.length) this.out = Buffer.allocUnsafe(length);
    }
    from.copy(this.out, this.outBytes, start, end);
    this.outBytes += length;
    this.outCount++;
  }

  private flushOut(): void {
    if (this.outCount === 0) return;
    const count = this.outCount;
    const bytes = this.outBytes;
    this.outCount = 0;
    this.outBytes = 0;
    this.emit(this.out.subarray(0, bytes), count);
  }

  private heapPush(item: Held): void {
    const heap = this.heap;
    let i = heap.length;
    heap.push(item);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!earlier(item, heap[parent])) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = item;
  }

  private pop(): Held {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop()!;
    const n = heap.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const left = 2 * i + 1;
        if (left >= n) break;
        const right = left + 1;
        const child = right < n && earlier(heap[right], heap[left]) ? right : left;
        if (!earlier(heap[child], last)) break;
        heap[i] = heap[child];
        i = child;
      }
      heap[i] = last;
    }
    return top;
  }
}

/** Notes where records from `from` on start and their times, up to the first one earlier than
 * `latest` or than the record before it; returns its index (slot.count when none is). The
 * starts are noted up to the end of that record. */
function scanInOrder(slot: Slot, from: number, latest: number): number {
  const { buf, starts, ts, count } = slot;
  let p = starts[from];
  for (let i = from; i < count; i++) {
    const sec = (buf[p] | (buf[p + 1] << 8) | (buf[p + 2] << 16) | (buf[p + 3] << 24)) >>> 0;
    const usec = buf[p + 4] | (buf[p + 5] << 8) | (buf[p + 6] << 16) | (buf[p + 7] << 24);
    const caplen = buf[p + 8] | (buf[p + 9] << 8) | (buf[p + 10] << 16) | (buf[p + 11] << 24);
    const t = sec * 1e6 + usec;
    ts[i] = t;
    p += HEADER_BYTES + caplen;
    starts[i + 1] = p;
    if (t < latest) return i;
    latest = t;
  }
  return count;
}

function copy(buf: Buffer, start: number, end: number): Buffer {
  const record = Buffer.allocUnsafe(end - start);
  buf.copy(record, 0, start, end);
  return record;
}
