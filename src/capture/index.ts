/**
 * Capture stage: packets from a live interface or a pcap/pcapng file, delivered
 * in batches (no JS call per packet).
 *
 * Batch format: consecutive records, each a 16-byte little-endian header
 * `u32 ts_sec, u32 ts_usec, u32 caplen, u32 wirelen` followed by `caplen` bytes of
 * packet data (starting at the link-layer header given by `linkType`), no padding.
 * Iterate with {@link RecordCursor} (allocation-free) or {@link forEachRecord}.
 */
import { readFileSync } from 'node:fs';
import { loadAddon, NativeLiveHandle, NativeLiveOptions, NativeOfflineHandle } from './native';
import { ReorderLimits, ReorderWindow } from './reorder';

export { findRepoRoot, addonPath } from './native';

export const RECORD_HEADER_BYTES = 16;


export interface CaptureStats {
  /** Packets delivered (live: handed to the JS queue; offline: read from the file). */
  packets: number;
  /** Sum of the original (wire) lengths of `packets`. */
  bytes: number;
  /**
   * Kernel counters from pcap_stats() (live only; 0 for files). On loopback only received
   * packets are captured (each is also seen as sent): on kernels before 4.20, which cannot skip
   * the sent copies, kernelReceived counts both and is about twice `packets` there.
   */
  kernelReceived: number;
  kernelDropped: number;
  ifDropped: number;
  /** Live only: packets taken from the kernel but dropped because the JS thread fell behind. */
  queueDropped: number;
  /** Files only (with a reorder window): packets whose timestamp is earlier than one read
   * before them; they are delivered in timestamp order. */
  outOfOrder: number;
  /** Of those, packets later than the reorder window allows: delivered late, out of order. */
  lateBeyondWindow: number;
}

export interface PacketSource {
  /** DLT_* link type of every record's data (decoded by src/decode). */
  readonly linkType: number;
  readonly live: boolean;
  /** Live only: pcap_activate() warning, if any (e.g. promiscuous mode not supported). */
  readonly warning?: string;
  /**
   * Begin delivery. onBatch receives a batch buffer (record format above) and its record count.
   * onEnd is called once when the file is exhausted or after close() (live: after the last
   * batch captured before close() was delivered); err if reading/capturing failed.
   *
   * Buffer ownership: for files the batch is a view of ONE reused buffer that is overwritten by
   * the next read — consumers must copy whatever they keep beyond the onBatch call. Live
   * batches are fresh buffers owned by the JS side, but consumers should not rely on that.
   * An exception thrown by onBatch is reported as an uncaught exception.
   */
  start(onBatch: (batch: Buffer, count: number) => void, onEnd: (err?: Error) => void): void;
  /** Live only: more than a quarter of what may wait on this thread is waiting: the thread is
   * behind the capture, and work that can be shed (comparison) should be. */
  readonly lagging: boolean;
  /** Offline only: stop/continue reading (backpressure). No-ops for live. */
  pause(): void;
  resume(): void;
  stats(): CaptureStats;
  /** Stop capturing/reading and release the handle. Idempotent; safe inside onBatch. Never waits
   * for the live capture thread: onEnd follows once it has ended (stats() are final then). */
  close(): void;
}

export type LiveOptions = Omit<NativeLiveOptions, 'copyBelowBytes'>;

/** Live packets handed on per turn of the event loop; between turns it runs its I/O (the
 * shadows' answers), timers and the comparison's own slice. (Handing on 4 ms of packets per
 * turn instead mirrored less at 20k req/s on 2 cores: 81–88 % against 96–97 %.) */
const LIVE_SLICE_PACKETS = 512;
/** Live batches waiting on the JS side, by default (bytes): beyond, the capture thread holds packets in the kernel's ring. */
const LIVE_PENDING_BYTES = 256 * 1024 * 1024;

/**
 * The capture thread's batches are queued here and handed on in slices of at most
 * LIVE_SLICE_PACKETS, one slice per turn of the event loop (setImmediate): a flood of packets
 * never starves the replies from the shadows, the timers or /metrics on the same thread. What
 * waits is bounded (its bytes): past the bound the capture thread is told to hold, and packets
 * wait in the kernel's ring (which drops and counts what it cannot hold) until half has been
 * handed on. The batches already on their way still come (the capture thread's own queue, as
 * bounded); past twice the bound and a batch's slack, a batch is dropped and counted as
 * queueDropped.
 */
