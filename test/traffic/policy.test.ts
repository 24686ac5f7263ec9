import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { HttpRequest } from '../../src/http';
import { TrafficOptions, TrafficPolicy, defaultTrafficOptions, parseRule, parseSampleKey, readValueMap } from '../../src/traffic';
import { fakeConnection, fakeRequest } from '../support/requests';

function request(method: string, url: string, headers: string[] = ['Host', 'api.example']): HttpRequest {
  return fakeRequest(url, { method, headers, conn: fakeConnection(1, '10.1.2.3') });
}

const policy = (o: Partial<TrafficOptions>, random?: () => number) => new TrafficPolicy({ ...defaultTrafficOptions(), ...o }, random);

test('safe by default: only GET, HEAD and OPTIONS are mirrored; writes are counted by method', () => {
  const p = policy({});
  const decisions = ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'DELETE', 'PATCH', 'POST'].map((m) => p.decide(request(m, '/x')));
  assert.deepEqual(decisions, [null, null, null, 'unsafeMethod', 'unsafeMethod', 'unsafeMethod', 'unsafeMethod', 'unsafeMethod']);
  assert.deepEqual(p.stats.unsafeMethod, { POST: 2, PUT: 1, DELETE: 1, PATCH: 1 });
  assert.equal(policy({ methods: null }).decide(request('DELETE', '/x')), null);
  assert.equal(policy({ methods: new Set(['GET', 'POST']) }).decide(request('POST', '/x')), null);
});

test('rules: the first match decides, every condition must hold, stops are counted by rule', () => {
  const p = policy({
    methods: null,
    rules: [
      parseRule('deny path:^/admin'),
      parseRule('allow method:POST path:^/api/search header:x-tenant=^acme$'),
      parseRule('deny method:POST'),
      parseRule('deny host:^internal\\.'),
      parseRule('deny header:x-debug'),
    ],
  });
  const d = (m: string, u: string, h: string[] = ['Host', 'api.example']) => p.decide(request(m, u, h));
  assert.equal(d('GET', '/admin/users'), 'filtered');
  assert.equal(d('POST', '/api/search', ['Host', 'a', 'X-Tenant', 'acme']), null);
  assert.equal(d('POST', '/api/search', ['Host', 'a', 'X-Tenant', 'acme-2']), 'filtered');
  assert.equal(d('GET', '/x', ['Host', 'internal.example']), 'filtered');
  assert.equal(d('GET', '/x', ['Host', 'a', 'X-Debug', '']), 'filtered');
  assert.equal(d('GET', '/x'), null);
  assert.deepEqual(p.stats.filteredBy, { 'deny path:^/admin': 1, 'deny method:POST': 1, 'deny host:^internal\\.': 1, 'deny header:x-debug': 1 });
  const closed = policy({ rules: [parseRule('allow path:^/public/')], defaultAction: 'deny' });
  assert.equal(closed.decide(request('GET', '/public/a')), null);
  assert.equal(closed.decide(request('GET', '/private')), 'filtered');
  assert.deepEqual(closed.stats.filteredBy, { 'default deny': 1 });
});

test('rule syntax errors name the problem', () => {
  assert.throws(() => parseRule('block path:/x'), /starts with allow or deny/);
  assert.throws(() => parseRule('deny'), /at least one condition/);
  assert.throws(() => parseRule('deny colour:red'), /expected method:LIST/);
  assert.throws(() => parseRule('deny path:(['), /not a regular expression/);
  assert.throws(() => parseSampleKey('session'), /header:NAME, cookie:NAME or query:NAME/);
});

test('sampling by a cookie keeps each session whole, at about the asked share of sessions', () => {
  const p = policy({ samplePercent: 10, sampleBy: parseSampleKey('cookie:session') });
  const kept = new Map<string, Set<boolean>>();
  for (let s = 0; s < 3000; s++) {
    for (let i = 0; i < 5; i++) {
      const sid = `s-${s}`;
      const decision = p.decide(request('GET', `/p/${i}`, ['Host', 'a', 'Cookie', `theme=dark; session=${sid}; x=1`])) === null;
      (kept.get(sid) ?? kept.set(sid, new Set()).get(sid)!).add(decision);
    }
  }
  assert.ok([...kept.values()].every((d) => d.size === 1), 'a session split');
  const sessionsIn = [...kept.values()].filter((d) => d.has(true)).length;
  assert.ok(Math.abs(sessionsIn - 300) < 4 * Math.sqrt(3000 * 0.1 * 0.9), `${sessionsIn} of 3000 sessions`);
  // Without the cookie: random sampling, counted.
  const q = policy({ samplePercent: 50, sampleBy: parseSampleKey('query:uid') }, () => 0.25);
  assert.equal(q.decide(request('GET', '/a?x=1')), null);
  assert.equal(q.stats.sampleKeyMissing, 1);
});

test('rewrites: set, remove, rename, path, value maps and X-Forwarded-For; the captured request is untouched', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-map-'));
  const mapFile = path.join(dir, 'tokens');
  fs.writeFileSync(mapFile, '# prod → shadow\nprod-token-1 shadow-token-1\n\nprod-token-2 shadow-token-2\n');
  const p = policy({
    rewrites: {
      setHeaders: [['X-Env', 'shadow']], removeHeaders: new Set(['cookie']), renameHeaders: new Map([['x-old', 'X-New']]),
      paths: [[/^\/v1\//, '/v2/']], headerValueMaps: new Map([['authorization', readValueMap(mapFile)]]), forwardClient: true,
    },
  });
  const req = request('GET', '/v1/items?id=1', ['Host', 'a', 'Authorization', 'Bearer prod-token-2', 'Cookie', 'sid=1', 'X-Old', '7', 'X-Env', 'prod', 'X-Forwarded-For', '192.0.2.1']);
  const before = JSON.stringify(req);
  const out = p.rewrite(req);
  assert.equal(out.url, '/v2/items?id=1');
  assert.deepEqual(out.headers, ['Host', 'a', 'Authorization', 'Bearer shadow-token-2', 'X-New', '7', 'X-Forwarded-For', '192.0.2.1, 10.1.2.3', 'X-Env', 'shadow']);
  assert.equal(JSON.stringify(req), before);
  const unmapped = p.rewrite(request('GET', '/x', ['Authorization', 'Bearer other']));
  assert.deepEqual(unmapped.headers, ['Authorization', 'Bearer other', 'X-Forwarded-For', '10.1.2.3', 'X-Env', 'shadow']);
  assert.equal(p.stats.unmappedHeaderValues, 1);
  assert.equal(policy({}).rewrite(req), req); // nothing configured: the same object
  fs.rmSync(dir, { recursive: true, force: true });
});

test('a CONNECT is never mirrored: booked as a tunnel, before the method check and whatever the rules say', () => {
  const connect = request('CONNECT', 'api.example:443');
  assert.equal(policy({}).decide(connect), 'tunnel');
  assert.equal(policy({ methods: null }).decide(connect), 'tunnel');
  assert.equal(policy({ methods: null, rules: [parseRule('allow method:CONNECT')] }).decide(connect), 'tunnel');
  const p = policy({});
  p.decide(connect);
  assert.deepEqual(p.stats.unsafeMethod, {}, 'not counted as an unsafe method');
});
