// gRPC framing and protobuf decoding, on messages encoded by protobufjs and framed/compressed by
// grpc-js itself; hostile framing and wire bytes get a clear outcome, never a throw.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { defaultDiffOptions } from '../../src/compare';
import { diffResponses } from '../../src/compare/diff';
import { runConfig } from '../../src/config';
import { ConfigError } from '../../src/config/error';
import { decodeGrpcMessages, grpcStatus, isGrpcContentType, splitGrpcMessages, statusText } from '../../src/compare/grpc';
import { ProtoSchema, WIRE_MAX_DEPTH, decodeTyped, decodeWire } from '../../src/compare/protobuf';
import { PROTO, clientSends, encode, frame, type } from './grpc-support';

const USER = {
  name: 'ann', email: 'ann@example.com', id: 42, tier: 'TIER_GOLD', tags: ['admin', 'beta'],
  address: { city: 'Oslo', zip: '0150' }, score: 2.5, avatar: Buffer.from([0xff, 0x00, 0x81]),
};

test('gRPC is recognised by its content type', () => {
  assert.equal(isGrpcContentType('application/grpc'), true);
  assert.equal(isGrpcContentType('application/grpc+proto; charset=x'), true);
  assert.equal(isGrpcContentType('Application/GRPC'), true);
  assert.equal(isGrpcContentType('application/grpc-web'), false);
  assert.equal(isGrpcContentType('application/json'), false);
  assert.equal(isGrpcContentType(null), false);
});

test('schema-less decoding reads fields by number and wire type', () => {
  const bytes = encode('GetUserResponse', { user: USER });
  const stats = { limited: 0 };
  assert.deepEqual(decodeWire(bytes, stats), {
    1: {
      1: 'ann', 2: 'ann@example.com', 3: 42, 4: 2, 5: ['admin', 'beta'],
      6: { 1: 'Oslo', 2: '0150' },
      7: '0x4004000000000000', // the double 2.5, as fixed64
      8: Buffer.from([0xff, 0x00, 0x81]).toString('base64'),
    },
  });
  assert.equal(stats.limited, 0);
});

test('with the schema, fields are named, enums by name, int64 as a decimal string', () => {
  const t = type('GetUserResponse');
  const got = decodeTyped(t, encode('GetUserResponse', { user: USER }));
  assert.deepEqual(got, {
    user: {
      name: 'ann', email: 'ann@example.com', id: '42', tier: 'TIER_GOLD', tags: ['admin', 'beta'],
      address: { city: 'Oslo', zip: '0150' }, score: 2.5, avatar: '/wCB',
    },
  });
});

test('with the schema, fields the type does not know are kept by number (a newer peer)', () => {
  // A User with field 15 (unknown to the schema) nested two levels down.
  const extra = Buffer.concat([Buffer.from(encode('User', { name: 'ann' })), Buffer.from([0x7a, 0x02, 0x68, 0x69])]); // 15: "hi"
  const outer = Buffer.concat([Buffer.from([0x0a, extra.length]), extra]);
  assert.deepEqual(decodeTyped(type('GetUserResponse'), outer), { user: { name: 'ann', 15: 'hi' } });
});

test('ProtoSchema finds a method by its gRPC path, and says null for others', () => {
  const schema = ProtoSchema.load([PROTO]);
  const m = schema.method('/shop.v1.Users/GetUser');
  assert.ok(m !== null);
  assert.equal(m.request.fullName, '.shop.v1.GetUserRequest');
  assert.equal(m.response.fullName, '.shop.v1.GetUserResponse');
  assert.equal(schema.method('/shop.v1.Users/Nope'), null);
  assert.equal(schema.method('/shop.v1.Nope/GetUser'), null);
  assert.equal(schema.method('/shop.v1.Address/GetUser'), null); // a message, not a service
  assert.equal(schema.method('/not a path'), null);
  assert.throws(() => ProtoSchema.load(['/nonexistent/x.proto']));
});

