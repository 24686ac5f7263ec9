// Wire timing: shadowtap's replays timed from the capture, as production's exchanges are. The
// replay side says at which offset of a connection's sent stream each request began and at
// which offset of its received stream the answer ended (WireWatch); the capture locates every
// packet of those connections in the same streams (sequence marks). A replay's latency runs
// from the packet carrying its first byte to the one carrying its answer's last byte, as
// production's runs from its request's first packet to its response's last.

import type { HttpRequest } from '../model';
import type { WireWatch } from '../replay';
import type { SequenceMarkSink } from '../tcp';

/** One replay on one connection, waiting for its packets. */
interface Waiting {
  req: HttpRequest;
  /** Offsets of its first byte (sent stream) and just past its answer (received; -1 until answered). */
  start: number;
  end: number;
  /** Capture times of those packets (µs, -1 until seen). */
  startUs: number;
  endUs: number;
  /** No packet of it can be older than this (µs): a late packet of an earlier connection that
   * had the same port and offsets is not taken for it. */
  notBeforeUs: number;
  /** Date.now() when its answer ended (-1 until then). */
  answeredAtMs: number;
}

/** Packets from a shadow remembered for an answer the replay side has not finished reading. */
const RECENT_ANSWER_PACKETS = 16;
/** Replays waiting per connection; beyond, the oldest goes untimed (its packets were lost). */
const WAITING_PER_CONNECTION = 64;
/** Connections followed; beyond, the one opened first is forgotten. */
const CONNECTIONS = 4096;
/** An answered replay whose packets have not all come within this long never will (the capture
 * dropped one): it goes untimed, and lets go of its request. */
const PACKETS_WAIT_MS = 2000;
/** Every this many answers, replays waiting too long and closed connections are swept. */
const SWEEP_EVERY = 1024;

class ConnectionTimes {
  waiting: Waiting[] = [];
  closed = false;
  /** The last packets from the shadow: offset, length, time, as a ring. */
  readonly recent = new Float64Array(RECENT_ANSWER_PACKETS * 3);
  recentNext = 0;
}

export interface WireClockStats {
  /** Replays timed from the capture. */
  timed: number;
  /** Replays whose first or last packet the capture never showed (dropped, or not captured). */
  untimed: number;
  /** Replays written behind unanswered ones on a pipelined connection: not timed (their answer
   * waited for the others'). */
  queued: number;
}

const contains = (offset: number, length: number, at: number): boolean => ((at - offset) >>> 0) < length;
/** `a` lies after `b` in a stream numbered mod 2^32. */
const after = (a: number, b: number): boolean => a !== b && ((a - b) >>> 0) < 2 ** 31;

export class WireClock implements WireWatch, SequenceMarkSink {
  readonly stats: WireClockStats = { timed: 0, untimed: 0, queued: 0 };
  private readonly conns = new Map<number, ConnectionTimes>();
  private answers = 0;

  /** `timed` gets each replay timed: the request as sent, its target, first byte to last. */
  constructor(private readonly timed: (req: HttpRequest, target: number, latencyUs: number) => void,
              private readonly packetsWaitMs = PACKETS_WAIT_MS) {}

  opened(target: number, localPort: number): void {
    const key = target * 65536 + localPort;
    const old = this.conns.get(key);
    if (old !== undefined) this.stats.untimed += old.waiting.length;
    this.conns.delete(key);
    this.conns.set(key, new ConnectionTimes());
    if (this.conns.size > CONNECTIONS) {
      const [firstKey, first] = this.conns.entries().next().value as [number, ConnectionTimes];
      this.stats.untimed += first.waiting.length;
      this.conns.delete(firstKey);
    }
  }

  /** What it sent unanswered never will be answered here: only its answered replays wait on. */
  closed(target: number, localPort: number): void {
    const c = this.conns.get(target * 65536 + localPort);
    if (c === undefined) return;
    c.closed = true;
    const answered = c.waiting.filter((w) => w.end >= 0);
    this.stats.untimed += c.waiting.length - answered.length;
    c.waiting = answered;
  }

