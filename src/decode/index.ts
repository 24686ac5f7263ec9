// Link, IP and TCP header decoding: pure functions over a Buffer region, writing into a
// reused TcpPacket so that the hot path allocates nothing.

import { u16be, u32be } from './bytes';

export { u16be, u32be } from './bytes';

/** DLT / LINKTYPE values this decoder understands. */
export const LinkType = {
  NULL: 0,
  ETHERNET: 1,
  RAW_DLT12: 12,
  RAW_DLT14: 14,
  RAW: 101,
  LOOP: 108,
  LINUX_SLL: 113,
  IPV4: 228,
  IPV6: 229,
  LINUX_SLL2: 276,
} as const;

export const TcpFlag = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

/** Why a packet did not yield a TCP segment. Keys double as counter names. */
export type DecodeOutcome =
  | 'tcp'
  | 'unsupportedLink'
  | 'notIp'
  | 'notTcp'
  | 'fragment'
  | 'truncated'
  | 'malformed';

/** One decoded TCP segment. Addresses are offsets into `buf`, valid until the next decode. */
export class TcpPacket {
  buf: Buffer = Buffer.alloc(0);
  ipVersion = 4;
  /** Offset of the source address (4 or 16 bytes); destination follows at +4 / +16. */
  srcAddrOffset = 0;
  dstAddrOffset = 0;
  srcPort = 0;
  dstPort = 0;
  seq = 0;
  ack = 0;
  flags = 0;
  window = 0;
  payloadOffset = 0;
  payloadLength = 0;
  /** Bytes of payload the wire carried but the capture cut off (snaplen). */
  payloadMissing = 0;

  get addrLength(): number {
    return this.ipVersion === 4 ? 4 : 16;
  }
}

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;

function isVlanTag(ethertype: number): boolean {
  return ethertype === 0x8100 || ethertype === 0x88a8 || ethertype === 0x9100;
}

/**
 * Decodes the packet at buf[offset, offset+caplen) captured from a link of `linkType`.
 * `wirelen` is the packet's original length, used to tell snaplen truncation apart.
 */
export function decodePacket(
  linkType: number,
  buf: Buffer,
  offset: number,
  caplen: number,
  wirelen: number,
  out: TcpPacket,
): DecodeOutcome {
  const end = offset + caplen;
  let ipOffset: number;
  let ethertype = -1; // -1: take the IP version from the first nibble
  switch (linkType) {
    case LinkType.ETHERNET:
    case LinkType.LINUX_SLL: {
      // The ethertype (protocol) field, then VLAN tags of 4 bytes each, each ending in the next type.
      let p = offset + (linkType === LinkType.ETHERNET ? 12 : 14);
      if (p + 2 > end) return 'truncated';
      ethertype = u16be(buf, p);
      while (isVlanTag(ethertype)) {
        p += 4;
        if (p + 2 > end) return 'truncated';
        ethertype = u16be(buf, p);
      }
      ipOffset = p + 2;
      break;
    }
    case LinkType.LINUX_SLL2: {
      if (caplen < 20) return 'truncated';
      ethertype = u16be(buf, offset);
      ipOffset = offset + 20;
      while (isVlanTag(ethertype)) {
        if (ipOffset + 4 > end) return 'truncated';
        ethertype = u16be(buf, ipOffset + 2);
        ipOffset += 4;
      }
      break;
    }
    case LinkType.NULL:
    case LinkType.LOOP:
      // The 4-byte family is in host order for NULL and differs between OSes for IPv6;
      // the IP version nibble is unambiguous.
      if (caplen < 4) return 'truncated';
      ipOffset = offset + 4;
      break;
    case LinkType.RAW:
    case LinkType.RAW_DLT12:
    case LinkType.RAW_DLT14:
    case LinkType.IPV4:
    case LinkType.IPV6:
      ipOffset = offset;
      break;
    default:
      return 'unsupportedLink';
  }
  if (ipOffset >= end) return 'truncated';
  const version = buf[ipOffset] >> 4;
  if (ethertype !== -1) {
    if (ethertype === ETHERTYPE_IPV4) {
      if (version !== 4) return 'malformed';
    } else if (ethertype === ETHERTYPE_IPV6) {
      if (version !== 6) return 'malformed';
    } else {
      return 'notIp';
    }
  }
  // Bytes the capture cut off; they belong to the tail of the packet.
  const cutOff = wirelen > caplen ? wirelen - caplen : 0;
  if (version === 4) return decodeIpv4(buf, ipOffset, end, cutOff, out);
  if (version === 6) return decodeIpv6(buf, ipOffset, end, cutOff, out);
  return 'notIp';
}

