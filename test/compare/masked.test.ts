// A redacted recording's production side: what redaction masked is never a difference, but
// only when the comparison is told production was redacted; everything else still differs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultDiffOptions, diffResponses } from '../../src/compare/diff';
import { Redactor } from '../../src/traffic/redact';

const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));
const shadowBody = { user: 'ann', token: 'TOKEN-SECRET-123', session: { id: 7, exp: 99 }, note: 'pay with Bearer abcdefghijklmnop now', age: 30 };

test('masked production values (whole, inside a string, in headers, in text) match the shadow\'s; other changes still differ', () => {
  const redactor = new Redactor();
  const prodBody = redactor.bodyText(JSON.stringify({ ...shadowBody, age: 31 }));
  assert.match(prodBody, /\[redacted\]/);
  const prodHeaders = redactor.headerList(['Content-Type', 'application/json', 'Set-Cookie', 'sid=abc123; Path=/', 'X-Api-Key', 'k-123456']);
  const production = { status: 200, headers: prodHeaders, body: Buffer.from(prodBody) };
  const shadow = { status: 200, headers: ['Content-Type', 'application/json', 'Set-Cookie', 'sid=zzz; Path=/', 'X-Api-Key', 'k-999'], body: json(shadowBody) };

  const masked = diffResponses(production, shadow, { ...defaultDiffOptions(), maskedProduction: true });
  assert.deepEqual(masked.diffs.map((d) => d.path), ['$.age'], JSON.stringify(masked.diffs));

  // Not told: every mask is a difference (an API may answer '[redacted]' itself).
  const plain = diffResponses(production, shadow, defaultDiffOptions());
  const paths = plain.diffs.map((d) => d.path).sort();
  for (const p of ['$.token', '$.session', '$.note', 'header.x-api-key', 'header.set-cookie']) assert.ok(paths.includes(p), `${p} in ${paths.join(' ')}`);

  // Text bodies and keyed hashes too; a text that differs elsewhere still differs.
  const keyed = new Redactor({ ...redactor.options, hashKey: Buffer.alloc(16, 7) });
  const text = keyed.text('line one\nAuthorization: Bearer abcdefghijklmnop\nline three');
  assert.match(text, /\[h:[0-9a-f]{16}\]/);
  const t = (body: string) => ({ status: 200, headers: ['Content-Type', 'text/plain'], body: Buffer.from(body) });
  const opts = { ...defaultDiffOptions(), maskedProduction: true };
  assert.deepEqual(diffResponses(t(text), t('line one\nAuthorization: Bearer qqqqqqqqqqqqqqqq\nline three'), opts).diffs, []);
  assert.notDeepEqual(diffResponses(t(text), t('line one\nAuthorization: Bearer qqqqqqqqqqqqqqqq\nline 3'), opts).diffs, []);
});
