// The compare stage's join table against a Map doing the same: random sets, gets and deletes
// (ids that collide in its slots, ids past 2^32, growth), and the oldest entry still held.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { IdTable } from '../../src/compare/id-table';

/** A small deterministic generator (xorshift32), so that a failure can be replayed. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x / 4294967296;
  };
}

describe('IdTable', () => {
  for (const [name, idOf] of [
    ['sequential ids', (n: number) => n],
    ['ids 64 apart (one slot run)', (n: number) => n * 64],
    ['ids past 2^32', (n: number) => 2 ** 40 + n * 4096],
  ] as Array<[string, (n: number) => number]>) {
    it(`${name}: the same answers as a Map over 200,000 random operations`, () => {
      const random = rng(name.length * 7919);
      const table = new IdTable<{ id: number }>();
      const model = new Map<number, { id: number }>();
      let next = 0;
      for (let op = 0; op < 200_000; op++) {
        const r = random();
        // Mostly new ids and deletes of live ones, as joins come and go; the table grows to
        // a few thousand entries and shrinks again.
        // Grows to 3,000 entries, empties nearly, then hovers.
        const adds = op < 50_000 ? 0.6 : op < 100_000 ? 0.3 : 0.45;
        if (r < adds || model.size === 0) {
          const id = idOf(next++);
          const v = { id };
          table.set(id, v);
          model.set(id, v);
        } else if (r < 0.9 || model.size >= 3000) {
          // One of the 64 oldest, as joins mostly end in the order they began.
          const keys = model.keys();
          for (let k = Math.floor(random() * Math.min(model.size, 64)); k > 0; k--) keys.next();
          const id = keys.next().value as number;
          assert.equal(table.delete(id), true);
          model.delete(id);
        } else if (r < 0.95) {
          const id = idOf(Math.floor(random() * (next + 10)));
          assert.equal(table.get(id), model.get(id), `get ${id}`);
        } else {
          const o = table.oldest();
          const first = model.entries().next();
          assert.deepEqual(o, first.done ? undefined : first.value, 'oldest');
          if (o !== undefined) assert.equal(table.delete(idOf(next + 1)), false);
        }
        assert.equal(table.size, model.size);
      }
      for (const [id, v] of model) assert.equal(table.get(id), v);
    });
  }

  it('one entry that stays while 200,000 come and go: it is the oldest, and what is kept of the order stays bounded', () => {
    const table = new IdTable<string>();
    table.set(-5, 'stays');
    let longest = 0;
    for (let id = 0; id < 200_000; id++) {
      table.set(id, 'goes');
      if (id >= 10) assert.equal(table.delete(id - 10), true);
      longest = Math.max(longest, table.orderLength);
    }
    assert.deepEqual(table.oldest(), [-5, 'stays']);
    assert.equal(table.size, 11);
    // 11 entries fit a 64-slot table: four times that and the slack, not 200,000.
    assert.ok(longest <= 4 * 64 + 1024 + 1, `${longest} ids kept for the order`);
  });
});