class LiveSource implements PacketSource {
  readonly live = true;
  readonly linkType: number;
  readonly warning?: string;
  private started = false;
  private ended = false;
  private readonly pending: Array<{ batch: Buffer; count: number }> = [];
  private pendingHead = 0;
  private pendingBytes = 0;
  /** Where the slice starts in pending[pendingHead] (bytes, records). */
  private sliceOffset = 0;
  private sliceRecords = 0;
  private scheduled = false;
  private onBatch: ((batch: Buffer, count: number) => void) | null = null;
  /** Set when the capture thread has ended: reported once what waits is handed on. */
  private endedWith: { err?: Error } | null = null;
  private onEnd: ((err?: Error) => void) | null = null;
  private droppedPackets = 0;
  private droppedBytes = 0;
  /** The capture thread was told to hold. */
  private holding = false;

  constructor(private readonly handle: NativeLiveHandle, private readonly maxPendingBytes: number) {
    this.linkType = handle.linkType;
    this.warning = handle.warning;
  }

  start(onBatch: (batch: Buffer, count: number) => void, onEnd: (err?: Error) => void): void {
    if (this.started) throw new Error('capture already started');
    if (this.handle.closed) throw new Error('capture source is closed');
    this.started = true;
    this.onBatch = onBatch;
    this.onEnd = onEnd;
    this.handle.start(this.arrived, (err?: Error) => {
      if (this.endedWith !== null) return;
      this.endedWith = { err };
      this.handle.close(); // no-op after close(); releases the handle after a capture error
      this.finishIfDrained();
    });
  }

  private readonly arrived = (batch: Buffer, count: number): void => {
    if (this.pendingBytes + batch.length > 2 * this.maxPendingBytes + HELD_SLACK_BYTES && this.pendingBytes > 0) {
      this.droppedPackets += count;
      this.droppedBytes += wireBytes(batch, count);
      return;
    }
    this.pending.push({ batch, count });
    this.pendingBytes += batch.length;
    if (!this.holding && this.pendingBytes > this.maxPendingBytes) {
      this.holding = true;
      this.handle.hold(true);
    }
    // Nothing else waiting: the first slice goes now, as the batch used to.
    if (!this.scheduled) this.slice();
  };

  /** Hands on up to LIVE_SLICE_PACKETS records, then yields to the event loop. */
  private readonly slice = (): void => {
    this.scheduled = false;
    const onBatch = this.onBatch;
    if (onBatch === null) return;
    let budget = LIVE_SLICE_PACKETS;
    while (budget > 0 && this.pendingHead < this.pending.length) {
      const { batch, count } = this.pending[this.pendingHead];
      const from = this.sliceOffset;
      const left = count - this.sliceRecords;
      let records = left;
      let to = batch.length;
      if (left > budget) {
        records = budget;
        to = skipRecords(batch, from, budget);
      }
      if (records === left) {
        this.pending[this.pendingHead++] = EMPTY_PENDING;
        this.pendingBytes -= batch.length;
        this.sliceOffset = 0;
        this.sliceRecords = 0;
        if (this.pendingHead === this.pending.length) {
          this.pending.length = 0;
          this.pendingHead = 0;
        } else if (this.pendingHead >= 1024 && this.pendingHead * 2 >= this.pending.length) {
          // Never drained under a steady flood: the handed-on front goes.
          this.pending.splice(0, this.pendingHead);
          this.pendingHead = 0;
        }
      } else {
        this.sliceOffset = to;
        this.sliceRecords += records;
      }
      budget -= records;
      if (this.holding && this.pendingBytes <= this.maxPendingBytes / 2) {
        this.holding = false;
        this.handle.hold(false);
      }
      onBatch(from === 0 && to === batch.length ? batch : batch.subarray(from, to), records);
      if (this.onBatch === null) return;
    }
    if (this.pendingHead < this.pending.length) {
      this.scheduled = true;
      setImmediate(this.slice);
    } else {
      this.finishIfDrained();
    }
  };

