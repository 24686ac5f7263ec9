// gRPC mirrored live: a @grpc/grpc-js production service on loopback, called by a grpc-js client
// (h2c, multiplexed) while `run` captures it on lo and replays every call over HTTP/2 to a
// grpc-js shadow. A shadow with planted regressions (a changed field, a removed field, one method
// answering UNAVAILABLE) is named for exactly those, with and without --proto; an identical shadow
// passes the verdict; every call reaches the shadow once and the accounting adds up. (gRPC calls
// are POSTs: mirrored only when allowed, here with --methods POST.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as loader from '@grpc/proto-loader';
import type { Analysis, EndpointAnalysis } from '../../src/report/analysis';
import { PROTO, startUsers } from '../compare/grpc-support';
import { captureSkipReason, runCli, startCli } from '../support/tools';

const CALLS = 150; // of each method

interface Planted { changedName: boolean; removedEmail: boolean; listUnavailable: boolean }
const none: Planted = { changedName: false, removedEmail: false, listUnavailable: false };

/** A Users service counting the calls it answers. */
async function users(planted: Planted) {
  const counts = { GetUser: 0, ListUsers: 0, UploadUsers: 0 };
  const server = await startUsers({
    GetUser: (c: grpc.ServerUnaryCall<{ id?: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      counts.GetUser++;
      const id = Number(c.request.id ?? 0);
      const user: Record<string, unknown> = { name: planted.changedName ? `user-${id + 1}` : `user-${id}`, id: String(id), tier: 'TIER_GOLD', tags: ['a', 'b'] };
      if (!planted.removedEmail) user.email = `u${id}@example.com`;
      cb(null, { user });
    },
    ListUsers: (c: grpc.ServerWritableStream<{ limit?: number }, unknown>) => {
      counts.ListUsers++;
      if (planted.listUnavailable) return c.emit('error', { code: grpc.status.UNAVAILABLE, details: 'backend down' });
      for (let i = 0; i < (c.request.limit ?? 3); i++) c.write({ name: `u${i}`, id: String(i) });
      c.end();
    },
    UploadUsers: (c: grpc.ServerReadableStream<{ name: string }, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      counts.UploadUsers++;
      const names: string[] = [];
      c.on('data', (u: { name: string }) => names.push(u.name));
      c.on('end', () => cb(null, { count: names.length, names }));
    },
    Chain: (c: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => cb(null, c.request),
  });
  return { ...server, counts, total: () => counts.GetUser + counts.ListUsers + counts.UploadUsers };
}

type UsersClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

/** CALLS of each method to production over one multiplexed h2c connection, 8 at a time. */
async function drive(port: number): Promise<void> {
  const def = loader.loadSync(PROTO, { keepCase: true, longs: String, enums: String });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { shop: { v1: { Users: grpc.ServiceClientConstructor } } };
  const client = new pkg.shop.v1.Users(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as UsersClient;
  const one = (i: number): Promise<void> => new Promise((resolve, reject) => {
    const method = i % 3;
    if (method === 0) {
      client.GetUser({ id: i }, (err: Error | null) => (err ? reject(err) : resolve()));
    } else if (method === 1) {
      const s = client.ListUsers({ limit: 1 + (i % 4) }) as grpc.ClientReadableStream<unknown>;
      s.on('data', () => {});
      s.on('error', reject);
      s.on('end', resolve);
    } else {
      const s = client.UploadUsers((err: Error | null) => (err ? reject(err) : resolve())) as grpc.ClientWritableStream<unknown>;
      for (let k = 0; k < 1 + (i % 3); k++) s.write({ name: `n${i}-${k}`, email: `n${k}@example.com` });
      s.end();
    }
  });
  try {
    let next = 0;
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < CALLS * 3) await one(next++);
    }));
  } finally {
    client.close();
  }
}

async function waitFor(cond: () => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 50));
  }
}

function flagged(a: Analysis): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const e of a.targets[0].endpoints as EndpointAnalysis[]) out[e.key] = e.fields.filter((f) => f.flagged).map((f) => f.path).sort();
  return out;
}

const GET = 'POST /shop.v1.Users/GetUser', LIST = 'POST /shop.v1.Users/ListUsers', UPLOAD = 'POST /shop.v1.Users/UploadUsers';

test('gRPC mirrored over HTTP/2: planted regressions named with and without --proto, an identical shadow passes', { timeout: 240_000 }, async (t) => {
  const why = captureSkipReason([]);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-grpc-'));
  const prod = await users(none);
  const bad = await users({ changedName: true, removedEmail: true, listUnavailable: true });
  const good = await users(none);
  t.after(() => { prod.close(); bad.close(); good.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  const mirror = async (shadow: typeof bad, out: string, extra: string[] = []) => {
    const cli = startCli(['run', '--interface', 'lo', '--port', String(prod.port), '--shadow', `http://127.0.0.1:${shadow.port}`,
      '--methods', 'POST', '--out', out, '--stats-interval', '0', '--summary-json', path.join(out + '.summary.json'), ...extra]);
    assert.ok(await cli.waitForLine(/capture started/, 15_000), cli.stderr());
    const before = shadow.total();
    await drive(prod.port);
    await waitFor(() => shadow.total() - before >= CALLS * 3, 60_000).catch(() => {});
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await cli.stop('SIGTERM'), 0, cli.stderr());
    const summary = JSON.parse(fs.readFileSync(out + '.summary.json', 'utf8')) as { seen: number; replayed: number; notReplayed: Record<string, number> };
    assert.equal(shadow.total() - before, CALLS * 3, `every call reached the shadow once: ${JSON.stringify(summary)}`);
    assert.equal(summary.seen, CALLS * 3, JSON.stringify(summary));
    assert.equal(summary.replayed, CALLS * 3, JSON.stringify(summary));
    const report = await runCli(['report', out, '--json']);
    assert.equal(report.code, 0, report.stderr);
    return JSON.parse(report.stdout) as Analysis;
  };

  const byNumber = flagged(await mirror(bad, path.join(dir, 'bad')));
  const byName = flagged(await mirror(bad, path.join(dir, 'bad-proto'), ['--proto', PROTO]));
  for (const [label, f] of [['schema-less', byNumber], ['--proto', byName]] as const) {
    assert.deepEqual(Object.keys(f).sort(), [GET, LIST, UPLOAD], label);
    assert.deepEqual(f[UPLOAD], [], label);
    assert.equal(f[LIST].length, 1, `${label}: only the status: ${f[LIST]}`);
    assert.match(f[LIST][0], /grpc-status/, label);
  }
  assert.deepEqual(byName[GET], ['$[*].user.email', '$[*].user.name']);
  assert.deepEqual(byNumber[GET], ['$[*].1.1', '$[*].1.2']);
  const verdict = await runCli(['verdict', path.join(dir, 'bad')]);
  assert.equal(verdict.code, 1, verdict.stdout);
  for (const key of [GET, LIST]) assert.ok(verdict.stdout.includes(key.split(' ')[1]), `${key} named in\n${verdict.stdout}`);

  const same = await mirror(good, path.join(dir, 'good'), ['--proto', PROTO]);
  assert.deepEqual(flagged(same), { [GET]: [], [LIST]: [], [UPLOAD]: [] });
  assert.equal(same.targets[0].compared, CALLS * 3);
  const pass = await runCli(['verdict', path.join(dir, 'good')]);
  assert.equal(pass.code, 0, pass.stdout);
});