function decodeIpv4(buf: Buffer, ip: number, end: number, cutOff: number, out: TcpPacket): DecodeOutcome {
  if (ip + 20 > end) return 'truncated';
  const headerLength = (buf[ip] & 0x0f) * 4;
  const totalLength = u16be(buf, ip + 2);
  // Total length 0 is what a capture of a TSO/GSO (BIG TCP) packet reports: see ipEnd below.
  if (headerLength < 20 || (totalLength !== 0 && totalLength < headerLength)) return 'malformed';
  if (ip + headerLength > end) return 'truncated';
  const fragment = u16be(buf, ip + 6);
  if ((fragment & 0x3fff) !== 0) return 'fragment'; // MF set or non-zero offset
  if (buf[ip + 9] !== 6) return 'notTcp';
  // Total length trims Ethernet padding; TSO-sized captures report 0 and use the frame.
  const ipEnd = totalLength === 0 ? end + cutOff : ip + totalLength;
  out.ipVersion = 4;
  out.srcAddrOffset = ip + 12;
  out.dstAddrOffset = ip + 16;
  return decodeTcp(buf, ip + headerLength, ipEnd, end, out);
}

function decodeIpv6(buf: Buffer, ip: number, end: number, cutOff: number, out: TcpPacket): DecodeOutcome {
  if (ip + 40 > end) return 'truncated';
  const payloadLength = u16be(buf, ip + 4);
  const ipEnd = payloadLength === 0 ? end + cutOff : ip + 40 + payloadLength;
  let next = buf[ip + 6];
  let p = ip + 40;
  // Walk extension headers up to TCP.
  for (;;) {
    if (next === 6) break;
    if (next === 0 || next === 43 || next === 60) {
      if (p + 8 > end) return 'truncated';
      next = buf[p];
      p += (buf[p + 1] + 1) * 8;
    } else if (next === 44) {
      if (p + 8 > end) return 'truncated';
      const offsetAndFlags = u16be(buf, p + 2);
      // A non-zero offset or the more-fragments bit; an atomic fragment carries it all.
      if ((offsetAndFlags & 0xfff9) !== 0) return 'fragment';
      next = buf[p];
      p += 8;
    } else if (next === 51) {
      if (p + 8 > end) return 'truncated';
      next = buf[p];
      p += (buf[p + 1] + 2) * 4;
    } else {
      return 'notTcp';
    }
    if (p > ipEnd) return 'malformed';
  }
  out.ipVersion = 6;
  out.srcAddrOffset = ip + 8;
  out.dstAddrOffset = ip + 24;
  return decodeTcp(buf, p, ipEnd, end, out);
}

function decodeTcp(buf: Buffer, tcp: number, ipEnd: number, end: number, out: TcpPacket): DecodeOutcome {
  if (tcp + 20 > end) return 'truncated';
  const headerLength = (buf[tcp + 12] >> 4) * 4;
  if (headerLength < 20 || tcp + headerLength > ipEnd) return 'malformed';
  if (tcp + headerLength > end) return 'truncated';
  out.buf = buf;
  out.srcPort = u16be(buf, tcp);
  out.dstPort = u16be(buf, tcp + 2);
  out.seq = u32be(buf, tcp + 4);
  out.ack = u32be(buf, tcp + 8);
  out.flags = buf[tcp + 13];
  out.window = u16be(buf, tcp + 14);
  out.payloadOffset = tcp + headerLength;
  const wirePayload = ipEnd - out.payloadOffset;
  const captured = Math.min(ipEnd, end) - out.payloadOffset;
  out.payloadLength = captured;
  out.payloadMissing = wirePayload - captured;
  return 'tcp';
}

/** Formats an address held in `buf` at `offset` (4 or 16 bytes). Cold path. */
export function formatAddress(buf: Buffer, offset: number, length: number): string {
  if (length === 4) return `${buf[offset]}.${buf[offset + 1]}.${buf[offset + 2]}.${buf[offset + 3]}`;
  // IPv4-mapped addresses keep their dotted tail (RFC 5952 §5).
  let mapped = buf.readUInt16BE(offset + 10) === 0xffff;
  for (let i = 0; i < 10 && mapped; i++) mapped = buf[offset + i] === 0;
  if (mapped) return `::ffff:${formatAddress(buf, offset + 12, 4)}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(buf.readUInt16BE(offset + i).toString(16));
  // Compress the longest run of zero groups, as RFC 5952 asks.
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLength && j - i > 1) { bestStart = i; bestLength = j - i; }
    i = j;
  }
  if (bestStart < 0) return groups.join(':');
  const head = groups.slice(0, bestStart).join(':');
  const tail = groups.slice(bestStart + bestLength).join(':');
  return `${head}::${tail}`;
}
