// Self-test of the deterministic JSON API fixture (test/support/api.ts).
import { after, before, describe, it } from 'node:test';
import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as zlib from 'node:zlib';
import { pathTemplate } from '../../src/compare/endpoints';
import {
  API_ENDPOINTS, APP_CSS, ApiServer, MIX_POOLS, ORDER_IDS, apiMixPlan, driveApiMix, orderData, startApi, userData,
} from './api';

interface Got { status: number; headers: http.IncomingHttpHeaders; raw: Buffer; body: Buffer; ms: number }

const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

function get(port: number, path: string, gzip = true): Promise<Got> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, agent, headers: gzip ? { 'Accept-Encoding': 'gzip' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const body = res.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(raw) : raw;
        resolve({ status: res.statusCode ?? 0, headers: res.headers, raw, body, ms: Date.now() - t0 });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const json = (g: Got) => JSON.parse(g.body.toString('utf8'));

describe('test/support/api', () => {
  let prod: ApiServer; // clean, gzip
  let shadow: ApiServer; // everything planted, reorderKeys
  before(async () => {
    prod = await startApi({ name: 'api-prod/1.0', gzip: true });
    shadow = await startApi({
      name: 'api-shadow/2.0', reorderKeys: true,
      planted: { changedValue: true, removedField: true, typeChange: true, failing: true, slow: true },
    });
  });
  after(async () => {
    agent.destroy();
    await prod.close();
    await shadow.close();
  });

  it('GET /users/{id}: same data, planted age+1 and missing email, noise differs, gzip and key order', async () => {
    const [a, a2, b] = [await get(prod.port, '/users/7'), await get(prod.port, '/users/7'), await get(shadow.port, '/users/7')];
    for (const g of [a, a2, b]) {
      assert.equal(g.status, 200);
      assert.match(String(g.headers['content-type']), /^application\/json/);
      assert.match(String(g.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      assert.ok(g.headers.date);
    }
    assert.equal(a.headers['content-encoding'], 'gzip');
    assert.equal(b.headers['content-encoding'], undefined);
    assert.equal(a.headers.server, 'api-prod/1.0');
    assert.equal(b.headers.server, 'api-shadow/2.0');
    assert.notEqual(a.headers['x-request-id'], a2.headers['x-request-id']);

    const pa = json(a), pa2 = json(a2), pb = json(b);
    const u = userData(7);
    assert.deepEqual(Object.keys(pa), ['id', 'name', 'email', 'age', 'tags', 'profile', 'generatedAt', 'requestId']);
    assert.deepEqual(Object.keys(pb), ['requestId', 'generatedAt', 'profile', 'tags', 'age', 'name', 'id']);
    assert.deepEqual(Object.keys(pb.profile), ['joined', 'city']);
    assert.equal(pa.email, u.email);
    assert.equal('email' in pb, false);
    assert.equal(pa.age, u.age);
    assert.equal(pb.age, u.age + 1);
    for (const k of ['id', 'name', 'tags', 'profile'] as const) assert.deepEqual(pb[k], pa[k]);
    assert.match(pa.generatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.notEqual(pa.requestId, pa2.requestId);
    assert.notEqual(pa.requestId, pb.requestId);
    assert.equal((await get(prod.port, '/users/51')).status, 404);
  });

  it('GET /orders/{uuid}: total is a number on prod, a 2-decimal string on the planted server', async () => {
    const id = ORDER_IDS[3];
    assert.equal(pathTemplate(`/orders/${id}`), '/orders/{uuid}');
    const [a, b] = [await get(prod.port, `/orders/${id}`), await get(shadow.port, `/orders/${id}`)];
    const pa = json(a), pb = json(b);
    const o = orderData(id);
    assert.equal(typeof pa.total, 'number');
    assert.equal(pa.total, o.total);
    assert.equal(typeof pb.total, 'string');
    assert.equal(pb.total, o.total.toFixed(2));
    assert.deepEqual(pb.items, pa.items);
    assert.deepEqual(Object.keys(pb.items[0]), ['price', 'qty', 'sku']);
    assert.equal(pa.currency, pb.currency);
    // unchanged across requests (no noise in orders)
    assert.deepEqual(json(await get(prod.port, `/orders/${id}`)), pa);
  });

  it('GET /reports/{id}: rows scale with id; planted server always 500 boom', async () => {
    const small = await get(prod.port, '/reports/1');
    const big = await get(prod.port, '/reports/50');
    const noGz = await get(prod.port, '/reports/50', false);
    assert.equal(noGz.headers['content-encoding'], undefined);
    assert.deepEqual(json(noGz).rows, json(big).rows);
    assert.ok(small.body.length >= 800 && small.body.length <= 2000, `small ${small.body.length}`);
    assert.ok(big.body.length >= 35_000 && big.body.length <= 50_000, `big ${big.body.length}`);
    assert.ok(big.raw.length < big.body.length, 'gzip shrinks');
    const pb = json(big);
    assert.equal(pb.rows.length, 500);
    assert.equal(typeof pb.ts, 'number');
    assert.ok(Math.abs(pb.ts - Date.now()) < 5000);
    const f = await get(shadow.port, '/reports/1');
    assert.equal(f.status, 500);
    assert.deepEqual(json(f), { error: 'boom' });
  });

  it('GET /search: same results, random took_ms, 20 ms vs 40 ms', async () => {
    const [a, b] = [await get(prod.port, '/search?q=alpha'), await get(shadow.port, '/search?q=alpha')];
    const pa = json(a), pb = json(b);
    assert.equal(pa.q, 'alpha');
    assert.deepEqual(pb.results, pa.results);
    assert.equal(typeof pa.took_ms, 'number');
    assert.ok(a.ms >= 19, `prod took ${a.ms}`);
    assert.ok(b.ms >= 39, `shadow took ${b.ms}`);
  });

  it('GET /health and /static/app.css', async () => {
    const h = await get(prod.port, '/health');
    assert.equal(h.body.toString(), 'ok');
    assert.match(String(h.headers['content-type']), /^text\/plain/);
    assert.equal(h.headers['content-encoding'], undefined);
    const [a, b] = [await get(prod.port, '/static/app.css'), await get(shadow.port, '/static/app.css')];
    assert.equal(a.headers['content-encoding'], 'gzip');
    assert.match(String(a.headers['content-type']), /^text\/css/);
    assert.equal(a.body.toString(), APP_CSS);
    assert.equal(b.body.toString(), APP_CSS);
    assert.ok(APP_CSS.length >= 1500 && APP_CSS.length <= 3000, `css ${APP_CSS.length}`);
  });

  it('driveApiMix sends exactly the requested count, every endpoint ≥ 8%', async () => {
    const s = await startApi({ name: 'api-mix' });
    try {
      const before = s.requests;
      const r = await driveApiMix(s.port, { requests: 400, seed: 7, concurrency: 8 });
      assert.equal(r.sent, 400);
      assert.equal(s.requests - before, 400);
      assert.equal(Object.values(r.byEndpoint).reduce((x, y) => x + y, 0), 400);
      for (const t of Object.values(API_ENDPOINTS)) assert.ok((r.byEndpoint[t] ?? 0) >= 32, `${t}: ${r.byEndpoint[t]}`);
      // templates agree with the tool's own, and the plan is deterministic per seed
      for (const [t, target] of apiMixPlan(200, 7)) assert.equal(`GET ${pathTemplate(target)}`, t);
      assert.deepEqual(apiMixPlan(50, 7), apiMixPlan(50, 7));
      assert.notDeepEqual(apiMixPlan(50, 7), apiMixPlan(50, 8));
      assert.ok(MIX_POOLS.userIds.length <= 10);
    } finally {
      await s.close();
    }
  });
});
