// Secrets in the less obvious places (long, nested, deep bodies; diff values) stay out of
// samples.jsonl and recordings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HttpResponse } from '../../src/http';
import type { ShadowResponse } from '../../src/replay';
import { defaultDiffOptions, diffResponses } from '../../src/compare/diff';
import { OutputDir } from '../../src/report/outdir';
import { Redactor } from '../../src/traffic/redact';
import { redactBody } from '../../src/recording';
import { fakeAnswer, fakeRequest, fakeResponse } from '../support/requests';

const prod = (body: string): HttpResponse => fakeResponse(body);
const shadow = (body: string): ShadowResponse => fakeAnswer('http://s:1', body);

/** Writes one sample through the real OutputDir and returns samples.jsonl. */
function writeSample(reqBody: string | null, prodBody: string, shadowBody: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'review-redact-'));
  try {
    const out = new OutputDir(dir, new Redactor());
    const p = prod(prodBody);
    const s = shadow(shadowBody);
    const d = diffResponses({ status: 200, headers: p.headers, body: p.body as Buffer }, { status: 200, headers: s.headers ?? [], body: s.body as Buffer }, defaultDiffOptions());
    out.write({
      target: 'http://s:1', endpoint: 'POST /login',
      request: fakeRequest('/login', { method: 'POST', headers: ['Host', 'x', 'Content-Type', 'application/json'], body: reqBody === null ? null : Buffer.from(reqBody) }),
      production: p, shadow: s, diffs: d.diffs,
    });
    out.close();
    return readFileSync(join(dir, 'samples.jsonl'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a JSON body longer than the 4 KB sample cut is redacted before it is cut', () => {
  // The body is cut to 4096 chars *before* redaction; the cut text no longer parses as JSON,
  // so only the free-text rules (bearer, card, name=value) run and "password":"…" survives.
  const body = JSON.stringify({ user: 'alice', password: 'Hunter2-SECRET-PW', filler: 'x'.repeat(5000) });
  const samples = writeSample(body, '{"ok":true}', '{"ok":false}');
  assert.ok(!samples.includes('Hunter2-SECRET-PW'), 'the request password leaked into samples.jsonl');
});

test('a long production JSON response is redacted before it is cut, too', () => {
  const body = JSON.stringify({ access_token: 'tok-LEAKED-abc', items: Array.from({ length: 1000 }, (_, i) => ({ i })) });
  const samples = writeSample(null, body, body.replace('"i":1}', '"i":2}'));
  assert.ok(!samples.includes('tok-LEAKED-abc'), 'the production token leaked into samples.jsonl');
});

test('a secret-named key masks its whole value, arrays and objects included (samples, recordings)', () => {
  const r = new Redactor();
  const out = r.bodyText(JSON.stringify({ api_keys: ['sk-LEAK-1'], session: { id: 'sess-LEAK-2' } }));
  assert.ok(!out.includes('sk-LEAK-1'), `api_keys array leaked: ${out}`);
  assert.ok(!out.includes('sess-LEAK-2'), `session object leaked: ${out}`);
});

test('recording: a secret nested under a secret-named object key is masked', () => {
  const body = Buffer.from(JSON.stringify({ secret: { value: 'rec-LEAK-3' } }));
  const r = redactBody(body, ['Content-Type', 'application/json'], new Redactor());
  assert.ok(!r.body.toString().includes('rec-LEAK-3'), `recording leaked: ${r.body.toString()}`);
});

test('JSON nested deeper than 64 levels is masked whole, not passed through', () => {
  let v: unknown = { password: 'deep-LEAK-4' };
  for (let i = 0; i < 70; i++) v = { a: v };
  const out = new Redactor().bodyText(JSON.stringify(v));
  assert.ok(!out.includes('deep-LEAK-4'), 'a password 70 levels down leaked');
});

test('sample diff values: an element of a secret-named array is masked', () => {
  // The diff is at $.api_keys[0]; isSensitivePath looks only at the last segment ("0").
  const samples = writeSample(null, JSON.stringify({ api_keys: ['sk-PROD-LEAK-5'] }), JSON.stringify({ api_keys: ['sk-SHADOW-LEAK-6'] }));
  const diffs = JSON.parse(samples.trim()).diffs as Array<{ expected: unknown; actual: unknown }>;
  assert.ok(!JSON.stringify(diffs).includes('LEAK-5'), `diff value leaked: ${JSON.stringify(diffs)}`);
  assert.ok(!JSON.stringify(diffs).includes('LEAK-6'), `diff value leaked: ${JSON.stringify(diffs)}`);
});

test('sample diff values: a large object is redacted before the diff shortens it', () => {
  // diff.ts shown() turns a large object into a truncated JSON *string*; Redactor.value() then
  // only applies the free-text rules to it.
  const user = { name: 'bob', password: 'obj-LEAK-7', bio: 'b'.repeat(300) };
  const samples = writeSample(null, JSON.stringify({ user }), JSON.stringify({}));
  const diffs = JSON.parse(samples.trim()).diffs;
  assert.ok(!JSON.stringify(diffs).includes('obj-LEAK-7'), `diff value leaked: ${JSON.stringify(diffs).slice(0, 300)}`);
});
