// gRPC comparison throughput: one server-streaming answer of 20 User messages (~85 B each)
// against a shadow's with one message changed, decoded schema-less and with --proto; and the
// schema-less decoder alone on 1 MB of nesting built to defeat it. CPU time of this process.
// Usage: node dist/bench/grpc-compare.js [answers]
import * as path from 'node:path';
import * as protobuf from 'protobufjs';
import { ProtoSchema, defaultDiffOptions } from '../src/compare';
import { diffResponses } from '../src/compare/diff';
import { decodeWire } from '../src/compare/protobuf';

const N = Number(process.argv[2] ?? 20_000);
const PROTO = path.resolve(__dirname, '../../test/compare/grpc-users.proto');
const User = protobuf.loadSync(PROTO).lookupType('shop.v1.User');

function user(i: number, name = `user ${i}`): Uint8Array {
  return User.encode(User.fromObject({
    name, email: `u${i}@example.com`, id: String(i * 977), tier: 'TIER_GOLD', tags: ['a', 'b', 'c'],
    address: { city: 'Oslo', zip: '0150' }, score: i * 1.5, avatar: Buffer.alloc(16, i),
  })).finish();
}

function frame(messages: Uint8Array[]): Buffer {
  return Buffer.concat(messages.flatMap((m) => {
    const p = Buffer.alloc(5);
    p.writeUInt32BE(m.length, 1);
    return [p, Buffer.from(m)];
  }));
}

function cpuSeconds(fn: () => void): number {
  const t0 = process.cpuUsage();
  fn();
  const c = process.cpuUsage(t0);
  return (c.user + c.system) / 1e6;
}

const messages = Array.from({ length: 20 }, (_, i) => user(i));
const changed = messages.slice();
changed[7] = user(7, 'changed');
const side = (body: Buffer) => ({ status: 200, headers: ['content-type', 'application/grpc'], trailers: ['grpc-status', '0'], body });
const prod = side(frame(messages)), shadow = side(frame(changed));
console.log(`answer ${prod.body.length} bytes, 20 messages`);
for (const proto of [false, true]) {
  const opts = { ...defaultDiffOptions(), protoSchema: proto ? ProtoSchema.load([PROTO]) : null };
  const run = (n: number): void => { for (let i = 0; i < n; i++) diffResponses(prod, shadow, opts, '/shop.v1.Users/ListUsers'); };
  run(2000);
  const s = cpuSeconds(() => run(N));
  console.log(`${proto ? '--proto    ' : 'schema-less'}  ${Math.round(N / s)} answers/s  ${Math.round((N * 20) / s)} messages/s`);
}

// Nesting 30 deep, each level closed by a varint after its child, repeated to 1 MB.
const lengthBytes = (n: number): number[] => {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return out;
};
let nested = Buffer.from([0x08, 0x01, 0x12, 0x01, 0x00]);
for (let i = 0; i < 30; i++) nested = Buffer.concat([Buffer.from([0x0a, ...lengthBytes(nested.length)]), nested, Buffer.from([0x10, 0x01])]);
const parts: Buffer[] = [];
for (let size = 0; size < 1 << 20; size += nested.length + 3) parts.push(Buffer.from([0x0a, ...lengthBytes(nested.length)]), nested);
const hostile = Buffer.concat(parts);
const stats = { limited: 0 };
const s = cpuSeconds(() => decodeWire(hostile, stats));
console.log(`hostile nesting ${hostile.length} bytes: ${(s * 1000).toFixed(0)} ms, ${stats.limited} fields left as bytes (work budget)`);
