// samples.jsonl as report reads it: lines written before the shadow's headers became a raw
// list (an object then) read as lists, so `report --html` renders older result directories.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { readSamples } from '../../src/report/outdir';
import { CompareStage } from '../../src/compare';
import { analyze } from '../../src/report/analysis';
import { renderHtml } from '../../src/report/html';
import { fakeAnswer, fakeRequest, fakeResponse } from '../support/requests';

test('samples: an older line with header objects reads as header lists; a torn last line is skipped', (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shadowtap-samples-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const old = {
    target: 'http://s:1', endpoint: 'GET /a',
    request: { method: 'GET', url: '/a', headers: ['Host', 'x'], body: null },
    production: { status: 200, headers: ['Content-Type', 'text/plain'], body: 'a', latencyMs: 1 },
    shadow: { status: 200, headers: { 'content-type': 'text/plain', 'set-cookie': ['a=1', 'b=2'] }, body: 'b', latencyMs: 2 },
    diffs: [{ path: 'body', at: 'body', kind: 'value', expected: 'a', actual: 'b' }],
  };
  const now = { ...old, shadow: { ...old.shadow, headers: ['content-type', 'text/plain'] } };
  fs.writeFileSync(path.join(dir, 'samples.jsonl'), `${JSON.stringify(old)}\n${JSON.stringify(now)}\n{"torn":`);
  const samples = readSamples(dir);
  assert.equal(samples.length, 2);
  assert.deepEqual(samples[0].shadow.headers, ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2']);
  assert.deepEqual(samples[1].shadow.headers, ['content-type', 'text/plain']);
  // The page renders the older sample under its endpoint.
  const stage = new CompareStage(['http://s:1'], null);
  const req = fakeRequest('/a');
  stage.exchange({ request: req, response: fakeResponse('a', { headers: ['Content-Type', 'text/plain'] }), responseMissing: null });
  stage.replayed(req, [fakeAnswer('http://s:1', 'b', { headers: { 'content-type': 'text/plain' } })]);
  stage.flush();
  const page = renderHtml(analyze(stage.results({}, true)), samples);
  assert.match(page, /set-cookie: a=1\nset-cookie: b=2/);
});
