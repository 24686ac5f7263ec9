// Exchange ids to what waits for them, for joins made and undone thousands of times a second.
// A Map would do, but as it churns its hash tables are reallocated — in the old generation once
// the Map lives there — and a discarded table keeps every value it held alive through the next
// scavenges, to be promoted with all it references. Here the arrays stay while their capacity
// does, and a deleted entry's slot is cleared.

const MIN_CAPACITY = 64;

export class IdTable<T> {
  private keys = new Float64Array(MIN_CAPACITY);
  private values: Array<T | undefined> = new Array<T | undefined>(MIN_CAPACITY).fill(undefined);
  private mask = MIN_CAPACITY - 1;
  /** Ids in the order they were set (some deleted since): oldest() reads from `orderHead`. */
  private order: number[] = [];
  private orderHead = 0;
  size = 0;

  get(id: number): T | undefined {
    const i = this.find(id);
    return i < 0 ? undefined : this.values[i];
  }

  /** `id` must not be in the table. */
  set(id: number, value: T): void {
    if (this.size + 1 > (this.mask + 1) / 2) this.grow();
    let i = this.slot(id);
    while (this.values[i] !== undefined) i = (i + 1) & this.mask;
    this.keys[i] = id;
    this.values[i] = value;
    this.size++;
    this.order.push(id);
    this.trimOrder();
  }

  delete(id: number): boolean {
    let i = this.find(id);
    if (i < 0) return false;
    this.size--;
    // Backward-shift deletion: later entries of the same run move up, so no tombstones.
    const mask = this.mask;
    for (let j = (i + 1) & mask; this.values[j] !== undefined; j = (j + 1) & mask) {
      const home = this.slot(this.keys[j]);
      // Entry j may fill the hole at i unless its home lies cyclically in (i, j].
      if (((j - home) & mask) >= ((j - i) & mask)) {
        this.keys[i] = this.keys[j];
        this.values[i] = this.values[j];
        i = j;
      }
    }
    this.values[i] = undefined;
    return true;
  }

  /** The entry set longest ago that is still in the table. */
  oldest(): [number, T] | undefined {
    this.trimOrder();
    if (this.orderHead === this.order.length) return undefined;
    const id = this.order[this.orderHead];
    return [id, this.get(id)!];
  }

  private find(id: number): number {
    for (let i = this.slot(id); this.values[i] !== undefined; i = (i + 1) & this.mask) {
      if (this.keys[i] === id) return i;
    }
    return -1;
  }

  /** Steps past ids no longer in the table at the front of `order`, and drops them once they are
   * most of it. An id that stays at the front holds back the ones behind it: once they are four
   * times the table's capacity, those no longer in the table are dropped too. */
  private trimOrder(): void {
    while (this.orderHead < this.order.length && this.find(this.order[this.orderHead]) < 0) this.orderHead++;
    if (this.orderHead >= 1024 && this.orderHead * 2 >= this.order.length) {
      this.order.splice(0, this.orderHead);
      this.orderHead = 0;
    } else if (this.order.length - this.orderHead > 4 * (this.mask + 1) + 1024) {
      this.order = this.order.slice(this.orderHead).filter((id) => this.find(id) >= 0);
      this.orderHead = 0;
    }
  }

  /** Ids kept for the order of insertion (for tests: bounded by the table's capacity). */
  get orderLength(): number {
    return this.order.length - this.orderHead;
  }

  private slot(id: number): number {
    return (Math.imul((id | 0) ^ ((id / 4294967296) | 0), 0x9e3779b1) >>> 0) & this.mask;
  }

  private grow(): void {
    const keys = this.keys;
    const values = this.values;
    const capacity = 2 * (this.mask + 1);
    this.keys = new Float64Array(capacity);
    this.values = new Array<T | undefined>(capacity).fill(undefined);
    this.mask = capacity - 1;
    for (let j = 0; j < values.length; j++) {
      const v = values[j];
      if (v === undefined) continue;
      let i = this.slot(keys[j]);
      while (this.values[i] !== undefined) i = (i + 1) & this.mask;
      this.keys[i] = keys[j];
      this.values[i] = v;
      values[j] = undefined; // the discarded array keeps nothing alive (see above)
    }
  }
}