  private finishIfDrained(): void {
    if (this.endedWith === null || this.ended || this.pendingHead < this.pending.length) return;
    this.ended = true;
    const onEnd = this.onEnd;
    this.onBatch = null;
    this.onEnd = null;
    onEnd?.(this.endedWith.err);
  }

  get lagging(): boolean {
    // What waits beyond the slice being handed on (a whole batch counts until it is done).
    return this.pendingBytes - this.sliceOffset > this.maxPendingBytes / 4;
  }

  pause(): void {}
  resume(): void {}

  stats(): CaptureStats {
    const s = this.handle.stats();
    return {
      packets: s.packets - this.droppedPackets,
      bytes: s.bytes - this.droppedBytes,
      kernelReceived: s.kernelReceived,
      kernelDropped: s.kernelDropped,
      ifDropped: s.ifDropped,
      queueDropped: s.queueDropped + this.droppedPackets,
      outOfOrder: 0,
      lateBeyondWindow: 0,
    };
  }

  close(): void {
    this.handle.close();
  }
}

const EMPTY_PENDING = { batch: Buffer.alloc(0), count: 0 };
/** Beyond twice the JS bound, room for the batch the capture thread was filling when told to hold. */
const HELD_SLACK_BYTES = 2 * 1024 * 1024;

/** The offset after `records` records of a batch starting at `offset`. */
function skipRecords(batch: Buffer, offset: number, records: number): number {
  for (let i = 0; i < records; i++) offset += RECORD_HEADER_BYTES + batch.readUInt32LE(offset + 8);
  return offset;
}

/** Sum of the wire lengths of a batch's records. */
function wireBytes(batch: Buffer, count: number): number {
  let total = 0;
  for (let i = 0, at = 0; i < count; i++) {
    total += batch.readUInt32LE(at + 12);
    at += RECORD_HEADER_BYTES + batch.readUInt32LE(at + 8);
  }
  return total;
}

/** Bytes of the reused buffer an offline source reads into. */
export const OFFLINE_BATCH_BYTES = 1024 * 1024;
const OFFLINE_MAX_BATCH_BYTES = 256 * 1024 * 1024;

class FileSource implements PacketSource {
  readonly live = false;
  readonly lagging = false;
  readonly linkType: number;
  private bufferBytes = OFFLINE_BATCH_BYTES;
  /** The one buffer batches are read into, without a reorder window. */
  private buf: Buffer | null = null;
  /** Puts the packets in timestamp order (null: file order); it owns the batch buffers. */
  private readonly window: ReorderWindow | null;
  private onBatch?: (batch: Buffer, count: number) => void;
  private onEnd?: (err?: Error) => void;
  private paused = false;
  private scheduled = false;
  private ended = false;
  private closed = false;

  constructor(private readonly handle: NativeOfflineHandle, reorder: ReorderLimits | null) {
    this.linkType = handle.linkType;
    this.window = reorder === null || reorder.packets === 0 ? null : new ReorderWindow(reorder, this.deliver, OFFLINE_BATCH_BYTES);
  }

  /** A batch leaving the reorder window; none once the source is closed. */
  private readonly deliver = (batch: Buffer, count: number): void => {
    if (!this.closed) this.onBatch!(batch, count);
  };

  start(onBatch: (batch: Buffer, count: number) => void, onEnd: (err?: Error) => void): void {
    if (this.onBatch) throw new Error('capture already started');
    if (this.closed) throw new Error('capture source is closed');
    this.onBatch = onBatch;
    this.onEnd = onEnd;
    this.schedule();
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.schedule();
  }

