// The flow table and reassembler: turns TCP segments into ordered byte streams per connection
// and direction, with explicit gaps, lifecycle events and memory caps. Knows nothing of HTTP.
//
// Overlap policy: first wins. Bytes already delivered, or already buffered out of order,
// are kept; a later segment that covers them again only contributes bytes nobody sent yet.
// Buffered bytes that a later segment contradicts are counted as overlap conflicts.

import { TcpFlag, TcpPacket, formatAddress, u32be } from '../decode';
import { tcpOptions } from './options';

export { SequenceMarks } from './marks';
export type { SequenceMarkSink, SequenceMarkStats } from './marks';

export const ToServer = 0;
export const ToClient = 1;
export type Direction = typeof ToServer | typeof ToClient;

export type CloseReason = 'fin' | 'rst' | 'expired' | 'evicted' | 'reused' | 'shutdown';

export type { ConnectionInfo, Endpoint } from '../model';
import type { ConnectionInfo } from '../model';

/** Receives one connection's events, in capture order. Buffers passed to data() are
 * only valid during the call: copy what you keep. */
export interface StreamHandler {
  data(dir: Direction, buf: Buffer, start: number, end: number, tsUs: number): void;
  /** `bytes` were lost before the next data in this direction. */
  gap(dir: Direction, bytes: number, tsUs: number): void;
  /** The direction's FIN was reached in order. */
  fin(dir: Direction, tsUs: number): void;
  close(reason: CloseReason, tsUs: number): void;
}

export interface StreamFactory {
  open(info: ConnectionInfo, tsUs: number): StreamHandler;
}

export interface ReassemblyOptions {
  /** Idle time after which a connection is expired. */
  idleTimeoutMs: number;
  /** Out-of-order bytes one direction may hold before a gap is forced. */
  maxBufferedPerDirection: number;
  /** Out-of-order bytes all connections together may hold. */
  maxBufferedTotal: number;
  maxConnections: number;
  /** Future data further ahead than this is treated as bogus. */
  maxWindow: number;
  /** Ports known to be servers; decides roles when the handshake was not seen. */
  serverPorts: ReadonlySet<number>;
}

export const defaultReassemblyOptions: ReassemblyOptions = {
  idleTimeoutMs: tcpOptions.idleTimeout.default * 1000,
  maxBufferedPerDirection: tcpOptions.maxBufferMb.default << 20,
  maxBufferedTotal: tcpOptions.maxTotalBufferMb.default << 20,
  maxConnections: tcpOptions.maxConnections.default,
  maxWindow: 64 << 20,
  serverPorts: new Set(),
};

export interface ReassemblyStats {
  segments: number;
  connectionsOpened: number;
  connectionsMidstream: number;
  connectionsActive: number;
  closed: Record<CloseReason, number>;
  /** Segments for no known connection that could not start one (bare ACKs, late FINs). */
  strayPackets: number;
  gaps: number;
  gapBytes: number;
  /** Gaps proven by the peer acknowledging bytes the capture never saw. */
  ackedUnseen: number;
  /** Gaps forced by the per-direction or total buffer caps. */
  bufferEvictions: number;
  retransmittedBytes: number;
  overlapConflicts: number;
  outOfWindow: number;
  dataAfterFin: number;
  bufferedBytes: number;
}

interface Segment {
  start: number; // stream offsets (bytes since the stream's first byte)
  end: number;
  data: Buffer;
}

/** What one buffered segment counts against the caps at least: a segment's bookkeeping costs
 * memory too, so that a flood of tiny out-of-order segments cannot hold a hundred times the
 * cap (nor make every insertion scan millions of them). */
const MIN_SEGMENT_COST = 256;

const segmentCost = (length: number): number => (length > MIN_SEGMENT_COST ? length : MIN_SEGMENT_COST);

