// The hand-off codec (--workers) over real exchanges: a varied HTTP/1 mix sent to a real server,
// captured by tcpdump, parsed by shadowtap's own pipeline; every request (as sent, and rewritten
// with non-ASCII text) and every exchange must come back from a batch equal to what went in.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { openSource } from '../../src/capture/source';
import type { Exchange, HttpRequest, ReplayOutcome, ResponseMissing, ShadowResponse } from '../../src/model';
import { BatchReader, BatchWriter, RecordKind, readExchange, readRequest, readSettled, writeExchange, writeRequest, writeSettled } from '../../src/outputs/handoff';
import { PacketPipeline } from '../../src/pipeline';
import { fakeRequest } from '../support/requests';
import { startProduction } from '../support/servers';
import { sendVariedMix } from '../support/traffic';
import { captureSkipReason, startTcpdump, tsharkRequests } from '../support/tools';

const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The exchanges of a capture file, as `run` would see them (bodies kept both ways). */
function exchangesOf(file: string, port: number): Promise<Exchange[]> {
  const out: Exchange[] = [];
  const pipeline = new PacketPipeline({
    request: () => {}, exchange: (ex) => out.push(ex), lost: () => {}, notice: () => {},
  }, { http: { keepRequestBodies: true, keepResponseBodies: true, hashBodies: true, maxResponseBodyBytes: 1 << 20 } });
  const source = openSource({ file, ports: [port], snaplen: 262144, promiscuous: false, bufferBytes: 0, timeoutMs: 0 });
  return new Promise((resolve, reject) => {
    source.start((batch, count) => pipeline.batch(source.linkType, batch, count), (err) => {
      if (err) return reject(err);
      pipeline.finish();
      resolve(out);
    });
  });
}

test('handoff: captured requests and exchanges come back from a batch as they went in', { timeout: 120_000 }, async (t) => {
  const why = captureSkipReason(['tcpdump', 'tshark']);
  if (why) { t.skip(why); return; }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-handoff-'));
  const prod = await startProduction();
  t.after(async () => { await prod.close(); fs.rmSync(dir, { recursive: true, force: true }); });
  const file = path.join(dir, 'mix.pcap');
  const tcpdump = await startTcpdump({ iface: 'lo', filter: `tcp port ${prod.port}`, file });
  const sent = await sendVariedMix(prod.port, { count: 400, seed: 4242 });
  await delay(300);
  await tcpdump.stop();

  const exchanges = await exchangesOf(file, prod.port);
  // tshark as an independent count of the requests on the wire: nothing was left out of the test.
  assert.equal(exchanges.length, (await tsharkRequests(file, prod.port)).length);
  assert.equal(exchanges.length, sent.length);
  assert.ok(exchanges.some((ex) => ex.request.body !== null && ex.request.body.length > 100_000), 'large request bodies in the mix');
  assert.ok(exchanges.some((ex) => ex.request.trailers.length > 0), 'chunked requests with trailers in the mix');
  assert.ok(exchanges.some((ex) => ex.response?.body !== null && ex.response!.body.length > 0), 'response bodies in the mix');

  // A small first buffer: it has to grow many times over.
  const w = new BatchWriter(256);
  const rewritten = new Map<number, HttpRequest>();
  for (const [i, ex] of exchanges.entries()) {
    let sentReq = ex.request;
    if (i % 3 === 0) {
      // The traffic policy's rewrite: another object, with text no single byte can carry.
      sentReq = { ...ex.request, url: `${ex.request.url}${ex.request.url.includes('?') ? '&' : '?'}q=ünï✓`, headers: [...ex.request.headers, 'X-Env', 'shadow ☃ 𝄞'] };
      rewritten.set(ex.request.id, sentReq);
    }
    writeRequest(w, ex.request, sentReq);
  }
  for (const ex of exchanges) writeExchange(w, ex);
  const { buffer, length } = w.take();
  assert.equal(w.length, 0, 'a fresh batch after take()');

  const r = new BatchReader(buffer, length);
  const kept = new Map<number, HttpRequest>();
  for (const ex of exchanges) {
    assert.equal(r.u8(), RecordKind.Request);
    const got = readRequest(r);
    assert.deepEqual(got.captured, ex.request);
    assert.deepEqual(got.sent, rewritten.get(ex.request.id) ?? ex.request);
    assert.equal(got.captured === got.sent, !rewritten.has(ex.request.id), 'one object unless rewritten');
    kept.set(got.captured.id, got.captured);
  }
  for (const ex of exchanges) {
    assert.equal(r.u8(), RecordKind.Exchange);
    const got = readExchange(r, (id) => kept.get(id));
    assert.deepEqual(got, ex);
  }
  assert.ok(r.done, 'the whole batch was read');

  // An exchange whose request the worker no longer keeps is told apart, not guessed.
  const w2 = new BatchWriter();
  writeExchange(w2, exchanges[0]);
  const b2 = w2.take();
  const r2 = new BatchReader(b2.buffer, b2.length);
  r2.u8();
  assert.deepEqual(readExchange(r2, () => undefined), { unknownId: exchanges[0].request.id });
});