  stats(): CaptureStats {
    const s = this.handle.stats();
    const reorder = this.window?.stats;
    return {
      packets: s.packets, bytes: s.bytes, kernelReceived: 0, kernelDropped: 0, ifDropped: 0, queueDropped: 0,
      outOfOrder: reorder?.outOfOrder ?? 0, lateBeyondWindow: reorder?.lateBeyondWindow ?? 0,
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
    if (this.onEnd && !this.ended) {
      this.ended = true;
      const onEnd = this.onEnd;
      process.nextTick(() => onEnd());
    }
  }

  private schedule(): void {
    if (this.scheduled || this.paused || this.ended || !this.onBatch) return;
    this.scheduled = true;
    setImmediate(this.step);
  }

  private readonly step = (): void => {
    this.scheduled = false;
    if (this.ended || this.paused) return;
    let n: number;
    try {
      n = this.readBatch();
    } catch (err) {
      this.flushWindow(); // what was read before the error is delivered
      this.finish(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    let ok = false;
    try {
      if (n === 0) this.flushWindow();
      else if (this.window !== null) this.window.push(this.handle.lastCount);
      else this.onBatch!(this.buf!.subarray(0, n), this.handle.lastCount);
      ok = true;
    } finally {
      if (!ok) this.close();
    }
    if (n === 0) this.finish();
    else this.schedule();
  };

  private flushWindow(): void {
    if (this.window === null || this.closed) return;
    let ok = false;
    try {
      this.window.flush();
      ok = true;
    } finally {
      if (!ok) this.close();
    }
  }

  private readBatch(): number {
    for (;;) {
      try {
        return this.handle.readInto(this.batchBuffer());
      } catch (err) {
        // A single record larger than the buffer (possible for some link types): grow and retry.
        if (err instanceof RangeError && this.bufferBytes < OFFLINE_MAX_BATCH_BYTES) {
          this.bufferBytes *= 2;
          continue;
        }
        throw err;
      }
    }
  }

  private batchBuffer(): Buffer {
    if (this.window !== null) return this.window.buffer(this.bufferBytes);
    if (this.buf === null || this.buf.length < this.bufferBytes) this.buf = Buffer.allocUnsafe(this.bufferBytes);
    return this.buf;
  }

  private finish(err?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.closed = true;
    this.handle.close();
    this.onEnd!(err);
  }
}

/** Whether Linux flags the interface as loopback (IFF_LOOPBACK); false when it cannot tell. */
export function isLoopback(device: string): boolean {
  try {
    return (Number(readFileSync(`/sys/class/net/${device}/flags`, 'utf8').trim()) & 0x8) !== 0;
  } catch {
    return false;
  }
}

/** Opens a live capture (needs root or CAP_NET_RAW; promiscuous mode too). Throws on any pcap error. */
export function openLive(opts: LiveOptions): PacketSource {
  const addon = loadAddon();
  // Loopback shows each packet as sent and as received: only the received copy is wanted, and
  // the kernel then skips the sent one before filtering and copying it (in the sender's time).
  if (opts.inboundOnly === undefined && isLoopback(opts.device)) opts = { ...opts, inboundOnly: true };
  // The queue's bytes are shared: half for the capture thread's hand-over, half for what waits here.
  const queued = opts.maxQueuedBytes ?? LIVE_PENDING_BYTES;
  return new LiveSource(new addon.LiveHandle({ ...opts, maxQueuedBytes: queued / 2 }), queued / 2);
}

/**
 * Opens a pcap or pcapng file (timestamps in microseconds), optionally with a BPF filter.
 * Batches are read synchronously into one reused 1 MiB buffer, yielding to the event loop
 * (setImmediate) between batches; pause()/resume() apply backpressure. With `reorder`, packets
 * are delivered in timestamp order within that window (./reorder.ts); batches are then read
 * into a few buffers the window holds packets in.
 */
export function openFile(path: string, filter?: string, reorder: ReorderLimits | null = null): PacketSource {
  const addon = loadAddon();
  return new FileSource(new addon.OfflineHandle(path, filter), reorder);
}

/** A capture interface: what libpcap lists (through the `cap` package, which is sound for
 * this, unlike for capturing). */
export interface Device {
  name: string;
  description: string | null;
  addresses: Array<{ address: string; netmask: string | null }>;
  loopback: boolean;
}

export function listDevices(): Device[] {
  // Loaded here only: cap is not context-aware, so it cannot load in worker threads, where
  // the rest of this stage runs fine.
  const { Cap } = require('cap') as typeof import('cap');
  return Cap.deviceList().map((d) => ({
    name: d.name,
    description: d.description ?? null,
    addresses: (d.addresses ?? []).map((a) => ({ address: a.addr, netmask: a.netmask ?? null })),
    loopback: (d.flags ?? '').includes('PCAP_IF_LOOPBACK'),
  }));
}

/** libpcap version string. */
export function libVersion(): string {
  return loadAddon().libVersion();
}

/**
 * Allocation-free iteration over a batch:
 * ```ts
 * const c = new RecordCursor();
 * c.reset(batch, count);
 * while (c.next()) use(c.tsUs, batch, c.offset, c.caplen, c.wirelen);
 * ```
 */
const EMPTY = Buffer.alloc(0);

/** batch.readUInt32LE(at), a RangeError past the end as there, without Buffer's argument
 * check (a wrapper V8 does not inline: four of them per packet). */
function u32le(batch: Buffer, at: number): number {
  const a = batch[at];
  const d = batch[at + 3];
  if (a === undefined || d === undefined) throw new RangeError(`corrupt batch: read at ${at} past end ${batch.length}`);
  return a + ((batch[at + 1] << 8) | (batch[at + 2] << 16)) + d * 0x1000000;
}

export class RecordCursor {
  /** The batch being iterated. */
  buf: Buffer = EMPTY;
  /** Index of the current record (-1 before the first next()). */
  index = -1;
  /** Timestamp, microseconds since the epoch (tsSec * 1e6 + tsUsec). */
  tsUs = 0;
  tsSec = 0;
  tsUsec = 0;
  /** Offset of the current record's packet data in `buf`. */
  offset = 0;
  /** Captured bytes of the current record (data is buf[offset, offset + caplen)). */
  caplen = 0;
  /** Original length of the packet on the wire. */
  wirelen = 0;
  private pos = 0;
  private remaining = 0;

  reset(batch: Buffer, count: number): this {
    this.buf = batch;
    this.remaining = count;
    this.pos = 0;
    this.index = -1;
    this.offset = 0;
    this.caplen = 0;
    return this;
  }

  next(): boolean {
    if (this.remaining <= 0) return false;
    const b = this.buf;
    const p = this.pos;
    if (p + RECORD_HEADER_BYTES > b.length) throw new RangeError(`corrupt batch: record header at ${p} past end ${b.length}`);
    const sec = u32le(b, p);
    const usec = u32le(b, p + 4);
    const caplen = u32le(b, p + 8);
    const start = p + RECORD_HEADER_BYTES;
    if (start + caplen > b.length) throw new RangeError(`corrupt batch: record data at ${start}+${caplen} past end ${b.length}`);
    this.tsSec = sec;
    this.tsUsec = usec;
    this.tsUs = sec * 1e6 + usec;
    this.caplen = caplen;
    this.wirelen = u32le(b, p + 12);
    this.offset = start;
    this.pos = start + caplen;
    this.remaining--;
    this.index++;
    return true;
  }

  /** The current record's data as a view into the batch (allocates a Buffer object; copy to keep). */
  data(): Buffer {
    return this.buf.subarray(this.offset, this.offset + this.caplen);
  }
}


/** Calls fn for every record of a batch; data is batch[offset, offset + caplen). */
export function forEachRecord(
  batch: Buffer,
  count: number,
  fn: (tsUs: number, batch: Buffer, offset: number, caplen: number, wirelen: number) => void,
): void {
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + RECORD_HEADER_BYTES > batch.length) throw new RangeError(`corrupt batch: record header at ${p} past end ${batch.length}`);
    const tsUs = batch.readUInt32LE(p) * 1e6 + batch.readUInt32LE(p + 4);
    const caplen = batch.readUInt32LE(p + 8);
    const wirelen = batch.readUInt32LE(p + 12);
    const start = p + RECORD_HEADER_BYTES;
    if (start + caplen > batch.length) throw new RangeError(`corrupt batch: record data at ${start}+${caplen} past end ${batch.length}`);
    fn(tsUs, batch, start, caplen, wirelen);
    p = start + caplen;
  }
}

export { captureFilters } from './filter';
export { ReorderWindow } from './reorder';
export type { ReorderLimits, ReorderStats } from './reorder';
export { openSource } from './source';
export type { OpenedSource, SourceSpec } from './source';
export { routeInterface } from './route';
