// gRPC calls through CompareStage, as the h2 capture and HTTP/2 replay will hand them over:
// production's and the shadow's answers are real ones, from two @grpc/grpc-js servers on
// loopback (the shadow with planted differences), called over h2c and taken as on the wire.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type * as grpc from '@grpc/grpc-js';
import { CompareStage, MismatchSample, ProtoSchema, defaultCompareOptions } from '../../src/compare';
import { EndpointClassifier } from '../../src/compare/endpoints';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyze } from '../../src/report/analysis';
import { OutputDir, SampleLine } from '../../src/report/outdir';
import { Redactor, defaultRedactOptions } from '../../src/traffic/redact';
import { PROTO, WireAnswer, call, clientSends, encode, frame, grpcRequest, productionOf, shadowOf, startUsers } from './grpc-support';

const SHADOW = 'http://shadow:1';
const BASE = 'http://baseline:1';

/** What a server answers; the shadow's is changed test by test. */
interface Behaviour {
  name: string;
  dropEmail: boolean;
  failWith: number | null;
  details: string;
  /** Server streaming: how many users, and the name of the second. */
  streamed: number;
  secondName: string;
  /** A per-answer value production varies itself (noise), when set. */
  nonce: boolean;
}

const normal = (): Behaviour => ({ name: 'ann', dropEmail: false, failWith: null, details: 'backend down', streamed: 3, secondName: 'bob', nonce: false });
const prodBehaviour = normal();
let shadowBehaviour = normal();
let calls = 0;