/** Index of the first of `segments` (sorted, disjoint) that ends after `offset`. */
function firstEndingAfter(segments: Segment[], offset: number): number {
  let lo = 0;
  let hi = segments.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (segments[mid].end <= offset) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Shared by every half holding nothing out of order (most of them): never written to. */
const NO_SEGMENTS: Segment[] = [];

class HalfStream {
  started = false;
  /** Sequence number of stream offset 0. */
  base = 0;
  /** Stream offset of the next byte to deliver. */
  next = 0;
  /** Stream offset of the FIN, once seen; -1 before. */
  finAt = -1;
  finished = false;
  segments: Segment[] = NO_SEGMENTS;
  buffered = 0;
  /** What the buffered segments count against the caps (see MIN_SEGMENT_COST). */
  charged = 0;

  offsetOf(seq: number): number {
    // Signed 32-bit distance from the next expected byte handles wraparound.
    return this.next + (((seq - this.base - this.next) | 0));
  }
}

class Connection {
  readonly halves: [HalfStream, HalfStream] = [new HalfStream(), new HalfStream()];
  handler!: StreamHandler;
  bucketNext: Connection | null = null;
  /** Neighbours in the table's order of last activity. */
  older: Connection | null = null;
  newer: Connection | null = null;
  lastSeenUs = 0;
  closed = false;
  constructor(
    readonly info: ConnectionInfo,
    readonly hash: number,
    /** IPv4 addresses as numbers (a Buffer each would cost more than the rest of a flow);
     * IPv6: client's then server's 16 bytes in addr6, and these 0. */
    readonly client4: number,
    readonly server4: number,
    readonly addr6: Buffer | null,
    readonly clientPort: number,
    readonly serverPort: number,
  ) {}

  /** Direction of the packet if it belongs here, else -1. Both orientations are tried: a
   * connection whose two ports are equal is told apart by its addresses. */
  directionOf(p: TcpPacket): number {
    if (p.srcPort === this.clientPort && p.dstPort === this.serverPort && this.sentBy(p, true)) return ToServer;
    if (p.srcPort === this.serverPort && p.dstPort === this.clientPort && this.sentBy(p, false)) return ToClient;
    return -1;
  }

  /** True when the packet's addresses are the client's to the server's (or the reverse). */
  private sentBy(p: TcpPacket, client: boolean): boolean {
    const b = p.buf;
    const addr6 = this.addr6;
    if (p.addrLength === 4) {
      if (addr6 !== null) return false;
      const src = u32be(b, p.srcAddrOffset);
      const dst = u32be(b, p.dstAddrOffset);
      return client ? src === this.client4 && dst === this.server4 : src === this.server4 && dst === this.client4;
    }
    if (addr6 === null) return false;
    const srcAt = client ? 0 : 16;
    const dstAt = 16 - srcAt;
    return b.compare(addr6, srcAt, srcAt + 16, p.srcAddrOffset, p.srcAddrOffset + 16) === 0 &&
      b.compare(addr6, dstAt, dstAt + 16, p.dstAddrOffset, p.dstAddrOffset + 16) === 0;
  }
}

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x9e3779b1);
  return (h ^ (h >>> 15)) >>> 0;
}

function addressHash(buf: Buffer, offset: number, length: number): number {
  let h = 0;
  for (let i = 0; i < length; i += 4) h = mix(h, u32be(buf, offset + i));
  return h;
}

/** Direction-independent hash of the packet's address/port 4-tuple, in 30 bits: a small
 * integer V8 keeps unboxed (a larger one is a heap number to allocate and hash per packet). */
function flowHash(p: TcpPacket): number {
  const len = p.addrLength;
  const a = mix(addressHash(p.buf, p.srcAddrOffset, len), p.srcPort);
  const b = mix(addressHash(p.buf, p.dstAddrOffset, len), p.dstPort);
  return (a < b ? mix(a, b) : mix(b, a)) & 0x3fffffff;
}

export class Reassembler {
  readonly stats: ReassemblyStats = {
    segments: 0,
    connectionsOpened: 0,
    connectionsMidstream: 0,
    connectionsActive: 0,
    closed: { fin: 0, rst: 0, expired: 0, evicted: 0, reused: 0, shutdown: 0 },
    strayPackets: 0,
    gaps: 0,
    gapBytes: 0,
    ackedUnseen: 0,
    bufferEvictions: 0,
    retransmittedBytes: 0,
    overlapConflicts: 0,
    outOfWindow: 0,
    dataAfterFin: 0,
    bufferedBytes: 0,
  };
  private readonly table = new Map<number, Connection>();
  /** Connections from least to most recently active: eviction and expiry take the oldest. */
  private oldest: Connection | null = null;
  private newest: Connection | null = null;
  /** Halves holding out-of-order bytes, in the order they started holding them. */
  private readonly holders = new Map<HalfStream, Connection>();
  /** Sum of every half's `charged`. */
  private charged = 0;
  private readonly options: ReassemblyOptions;
  private nextId = 1;
  private nowUs = 0;
  private nextSweepUs = 0;