test('grpc-js client framing, identity, gzip and deflate: split, decompressed and decoded by type', async () => {
  const users = [{ name: 'a', tags: ['x'] }, { name: 'b'.repeat(300), id: 7 }];
  for (const algorithm of [0, 1, 2] as const) {
    const sent = await clientSends(algorithm, users);
    const enc = algorithm === 0 ? null : algorithm === 1 ? 'deflate' : 'gzip';
    const encodingHeader = sent.headers[sent.headers.indexOf('grpc-encoding') + 1];
    if (enc !== null) {
      assert.equal(encodingHeader, enc);
      assert.equal(sent.body[0], 1, `${enc}: the compressed flag is set`);
    } else assert.equal(sent.body[0], 0);
    const frames = splitGrpcMessages(sent.body, enc, 1 << 20);
    assert.equal(frames.error, null);
    assert.equal(frames.messages.length, 2);
    const withSchema = decodeGrpcMessages(sent.body, sent.headers, '/shop.v1.Users/UploadUsers', 'request', ProtoSchema.load([PROTO]));
    assert.deepEqual(withSchema.values, [{ name: 'a', tags: ['x'] }, { name: 'b'.repeat(300), id: '7' }]);
    const schemaLess = decodeGrpcMessages(sent.body, sent.headers, '/shop.v1.Users/UploadUsers', 'request', null);
    assert.deepEqual(schemaLess.values, [{ 1: 'a', 5: 'x' }, { 1: 'b'.repeat(300), 3: 7 }]);
  }
});

test('hostile framing: each fault is named, the messages before it are kept, nothing throws', () => {
  const ok = frame(encode('User', { name: 'ann' }));
  const cases: Array<[string, Buffer, string | null, RegExp]> = [
    ['length beyond body', Buffer.concat([ok, Buffer.from([0, 0, 0, 1, 0, 0x0a])]), null, /^message 1: length 256 beyond the body \(1 bytes left\)$/],
    ['truncated prefix', Buffer.concat([ok, Buffer.from([0, 0, 0])]), null, /^message 1: truncated prefix: 3 of 5 bytes$/],
    ['bad flag', Buffer.concat([ok, Buffer.from([7, 0, 0, 0, 0])]), null, /^message 1: compressed flag 7/],
    ['compressed without grpc-encoding', Buffer.concat([ok, Buffer.from([1, 0, 0, 0, 0])]), null, /grpc-encoding is identity or absent/],
    ['unknown grpc-encoding', Buffer.concat([ok, Buffer.from([1, 0, 0, 0, 0])]), 'snappy', /unsupported grpc-encoding 'snappy'/],
    ['corrupt gzip', Buffer.concat([ok, Buffer.from([1, 0, 0, 0, 3, 1, 2, 3])]), 'gzip', /^message 1: gzip: /],
    ['4 GiB length', Buffer.concat([ok, Buffer.from([0, 0xff, 0xff, 0xff, 0xff])]), null, /length 4294967295 beyond the body/],
  ];
  for (const [name, body, enc, error] of cases) {
    const r = splitGrpcMessages(body, enc, 1 << 20);
    assert.match(r.error ?? '', error, name);
    assert.equal(r.messages.length, 1, name);
    assert.deepEqual(r.messages[0], Buffer.from(encode('User', { name: 'ann' })), name);
  }
  // A decompression bomb stops at the cap.
  const bomb = gzipSync(Buffer.alloc(8 << 20));
  const framed = Buffer.concat([Buffer.from([1, 0, 0, 0, 0]), bomb]);
  framed.writeUInt32BE(bomb.length, 1);
  const r = splitGrpcMessages(framed, 'gzip', 1 << 20);
  assert.match(r.error ?? '', /^message 0: gzip: decoded size exceeds/);
  assert.equal(r.messages.length, 0);
  // An empty body is a call with no message; an empty message is a message.
  assert.deepEqual(splitGrpcMessages(Buffer.alloc(0), null, 100), { messages: [], error: null });
  assert.deepEqual(splitGrpcMessages(Buffer.alloc(5), null, 100), { messages: [Buffer.alloc(0)], error: null });
});

