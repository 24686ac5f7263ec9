// What a worker remembers of the exchanges it finished: their ids in the result directory
// (exchanges.ids, one per line, appended and synced before the exchanges are acknowledged, so
// that a merge of many directories can tell an exchange compared twice), and the last N in
// memory, to recognise a redelivery of one it finished and never compare it twice.

import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { makeDirectory } from '../report';
import { keepPreviousRuns } from '../report/outdir';

export const IDS_FILE = 'exchanges.ids';

export class IdsFile {
  /** Ids written and synced: results.json says how many it covers (fleet.idsRecorded). */
  recorded = 0;
  private readonly fd: number;
  private pending: string[] = [];

  constructor(dir: string) {
    makeDirectory(dir, 0o700);
    keepPreviousRuns(dir, [IDS_FILE]);
    this.fd = openSync(join(dir, IDS_FILE), 'w', 0o600);
  }

  add(id: string): void {
    this.pending.push(id);
  }

  /** Appends and syncs what was added since the last flush (throws when it cannot). */
  flush(): void {
    if (this.pending.length === 0) return;
    writeSync(this.fd, `${this.pending.join('\n')}\n`);
    fdatasyncSync(this.fd);
    this.recorded += this.pending.length;
    this.pending = [];
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** The last `max` ids added (the oldest forgotten first). */
export class RecentIds {
  private readonly ids = new Set<string>();

  constructor(private readonly max: number) {}

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > this.max) this.ids.delete(this.ids.values().next().value as string);
  }

  get size(): number {
    return this.ids.size;
  }
}