  constructor(private readonly factory: StreamFactory, options: Partial<ReassemblyOptions> = {}) {
    this.options = { ...defaultReassemblyOptions, ...options };
  }

  /** Feeds one decoded segment captured at tsUs (microseconds). */
  push(p: TcpPacket, tsUs: number): void {
    this.stats.segments++;
    if (tsUs > this.nowUs) this.nowUs = tsUs;
    if (this.nowUs >= this.nextSweepUs) this.sweep();

    const hash = flowHash(p);
    let conn = this.table.get(hash) ?? null;
    let dir = -1;
    while (conn !== null) {
      dir = conn.directionOf(p);
      if (dir >= 0) break;
      conn = conn.bucketNext;
    }
    const flags = p.flags;
    const syn = (flags & TcpFlag.SYN) !== 0;
    if (conn !== null && syn && (flags & TcpFlag.ACK) === 0 && dir === ToServer) {
      const client = conn.halves[ToServer];
      if (client.started && (p.seq + 1) >>> 0 !== ((client.base) >>> 0)) {
        // A new SYN on a known 4-tuple: the port was reused.
        this.closeConnection(conn, 'reused', tsUs);
        conn = null;
      }
    }
    if (conn === null) {
      if (!syn && p.payloadLength === 0 && p.payloadMissing === 0) {
        this.stats.strayPackets++;
        return;
      }
      conn = this.openConnection(p, hash, tsUs);
      dir = conn.directionOf(p);
    }
    conn.lastSeenUs = tsUs;
    if (conn !== this.newest) {
      this.forget(conn);
      this.remember(conn);
    }
    this.segment(conn, dir as Direction, p, tsUs);
  }

  /** Advances capture time without a packet (a quiet live capture) so idle flows expire. */
  tick(tsUs: number): void {
    if (tsUs > this.nowUs) this.nowUs = tsUs;
    if (this.nowUs >= this.nextSweepUs) this.sweep();
  }

  /** Closes every connection, delivering what is buffered (with gaps). */
  flush(reason: CloseReason = 'shutdown'): void {
    for (const head of [...this.table.values()]) {
      for (let c: Connection | null = head; c !== null; c = c.bucketNext) {
        this.closeConnection(c, reason, this.nowUs);
      }
    }
  }

  get maxConnections(): number {
    return this.options.maxConnections;
  }

  get connectionCount(): number {
    return this.stats.connectionsActive;
  }

  private openConnection(p: TcpPacket, hash: number, tsUs: number): Connection {
    if (this.stats.connectionsActive >= this.options.maxConnections) this.evictOldest(tsUs);
    const flags = p.flags;
    const syn = (flags & TcpFlag.SYN) !== 0;
    const ack = (flags & TcpFlag.ACK) !== 0;
    let senderIsClient: boolean;
    let midstream = true;
    if (syn && !ack) {
      senderIsClient = true;
      midstream = false;
    } else if (syn && ack) {
      senderIsClient = false;
    } else {
      const ports = this.options.serverPorts;
      if (ports.has(p.dstPort) !== ports.has(p.srcPort)) senderIsClient = ports.has(p.dstPort);
      else senderIsClient = p.srcPort >= p.dstPort; // ephemeral ports are the high ones
    }
    const len = p.addrLength;
    const clientAt = senderIsClient ? p.srcAddrOffset : p.dstAddrOffset;
    const serverAt = senderIsClient ? p.dstAddrOffset : p.srcAddrOffset;
    const [clientPort, serverPort] = senderIsClient ? [p.srcPort, p.dstPort] : [p.dstPort, p.srcPort];
    let addr6: Buffer | null = null;
    if (len !== 4) {
      addr6 = Buffer.allocUnsafe(32);
      p.buf.copy(addr6, 0, clientAt, clientAt + 16);
      p.buf.copy(addr6, 16, serverAt, serverAt + 16);
    }
    const info: ConnectionInfo = {
      id: this.nextId++,
      client: { address: formatAddress(p.buf, clientAt, len), port: clientPort },
      server: { address: formatAddress(p.buf, serverAt, len), port: serverPort },
      ipVersion: p.ipVersion,
      midstream,
      openedUs: tsUs,
    };
    const conn = len === 4
      ? new Connection(info, hash, u32be(p.buf, clientAt), u32be(p.buf, serverAt), null, clientPort, serverPort)
      : new Connection(info, hash, 0, 0, addr6, clientPort, serverPort);
    conn.bucketNext = this.table.get(hash) ?? null;
    this.table.set(hash, conn);
    this.remember(conn);
    this.stats.connectionsOpened++;
    this.stats.connectionsActive++;
    if (midstream) this.stats.connectionsMidstream++;
    conn.handler = this.factory.open(info, tsUs);
    return conn;
  }

