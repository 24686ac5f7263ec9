// The jobs waiting for a free slot in a target's pool, first in first out.

import type { Job } from './job';

/** An array read from a moving head, compacted now and then: no shifting per job. */
export class JobQueue {
  private readonly jobs: Job[] = [];
  private head = 0;

  get length(): number {
    return this.jobs.length - this.head;
  }

  push(job: Job): void {
    this.jobs.push(job);
  }

  /** The oldest job; the queue must not be empty. */
  shift(): Job {
    const job = this.jobs[this.head];
    this.jobs[this.head++] = undefined as unknown as Job;
    if (this.head > 1024 && this.head * 2 > this.jobs.length) {
      this.jobs.splice(0, this.head);
      this.head = 0;
    }
    return job;
  }

  /** Empties the queue into `out`, oldest first. */
  drainInto(out: Job[]): void {
    for (let i = this.head; i < this.jobs.length; i++) out.push(this.jobs[i]);
    this.jobs.length = 0;
    this.head = 0;
  }
}
