import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogLimiter } from '../../src/report';

test('log limiter: at most N lines per second, the rest counted', () => {
  let now = 1_000_000;
  const limiter = new LogLimiter(3, () => now);
  const first = Array.from({ length: 5 }, () => limiter.allow());
  assert.deepEqual(first, [true, true, true, false, false]);
  assert.equal(limiter.suppressed, 2);
  now += 999;
  assert.equal(limiter.allow(), false);
  now += 1;
  assert.equal(limiter.allow(), true);
  assert.equal(limiter.suppressed, 3);
});