test('hostile wire bytes: not a message (null), never a throw', () => {
  const varint = (n: number): number[] => {
    const out: number[] = [];
    while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
    out.push(n);
    return out;
  };
  assert.equal(decodeWire(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), null, '11-byte varint');
  assert.equal(decodeWire(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02])), null, 'varint beyond 64 bits');
  assert.deepEqual(decodeWire(Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])), { 1: '18446744073709551615' });
  assert.deepEqual(decodeWire(Buffer.from([0x08, ...varint(2 ** 53 - 1)])), { 1: 2 ** 53 - 1 });
  assert.deepEqual(decodeWire(Buffer.from([0x08, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10])), { 1: '9007199254740992' });
  assert.equal(decodeWire(Buffer.from([0x08, 0x80])), null, 'truncated varint');
  assert.equal(decodeWire(Buffer.from([0x0b, 0x08, 0x01, 0x0c])), null, 'a group');
  assert.equal(decodeWire(Buffer.from([0x0e, 0x01])), null, 'wire type 6');
  assert.equal(decodeWire(Buffer.from([0x00, 0x01])), null, 'field 0');
  assert.equal(decodeWire(Buffer.from([0x0a, 0x05, 0x61])), null, 'length beyond the message');
  assert.equal(decodeWire(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f])), null, 'length of 4 GiB');
  assert.equal(decodeWire(Buffer.from([0x09, 0x01, 0x02])), null, 'short fixed64');
  assert.equal(decodeWire(Buffer.from([0x0d, 0x01])), null, 'short fixed32');
});

test('deep nesting is cut at the depth bound (shown as bytes), and a decode of it is bounded', () => {
  let value: Record<string, unknown> = { label: 'leaf' };
  for (let i = 0; i < 90; i++) value = { child: value }; // within protobufjs's own limit (100)
  const bytes = encode('Node', value);
  const stats = { limited: 0 };
  const got = decodeWire(bytes, stats);
  assert.ok(got !== null);
  let depth = 0;
  let cur: unknown = got;
  while (typeof cur === 'object' && cur !== null) { cur = (cur as Record<string, unknown>)[1]; depth++; }
  assert.equal(depth, WIRE_MAX_DEPTH);
  assert.equal(typeof cur, 'string'); // the rest, as bytes
  assert.equal(stats.limited, 1);
  // Far deeper than any stack would take, built by hand: bounded all the same.
  let deep = Buffer.from([0x12, 0x01, 0x78]);
  for (let i = 0; i < 20_000; i++) deep = Buffer.concat([Buffer.from([0x0a, ...lengthBytes(deep.length)]), deep]);
  const s2 = { limited: 0 };
  assert.ok(decodeWire(deep, s2) !== null);
  assert.equal(s2.limited, 1);
  assert.throws(() => decodeTyped(type('Node'), deep), /depth|range|call stack/i); // protobufjs refuses; grpc.ts falls back
  const viaGrpc = decodeGrpcMessages(frame(deep), [], '/shop.v1.Users/Chain', 'request', ProtoSchema.load([PROTO]));
  assert.equal(viaGrpc.info.schemaErrors, 1);
  assert.equal(viaGrpc.values.length, 1);
  assert.equal(typeof viaGrpc.values[0], 'object');
});

function lengthBytes(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return out;
}

test('printable bytes read as text, not as a message they happen to parse as', () => {
  // "*\x01a" parses as field 5 (len 1) but has a control byte; "2 b" is printable: text.
  assert.deepEqual(decodeWire(Buffer.from([0x0a, 0x03, 0x32, 0x20, 0x62])), { 1: '2 b' });
  assert.deepEqual(decodeWire(Buffer.from([0x0a, 0x03, 0x2a, 0x01, 0x61])), { 1: { 5: 'a' } });
});

