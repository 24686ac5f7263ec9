// Crafted captures of what a hostile or unlucky day sends at production: many connections
// that open and never finish a request. Written as classic pcap files (Ethernet frames, which
// tcpreplay sends on lo as they are) without holding the whole file in memory.

import { closeSync, openSync, writeSync } from 'node:fs';
import { TcpFlag, ethernet, ipPacket } from './packets';

export interface HostileCapture {
  path: string;
  packets: number;
  bytes: number;
}

/** What every crafted connection looks like. */
export interface FlowPlan {
  /** Connections, each from its own client address/port. */
  flows: number;
  serverPort: number;
  /** The request bytes each client sends after the handshake (never a complete request). */
  request: (flow: number) => Buffer[];
}

class PcapWriter {
  private readonly fd: number;
  private readonly pending: Buffer[] = [];
  private pendingBytes = 0;
  packets = 0;
  bytes = 24;

  constructor(readonly path: string) {
    this.fd = openSync(path, 'w');
    const header = Buffer.alloc(24);
    header.writeUInt32LE(0xa1b2c3d4, 0);
    header.writeUInt16LE(2, 4);
    header.writeUInt16LE(4, 6);
    header.writeUInt32LE(262144, 16);
    header.writeUInt32LE(1, 20); // Ethernet
    writeSync(this.fd, header);
  }

  frame(data: Buffer, tsUs: number): void {
    const record = Buffer.allocUnsafe(16);
    record.writeUInt32LE(Math.floor(tsUs / 1e6), 0);
    record.writeUInt32LE(tsUs % 1e6, 4);
    record.writeUInt32LE(data.length, 8);
    record.writeUInt32LE(data.length, 12);
    this.pending.push(record, data);
    this.pendingBytes += 16 + data.length;
    this.packets++;
    this.bytes += 16 + data.length;
    if (this.pendingBytes >= 4 << 20) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, Buffer.concat(this.pending, this.pendingBytes));
    this.pending.length = 0;
    this.pendingBytes = 0;
  }

  close(): HostileCapture {
    this.flush();
    closeSync(this.fd);
    return { path: this.path, packets: this.packets, bytes: this.bytes };
  }
}

/** Client address of flow `i`: 127.x.y.z from 127.1.0.0 up, one port per address. */
function clientOf(i: number): string {
  const n = (1 << 16) + i; // 127.1.0.0 onwards, clear of 127.0.0.1
  return `127.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

/** Each flow: handshake, then the client's request bytes in segments, no FIN, no response. */
export function writeOpenFlows(path: string, plan: FlowPlan): HostileCapture {
  const out = new PcapWriter(path);
  const server = '127.0.0.1';
  let ts = 1_700_000_000_000_000;
  for (let i = 0; i < plan.flows; i++) {
    const client = clientOf(i);
    const sport = 20000 + (i % 40000);
    const cisn = (i * 7919 + 1) >>> 0;
    const sisn = (i * 104729 + 7) >>> 0;
    const c2s = { src: client, dst: server, sport, dport: plan.serverPort };
    const s2c = { src: server, dst: client, sport: plan.serverPort, dport: sport };
    out.frame(ethernet(ipPacket({ ...c2s, seq: cisn, flags: TcpFlag.SYN })), ts++);
    out.frame(ethernet(ipPacket({ ...s2c, seq: sisn, ack: cisn + 1, flags: TcpFlag.SYN | TcpFlag.ACK })), ts++);
    out.frame(ethernet(ipPacket({ ...c2s, seq: cisn + 1, ack: sisn + 1, flags: TcpFlag.ACK })), ts++);
    let seq = cisn + 1;
    for (const part of plan.request(i)) {
      out.frame(ethernet(ipPacket({ ...c2s, seq, ack: sisn + 1, flags: TcpFlag.ACK | TcpFlag.PSH, payload: part })), ts++);
      seq = (seq + part.length) >>> 0;
    }
  }
  return out.close();
}

/** A request head cut short: request line and a few headers, no blank line. */
export function partialHead(i: number): Buffer[] {
  return [Buffer.from(`GET /item/${i} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: probe\r\n`, 'latin1')];
}

/** A head of about `bytes` bytes that never ends, in segments of `segment` bytes. */
export function endlessHead(bytes: number, segment = 16_000): (i: number) => Buffer[] {
  return (i) => {
    const lines = [`GET /big/${i} HTTP/1.1\r\nHost: shop.example\r\n`];
    let size = lines[0].length;
    for (let n = 0; size < bytes; n++) {
      const line = `X-Filler-${n}: ${'f'.repeat(90)}\r\n`;
      lines.push(line);
      size += line.length;
    }
    return split(Buffer.from(lines.join(''), 'latin1'), segment);
  };
}

/** An upload announcing more than it sends: `sent` body bytes of `declared`, never finished. */
export function unfinishedUpload(sent: number, declared: number, segment = 32_000): (i: number) => Buffer[] {
  return (i) => {
    const head = Buffer.from(`POST /upload/${i} HTTP/1.1\r\nHost: shop.example\r\nContent-Length: ${declared}\r\n\r\n`, 'latin1');
    return split(Buffer.concat([head, Buffer.alloc(sent, 0x61 + (i % 26))]), segment);
  };
}

function split(data: Buffer, segment: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let at = 0; at < data.length; at += segment) parts.push(data.subarray(at, at + segment));
  return parts;
}