test('handoff: settled outcomes carry what the main thread observes', () => {
  const answers: ShadowResponse[] = [
    { target: 'http://127.0.0.1:8081', statusCode: 200, headers: ['a', 'b'], body: Buffer.from('x'), bodySize: 1, latencyUs: 1234.5, outcome: 'replayed', error: null },
    { target: 'http://[::1]:8082', statusCode: null, headers: null, body: null, bodySize: 0, latencyUs: 10_000_000, outcome: 'shadowTimeout', error: 'no answer in 10000 ms — «timeout»' },
  ];
  const w = new BatchWriter(16);
  writeSettled(w, 2 ** 40 + 7, 'shadowTimeout', answers);
  writeSettled(w, 1, 'queueFull', []);
  const { buffer, length } = w.take();
  const r = new BatchReader(buffer, length);
  const first = readSettled(r);
  assert.equal(first.id, 2 ** 40 + 7);
  assert.equal(first.outcome, 'shadowTimeout');
  // Headers and bodies stay in the worker: the observers read status, latency, outcome and error.
  assert.deepEqual(first.responses, answers.map((a) => ({ ...a, headers: null, body: null, bodySize: 0 })));
  assert.deepEqual(readSettled(r), { id: 1, outcome: 'queueFull', responses: [] });
  assert.ok(r.done);
});

test('handoff: every replay outcome and every reason for a missing response survives the codec', () => {
  const outcomes: ReplayOutcome[] = ['replayed', 'queueFull', 'bodyTooLarge', 'unreplayable', 'shadowError', 'shadowTimeout', 'shutdown', 'rateLimited'];
  const missing: Array<ResponseMissing | null> = [null, 'gap', 'parseError', 'closed', 'overflow', 'memory', 'reset'];
  const w = new BatchWriter(64);
  for (const [i, o] of outcomes.entries()) writeSettled(w, i, o, [{ target: 't', statusCode: null, headers: null, body: null, bodySize: 0, latencyUs: 0, outcome: o, error: null }]);
  const requests = missing.map((m) => fakeRequest(`/m/${m}`));
  missing.forEach((m, i) => writeExchange(w, { request: requests[i], response: null, responseMissing: m }));
  const { buffer, length } = w.take();
  const r = new BatchReader(buffer, length);
  for (const [i, o] of outcomes.entries()) {
    const s = readSettled(r);
    assert.deepEqual([s.id, s.outcome, s.responses[0].outcome], [i, o, o]);
  }
  for (const [i, m] of missing.entries()) {
    assert.equal(r.u8(), RecordKind.Exchange);
    const ex = readExchange(r, () => requests[i]);
    assert.ok(!('unknownId' in ex));
    assert.equal(ex.responseMissing, m);
  }
  assert.ok(r.done);
});
