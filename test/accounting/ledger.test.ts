import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestLedger } from '../../src/accounting';

test('ledger: every request in one bucket; pending until settled', () => {
  const ledger = new RequestLedger();
  ledger.seenPending();
  ledger.seenPending();
  ledger.seenAndNotReplayed('incomplete');
  assert.equal(ledger.pending, 2);
  ledger.settle('replayed');
  ledger.settle('queueFull');
  assert.deepEqual(ledger.snapshot(), { seen: 3, replayed: 1, notReplayed: { incomplete: 1, queueFull: 1 }, pending: 0 });
});

test('ledger: revoked requests move from replayed to a reason, the sum still holds', () => {
  const ledger = new RequestLedger();
  for (let i = 0; i < 5; i++) ledger.seenPending();
  for (let i = 0; i < 5; i++) ledger.settle('replayed');
  ledger.revoke(2, 'writeError');
  assert.deepEqual(ledger.snapshot(), { seen: 5, replayed: 3, notReplayed: { writeError: 2 }, pending: 0 });
});