  private segment(conn: Connection, dir: Direction, p: TcpPacket, tsUs: number): void {
    const flags = p.flags;
    if ((flags & TcpFlag.RST) !== 0) {
      // The endpoints ignore a reset far outside the window (RFC 5961); so do we.
      const sender = conn.halves[dir];
      if (sender.started && Math.abs(sender.offsetOf(p.seq) - sender.next) > this.options.maxWindow) {
        this.stats.outOfWindow++;
        return;
      }
    }
    if ((flags & TcpFlag.ACK) !== 0) this.acknowledged(conn, (1 - dir) as Direction, p.ack, tsUs);
    if (conn.closed) return;
    if ((flags & TcpFlag.RST) !== 0) {
      this.closeConnection(conn, 'rst', tsUs);
      return;
    }
    const half = conn.halves[dir];
    let seq = p.seq;
    if ((flags & TcpFlag.SYN) !== 0) {
      seq = (seq + 1) >>> 0; // the SYN takes one sequence number
      if (!half.started) {
        half.started = true;
        half.base = seq;
      }
    } else if (!half.started) {
      half.started = true;
      half.base = seq;
    }
    const fin = (flags & TcpFlag.FIN) !== 0;
    const length = p.payloadLength + p.payloadMissing;
    if (length === 0 && !fin) return;
    if (half.finished) {
      if (length > 0 && half.offsetOf(seq) >= half.next) this.stats.dataAfterFin++;
      return;
    }
    const start = half.offsetOf(seq);
    if (start - half.next > this.options.maxWindow) {
      this.stats.outOfWindow++;
      return;
    }
    if (length > 0) {
      // Bytes cut off by the snaplen are absent: what was captured is accepted, the rest
      // becomes a gap once later data or an acknowledgement shows it is missing.
      const capturedEnd = start + p.payloadLength;
      if (p.payloadLength > 0) this.accept(conn, dir, start, capturedEnd, p.buf, p.payloadOffset, tsUs);
      if (p.payloadMissing > 0 && half.next === capturedEnd) this.gapTo(conn, dir, start + length, tsUs);
    }
    if (fin && half.finAt < 0) {
      half.finAt = start + length;
    }
    this.finishIfDone(conn, dir, tsUs);
  }

  /** The peer acknowledged up to `ack` in direction `dir`: anything before it that was never
   * captured is lost for good. */
  private acknowledged(conn: Connection, dir: Direction, ack: number, tsUs: number): void {
    const half = conn.halves[dir];
    if (!half.started || half.finished) return;
    let acked = half.offsetOf(ack);
    if (acked <= half.next) return;
    if (half.finAt >= 0 && acked > half.finAt) acked = half.finAt; // the FIN takes one number
    if (acked <= half.next || acked - half.next > this.options.maxWindow) return;
    // Every hole below the acknowledgement is lost, not only the first.
    while (half.next < acked && !conn.closed) {
      const firstBuffered = half.segments.length > 0 ? half.segments[0].start : Infinity;
      this.stats.ackedUnseen++;
      this.gapTo(conn, dir, Math.min(acked, firstBuffered), tsUs);
    }
    this.finishIfDone(conn, dir, tsUs);
  }

