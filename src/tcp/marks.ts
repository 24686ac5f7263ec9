// Sequence marks: for connections to watched servers (shadowtap's own shadows, under wire
// timing), each payload packet located in its direction's byte stream, with its timestamp,
// instead of reassembly and parsing. The replay side knows at which stream offset each request
// began and each answer ended; matching the two times its replays as production is timed.

import { TcpFlag, TcpPacket, u32be } from '../decode';

export interface SequenceMarkSink {
  /** A payload packet of the connection from local `clientPort` to watched server `server`
   * (its index): `length` bytes at `offset` of the stream `toServer` (or back), mod 2^32. */
  mark(server: number, clientPort: number, toServer: boolean, offset: number, length: number, tsUs: number): void;
}

export interface SequenceMarkStats {
  /** Payload packets located and handed on. */
  marked: number;
  /** Payload packets of a connection whose opening (SYN) was not seen: not located. */
  unanchored: number;
}

/** Connections followed at once; beyond, the oldest is forgotten. */
const MAX_FLOWS = 16_384;

interface Anchor {
  /** Sequence number of the first payload byte, each way (-1: not seen yet). */
  toServer: number;
  toClient: number;
}

interface Watched {
  port: number;
  /** IPv4 address as a 32-bit number, or null for IPv6. */
  v4: number | null;
  v6: Buffer | null;
}

export class SequenceMarks {
  readonly stats: SequenceMarkStats = { marked: 0, unanchored: 0 };
  private readonly watched: Watched[];
  private readonly flows = new Map<number, Anchor>();

  constructor(servers: ReadonlyArray<{ address: string; port: number }>, private readonly sink: SequenceMarkSink) {
    this.watched = servers.map(({ address, port }) => {
      if (!address.includes(':')) {
        const v4 = address.split('.').reduce((n, part) => n * 256 + Number(part), 0) >>> 0;
        return { port, v4, v6: null };
      }
      return { port, v4: null, v6: ipv6Bytes(address) };
    });
  }

  /** True when the packet is a watched server's (it is marked, not reassembled). */
  take(p: TcpPacket, tsUs: number): boolean {
    const w = this.watched;
    for (let i = 0; i < w.length; i++) {
      const s = w[i];
      if (p.dstPort === s.port && this.isAt(s, p, p.dstAddrOffset)) {
        this.seen(i, p.srcPort, true, p, tsUs);
        return true;
      }
      if (p.srcPort === s.port && this.isAt(s, p, p.srcAddrOffset)) {
        this.seen(i, p.dstPort, false, p, tsUs);
        return true;
      }
    }
    return false;
  }

  private isAt(s: Watched, p: TcpPacket, at: number): boolean {
    if (p.ipVersion === 4) return s.v4 !== null && u32be(p.buf, at) === s.v4;
    return s.v6 !== null && p.buf.compare(s.v6, 0, 16, at, at + 16) === 0;
  }

  private seen(server: number, clientPort: number, toServer: boolean, p: TcpPacket, tsUs: number): void {
    const key = server * 65536 + clientPort;
    const flags = p.flags;
    if ((flags & TcpFlag.SYN) !== 0) {
      let a = this.flows.get(key);
      // A SYN from the client opens a new connection on this port: whatever was known goes.
      if (a === undefined || (toServer && (flags & TcpFlag.ACK) === 0)) {
        this.flows.delete(key);
        a = { toServer: -1, toClient: -1 };
        this.flows.set(key, a);
        if (this.flows.size > MAX_FLOWS) this.flows.delete(this.flows.keys().next().value as number);
      }
      if (toServer) a.toServer = (p.seq + 1) >>> 0;
      else a.toClient = (p.seq + 1) >>> 0;
      return;
    }
    if (p.payloadLength === 0) return;
    const a = this.flows.get(key);
    const base = a === undefined ? -1 : toServer ? a.toServer : a.toClient;
    if (base < 0) {
      this.stats.unanchored++;
      return;
    }
    this.stats.marked++;
    this.sink.mark(server, clientPort, toServer, (p.seq - base) >>> 0, p.payloadLength + p.payloadMissing, tsUs);
  }
}

/** An IPv6 address as its 16 bytes (a trailing dotted IPv4 part included). */
function ipv6Bytes(text: string): Buffer {
  let address = text.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    address = address.slice(0, dotted.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail = ''] = address.split('::');
  const parts = (s: string) => (s === '' ? [] : s.split(':'));
  const h = parts(head);
  const t = parts(tail);
  const groups = address.includes('::') ? [...h, ...new Array(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}
