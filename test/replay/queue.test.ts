// The FIFO in front of a target's pool: order kept across its compaction.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { Fanout, Job } from '../../src/replay/job';
import { JobQueue } from '../../src/replay/queue';
import { fakeRequest } from '../support/requests';

function job(i: number): Job {
  return new Job(new Fanout(fakeRequest(`/q/${i}`, { index: i }), 1, () => {}), 0, '');
}

describe('replay: job queue', () => {
  it('gives jobs back in arrival order, through compaction', () => {
    const queue = new JobQueue();
    let next = 0;
    let expected = 0;
    // Interleave pushes and shifts so that the head passes the compaction threshold many times.
    for (let round = 0; round < 20; round++) {
      for (let i = 0; i < 500; i++) queue.push(job(next++));
      for (let i = 0; i < 400; i++) assert.equal(queue.shift().request.index, expected++);
      assert.equal(queue.length, next - expected);
    }
    while (queue.length > 0) assert.equal(queue.shift().request.index, expected++);
    assert.equal(expected, next);
  });

  it('drains what waits, oldest first, and is empty after', () => {
    const queue = new JobQueue();
    for (let i = 0; i < 5; i++) queue.push(job(i));
    queue.shift();
    const out: Job[] = [];
    queue.drainInto(out);
    assert.deepEqual(out.map((j) => j.request.index), [1, 2, 3, 4]);
    assert.equal(queue.length, 0);
    queue.push(job(9));
    assert.equal(queue.shift().request.index, 9);
  });
});