  private accept(conn: Connection, dir: Direction, start: number, end: number,
                 buf: Buffer, offset: number, tsUs: number): void {
    const half = conn.halves[dir];
    while (!conn.closed) {
      if (end <= half.next) {
        this.stats.retransmittedBytes += end - start;
        return;
      }
      if (start < half.next) {
        this.stats.retransmittedBytes += half.next - start;
        offset += half.next - start;
        start = half.next;
      }
      if (start > half.next) {
        this.buffer(conn, dir, start, end, buf, offset, tsUs);
        return;
      }
      // In order: deliver up to the first buffered segment (first wins), then drain;
      // whatever this segment holds beyond the buffered data goes round again.
      const limit = half.segments.length > 0 ? Math.min(end, half.segments[0].start) : end;
      half.next = limit;
      conn.handler.data(dir, buf, offset, offset + (limit - start), tsUs);
      offset += limit - start;
      start = limit;
      if (start >= end) {
        this.drain(conn, dir, tsUs);
        return;
      }
      // Compare only with the buffered run that drain() is about to deliver: segments
      // beyond it are compared on a later round, so each conflict is counted once.
      let runEnd = start;
      for (const s of half.segments) {
        if (s.start > runEnd) break;
        if (s.end > runEnd) runEnd = s.end;
      }
      this.compareWithBuffered(half, start, Math.min(end, runEnd), buf, offset);
      this.drain(conn, dir, tsUs);
    }
  }

  /** Counts conflicts where [start,end) (data at buf[offset]) overlaps buffered segments. */
  private compareWithBuffered(half: HalfStream, start: number, end: number, buf: Buffer, offset: number): void {
    const segments = half.segments;
    for (let i = firstEndingAfter(segments, start); i < segments.length; i++) {
      const s = segments[i];
      if (s.start >= end) break;
      const from = Math.max(start, s.start);
      const to = Math.min(end, s.end);
      if (from >= to) continue;
      if (buf.compare(s.data, from - s.start, to - s.start, offset + (from - start), offset + (to - start)) !== 0) {
        this.stats.overlapConflicts++;
      }
    }
  }

  private buffer(conn: Connection, dir: Direction, start: number, end: number,
                 buf: Buffer, offset: number, tsUs: number): void {
    const half = conn.halves[dir];
    this.compareWithBuffered(half, start, end, buf, offset);
    // Keep only the parts no buffered segment covers yet.
    const pieces: Segment[] = [];
    let from = start;
    const segments = half.segments;
    for (let i = firstEndingAfter(segments, start); i < segments.length; i++) {
      const s = segments[i];
      if (s.end <= from) continue;
      if (s.start >= end) break;
      if (s.start > from) pieces.push(this.copySegment(from, s.start, buf, offset + (from - start)));
      from = Math.max(from, s.end);
      if (from >= end) break;
    }
    if (from < end) pieces.push(this.copySegment(from, end, buf, offset + (from - start)));
    if (pieces.length === 0) {
      this.stats.retransmittedBytes += end - start;
      return;
    }
    if (half.buffered === 0) this.holders.set(half, conn);
    if (half.segments === NO_SEGMENTS) half.segments = [];
    for (const piece of pieces) {
      const cost = segmentCost(piece.data.length);
      half.buffered += piece.data.length;
      half.charged += cost;
      this.stats.bufferedBytes += piece.data.length;
      this.charged += cost;
      // A piece overlaps nothing buffered: it goes before the first segment ending after its start.
      half.segments.splice(firstEndingAfter(half.segments, piece.start), 0, piece);
    }
    if (half.charged > this.options.maxBufferedPerDirection) {
      // Give up waiting for the hole: declare it lost and deliver what follows it.
      this.stats.bufferEvictions++;
      while (half.segments.length > 0 && half.charged > this.options.maxBufferedPerDirection / 2) {
        this.gapTo(conn, dir, half.segments[0].start, tsUs);
      }
    }
    if (this.charged > this.options.maxBufferedTotal) {
      // Over the total: the holes that have been open longest give way first, so that one
      // stale hole cannot make every other connection's ordinary reordering a loss.
      this.stats.bufferEvictions++;
      for (const [h, c] of this.holders) {
        const d: Direction = h === c.halves[ToServer] ? ToServer : ToClient;
        while (h.segments.length > 0 && this.charged > this.options.maxBufferedTotal) {
          this.gapTo(c, d, h.segments[0].start, tsUs);
        }
        this.finishIfDone(c, d, tsUs);
        if (this.charged <= this.options.maxBufferedTotal) break;
      }
    }
  }

