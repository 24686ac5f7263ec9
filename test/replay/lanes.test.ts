// --preserve-connections: each captured connection's requests reach the shadow in capture
// order over one connection of their own (a lane), and every outcome still comes out.
import { strict as assert } from 'node:assert';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { HttpRequest } from '../../src/http';
import { ReplayOutcome, Replayer } from '../../src/replay';
import type { ConnectionInfo } from '../../src/tcp';
import { fakeRequest } from '../support/requests';

function connection(id: number): ConnectionInfo {
  return { id, client: { address: '10.0.0.1', port: 40000 + id }, server: { address: '127.0.0.1', port: 2 }, ipVersion: 4, midstream: false, openedUs: 0 };
}

function request(conn: ConnectionInfo, index: number, url: string): HttpRequest {
  return fakeRequest(url, { conn, index });
}

/** Submits everything, resolves with the outcomes by URL once all settled. */
function submitAll(replayer: Replayer, reqs: HttpRequest[]): Promise<Map<string, ReplayOutcome>> {
  const outcomes = new Map<string, ReplayOutcome>();
  return new Promise((resolve) => {
    for (const r of reqs) {
      replayer.submit(r, (outcome) => {
        outcomes.set(r.url, outcome);
        if (outcomes.size === reqs.length) resolve(outcomes);
      });
    }
  });
}

/** Requests of `conns` connections, `each` apiece, interleaved as a capture would hand them over. */
function interleaved(conns: number, each: number, prefix = ''): HttpRequest[] {
  const cs = Array.from({ length: conns }, (_, c) => connection(c + 1));
  const out: HttpRequest[] = [];
  for (let i = 0; i < each; i++) for (const c of cs) out.push(request(c, i, `${prefix}/c${c.id}/r${i}`));
  return out;
}

