// The outputs against real parts: ReplayOutput over a real socket (settles once, hands the
// captured request and the shadow's answer to the comparison, swaps replayers on reload
// without losing what is in flight), PrintOutput's lines and backpressure, RecordOutput's
// failures booked as writeError.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Outcome } from '../../src/accounting';
import { CompareStage, defaultCompareOptions } from '../../src/compare';
import type { HttpRequest, ShadowResponse } from '../../src/model';
import { PrintOutput, RecordOutput, ReplayOutput } from '../../src/outputs';
import { RecordingWriter } from '../../src/recording';
import { fakeRequest, fakeResponse } from '../support/requests';
import { startShadow } from '../support/servers';

test('replay output: each request settles once; compare gets the captured request and the answer', async (t) => {
  const shadow = await startShadow();
  t.after(() => shadow.close());
  const target = `http://127.0.0.1:${shadow.port}`;
  const compare = new CompareStage([target], null, { ...defaultCompareOptions(), latencyWarmup: 0 });
  const joined: Array<[HttpRequest, ShadowResponse[]]> = [];
  const replayed = compare.replayed.bind(compare);
  compare.replayed = (req, responses) => { joined.push([req, responses]); replayed(req, responses); };
  const observed: string[] = [];
  const output = new ReplayOutput({
    replay: { targets: [target], keepResponseBytes: 1024 }, whenFull: 'drop', compare, wireTargets: null,
    observe: (outcome) => observed.push(outcome),
  });
  const outcomes: Outcome[] = [];
  const settle = (o: Outcome) => outcomes.push(o);
  const captured = fakeRequest('/a', { headers: ['Host', 'prod'] });
  const sent = { ...captured, headers: ['Host', 'prod', 'X-Env', 'shadow'] }; // a rewrite: another object, the same exchange id
  output.request(captured, sent, settle);
  output.exchange({ request: captured, response: fakeResponse('ok', { headers: ['Content-Type', 'text/plain'] }), responseMissing: null });
  // A reload mid-flight: the old replayer finishes its request, the new one takes the next.
  const second = fakeRequest('/b');
  output.reload({ targets: [target], keepResponseBytes: 1024, concurrency: 2 }, 5000);
  output.request(second, second, settle);
  await output.drain(5000);
  assert.deepEqual(outcomes, ['replayed', 'replayed']);
  assert.deepEqual(observed, ['replayed', 'replayed']);
  assert.equal(joined[0][0].id, captured.id, 'compare joins on the captured exchange\'s id');
  assert.equal(joined[0][1][0].statusCode, 200);
  assert.ok(Array.isArray(joined[0][1][0].headers), 'the shadow\'s headers are a raw list like production\'s');
  assert.equal(compare.pendingJoins, 1, 'the second exchange (no production answer given) waits; the first was joined');
  assert.deepEqual(shadow.requests.map((r) => r.url), ['/a', '/b']);
  assert.equal(shadow.requests[0].headers.find(([n]) => n.toLowerCase() === 'x-env')?.[1], 'shadow', 'the rewrite is what was sent');
  const stats = output.stats();
  assert.equal(stats.retiredShadows?.length, 1);
  assert.equal(stats.shadows[0].responses + stats.retiredShadows![0][0].responses, 2);
});

test('print output: a JSON line per exchange, written in chunks that respect backpressure', async () => {
  const out = new PassThrough({ highWaterMark: 16 });
  const print = new PrintOutput(out);
  const outcomes: Outcome[] = [];
  const req = fakeRequest('/x?q="1"');
  print.request(req, req, (o) => outcomes.push(o));
  print.exchange({ request: req, response: fakeResponse('{}'), responseMissing: null });
  assert.deepEqual(outcomes, ['inspectOnly']);
  assert.equal(print.flush(), false, 'a small buffer asks the writer to wait');
  const line = JSON.parse(String(out.read()));
  assert.equal(line.url, '/x?q="1"');
  assert.equal(line.status, 200);
  assert.equal(print.flush(), true, 'nothing more to write');
});

test('record output: recorded, and every request after a failed write booked as writeError', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-outputs-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const writer = new RecordingWriter({ path: path.join(dir, 'rec.jsonl'), redactor: null, maxFileBytes: 1 << 20, maxFiles: 2 });
  const failures: string[] = [];
  const output = new RecordOutput(writer, (err) => failures.push(err.message));
  const outcomes: Outcome[] = [];
  const settle = (o: Outcome) => outcomes.push(o);
  const ok = fakeRequest('/ok');
  output.request(ok, ok, settle);
  output.exchange({ request: ok, response: fakeResponse('{}'), responseMissing: null });
  // A write that throws stops the recording; the later exchanges are not written.
  (writer as unknown as { write: () => boolean }).write = () => { throw new Error('ENOSPC: no space left on device'); };
  for (const url of ['/full', '/after']) {
    const r = fakeRequest(url);
    output.request(r, r, settle);
    output.exchange({ request: r, response: fakeResponse('{}'), responseMissing: null });
  }
  assert.deepEqual(outcomes, ['replayed', 'writeError', 'writeError']);
  assert.deepEqual(failures, ['ENOSPC: no space left on device'], 'the command is told once');
  await output.drain();
  assert.equal(output.failure?.message, 'ENOSPC: no space left on device');
});