  sent(target: number, localPort: number, offset: number, req: HttpRequest, queued: boolean): void {
    const c = this.conns.get(target * 65536 + localPort);
    if (c === undefined) return;
    if (queued) {
      this.stats.queued++;
      return;
    }
    if (c.waiting.length >= WAITING_PER_CONNECTION) {
      c.waiting.shift();
      this.stats.untimed++;
    }
    // Date.now() has whole milliseconds; a packet written after this call is not older.
    c.waiting.push({ req, start: offset, end: -1, startUs: -1, endUs: -1, notBeforeUs: (Date.now() - 1) * 1000, answeredAtMs: -1 });
  }

  answered(target: number, localPort: number, endOffset: number, req: HttpRequest): void {
    const c = this.conns.get(target * 65536 + localPort);
    if (c === undefined) return;
    const w = c.waiting.find((x) => x.req === req && x.end < 0);
    if (w === undefined) return;
    w.end = endOffset;
    w.answeredAtMs = Date.now();
    if (++this.answers % SWEEP_EVERY === 0) this.sweep(w.answeredAtMs);
    const last = (endOffset - 1) >>> 0;
    const r = c.recent;
    for (let i = 0; i < r.length; i += 3) {
      if (r[i + 1] > 0 && r[i + 2] >= w.notBeforeUs && contains(r[i], r[i + 1], last)) {
        w.endUs = r[i + 2];
        break;
      }
    }
    this.settle(c, target);
  }

  mark(target: number, localPort: number, toServer: boolean, offset: number, length: number, tsUs: number): void {
    const c = this.conns.get(target * 65536 + localPort);
    if (c === undefined) return;
    const waiting = c.waiting;
    if (toServer) {
      for (let i = 0; i < waiting.length; i++) {
        const w = waiting[i];
        if (w.startUs >= 0 || tsUs < w.notBeforeUs) continue;
        if (contains(offset, length, w.start)) w.startUs = tsUs;
        else if (after(offset, w.start)) w.startUs = -2; // its first packet went by unseen
      }
    } else {
      const at = c.recentNext;
      c.recent[at] = offset;
      c.recent[at + 1] = length;
      c.recent[at + 2] = tsUs;
      c.recentNext = (at + 3) % c.recent.length;
      for (let i = 0; i < waiting.length; i++) {
        const w = waiting[i];
        if (w.end >= 0 && w.endUs < 0 && tsUs >= w.notBeforeUs && contains(offset, length, (w.end - 1) >>> 0)) w.endUs = tsUs;
      }
    }
    this.settle(c, target);
  }

  /** Drops replays answered too long ago to be timed still, and closed connections left empty. */
  private sweep(nowMs: number): void {
    for (const [key, c] of this.conns) {
      const waiting = c.waiting;
      for (let i = 0; i < waiting.length;) {
        const w = waiting[i];
        if (w.answeredAtMs >= 0 && nowMs - w.answeredAtMs > this.packetsWaitMs) {
          waiting.splice(i, 1);
          this.stats.untimed++;
        } else {
          i++;
        }
      }
      if (c.closed && waiting.length === 0) this.conns.delete(key);
    }
  }

  /** Hands on the replays timed at both ends; drops those whose first packet went by unseen. */
  private settle(c: ConnectionTimes, target: number): void {
    const waiting = c.waiting;
    for (let i = 0; i < waiting.length;) {
      const w = waiting[i];
      if (w.startUs === -2) {
        this.stats.untimed++;
      } else if (w.startUs >= 0 && w.endUs >= 0) {
        this.stats.timed++;
        this.timed(w.req, target, w.endUs - w.startUs);
      } else {
        i++;
        continue;
      }
      waiting.splice(i, 1);
    }
  }
}
