// A capture file's packets in timestamp order, within a bounded window. Files appended with
// `mergecap -a`, or written by several capture points, go back in time; tcp reassembly reads
// capture order as time order. The window holds at most `packets` records and `bytes` bytes,
// releases the earliest when it is full, and everything at the file's end. A packet earlier
// than one already released is late: counted and delivered at once (reassembly may still
// place it).
//
// An ordered file costs one scan per batch: each batch is held as it was read, in its own
// buffer (no copy), and released as views of it. Only once a packet is read out of order are
// the held packets copied, one by one, into a heap; an ordered batch that comes after them all
// is held as read again.

/** Bytes of a record's header (batch format: see ./index.ts). */
const HEADER_BYTES = 16;
/** Bytes of the buffer records released from the heap are gathered in. */
const OUT_BYTES = 1024 * 1024;

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

/** A batch buffer; once its batch is held as read, a run of ordered records. */
interface Slot {
  buf: Buffer;
  /** Where each record starts; starts[count] is where the batch ends. */
  starts: Int32Array;
  ts: Float64Array;
  count: number;
  /** The first record not yet released. */
  next: number;
}

/** A held record copied out of its batch: `seq` keeps read order among equal timestamps. */
interface Held {
  ts: number;
  seq: number;
  record: Buffer;
}

const earlier = (a: Held, b: Held): boolean => a.ts < b.ts || (a.ts === b.ts && a.seq < b.seq);

export class ReorderWindow {
  readonly stats: ReorderStats = { outOfOrder: 0, lateBeyondWindow: 0 };
  /** Held records, earliest first: the heap's, then the runs' (every heap record is earlier
   * than every run record). */
  private readonly heap: Held[] = [];
  private readonly runs: Slot[] = [];
  private heldPackets = 0;
  private heldBytes = 0;
  private latestRead = -Infinity;
  private lastReleased = -Infinity;
  private seq = 0;
  /** The buffer the next batch is read into, and slots free to become it. */
  private current: Slot | null = null;
  private readonly free: Slot[] = [];
  /** Records released from the heap (or late), gathered into one batch. */
  private out = Buffer.allocUnsafe(OUT_BYTES);
  private outBytes = 0;
  private outCount = 0;

  constructor(private readonly limits: ReorderLimits, private readonly emit: (batch: Buffer, count: number) => void) {}

  /** A buffer of at least `bytes` to read the next batch into (no held record lives in it). */
  buffer(bytes: number): Buffer {
    let slot = this.current;
    if (slot === null || slot.buf.length < bytes) {
      slot = this.free.pop() ?? null;
      if (slot === null || slot.buf.length < bytes) {
        slot = { buf: Buffer.allocUnsafe(bytes), starts: new Int32Array(1024), ts: new Float64Array(1024), count: 0, next: 0 };
      }
      this.current = slot;
    }
    return slot.buf;
  }

  /** The `count` records just read into buffer()'s buffer: what leaves the window is emitted. */
  push(count: number): void {
    const slot = this.current!;
    if (this.scan(slot, count)) {
      this.current = null;
      slot.next = 0;
      this.runs.push(slot);
      this.heldPackets += count;
      this.heldBytes += slot.starts[count];
      this.trim();
    } else {
      this.runsToHeap();
      this.pushRecords(slot);
    }
    this.flushOut();
  }

  /** The file ended: everything held, in order. */
  flush(): void {
    while (this.heap.length > 0) this.release(this.pop());
    while (this.runs.length > 0) this.releaseRun(this.runs[0], this.runs[0].count);
    this.flushOut();
  }

  /** Notes where each record of the batch starts and its time; true when none goes back in time. */
  private scan(slot: Slot, count: number): boolean {
    if (slot.starts.length <= count) {
      slot.starts = new Int32Array(2 * (count + 1));
      slot.ts = new Float64Array(2 * (count + 1));
    }
    const { buf, starts, ts } = slot;
    let latest = this.latestRead;
    let ordered = true;
    let p = 0;
    for (let i = 0; i < count; i++) {
      const t = buf.readUInt32LE(p) * 1e6 + buf.readUInt32LE(p + 4);
      starts[i] = p;
      ts[i] = t;
      p += HEADER_BYTES + buf.readUInt32LE(p + 8);
      if (t < latest) {
        ordered = false;
        this.stats.outOfOrder++;
      } else {
        latest = t;
      }
    }
    starts[count] = p;
    slot.count = count;
    this.latestRead = latest;
    return ordered;
  }

  /** Releases the earliest held records until the window is within its limits. */
  private trim(): void {
    const { packets, bytes } = this.limits;
    while (this.heldPackets > packets || this.heldBytes > bytes) {
      if (this.heap.length > 0) {
        this.release(this.pop());
        continue;
      }
      const run = this.runs[0];
      let to = run.next;
      let heldPackets = this.heldPackets;
      let heldBytes = this.heldBytes;
      while (to < run.count && (heldPackets > packets || heldBytes > bytes)) {
        heldBytes -= run.starts[to + 1] - run.starts[to];
        heldPackets--;
        to++;
      }
      this.releaseRun(run, to);
    }
  }

  /** Emits the head run's records up to `to` as one view of its buffer. */
  private releaseRun(run: Slot, to: number): void {
    const from = run.next;
    if (to > from) {
      this.flushOut(); // records released before these go first
      this.heldPackets -= to - from;
      this.heldBytes -= run.starts[to] - run.starts[from];
      this.lastReleased = run.ts[to - 1];
      run.next = to;
      this.emit(run.buf.subarray(run.starts[from], run.starts[to]), to - from);
    }
    if (run.next === run.count) {
      this.runs.shift();
      this.free.push(run);
    }
  }

  /** Copies the records of every held run into the heap (a packet read out of order is coming). */
  private runsToHeap(): void {
    for (const run of this.runs) {
      for (let i = run.next; i < run.count; i++) this.heapPush(run.ts[i], copy(run.buf, run.starts[i], run.starts[i + 1]));
      this.free.push(run);
    }
    this.runs.length = 0;
  }

  /** The batch's records one by one: held in the heap, or delivered at once when late. */
  private pushRecords(slot: Slot): void {
    const { packets, bytes } = this.limits;
    for (let i = 0; i < slot.count; i++) {
      const t = slot.ts[i];
      const start = slot.starts[i];
      const end = slot.starts[i + 1];
      if (t < this.lastReleased) {
        this.stats.lateBeyondWindow++;
        this.append(slot.buf, start, end);
        continue;
      }
      this.heapPush(t, copy(slot.buf, start, end));
      this.heldPackets++;
      this.heldBytes += end - start;
      while (this.heldPackets > packets || this.heldBytes > bytes) this.release(this.pop());
    }
  }

  private release(held: Held): void {
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

  private heapPush(ts: number, record: Buffer): void {
    const heap = this.heap;
    const item: Held = { ts, seq: this.seq++, record };
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

function copy(buf: Buffer, start: number, end: number): Buffer {
  const record = Buffer.allocUnsafe(end - start);
  buf.copy(record, 0, start, end);
  return record;
}