  private copySegment(start: number, end: number, buf: Buffer, offset: number): Segment {
    const data = Buffer.allocUnsafe(end - start);
    buf.copy(data, 0, offset, offset + (end - start));
    return { start, end, data };
  }

  /** Delivers buffered segments that have become contiguous. */
  private drain(conn: Connection, dir: Direction, tsUs: number): void {
    const half = conn.halves[dir];
    while (half.segments.length > 0 && half.segments[0].start <= half.next && !conn.closed) {
      const s = half.segments.shift()!;
      const cost = segmentCost(s.data.length);
      half.buffered -= s.data.length;
      half.charged -= cost;
      this.stats.bufferedBytes -= s.data.length;
      this.charged -= cost;
      if (s.end <= half.next) continue;
      const skip = half.next - s.start;
      half.next = s.end;
      conn.handler.data(dir, s.data, skip, s.data.length, tsUs);
    }
    if (half.buffered === 0) this.holders.delete(half);
  }

  /** Declares the bytes up to `offset` lost, then delivers what became contiguous. */
  private gapTo(conn: Connection, dir: Direction, offset: number, tsUs: number): void {
    const half = conn.halves[dir];
    if (offset <= half.next) return;
    const lost = offset - half.next;
    this.stats.gaps++;
    this.stats.gapBytes += lost;
    half.next = offset;
    conn.handler.gap(dir, lost, tsUs);
    this.drain(conn, dir, tsUs);
  }

  private finishIfDone(conn: Connection, dir: Direction, tsUs: number): void {
    const half = conn.halves[dir];
    if (conn.closed || half.finished || half.finAt < 0 || half.next < half.finAt) return;
    half.finished = true;
    conn.handler.fin(dir, tsUs);
    const other = conn.halves[1 - dir];
    if (other.finished) this.closeConnection(conn, 'fin', tsUs);
  }

  private closeConnection(conn: Connection, reason: CloseReason, tsUs: number): void {
    if (conn.closed) return;
    for (const dir of [ToServer, ToClient] as const) {
      const half = conn.halves[dir];
      while (half.segments.length > 0 && !conn.closed) this.gapTo(conn, dir, half.segments[0].start, tsUs);
    }
    conn.closed = true;
    this.unlink(conn);
    this.forget(conn);
    this.stats.connectionsActive--;
    this.stats.closed[reason]++;
    for (const half of conn.halves) {
      this.stats.bufferedBytes -= half.buffered;
      this.charged -= half.charged;
      half.buffered = 0;
      half.charged = 0;
      half.segments = NO_SEGMENTS;
      this.holders.delete(half);
    }
    conn.handler.close(reason, tsUs);
  }

  private unlink(conn: Connection): void {
    const head = this.table.get(conn.hash);
    if (head === conn) {
      if (conn.bucketNext === null) this.table.delete(conn.hash);
      else this.table.set(conn.hash, conn.bucketNext);
      return;
    }
    for (let c = head ?? null; c !== null; c = c.bucketNext) {
      if (c.bucketNext === conn) {
        c.bucketNext = conn.bucketNext;
        return;
      }
    }
  }

  /** Appends `conn` as the most recently active. */
  private remember(conn: Connection): void {
    conn.older = this.newest;
    conn.newer = null;
    if (this.newest !== null) this.newest.newer = conn;
    else this.oldest = conn;
    this.newest = conn;
  }

  private forget(conn: Connection): void {
    if (conn.older !== null) conn.older.newer = conn.newer;
    else if (this.oldest === conn) this.oldest = conn.newer;
    if (conn.newer !== null) conn.newer.older = conn.older;
    else if (this.newest === conn) this.newest = conn.older;
    conn.older = null;
    conn.newer = null;
  }

  /** At the connection cap: the least recently active connection makes room. */
  private evictOldest(tsUs: number): void {
    if (this.oldest !== null) this.closeConnection(this.oldest, 'evicted', tsUs);
  }

  private sweep(): void {
    const idleUs = this.options.idleTimeoutMs * 1000;
    this.nextSweepUs = this.nowUs + Math.min(1_000_000, idleUs);
    const cutoff = this.nowUs - idleUs;
    while (this.oldest !== null && this.oldest.lastSeenUs < cutoff) {
      this.closeConnection(this.oldest, 'expired', this.nowUs);
    }
  }
}
