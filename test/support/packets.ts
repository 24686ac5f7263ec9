// Builders of real frames for unit tests: Ethernet (+802.1Q/QinQ), Linux cooked v1/v2,
// NULL/loopback and raw IP around IPv4 (+options) / IPv6 (+extension headers) / TCP; capture
// batches in the record format PacketPipeline.batch() reads; a classic pcap writer; and a
// Conversation that plays a TCP conversation tracking seq/ack so tests can mangle it.

import { writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { LinkType, TcpFlag, TcpPacket, decodePacket } from '../../src/decode';

export { LinkType, TcpFlag };

// ---------------------------------------------------------------------------
// addresses and checksums

export function ipv4Bytes(address: string): Buffer {
  const parts = address.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !(n >= 0 && n <= 255))) throw new Error(`bad IPv4 ${address}`);
  return Buffer.from(parts);
}

export function ipv6Bytes(address: string): Buffer {
  const out = Buffer.alloc(16);
  let text = address;
  let v4tail: Buffer | null = null;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    v4tail = ipv4Bytes(text.slice(lastColon + 1));
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const headGroups = head === '' ? [] : head.split(':');
  const tailGroups = tail === null || tail === '' ? [] : tail.split(':');
  const groups = tail === null ? headGroups : [...headGroups, ...new Array(8 - headGroups.length - tailGroups.length).fill('0'), ...tailGroups];
  if (groups.length !== 8) throw new Error(`bad IPv6 ${address}`);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  if (v4tail !== null) v4tail.copy(out, 12);
  return out;
}

export function addressBytes(address: string): Buffer {
  return isIPv4(address) ? ipv4Bytes(address) : ipv6Bytes(address);
}

