// What a worker remembers of the exchanges it finished: the last N ids, to recognise a
// redelivery of one it finished and never compare it twice. (The result directory lists them
// all in exchanges.ids: src/report/outdir.ts.)

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
