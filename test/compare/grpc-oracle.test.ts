// The protobuf decoders against an independent one: real grpc-js answers captured by tcpdump on
// lo and dissected by tshark (its gRPC and protobuf dissectors, given the same .proto), field by
// field, against what decodeWire (no schema) and decodeTyped (by type) make of the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { splitGrpcMessages } from '../../src/compare/grpc';
import { ProtoObject, decodeTyped, decodeWire } from '../../src/compare/protobuf';
import { captureSkipReason, runTool, startTcpdump } from '../support/tools';
import { PROTO, WireAnswer, call, encode, frame, startUsers, type } from './grpc-support';

/** The fields the oracle reads, as tshark prints them: strings, decimal numbers. */
interface Seen { name: string; email: string; id: string; tier: string; tags: string[]; city: string; score: string }

function userOf(id: number): Record<string, unknown> {
  return {
    name: `user-${id}-ø`, email: `u${id}@example.com`, id: String(id * 1_000_003), tier: id % 2 === 0 ? 'TIER_GOLD' : 'TIER_FREE',
    tags: Array.from({ length: id }, (_, i) => `t${i}`), address: { city: `city ${id}` }, score: id * 1.25,
  };
}

const list = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : [String(v)]);

function fromWire(o: ProtoObject): Seen {
  const u = o[1] as ProtoObject;
  const hex = String(u[7]).slice(2);
  return {
    name: String(u[1]), email: String(u[2]), id: String(u[3]), tier: String(u[4]), tags: list(u[5]),
    city: String((u[6] as ProtoObject)[1]), score: String(Buffer.from(hex, 'hex').readDoubleBE(0)),
  };
}

function fromTyped(o: ProtoObject): Seen {
  const u = o.user as ProtoObject;
  const tiers: Record<string, string> = { TIER_FREE: '1', TIER_GOLD: '2' };
  return {
    name: String(u.name), email: String(u.email), id: String(u.id), tier: tiers[String(u.tier)]!, tags: list(u.tags),
    city: String((u.address as ProtoObject).city), score: String(u.score),
  };
}

test('schema-less and typed decoding agree with tshark on captured grpc-js answers', async (t) => {
  const why = captureSkipReason(['tcpdump', 'tshark']);
  if (why !== null) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-grpc-oracle-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const server = await startUsers({
    GetUser: (c: { request: { id?: string } }, cb: (e: null, v: unknown) => void) => cb(null, { user: userOf(Number(c.request.id)) }),
  });
  t.after(() => server.close());
  const file = path.join(dir, 'grpc.pcap');
  const dump = await startTcpdump({ iface: 'lo', filter: `tcp port ${server.port}`, file });
  const answers: WireAnswer[] = [];
  try {
    for (let id = 1; id <= 4; id++) answers.push(await call(server.port, '/shop.v1.Users/GetUser', frame(encode('GetUserRequest', { id }))));
  } finally {
    const st = await dump.stop();
    assert.equal(st.droppedByKernel, 0);
  }

  const r = await runTool('tshark', [
    '-r', file, '-n', '-d', `tcp.port==${server.port},http2`,
    '-o', `uat:protobuf_search_paths:"${path.dirname(PROTO)}","TRUE"`, '-o', 'protobuf.pbf_as_hf:TRUE',
    '-Y', 'protobuf.message.name == "shop.v1.GetUserResponse"', '-T', 'ek', '-J', 'protobuf',
  ], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const oracle: Seen[] = [];
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{"timestamp"')) continue;
    const pb = (JSON.parse(line) as { layers: { protobuf: Record<string, unknown> } }).layers.protobuf;
    const one = (k: string): string => String(pb[`protobuf_pbf_shop_v1_${k}`]);
    oracle.push({
      name: one('User_name'), email: one('User_email'), id: one('User_id'), tier: one('User_tier'),
      tags: list(pb.protobuf_pbf_shop_v1_User_tags), city: one('Address_city'), score: one('User_score'),
    });
  }
  assert.equal(oracle.length, 4, r.stdout.slice(0, 2000));

  const mine = answers.map((a) => {
    const frames = splitGrpcMessages(a.body, null, 1 << 20);
    assert.equal(frames.error, null);
    assert.equal(frames.messages.length, 1);
    const wire = decodeWire(frames.messages[0]!);
    assert.ok(wire !== null);
    const typed = fromTyped(decodeTyped(type('GetUserResponse'), frames.messages[0]!));
    assert.deepEqual(fromWire(wire), typed);
    return typed;
  });
  const key = (s: Seen): string => JSON.stringify(s);
  assert.deepEqual(mine.map(key).sort(), oracle.map(key).sort());
});