function handlers(b: () => Behaviour): grpc.UntypedServiceImplementation {
  return {
    GetUser: (c: grpc.ServerUnaryCall<{ id?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const x = b();
      if (x.failWith !== null) return cb({ code: x.failWith, details: x.details } as grpc.ServiceError, null);
      const user: Record<string, unknown> = { name: x.name, email: 'ann@example.com', id: c.request.id ?? '0', tier: 'TIER_GOLD', tags: ['a', 'b'] };
      if (x.dropEmail) delete user.email;
      if (x.nonce) user.address = { city: 'Oslo', zip: `z${calls++}` };
      cb(null, { user });
    },
    ListUsers: (c: grpc.ServerWritableStream<unknown, unknown>) => {
      const x = b();
      for (let i = 0; i < x.streamed; i++) c.write({ name: i === 1 ? x.secondName : `u${i}`, id: String(i) });
      c.end();
    },
    UploadUsers: (c: grpc.ServerReadableStream<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const names: string[] = [];
      c.on('data', (u: { name: string }) => names.push(u.name));
      c.on('end', () => cb(null, { count: names.length, names: b().dropEmail ? names.slice(1) : names }));
    },
    Chain: (c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, c.request),
  };
}

let prod: { port: number; close(): void };
let shadow: { port: number; close(): void };
let baseline: { port: number; close(): void };

before(async () => {
  prod = await startUsers(handlers(() => prodBehaviour));
  shadow = await startUsers(handlers(() => shadowBehaviour));
  baseline = await startUsers(handlers(() => prodBehaviour));
});
after(() => {
  prod.close();
  shadow.close();
  baseline.close();
});

const GET = '/shop.v1.Users/GetUser', LIST = '/shop.v1.Users/ListUsers', UPLOAD = '/shop.v1.Users/UploadUsers';

function stageWith(proto: boolean, targets = [SHADOW], base: string | null = null, samples: MismatchSample[] | null = null): CompareStage {
  const o = defaultCompareOptions();
  const options = { ...o, diff: { ...o.diff, protoSchema: proto ? ProtoSchema.load([PROTO]) : null } };
  const sink = samples === null ? null : { hasRoom: true, write: (s: MismatchSample) => { samples.push(s); return true; } };
  return new CompareStage(targets, base, options, sink);
}

/** One call to production and to the shadow (and the baseline), handed to the stage. */
async function mirror(stage: CompareStage, method: string, body: Buffer, withBaseline = false): Promise<{ p: WireAnswer; s: WireAnswer }> {
  const p = await call(prod.port, method, body);
  const s = await call(shadow.port, method, body);
  const req = grpcRequest(method, body);
  const answers = [shadowOf(SHADOW, s)];
  if (withBaseline) answers.push(shadowOf(BASE, await call(baseline.port, method, body)));
  stage.exchange({ request: req, response: productionOf(p), responseMissing: null });
  stage.replayed(req, answers);
  return { p, s };
}

function only(stage: CompareStage) {
  stage.flush();
  const r = stage.results({}, true);
  assert.equal(r.endpoints.length, 1);
  return { r, e: r.endpoints[0]!, s: r.endpoints[0]!.shadows[0]! };
}

const getUser = (id: number): Buffer => frame(encode('GetUserRequest', { id }));

test('identical unary answers pass, with and without --proto; the endpoint is the method path', async () => {
  shadowBehaviour = normal();
  for (const proto of [false, true]) {
    const stage = stageWith(proto);
    const { p } = await mirror(stage, GET, getUser(7));
    assert.equal(p.trailers[p.trailers.indexOf('grpc-status') + 1], '0');
    const { r, e, s } = only(stage);
    assert.equal(e.key, `POST ${GET}`);
    assert.equal(s.compared, 1);
    assert.equal(s.mismatched, 0, JSON.stringify(s.fields));
    assert.equal(r.counters.grpcCalls, 1);
    assert.equal(r.counters.grpcSchemaMisses, 0);
  }
});

test('a changed field is found: by name with --proto, by field number without', async () => {
  shadowBehaviour = { ...normal(), name: 'anne' };
  const samples: MismatchSample[] = [];
  const named = stageWith(true, [SHADOW], null, samples);
  await mirror(named, GET, getUser(7));
  const n = only(named).s;
  assert.equal(n.mismatched, 1);
  assert.deepEqual(n.fields, { '$[*].user.name': { diffs: 1, kinds: { value: 1 } } });
  assert.equal(samples.length, 1);
  assert.deepEqual(samples[0]!.diffs, [{ path: '$[*].user.name', at: '$[0].user.name', kind: 'value', expected: 'ann', actual: 'anne' }]);

  const raw = stageWith(false, [SHADOW], null, samples);
  await mirror(raw, GET, getUser(7));
  const w = only(raw).s;
  assert.deepEqual(w.fields, { '$[*].1.1': { diffs: 1, kinds: { value: 1 } } });
  assert.deepEqual(samples[1]!.diffs, [{ path: '$[*].1.1', at: '$[0].1.1', kind: 'value', expected: 'ann', actual: 'anne' }]);
});

test('a removed field is found as missing, with and without --proto', async () => {
  shadowBehaviour = { ...normal(), dropEmail: true };
  for (const [proto, path] of [[true, '$[*].user.email'], [false, '$[*].1.2']] as const) {
    const stage = stageWith(proto);
    await mirror(stage, GET, getUser(7));
    assert.deepEqual(only(stage).s.fields, { [path]: { diffs: 1, kinds: { missing: 1 } } }, `proto ${proto}`);
  }
});

test('UNAVAILABLE (trailers-only) against OK: grpc-status is the difference, and the only one', async () => {
  shadowBehaviour = { ...normal(), failWith: 14 };
  const samples: MismatchSample[] = [];
  for (const proto of [false, true]) {
    const stage = stageWith(proto, [SHADOW], null, samples);
    const { s: answer } = await mirror(stage, GET, getUser(7));
    assert.deepEqual(answer.trailers, [], 'grpc-js answers an early error trailers-only');
    assert.equal(answer.headers[answer.headers.indexOf('grpc-status') + 1], '14');
    const { s } = only(stage);
    assert.deepEqual(s.fields, { 'grpc-status': { diffs: 1, kinds: { status: 1 } } });
    assert.deepEqual(samples.at(-1)!.diffs, [{ path: 'grpc-status', at: 'grpc-status', kind: 'status', expected: 'OK (0)', actual: 'UNAVAILABLE (14)' }]);
  }
});

test('a stream ended without any status differs from OK; a status not kept (no trailers kept) is not compared', async () => {
  shadowBehaviour = normal();
  const body = getUser(7);
  const p = await call(prod.port, GET, body), s = await call(shadow.port, GET, body);
  for (const [trailers, fields] of [[[], { 'grpc-status': { diffs: 1, kinds: { status: 1 } } }], [null, {}]] as const) {
    const stage = stageWith(true);
    const req = grpcRequest(GET, body);
    stage.exchange({ request: req, response: productionOf(p), responseMissing: null });
    stage.replayed(req, [{ ...shadowOf(SHADOW, s), trailers: trailers === null ? null : [...trailers] }]);
    assert.deepEqual(only(stage).s.fields, fields, `trailers ${JSON.stringify(trailers)}`);
  }
});

test('the same error on both sides compares its grpc-message', async () => {
  prodBehaviour.failWith = 5;
  try {
    shadowBehaviour = { ...normal(), failWith: 5 };
    const same = stageWith(false);
    await mirror(same, GET, getUser(7));
    assert.equal(only(same).s.mismatched, 0);
    shadowBehaviour = { ...normal(), failWith: 5, details: 'no user 7 here' };
    const samples: MismatchSample[] = [];
    const other = stageWith(false, [SHADOW], null, samples);
    await mirror(other, GET, getUser(7));
    assert.deepEqual(Object.keys(only(other).s.fields), ['grpc-message']);
    assert.deepEqual(samples[0]!.diffs, [{ path: 'grpc-message', at: 'grpc-message', kind: 'value', expected: 'backend down', actual: 'no user 7 here' }]);
  } finally {
    prodBehaviour.failWith = null;
  }
});

test('server streaming: message by message, and a different count is a difference', async () => {
  shadowBehaviour = { ...normal(), streamed: 2, secondName: 'bobby' };
  const req = frame(encode('ListUsersRequest', { limit: 3 }));
  for (const [proto, name] of [[true, '$[*].name'], [false, '$[*].1']] as const) {
    const stage = stageWith(proto);
    const { p, s: answer } = await mirror(stage, LIST, req);
    assert.ok(p.body.length > answer.body.length);
    const { s } = only(stage);
    assert.deepEqual(s.fields, { [name]: { diffs: 1, kinds: { value: 1 } }, '$[*]': { diffs: 1, kinds: { missing: 1 } } }, `proto ${proto}`);
  }
  shadowBehaviour = normal();
  const same = stageWith(true);
  await mirror(same, LIST, req);
  assert.equal(only(same).s.mismatched, 0);
});

test('client streaming: the request is several messages, the answer compared by type', async () => {
  const users = [{ name: 'a' }, { name: 'b' }, { name: 'c' }].map((u) => encode('User', u));
  const req = frame(...users);
  shadowBehaviour = { ...normal(), dropEmail: true }; // this shadow forgets the first name
  const stage = stageWith(true);
  await mirror(stage, UPLOAD, req);
  const { s } = only(stage);
  // names ['a','b','c'] against ['b','c']: two values shift, the last one is missing (a path
  // counts once per exchange, by its first kind).
  assert.deepEqual(s.fields, { '$[*].names[*]': { diffs: 1, kinds: { value: 1 } } });
  shadowBehaviour = normal();
  const same = stageWith(true);
  await mirror(same, UPLOAD, req);
  assert.equal(only(same).s.mismatched, 0);
});

test('gzip-compressed messages (as grpc-js compresses them) compare with plain ones by content', async () => {
  shadowBehaviour = normal();
  const req = frame(encode('ListUsersRequest', { limit: 3 }));
  const users = (second: string) => [{ name: 'u0', id: '0' }, { name: second, id: '1' }, { name: 'u2', id: '2' }];
  for (const [second, fields] of [['bob', {}], ['bobby', { '$[*].name': { diffs: 1, kinds: { value: 1 } } }]] as const) {
    const stage = stageWith(true);
    const p = await call(prod.port, LIST, req);
    const sent = await clientSends(2, users(second));
    assert.equal(sent.body[0], 1, 'compressed');
    const s: WireAnswer = { status: 200, headers: ['content-type', 'application/grpc', 'grpc-encoding', 'gzip'], trailers: ['grpc-status', '0'], body: sent.body };
    const r = grpcRequest(LIST, req);
    stage.exchange({ request: r, response: productionOf(p), responseMissing: null });
    stage.replayed(r, [shadowOf(SHADOW, s)]);
    assert.deepEqual(only(stage).s.fields, fields, second);
  }
});

test('a method no --proto file declares falls back to schema-less, counted', async () => {
  shadowBehaviour = { ...normal(), name: 'anne' };
  const stage = stageWith(true);
  const body = getUser(7);
  const p = await call(prod.port, GET, body), s = await call(shadow.port, GET, body);
  const req = grpcRequest('/shop.v2.Users/GetUser', body); // as if routed by another name
  stage.exchange({ request: req, response: productionOf(p), responseMissing: null });
  stage.replayed(req, [shadowOf(SHADOW, s)]);
  const { r, s: sh } = only(stage);
  assert.deepEqual(Object.keys(sh.fields), ['$[*].1.1']);
  assert.equal(r.counters.grpcSchemaMisses, 1);
});

test('malformed framing from the shadow is a difference and a counted decode error, not a crash', async () => {
  shadowBehaviour = normal();
  const stage = stageWith(true);
  const body = getUser(7);
  const p = await call(prod.port, GET, body), good = await call(shadow.port, GET, body);
  const req = grpcRequest(GET, body);
  const cut = { ...good, body: good.body.subarray(0, good.body.length - 2) }; // the last two bytes lost
  stage.exchange({ request: req, response: productionOf(p), responseMissing: null });
  stage.replayed(req, [shadowOf(SHADOW, cut)]);
  const { r, s } = only(stage);
  assert.deepEqual(Object.keys(s.fields).sort(), ['$[*]', 'grpc-framing']);
  assert.equal(r.counters.grpcMalformed, 1);
  assert.equal(r.counters.decodeErrors, 1);
  assert.equal(r.counters.diffFailures, 0);
});

test('noise from a baseline and from repeats is learned on gRPC paths; the verdict flags only the real change', async () => {
  prodBehaviour.nonce = true;
  shadowBehaviour = { ...normal(), nonce: true, name: 'anne' };
  try {
    const stage = stageWith(true, [SHADOW, BASE], BASE);
    for (let i = 0; i < 40; i++) await mirror(stage, GET, getUser(i % 4), true);
    const { r, e } = only(stage);
    assert.deepEqual(Object.keys(e.noise.fields), ['$[*].user.address.zip']);
    assert.ok(e.noise.fromRepeats > 0 && e.noise.fromBaseline === 40);
    const a = analyze(r);
    const fields = a.targets[0]!.endpoints[0]!.fields;
    assert.deepEqual(fields.filter((f) => f.flagged).map((f) => f.path), ['$[*].user.name']);
    assert.equal(fields.find((f) => f.path === '$[*].user.address.zip')?.flagged, false);
    assert.equal(a.verdict.pass, false);
  } finally {
    prodBehaviour.nonce = false;
  }
});

test('samples show gRPC messages decoded, and redacted like JSON', async (t) => {
  shadowBehaviour = { ...normal(), name: 'anne' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-grpc-samples-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = new OutputDir(dir, new Redactor({ ...defaultRedactOptions(), pii: true }));
  const o = defaultCompareOptions();
  const stage = new CompareStage([SHADOW], null, { ...o, diff: { ...o.diff, protoSchema: ProtoSchema.load([PROTO]) } }, out);
  await mirror(stage, GET, getUser(7));
  stage.flush();
  const lines = fs.readFileSync(path.join(dir, 'samples.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 1);
  const sample = JSON.parse(lines[0]!) as SampleLine;
  assert.equal(sample.endpoint, `POST ${GET}`);
  assert.deepEqual(sample.diffs, [{ path: '$[*].user.name', at: '$[0].user.name', kind: 'value', expected: 'ann', actual: 'anne' }]);
  assert.deepEqual(JSON.parse(sample.request.body!), [{ 1: 7 }]);
  const prodMessages = JSON.parse(sample.production.body!) as Array<{ 1: Record<string, unknown> }>;
  assert.equal(prodMessages[0]![1][1], 'ann');
  assert.match(String(prodMessages[0]![1][2]), /^\[h:[0-9a-f]{16}\]$/, 'the e-mail address is hashed');
  assert.ok(!lines[0]!.includes('ann@example.com'));
  assert.equal((JSON.parse(sample.shadow.body!) as Array<{ 1: Record<string, unknown> }>)[0]![1][1], 'anne');
});

test('gRPC paths stay literal as endpoints; the same target as REST is templated', () => {
  const c = new EndpointClassifier();
  assert.equal(c.classify('POST', '/grpc.health.v1.Health/Check', true), 'POST /grpc.health.v1.Health/Check');
  assert.equal(c.classify('POST', '/grpc.health.v1.Health/Check'), 'POST /{token}/Check');
  assert.equal(c.classify('POST', '/shop.v1.Orders/Get20240501', true), 'POST /shop.v1.Orders/Get20240501');
});