test('the status comes from the trailers, or from the headers of a trailers-only answer', () => {
  assert.deepEqual(grpcStatus(['content-type', 'application/grpc'], ['grpc-status', '0']), { code: '0', known: true, message: '' });
  assert.deepEqual(grpcStatus(['content-type', 'application/grpc', 'grpc-status', '14', 'grpc-message', 'no%20backend'], []),
    { code: '14', known: true, message: 'no backend' });
  assert.deepEqual(grpcStatus(['content-type', 'application/grpc'], []), { code: null, known: true, message: '' }); // absent
  assert.deepEqual(grpcStatus(['content-type', 'application/grpc'], null), { code: null, known: false, message: '' }); // not kept
  assert.equal(statusText('14'), 'UNAVAILABLE (14)');
  assert.equal(statusText('99'), '99');
  assert.equal(statusText(null), null);
});

test('--proto loads through the run configuration; a file that does not load is --proto\'s error', () => {
  const flags = { file: '/tmp/capture.pcap', port: ['8080'], shadow: ['http://127.0.0.1:9000'] };
  const cfg = runConfig({ ...flags, proto: [PROTO], ignoreField: ['grpc-status', 'grpc-message'] });
  assert.ok(cfg.compare?.diff.protoSchema?.method('/shop.v1.Users/ListUsers') != null);
  assert.deepEqual([...(cfg.compare?.diff.ignorePaths ?? [])], ['grpc-status', 'grpc-message']);
  assert.equal(runConfig(flags).compare?.diff.protoSchema, null);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-proto-'));
  try {
    const bad = path.join(dir, 'bad.proto');
    fs.writeFileSync(bad, 'syntax = "proto3";\nmessage A { Missing m = 1; }\n');
    assert.throws(() => runConfig({ ...flags, proto: [bad] }), (e: Error) => e instanceof ConfigError && /--proto/.test(e.message) && /Missing/.test(e.message));
    assert.throws(() => runConfig({ ...flags, proto: [path.join(dir, 'absent.proto')] }), ConfigError);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a stream's messages in another order differ, unless --unordered-array '$'", () => {
  const a = encode('User', { name: 'a' }), b = encode('User', { name: 'b' });
  const side = (body: Buffer) => ({ status: 200, headers: ['content-type', 'application/grpc'], trailers: ['grpc-status', '0'], body });
  const ordered = diffResponses(side(frame(a, b)), side(frame(b, a)), defaultDiffOptions(), '/shop.v1.Users/ListUsers');
  assert.equal(ordered.bodyKind, 'grpc');
  assert.deepEqual(ordered.diffs.map((d) => d.at), ['$[0].1', '$[1].1']);
  const any = diffResponses(side(frame(a, b)), side(frame(b, a)), { ...defaultDiffOptions(), unorderedArrays: new Set(['$']) }, '/shop.v1.Users/ListUsers');
  assert.deepEqual(any.diffs, []);
});

test('--ignore-field takes schema-less paths as the diff names them', () => {
  const side = (name: string) => ({ status: 200, headers: ['content-type', 'application/grpc'], trailers: ['grpc-status', '0'], body: frame(encode('GetUserResponse', { user: { name, id: 3 } })) });
  const plain = diffResponses(side('ann'), side('bob'), defaultDiffOptions());
  assert.deepEqual(plain.diffs.map((d) => [d.path, d.at]), [['$[*].1.1', '$[0].1.1']]);
  assert.deepEqual(diffResponses(side('ann'), side('bob'), { ...defaultDiffOptions(), ignorePaths: new Set(['$[*].1.1']) }).diffs, []);
  assert.deepEqual(diffResponses(side('ann'), side('bob'), { ...defaultDiffOptions(), ignorePaths: new Set(['$[0].1.1']) }).diffs, []);
});
