// gRPC through the HTTP/2 replayer to real @grpc/grpc-js shadows: the answer comes back with
// its trailers (grpc-status), a failing call's trailers-only answer with its status in the
// headers, a server stream whole; and the comparison, fed the replayer's own answers beside
// production's, finds what differs and only that.
import { strict as assert } from 'node:assert';
import { after, before, test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { CompareStage, defaultCompareOptions } from '../../src/compare';
import { grpcStatus } from '../../src/compare/grpc';
import { Replayer } from '../../src/replay';
import { call, encode, frame, grpcRequest, productionOf, startUsers, type } from '../compare/grpc-support';
import { replay } from './h2-support';

const GET = '/shop.v1.Users/GetUser', LIST = '/shop.v1.Users/ListUsers';

function users(name: string, failWith: number | null = null): grpc.UntypedServiceImplementation {
  return {
    GetUser: (c: grpc.ServerUnaryCall<{ id?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      if (failWith !== null) return cb({ code: failWith, details: 'no such user' } as grpc.ServiceError, null);
      cb(null, { user: { name, email: 'ann@example.com', id: c.request.id ?? '0', tags: ['a', 'b'] } });
    },
    ListUsers: (c: grpc.ServerWritableStream<unknown, unknown>) => {
      for (let i = 0; i < 3; i++) c.write({ name: `${name}${i}`, id: String(i) });
      c.end();
    },
    UploadUsers: () => {},
    Chain: (c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, c.request),
  };
}

let prod: { port: number; close(): void };
let same: { port: number; close(): void };
let renamed: { port: number; close(): void };
let failing: { port: number; close(): void };
before(async () => {
  [prod, same, renamed, failing] = await Promise.all([startUsers(users('ann')), startUsers(users('ann')), startUsers(users('anne')), startUsers(users('ann', 5))]);
});
after(() => { for (const s of [prod, same, renamed, failing]) s.close(); });

const origin = (s: { port: number }): string => `http://127.0.0.1:${s.port}`;
const getUser = (id: number): Buffer => frame(encode('GetUserRequest', { id }));

/** The length-prefixed messages of a gRPC body. */
function messages(body: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at + 5 <= body.length; at += 5 + body.readUInt32BE(at + 1)) out.push(body.subarray(at + 5, at + 5 + body.readUInt32BE(at + 1)));
  return out;
}

test('a unary call replayed over HTTP/2: status 200, application/grpc, grpc-status 0 in the trailers, the message whole', async () => {
  const replayer = new Replayer({ targets: [origin(same)], keepResponseBytes: 1 << 20, timeoutMs: 5000 });
  const x = await replay(replayer, grpcRequest(GET, getUser(7), ['te', 'trailers', 'grpc-timeout', '5S']));
  await replayer.drain(1000);
  assert.equal(x.outcome, 'replayed', x.r.error ?? '');
  assert.equal(x.r.statusCode, 200);
  assert.equal(x.r.headers?.[x.r.headers.indexOf('content-type') + 1], 'application/grpc+proto');
  assert.deepEqual(grpcStatus(x.r.headers ?? [], x.r.trailers).code, '0');
  const [m] = messages(x.r.body ?? Buffer.alloc(0));
  assert.deepEqual((type('GetUserResponse').toObject(type('GetUserResponse').decode(m), { longs: String }) as { user: { name: string; id: string } }).user.name, 'ann');
});

test('a failing call (NOT_FOUND) comes back as a trailers-only answer: its status read from the headers', async () => {
  const replayer = new Replayer({ targets: [origin(failing)], keepResponseBytes: 1 << 20, timeoutMs: 5000 });
  const x = await replay(replayer, grpcRequest(GET, getUser(7), ['te', 'trailers']));
  await replayer.drain(1000);
  assert.equal(x.outcome, 'replayed');
  assert.equal(x.r.trailers, undefined);
  assert.deepEqual(grpcStatus(x.r.headers ?? [], x.r.trailers), { code: '5', known: true, message: 'no such user' });
});

test('a server stream comes back whole: three messages, then grpc-status 0', async () => {
  const replayer = new Replayer({ targets: [origin(same)], keepResponseBytes: 1 << 20, timeoutMs: 5000 });
  const x = await replay(replayer, grpcRequest(LIST, frame(encode('ListUsersRequest', { limit: 3 })), ['te', 'trailers']));
  await replayer.drain(1000);
  assert.equal(x.outcome, 'replayed');
  assert.deepEqual(messages(x.r.body ?? Buffer.alloc(0)).map((m) => (type('User').decode(m) as unknown as { name: string }).name), ['ann0', 'ann1', 'ann2']);
  assert.equal(grpcStatus(x.r.headers ?? [], x.r.trailers).code, '0');
});

test('the comparison, fed the replayer\'s answers: the same shadow passes, a renamed user and a failing one are found', async () => {
  const targets = [origin(same), origin(renamed), origin(failing)];
  const replayer = new Replayer({ targets, keepResponseBytes: 1 << 20, timeoutMs: 5000 });
  const stage = new CompareStage(targets, null, defaultCompareOptions(), null);
  const body = getUser(7);
  const req = grpcRequest(GET, body, ['te', 'trailers']);
  const p = await call(prod.port, GET, body);
  const answers = await new Promise<import('../../src/replay').ShadowResponse[]>((resolve) => replayer.submit(req, (_o, rs) => resolve(rs)));
  await replayer.drain(1000);
  assert.deepEqual(answers.map((a) => a.outcome), ['replayed', 'replayed', 'replayed']);
  stage.exchange({ request: req, response: productionOf(p), responseMissing: null });
  stage.replayed(req, answers);
  stage.flush();
  const [endpoint] = stage.results({}, true).endpoints;
  const byTarget = new Map(endpoint.shadows.map((s) => [s.target, s]));
  assert.deepEqual(targets.map((t) => [byTarget.get(t)?.compared, byTarget.get(t)?.mismatched]), [[1, 0], [1, 1], [1, 1]]);
  assert.deepEqual(Object.keys(byTarget.get(origin(renamed))!.fields), ['$[*].1.1']);
});
