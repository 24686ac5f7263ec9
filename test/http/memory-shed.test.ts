// Heads and bodies still arriving share one allowance (the memory budget's messages share):
// past it the connection holding the most gives up its message in progress, counted, and the
// connection goes on with its next message. A head split over segments before any parser
// exists (the stash) parses exactly as one that came whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Scenario, runScenario } from './scenario';

const get = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: example.test\r\n\r\n`;
const ok = (body: string): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

test('the largest message in progress is shed, counted memoryShed; the connection carries on', () => {
  const big = 'x'.repeat(30_000);
  const sc: Scenario = {
    options: { http: { maxMessageBytes: 40_000 } },
    conns: [
      // A small upload in progress, then finished: kept.
      { steps: [{ send: 'c', data: `POST /small HTTP/1.1\r\nHost: e\r\nContent-Length: 5000\r\n\r\n${'s'.repeat(5000)}`, sizes: 1000 },
                { send: 's', data: ok('done') }] },
      // An upload of 30 KB arriving while the other connections hold theirs: over 40 KB, it
      // is the largest, and it goes; the request after it on the same connection is mirrored.
      { steps: [{ send: 'c', data: `POST /big HTTP/1.1\r\nHost: e\r\nContent-Length: ${big.length}\r\n\r\n${big}`, sizes: 1400 },
                { send: 's', data: ok('big') },
                { send: 'c', data: get('/after-big') }, { send: 's', data: ok('after') }] },
      // A head of 12 KB that never ends, held (3 bytes per head byte) until the end.
      { steps: [{ send: 'c', data: `GET /endless HTTP/1.1\r\n${'X-Pad: yyyyyyyyyy\r\n'.repeat(300)}`, sizes: 1400 }] },
    ],
    interleaveSeed: 7,
  };
  const r = runScenario(sc);
  const urls = r.requests.map((q) => q.url).sort();
  assert.deepEqual(urls, ['/after-big', '/small']);
  assert.equal(r.stats.http.lost.memoryShed, r.losts.filter((l) => l.reason === 'memoryShed').length);
  // Every request seen has exactly one outcome: two mirrored, the upload shed, the endless head
  // incomplete when the capture ends.
  assert.deepEqual(r.losts.map((l) => l.reason).sort(), ['incomplete', 'memoryShed'], JSON.stringify(r.losts));
  const after = r.exchanges.find((e) => e.url === '/after-big');
  assert.equal(after?.status, 200, 'the next request on the shedding connection gets its own response');
  assert.equal(r.losts.find((l) => l.reason === 'memoryShed')?.conn, after?.conn, 'the upload was the one shed');
});

test('without pressure nothing is shed, and a first head split over many segments parses whole', () => {
  const head = `GET /split?q=1 HTTP/1.1\r\nHost: example.test\r\nUser-Agent: probe\r\nAccept: */*\r\n\r\n`;
  const r = runScenario({ conns: [{ steps: [{ send: 'c', data: head, sizes: 7 }, { send: 's', data: ok('fine') },
    { send: 'c', data: get('/second'), sizes: 3 }, { send: 's', data: ok('again') }] }] });
  assert.deepEqual(r.requests.map((q) => q.url), ['/split?q=1', '/second']);
  assert.deepEqual(r.exchanges.map((e) => e.status), [200, 200]);
  assert.equal(r.stats.http.lost.memoryShed, 0);
});

test('a first message that cannot be HTTP is judged at once, not kept waiting for its end', () => {
  const r = runScenario({ conns: [{ steps: [{ send: 'c', data: '\x16\x03\x01\x02\x00\x01' }] }] });
  assert.equal(r.stats.http.nonHttpConnections, 1);
});

test('a half-open connection closed with its head unfinished counts that request incomplete, once', () => {
  const r = runScenario({ conns: [{ steps: [{ send: 'c', data: 'GET /never HTTP/1.1\r\nHost: e\r\n', sizes: 10 }], close: false }] });
  assert.deepEqual(r.losts.map((l) => l.reason), ['incomplete']);
});
