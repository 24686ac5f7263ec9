import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MASK, Redactor } from '../../src/traffic/redact';

test('credentials in headers are masked, harmless headers kept', () => {
  const r = new Redactor();
  const out = r.headerList(['Authorization', 'Bearer abc.def.ghi', 'Cookie', 'sid=42', 'X-Api-Key', 'k-123', 'Accept', 'application/json',
    'X-Session-Token', 'zzz']);
  assert.deepEqual(out, ['Authorization', MASK, 'Cookie', MASK, 'X-Api-Key', MASK, 'Accept', 'application/json', 'X-Session-Token', MASK]);
  assert.deepEqual(r.headerList(['set-cookie', 'a=1', 'set-cookie', 'b=2', 'content-type', 'text/html']), ['set-cookie', MASK, 'set-cookie', MASK, 'content-type', 'text/html']);
});

test('sensitive query parameters, bearer tokens and card numbers in text are masked', () => {
  const r = new Redactor();
  assert.equal(r.url('/cb?code=xyz&state=1&access_token=t0k&page=2'), `/cb?code=${MASK}&state=1&access_token=${MASK}&page=2`);
  assert.equal(r.text('note: Bearer eyJhbGciOi.J9x to 4111 1111 1111 1111 ok'), `note: Bearer ${MASK} to ${MASK} ok`);
  assert.equal(r.text('order 1234567890123 shipped'), 'order 1234567890123 shipped'); // fails Luhn: not a card
});

test('JSON bodies: values under sensitive keys masked at any depth, the rest intact', () => {
  const r = new Redactor();
  const body = JSON.stringify({ user: { name: 'Ann', password: 'hunter2', author: 'kept', cards: [{ cardNumber: '4242424242424242', cvv: 123 }] } });
  assert.deepEqual(JSON.parse(r.bodyText(body)), { user: { name: 'Ann', password: MASK, author: 'kept', cards: MASK } });
  // Under a secret-named key, lists and objects go whole; a secret name anywhere in a diff path counts.
  const nested = JSON.stringify({ api_keys: ['sk-1', 'sk-2'], session: { id: 'abc' }, payment: { details: { pan: '5500 0000 0000 0004' } } });
  assert.deepEqual(JSON.parse(r.bodyText(nested)), { api_keys: MASK, session: MASK, payment: { details: { pan: MASK } } });
  assert.equal(r.value('$.api_keys[0]', 'sk-1'), MASK);
  assert.equal(r.value('$.session.id', 'abc'), MASK);
  assert.equal(r.value('$.secret', { value: 'x' }), MASK);
  // Deeper than can be looked into: hidden whole.
  let deep: unknown = { password: 'p' };
  for (let i = 0; i < 80; i++) deep = { d: deep };
  assert.ok(!JSON.stringify(r.json(deep)).includes('"p"'));
});

test('diff values at sensitive paths are masked; with a key, equal secrets stay equal', () => {
  const keyed = new Redactor({ ...new Redactor().options, hashKey: Buffer.from('k') });
  const a = keyed.value('$.session.token', 'abc');
  assert.match(String(a), /^\[h:[0-9a-f]{16}\]$/);
  assert.equal(keyed.value('$.other.token', 'abc'), a);
  assert.notEqual(keyed.value('$.other.token', 'abd'), a);
  assert.equal(keyed.value('$.user.age', 31), 31);
  assert.equal(new Redactor().value('header.authorization', 'Basic dXNlcjpwYXNz'), MASK);
});