describe('replay: connection-faithful lanes', () => {
  let server: http.Server;
  let origin = '';
  /** URLs in arrival order, per shadow-side socket (the lane's local port). */
  let bySocket = new Map<number, string[]>();
  /** Requests being answered on a socket right now (HTTP/1: never more than one). */
  let overlapping = 0;
  const busySockets = new Set<number>();
  before(async () => {
    server = http.createServer((req, res) => {
      const port = req.socket.remotePort as number;
      if (busySockets.has(port)) overlapping++;
      busySockets.add(port);
      const list = bySocket.get(port) ?? [];
      list.push(req.url ?? '');
      bySocket.set(port, list);
      req.resume();
      const url = req.url ?? '';
      if (url.startsWith('/hang')) return; // never answered
      const delay = url.startsWith('/slow') ? 1000 : Math.floor(Math.random() * 4);
      setTimeout(() => {
        busySockets.delete(port);
        res.end('ok');
      }, delay);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));

  /** Which socket carried each captured connection's requests, and in what order. */
  function perConnection(): Map<string, { sockets: Set<number>; order: number[] }> {
    const m = new Map<string, { sockets: Set<number>; order: number[] }>();
    for (const [port, urls] of bySocket) {
      for (const url of urls) {
        const hit = /^(?:\/\w+)?\/c(\d+)\/r(\d+)$/.exec(url);
        if (hit === null) continue;
        const e = m.get(hit[1]) ?? { sockets: new Set(), order: [] };
        e.sockets.add(port);
        e.order.push(Number(hit[2]));
        m.set(hit[1], e);
      }
    }
    return m;
  }

  it('20 interleaved connections: each on exactly one shadow socket, in order, none shared', async () => {
    bySocket = new Map();
    overlapping = 0;
    const replayer = new Replayer({ targets: [origin], preserveConnections: true, timeoutMs: 5000, whenFull: 'drop' });
    const outcomes = await submitAll(replayer, interleaved(20, 10));
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual(new Set(outcomes.values()), new Set(['replayed']));
    assert.equal(outcomes.size, 200);
    assert.equal(stats.lanes, 20);
    const conns = perConnection();
    assert.equal(conns.size, 20);
    for (const [id, e] of conns) {
      assert.equal(e.sockets.size, 1, `connection ${id} used sockets ${[...e.sockets]}`);
      assert.deepEqual(e.order, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], `connection ${id}`);
    }
    // No socket carried two captured connections (no sequential reuse here: no lane closed).
    assert.equal(bySocket.size, 20);
    for (const [port, urls] of bySocket) {
      assert.equal(new Set(urls.map((u) => u.split('/')[1])).size, 1, `socket ${port}: ${urls}`);
    }
    assert.equal(overlapping, 0);
  });

  it('lanes capped at concurrency: connections wait for a lane (a file waits, none dropped), order kept', async () => {
    bySocket = new Map();
    const replayer = new Replayer({ targets: [origin], preserveConnections: true, concurrency: 4, timeoutMs: 5000, whenFull: 'wait' });
    let maxLanes = 0;
    const timer = setInterval(() => { maxLanes = Math.max(maxLanes, replayer.stats()[0].lanes); }, 1);
    const outcomes = await submitAll(replayer, interleaved(12, 5, '/cap'));
    clearInterval(timer);
    await replayer.drain(1000);
    assert.deepEqual(new Set(outcomes.values()), new Set(['replayed']));
    assert.ok(maxLanes <= 4, `${maxLanes} lanes`);
    for (const [id, e] of perConnection()) {
      assert.equal(e.sockets.size, 1, `connection ${id}`);
      assert.deepEqual(e.order, [0, 1, 2, 3, 4], `connection ${id}`);
    }
  });

  it('live capture: a connection waiting for a lane counts against the queue, beyond it queueFull', async () => {
    const replayer = new Replayer({ targets: [origin], preserveConnections: true, concurrency: 2, queueSize: 5, timeoutMs: 5000, whenFull: 'drop' });
    // 2 lanes send at once, 5 wait, the other 3 are refused.
    const reqs = Array.from({ length: 10 }, (_, c) => request(connection(100 + c), 0, `/q/c${100 + c}/r0`));
    const outcomes = await submitAll(replayer, reqs);
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    const counts: Record<string, number> = {};
    for (const o of outcomes.values()) counts[o] = (counts[o] ?? 0) + 1;
    assert.deepEqual(counts, { replayed: 7, queueFull: 3 });
    assert.equal(stats.queueFull, 3);
  });

  it('an idle lane is closed after laneIdleMs; the connection then gets a new one', async () => {
    bySocket = new Map();
    const replayer = new Replayer({ targets: [origin], preserveConnections: true, laneIdleMs: 100, timeoutMs: 5000 });
    const c = connection(500);
    await submitAll(replayer, [request(c, 0, '/idle/c500/r0')]);
    const idleFrom = performance.now();
    assert.equal(replayer.stats()[0].lanes, 1);
    // The lane is closed once idle for laneIdleMs (never before); a busy machine may take
    // longer to get round to it, so wait for that rather than for a fixed time.
    while (replayer.stats()[0].lanes !== 0 && performance.now() - idleFrom < 10_000) await new Promise((r) => setTimeout(r, 5));
    const closedAfter = performance.now() - idleFrom;
    assert.equal(replayer.stats()[0].lanes, 0, `lane still open ${closedAfter.toFixed(0)} ms after it went idle`);
    assert.ok(closedAfter >= 50, `lane closed ${closedAfter.toFixed(0)} ms after it went idle, well before laneIdleMs (100)`);
    await submitAll(replayer, [request(c, 1, '/idle/c500/r1')]);
    await replayer.drain(1000);
    assert.equal(perConnection().get('500')?.sockets.size, 2);
  });

  it('a timeout ends that request and the lane goes on, in order; a dead shadow gives shadowError', async () => {
    bySocket = new Map();
    const replayer = new Replayer({ targets: [origin], preserveConnections: true, timeoutMs: 300 });
    const c = connection(600);
    const start = performance.now();
    const outcomes = await submitAll(replayer, [
      request(c, 0, '/slow/c600/r0'), request(c, 1, '/to/c600/r1'), request(c, 2, '/to/c600/r2'),
    ]);
    const elapsed = performance.now() - start;
    const stats = replayer.stats()[0];
    await replayer.drain(1000);
    assert.deepEqual([...outcomes.entries()].sort(), [
      ['/slow/c600/r0', 'shadowTimeout'], ['/to/c600/r1', 'replayed'], ['/to/c600/r2', 'replayed'],
    ]);
    assert.equal(stats.timeouts, 1);
    // Strictly one after another: r1 left only once r0 had timed out.
    assert.ok(elapsed >= 290, `${elapsed} ms`);
    assert.deepEqual(perConnection().get('600')?.order, [0, 1, 2]);

    const dead = http.createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadOrigin = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => dead.close(() => resolve()));
    const r2 = new Replayer({ targets: [deadOrigin], preserveConnections: true, timeoutMs: 2000 });
    const errs = await submitAll(r2, [request(c, 0, '/e/0'), request(c, 1, '/e/1'), request(connection(601), 0, '/e/2')]);
    assert.equal(r2.stats()[0].errors, 3);
    await r2.drain(1000);
    assert.deepEqual(new Set(errs.values()), new Set(['shadowError']));
  });

  it('shutdown: requests queued in lanes or in flight end as shutdown', async () => {
    bySocket = new Map();
    const replayer = new Replayer({ targets: [origin], preserveConnections: true, timeoutMs: 10_000 });
    const reqs: HttpRequest[] = [];
    for (let c = 700; c < 703; c++) {
      const conn = connection(c);
      for (let i = 0; i < 3; i++) reqs.push(request(conn, i, `/hang/c${c}/r${i}`));
    }
    const outcomes = submitAll(replayer, reqs);
    // Wait until the first request of each lane reached the shadow (truly in flight there).
    const hangs = (): number => [...bySocket.values()].flat().filter((u) => u.startsWith('/hang/')).length;
    const deadline = performance.now() + 10_000;
    while (hangs() < 3 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.equal(hangs(), 3, 'one request of each lane at the shadow, the others wait in their lanes');
    assert.equal(replayer.stats()[0].inFlight, 3);
    assert.equal(replayer.stats()[0].queued, 6);
    await replayer.drain(200);
    assert.deepEqual([...(await outcomes).values()], new Array(9).fill('shutdown'));
    assert.equal(replayer.busy, 0);
    const late = await submitAll(replayer, [request(connection(800), 0, '/late')]);
    assert.deepEqual([...late.values()], ['shutdown']);
  });

  it('with a rate in wait mode, lanes are paced and keep their order', async () => {
    bySocket = new Map();
    const replayer = new Replayer({ targets: [origin], preserveConnections: true, ratePerSecond: 200, whenFull: 'wait', timeoutMs: 5000 });
    const start = performance.now();
    const outcomes = await submitAll(replayer, interleaved(5, 20, '/paced'));
    const elapsed = performance.now() - start;
    await replayer.drain(1000);
    assert.deepEqual(new Set(outcomes.values()), new Set(['replayed']));
    assert.ok(elapsed >= ((100 - 10) / 200) * 1000 * 0.95, `${elapsed} ms`);
    for (const [id, e] of perConnection()) {
      assert.equal(e.sockets.size, 1, `connection ${id}`);
      assert.deepEqual(e.order, Array.from({ length: 20 }, (_, i) => i), `connection ${id}`);
    }
  });
});