function onesComplementSum(bufs: Buffer[]): number {
  let sum = 0;
  for (const b of bufs) {
    let i = 0;
    for (; i + 1 < b.length; i += 2) sum += b.readUInt16BE(i);
    if (i < b.length) sum += b[i] << 8;
    // bufs are concatenated at even boundaries by the callers below
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return (~sum) & 0xffff;
}

// ---------------------------------------------------------------------------
// TCP

export interface TcpSpec {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  payload?: Buffer | string;
  /** Raw TCP options (padded to 4 bytes with NOPs). */
  options?: Buffer;
}

export function toBuffer(data: Buffer | string | undefined): Buffer {
  if (data === undefined) return Buffer.alloc(0);
  return typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
}

/** TCP header + payload with a correct checksum for the given addresses. */
export function tcpSegment(spec: TcpSpec): Buffer {
  const payload = toBuffer(spec.payload);
  let options = spec.options ?? Buffer.alloc(0);
  if (options.length % 4 !== 0) options = Buffer.concat([options, Buffer.alloc(4 - (options.length % 4), 1)]);
  const hl = 20 + options.length;
  const h = Buffer.alloc(hl);
  h.writeUInt16BE(spec.sport, 0);
  h.writeUInt16BE(spec.dport, 2);
  h.writeUInt32BE(spec.seq >>> 0, 4);
  h.writeUInt32BE((spec.ack ?? 0) >>> 0, 8);
  h[12] = (hl / 4) << 4;
  h[13] = spec.flags;
  h.writeUInt16BE(spec.window ?? 65535, 14);
  options.copy(h, 20);
  const seg = Buffer.concat([h, payload]);
  const src = addressBytes(spec.src);
  const dst = addressBytes(spec.dst);
  const pseudo = Buffer.alloc(src.length === 4 ? 12 : 40);
  if (src.length === 4) {
    src.copy(pseudo, 0); dst.copy(pseudo, 4); pseudo[9] = 6; pseudo.writeUInt16BE(seg.length & 0xffff, 10);
  } else {
    src.copy(pseudo, 0); dst.copy(pseudo, 16); pseudo.writeUInt32BE(seg.length, 32); pseudo[39] = 6;
  }
  seg.writeUInt16BE(onesComplementSum([pseudo, seg]), 16);
  return seg;
}

// ---------------------------------------------------------------------------
// IP

export interface Ipv4Options {
  /** Raw IP options (padded to 4 bytes with EOL). */
  options?: Buffer;
  id?: number;
  ttl?: number;
  dontFragment?: boolean;
  moreFragments?: boolean;
  /** Fragment offset in 8-byte units. */
  fragmentOffset?: number;
  /** Overrides the total length field (0 = TSO style). */
  totalLength?: number;
}

export function ipv4(src: string, dst: string, protocol: number, payload: Buffer, o: Ipv4Options = {}): Buffer {
  let options = o.options ?? Buffer.alloc(0);
  if (options.length % 4 !== 0) options = Buffer.concat([options, Buffer.alloc(4 - (options.length % 4), 0)]);
  const hl = 20 + options.length;
  const h = Buffer.alloc(hl);
  h[0] = 0x40 | (hl / 4);
  h.writeUInt16BE(o.totalLength ?? Math.min(0xffff, hl + payload.length), 2);
  h.writeUInt16BE(o.id ?? 0x1234, 4);
  const frag = (o.dontFragment ? 0x4000 : 0) | (o.moreFragments ? 0x2000 : 0) | ((o.fragmentOffset ?? 0) & 0x1fff);
  h.writeUInt16BE(frag, 6);
  h[8] = o.ttl ?? 64;
  h[9] = protocol;
  ipv4Bytes(src).copy(h, 12);
  ipv4Bytes(dst).copy(h, 16);
  options.copy(h, 20);
  h.writeUInt16BE(onesComplementSum([h]), 10);
  return Buffer.concat([h, payload]);
}

export const Ipv6Ext = { HOP_BY_HOP: 0, ROUTING: 43, FRAGMENT: 44, AH: 51, DEST_OPTS: 60 } as const;

export interface Ipv6Extension {
  type: number;
  /** Body after the 2-byte next/length prefix, for hop-by-hop / routing / dest opts / AH. */
  body?: Buffer;
  /** Fragment header fields. */
  fragmentOffset?: number;
  moreFragments?: boolean;
  identification?: number;
}

function ipv6ExtensionBytes(ext: Ipv6Extension, next: number): Buffer {
  if (ext.type === Ipv6Ext.FRAGMENT) {
    const b = Buffer.alloc(8);
    b[0] = next;
    b.writeUInt16BE(((ext.fragmentOffset ?? 0) << 3) | (ext.moreFragments ? 1 : 0), 2);
    b.writeUInt32BE(ext.identification ?? 0xabcd, 4);
    return b;
  }
  if (ext.type === Ipv6Ext.AH) {
    // AH: length in 4-byte units minus 2; 12 fixed bytes + ICV.
    let body = ext.body ?? Buffer.alloc(10);
    const total = 2 + body.length;
    if (total % 4 !== 0) body = Buffer.concat([body, Buffer.alloc(4 - (total % 4))]);
    const b = Buffer.concat([Buffer.from([next, (2 + body.length) / 4 - 2]), body]);
    return b;
  }
  let body = ext.body ?? Buffer.from([1, 4, 0, 0, 0, 0]); // PadN
  const total = 2 + body.length;
  if (total % 8 !== 0) body = Buffer.concat([body, Buffer.alloc(8 - (total % 8))]);
  return Buffer.concat([Buffer.from([next, (2 + body.length) / 8 - 1]), body]);
}

export function ipv6(src: string, dst: string, protocol: number, payload: Buffer,
                     o: { extensions?: Ipv6Extension[]; payloadLength?: number } = {}): Buffer {
  const exts = o.extensions ?? [];
  const parts: Buffer[] = [];
  for (let i = 0; i < exts.length; i++) {
    const next = i + 1 < exts.length ? exts[i + 1].type : protocol;
    parts.push(ipv6ExtensionBytes(exts[i], next));
  }
  const body = Buffer.concat([...parts, payload]);
  const h = Buffer.alloc(40);
  h.writeUInt32BE(0x60000000, 0);
  h.writeUInt16BE(o.payloadLength ?? Math.min(0xffff, body.length), 4);
  h[6] = exts.length > 0 ? exts[0].type : protocol;
  h[7] = 64;
  ipv6Bytes(src).copy(h, 8);
  ipv6Bytes(dst).copy(h, 24);
  return Buffer.concat([h, body]);
}

export interface IpOptions {
  ipv4?: Ipv4Options;
  ipv6Extensions?: Ipv6Extension[];
}

/** A whole IP packet (v4 or v6 by the address form) carrying the TCP segment. */
export function ipPacket(spec: TcpSpec, o: IpOptions = {}): Buffer {
  const tcp = tcpSegment(spec);
  return isIPv4(spec.src)
    ? ipv4(spec.src, spec.dst, 6, tcp, o.ipv4)
    : ipv6(spec.src, spec.dst, 6, tcp, { extensions: o.ipv6Extensions });
}

// ---------------------------------------------------------------------------
// link layers

export const ETH_IPV4 = 0x0800;
export const ETH_IPV6 = 0x86dd;

export function ipEthertype(ip: Buffer): number {
  return ip.length > 0 && ip[0] >> 4 === 6 ? ETH_IPV6 : ETH_IPV4;
}

export interface VlanTag {
  /** 0x8100 (802.1Q), 0x88a8 (802.1ad) or 0x9100. */
  tpid?: number;
  vid: number;
}

/** Ethernet II with optional VLAN tags (outermost first) and padding to the 60-byte minimum. */
export function ethernet(ip: Buffer, o: { vlans?: VlanTag[]; ethertype?: number; pad?: boolean } = {}): Buffer {
  const vlans = o.vlans ?? [];
  const h = Buffer.alloc(14 + 4 * vlans.length);
  Buffer.from([0x02, 0, 0, 0, 0, 0x02]).copy(h, 0);
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(h, 6);
  let p = 12;
  for (const tag of vlans) {
    h.writeUInt16BE(tag.tpid ?? 0x8100, p);
    h.writeUInt16BE(tag.vid & 0x0fff, p + 2);
    p += 4;
  }
  h.writeUInt16BE(o.ethertype ?? ipEthertype(ip), p);
  const frame = Buffer.concat([h, ip]);
  if (o.pad !== false && frame.length < 60) return Buffer.concat([frame, Buffer.alloc(60 - frame.length, 0xee)]);
  return frame;
}

/** Linux cooked v1 (DLT_LINUX_SLL, 113). */
export function sll(ip: Buffer, o: { protocol?: number; packetType?: number; vlans?: VlanTag[] } = {}): Buffer {
  const vlans = o.vlans ?? [];
  const h = Buffer.alloc(16 + 4 * vlans.length);
  h.writeUInt16BE(o.packetType ?? 0, 0);
  h.writeUInt16BE(1, 2); // ARPHRD_ETHER
  h.writeUInt16BE(6, 4);
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(h, 6);
  const inner = o.protocol ?? ipEthertype(ip);
  if (vlans.length === 0) {
    h.writeUInt16BE(inner, 14);
  } else {
    h.writeUInt16BE(vlans[0].tpid ?? 0x8100, 14);
    let p = 16;
    for (let i = 0; i < vlans.length; i++) {
      h.writeUInt16BE(vlans[i].vid & 0x0fff, p);
      h.writeUInt16BE(i + 1 < vlans.length ? vlans[i + 1].tpid ?? 0x8100 : inner, p + 2);
      p += 4;
    }
  }
  return Buffer.concat([h, ip]);
}

/** Linux cooked v2 (DLT_LINUX_SLL2, 276). */
export function sll2(ip: Buffer, o: { protocol?: number; ifindex?: number; vlans?: VlanTag[] } = {}): Buffer {
  const vlans = o.vlans ?? [];
  const h = Buffer.alloc(20 + 4 * vlans.length);
  const inner = o.protocol ?? ipEthertype(ip);
  h.writeUInt16BE(vlans.length === 0 ? inner : vlans[0].tpid ?? 0x8100, 0);
  h.writeUInt32BE(o.ifindex ?? 1, 4);
  h.writeUInt16BE(1, 8); // ARPHRD_ETHER
  h[10] = 0; // packet type
  h[11] = 6;
  Buffer.from([0x02, 0, 0, 0, 0, 0x01]).copy(h, 12);
  let p = 20;
  for (let i = 0; i < vlans.length; i++) {
    h.writeUInt16BE(vlans[i].vid & 0x0fff, p);
    h.writeUInt16BE(i + 1 < vlans.length ? vlans[i + 1].tpid ?? 0x8100 : inner, p + 2);
    p += 4;
  }
  return Buffer.concat([h, ip]);
}

/** BSD loopback: DLT_NULL (0) stores the family in host (here little-endian) order, DLT_LOOP (108) in network order. */
export function loopback(ip: Buffer, dlt: 0 | 108 = 0, family?: number): Buffer {
  const fam = family ?? (ip.length > 0 && ip[0] >> 4 === 6 ? 30 : 2); // AF_INET6 differs per OS; 30 is macOS
  const h = Buffer.alloc(4);
  if (dlt === 0) h.writeUInt32LE(fam, 0);
  else h.writeUInt32BE(fam, 0);
  return Buffer.concat([h, ip]);
}

/** Wraps an IP packet for the given link type. */
export function frameFor(linkType: number, ip: Buffer, o: { vlans?: VlanTag[] } = {}): Buffer {
  switch (linkType) {
    case LinkType.ETHERNET: return ethernet(ip, { vlans: o.vlans });
    case LinkType.LINUX_SLL: return sll(ip, { vlans: o.vlans });
    case LinkType.LINUX_SLL2: return sll2(ip, { vlans: o.vlans });
    case LinkType.NULL: return loopback(ip, 0);
    case LinkType.LOOP: return loopback(ip, 108);
    case LinkType.RAW:
    case LinkType.RAW_DLT12:
    case LinkType.RAW_DLT14:
    case LinkType.IPV4:
    case LinkType.IPV6:
      return ip;
    default: throw new Error(`no builder for link type ${linkType}`);
  }
}

// ---------------------------------------------------------------------------
// capture batches and pcap files

export interface CapturedFrame {
  data: Buffer;
  tsUs: number;
  /** Wire length, when larger than data (snaplen cut). */
  wirelen?: number;
}

/** Packs frames into one batch of 16-byte LE record headers + data. */
export function packBatch(frames: CapturedFrame[]): { buf: Buffer; count: number } {
  const parts: Buffer[] = [];
  for (const f of frames) {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(Math.floor(f.tsUs / 1e6), 0);
    h.writeUInt32LE(f.tsUs % 1e6, 4);
    h.writeUInt32LE(f.data.length, 8);
    h.writeUInt32LE(f.wirelen ?? f.data.length, 12);
    parts.push(h, f.data);
  }
  return { buf: Buffer.concat(parts), count: frames.length };
}

/** Classic pcap (microsecond, little-endian) holding `frames`. */
export function pcapFile(linkType: number, frames: CapturedFrame[], snaplen = 262144): Buffer {
  const gh = Buffer.alloc(24);
  gh.writeUInt32LE(0xa1b2c3d4, 0);
  gh.writeUInt16LE(2, 4);
  gh.writeUInt16LE(4, 6);
  gh.writeInt32LE(0, 8);
  gh.writeUInt32LE(0, 12);
  gh.writeUInt32LE(snaplen, 16);
  gh.writeUInt32LE(linkType, 20);
  // Same record layout as the batch format (ts_sec, ts_usec, caplen, wirelen), but files need
  // caplen <= snaplen.
  return Buffer.concat([gh, packBatch(frames).buf]);
}

export function writePcap(path: string, linkType: number, frames: CapturedFrame[], snaplen?: number): void {
  writeFileSync(path, pcapFile(linkType, frames, snaplen));
}

/** Decodes a frame into a fresh TcpPacket; throws unless it is TCP. */
export function decodeFrame(linkType: number, frame: Buffer, wirelen = frame.length): TcpPacket {
  const p = new TcpPacket();
  const outcome = decodePacket(linkType, frame, 0, frame.length, wirelen, p);
  if (outcome !== 'tcp') throw new Error(`frame decodes as ${outcome}`);
  return p;
}

// ---------------------------------------------------------------------------
// conversations

export const C2S = 0;
export const S2C = 1;
export type Dir = typeof C2S | typeof S2C;

/** One segment of a conversation. */
export interface Seg {
  dir: Dir;
  seq: number;
  ack: number;
  flags: number;
  payload: Buffer;
  tsUs: number;
  /** Bytes of payload a snaplen cut off (the frame carries only `payload`). */
  missing?: number;
}

export interface ConversationOptions {
  client?: string;
  server?: string;
  clientPort?: number;
  serverPort?: number;
  clientIsn?: number;
  serverIsn?: number;
  /** Capture time of the first segment and the step between segments, µs. */
  startUs?: number;
  stepUs?: number;
}

/**
 * Plays a TCP conversation, tracking each side's next sequence number and what it has
 * acknowledged (everything the peer sent so far). Segments accumulate in `segs`; tests
 * then reorder, duplicate, drop or overlap them before feeding them on.
 */
export class Conversation {
  readonly client: string;
  readonly server: string;
  readonly clientPort: number;
  readonly serverPort: number;
  readonly isn: [number, number];
  /** Next sequence number per direction. */
  readonly nextSeq: [number, number];
  /** Bytes sent per direction (stream offset 0 = first data byte). */
  readonly streams: [Buffer[], Buffer[]] = [[], []];
  readonly segs: Seg[] = [];
  nowUs: number;
  stepUs: number;
  private synSent: [boolean, boolean] = [false, false];
  private finSent: [boolean, boolean] = [false, false];

  constructor(o: ConversationOptions = {}) {
    this.client = o.client ?? '10.0.0.1';
    this.server = o.server ?? '10.0.0.2';
    this.clientPort = o.clientPort ?? 40000;
    this.serverPort = o.serverPort ?? 80;
    this.isn = [(o.clientIsn ?? 1000) >>> 0, (o.serverIsn ?? 5000) >>> 0];
    this.nextSeq = [this.isn[0], this.isn[1]];
    this.nowUs = o.startUs ?? 1_700_000_000_000_000;
    this.stepUs = o.stepUs ?? 10;
  }

  /** Sequence number of stream offset `offset` in `dir` (after the SYN). */
  seqAt(dir: Dir, offset: number): number {
    return (this.isn[dir] + 1 + offset) >>> 0;
  }

  /** What `dir`'s sender acknowledges: everything the peer has sent so far. */
  ackFor(dir: Dir): number {
    const peer = (1 - dir) as Dir;
    return this.synSent[peer] || this.streamLength(peer) > 0 ? this.nextSeq[peer] : 0;
  }

  streamLength(dir: Dir): number {
    let n = 0;
    for (const b of this.streams[dir]) n += b.length;
    return n;
  }

  stream(dir: Dir): Buffer {
    return Buffer.concat(this.streams[dir]);
  }

  private push(seg: Omit<Seg, 'tsUs'>, tsUs?: number): Seg {
    const s: Seg = { ...seg, tsUs: tsUs ?? this.nowUs };
    this.nowUs = s.tsUs + this.stepUs;
    this.segs.push(s);
    return s;
  }

  /** SYN, SYN-ACK, ACK. */
  handshake(): Seg[] {
    const syn = this.push({ dir: C2S, seq: this.isn[0], ack: 0, flags: TcpFlag.SYN, payload: Buffer.alloc(0) });
    this.synSent[0] = true;
    this.nextSeq[0] = (this.isn[0] + 1) >>> 0;
    const synAck = this.push({ dir: S2C, seq: this.isn[1], ack: this.nextSeq[0], flags: TcpFlag.SYN | TcpFlag.ACK, payload: Buffer.alloc(0) });
    this.synSent[1] = true;
    this.nextSeq[1] = (this.isn[1] + 1) >>> 0;
    const ack = this.push({ dir: C2S, seq: this.nextSeq[0], ack: this.nextSeq[1], flags: TcpFlag.ACK, payload: Buffer.alloc(0) });
    return [syn, synAck, ack];
  }

  /** Skips the handshake: both sides start at ISN+1 as if it had happened unseen. */
  assumeEstablished(): void {
    this.synSent = [true, true];
    this.nextSeq[0] = (this.isn[0] + 1) >>> 0;
    this.nextSeq[1] = (this.isn[1] + 1) >>> 0;
  }

  /**
   * Sends `data` from `dir` in segments of the given sizes (a number: that size repeated;
   * an array: those sizes, the last one repeated). Returns the segments.
   */
  send(dir: Dir, data: Buffer | string, sizes: number | number[] = 1460): Seg[] {
    const buf = toBuffer(data);
    const list = typeof sizes === 'number' ? [sizes] : sizes;
    const out: Seg[] = [];
    let off = 0;
    let i = 0;
    while (off < buf.length) {
      const size = Math.max(1, list[Math.min(i, list.length - 1)]);
      const piece = buf.subarray(off, Math.min(buf.length, off + size));
      out.push(this.push({ dir, seq: this.nextSeq[dir], ack: this.ackFor(dir), flags: TcpFlag.ACK | TcpFlag.PSH, payload: piece }));
      this.streams[dir].push(piece);
      this.nextSeq[dir] = (this.nextSeq[dir] + piece.length) >>> 0;
      off += piece.length;
      i++;
    }
    return out;
  }

  /** A pure ACK from `dir`. */
  ack(dir: Dir): Seg {
    return this.push({ dir, seq: this.nextSeq[dir], ack: this.ackFor(dir), flags: TcpFlag.ACK, payload: Buffer.alloc(0) });
  }

  fin(dir: Dir): Seg {
    const s = this.push({ dir, seq: this.nextSeq[dir], ack: this.ackFor(dir), flags: TcpFlag.FIN | TcpFlag.ACK, payload: Buffer.alloc(0) });
    this.finSent[dir] = true;
    this.nextSeq[dir] = (this.nextSeq[dir] + 1) >>> 0;
    return s;
  }

  rst(dir: Dir): Seg {
    return this.push({ dir, seq: this.nextSeq[dir], ack: this.ackFor(dir), flags: TcpFlag.RST | TcpFlag.ACK, payload: Buffer.alloc(0) });
  }

  /** FIN from both sides, then the last ACK. */
  close(first: Dir = C2S): Seg[] {
    const a = this.fin(first);
    const b = this.fin((1 - first) as Dir);
    const c = this.ack(first);
    return [a, b, c];
  }

  /**
   * A segment carrying stream bytes [from, to) of `dir` again (a retransmission or an
   * overlapping repacketisation), optionally with different content. Not appended to segs.
   */
  slice(dir: Dir, from: number, to: number, content?: Buffer | string, tsUs?: number): Seg {
    const payload = content !== undefined ? toBuffer(content) : this.stream(dir).subarray(from, to);
    if (payload.length !== to - from) throw new Error('slice content length mismatch');
    return { dir, seq: this.seqAt(dir, from), ack: this.ackFor(dir), flags: TcpFlag.ACK, payload: Buffer.from(payload), tsUs: tsUs ?? this.nowUs };
  }

  spec(seg: Seg): TcpSpec {
    const c = seg.dir === C2S;
    return {
      src: c ? this.client : this.server,
      dst: c ? this.server : this.client,
      sport: c ? this.clientPort : this.serverPort,
      dport: c ? this.serverPort : this.clientPort,
      seq: seg.seq,
      ack: seg.ack,
      flags: seg.flags,
      payload: seg.payload,
    };
  }

  /** The segment as a frame of `linkType` (with a wirelen that accounts for `missing`). */
  frame(seg: Seg, linkType: number = LinkType.ETHERNET, o: IpOptions & { vlans?: VlanTag[] } = {}): CapturedFrame {
    if (seg.missing) {
      // Build the full packet, then cut the captured frame short.
      const full = frameFor(linkType, ipPacket({ ...this.spec(seg), payload: Buffer.concat([seg.payload, Buffer.alloc(seg.missing, 0x78)]) }, o), o);
      return { data: full.subarray(0, full.length - seg.missing), tsUs: seg.tsUs, wirelen: full.length };
    }
    return { data: frameFor(linkType, ipPacket(this.spec(seg), o), o), tsUs: seg.tsUs };
  }

  frames(segs: Seg[] = this.segs, linkType: number = LinkType.ETHERNET): CapturedFrame[] {
    return segs.map((s) => this.frame(s, linkType));
  }

  /** Decoded packet for feeding a Reassembler directly. */
  packet(seg: Seg): TcpPacket {
    const f = this.frame(seg, LinkType.RAW);
    const p = new TcpPacket();
    const outcome = decodePacket(LinkType.RAW, f.data, 0, f.data.length, f.wirelen ?? f.data.length, p);
    if (outcome !== 'tcp') throw new Error(`segment decodes as ${outcome}`);
    return p;
  }
}

// ---------------------------------------------------------------------------
// randomness

/** Small deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randInt(r: () => number, lo: number, hi: number): number {
  return lo + Math.floor(r() * (hi - lo + 1));
}

export function shuffle<T>(r: () => number, a: T[]): T[] {
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Shuffles within consecutive windows of `window` elements (a bounded reordering). */
export function shuffleWindows<T>(r: () => number, a: T[], window: number): T[] {
  const out: T[] = [];
  for (let i = 0; i < a.length; i += window) out.push(...shuffle(r, a.slice(i, i + window)));
  return out;
}
