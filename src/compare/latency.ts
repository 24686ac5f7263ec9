/**
 * Latency distributions per endpoint and side, in microseconds.
 *
 * Backed by hdr-histogram-js's Int32Histogram (pure JS, no WebAssembly): range 1 µs .. 1 hour,
 * 2 significant digits (every recorded value is kept to within 1%; values below 256 µs exactly).
 * Dense counts make the size fixed (about 13 KB) whatever the data: with one histogram per
 * endpoint and side, memory must not depend on how spread out latencies are.
 *
 * Besides the HDR counts we keep the exact sum, min and max, so mean and max are exact and
 * percentiles are clamped into [min, max].
 */
import { quantileRankBounds } from './quantile-ci';
import { Int32Histogram, JsHistogram, decodeFromCompressedBase64, encodeIntoCompressedBase64 } from 'hdr-histogram-js';

export const MIN_US = 1;
export const MAX_US = 3_600_000_000; // 1 hour
const DIGITS = 2;

function newHdr(): Int32Histogram {
  const h = new Int32Histogram(MIN_US, MAX_US, DIGITS);
  h.autoResize = false;
  return h;
}

/** Plot bucket upper bounds: 1-1.5-2-3-5-7 per decade (rounded to whole µs, deduplicated), up to 1 h. */
const PLOT_BOUNDS: number[] = (() => {
  const out: number[] = [];
  for (let d = 0, scale = 1; d < 10; d++, scale *= 10) {
    for (const f of [1, 1.5, 2, 3, 5, 7]) {
      const b = Math.round(f * scale);
      if (b < MAX_US && (out.length === 0 || b > out[out.length - 1])) out.push(b);
    }
  }
  out.push(MAX_US);
  return out;
})();

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** A quantile's value and its confidence bounds, in µs; a bound is null when there were too few samples for it. */
export interface QuantileBounds {
  /** The quantile, in (0, 1). */
  q: number;
  samples: number;
  estimate: number;
  low: number | null;
  high: number | null;
}

interface LatencyJson {
  v: 1;
  unit: 'us';
  /** HdrHistogram V2 compressed encoding, base64 (interoperable with other HdrHistogram tools). */
  hdr: string;
  sum: number;
  min: number;
  max: number;
  underflows: number;
  overflows: number;
  invalid: number;
}

export class LatencyHistogram {
  private hdr: Int32Histogram = newHdr();
  private sum = 0;
  private min = Infinity;
  private max = -Infinity;
  /** Values below 1 µs (incl. 0 and negatives), recorded as 1 µs. */
  underflows = 0;
  /** Values above 1 hour (incl. +Infinity), recorded as 1 hour. */
  overflows = 0;
  /** NaN values: not recorded. */
  invalid = 0;

  get count(): number {
    return this.hdr.totalCount;
  }

  record(us: number): void {
    let v = us;
    if (!(v >= MIN_US)) {
      if (v !== v) {
        this.invalid++;
        return;
      }
      this.underflows++;
      v = MIN_US;
    } else if (v > MAX_US) {
      this.overflows++;
      v = MAX_US;
    }
    this.sum += v;
    if (v < this.min) this.min = v;
    if (v > this.max) this.max = v;
    this.hdr.recordValue(Math.round(v));
  }

  /** Value (µs) at percentile p ∈ [0, 100] (nearest rank); 0 when empty. Within 1/128 (2 significant digits), clamped to [min, max]. */
  percentile(p: number): number {
    if (!(p >= 0 && p <= 100)) throw new RangeError(`percentile must be in [0, 100]: ${p}`);
    return this.valuesAt([p])[0];
  }

  summary(): LatencySummary {
    const count = this.count;
    if (count === 0) return { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 };
    const [p50, p90, p99] = this.valuesAt([50, 90, 99]);
    return { count, p50, p90, p99, max: this.max, mean: this.sum / count };
  }

  /**
   * Percentiles for ascending ps in one scan over the HDR buckets between min and max
   * (hdr-histogram-js's getValueAtPercentile scans the whole packed array once per call).
   * Same definition as HdrHistogram: rank ⌈p/100·n⌉ (at least 1), forgiving float error.
   */
  private valuesAt(ps: number[]): number[] {
    const n = this.count;
    const ranks = ps.map((p) => Math.max(1, Math.ceil((p / 100) * n * (1 - 1e-12))));
    return this.valuesAtRanks(ranks, ps.map((p) => p === 0));
  }

  /**
   * The values of the samples at ascending 1-based ranks, in one scan; each is its HDR bucket's
   * highest equivalent value (its lowest where `lowest[i]`), clamped to [min, max]; 0 when empty.
   */
  private valuesAtRanks(ranks: number[], lowest: boolean[]): number[] {
    const out = new Array<number>(ranks.length).fill(0);
    if (this.count === 0) return out;
    const h = this.hdr;
    const from = h.countsArrayIndex(Math.round(this.min));
    const to = Math.min(h.countsArrayLength - 1, h.countsArrayIndex(Math.round(this.max)));
    let k = 0;
    let seen = 0;
    for (let i = from; i <= to && k < ranks.length; i++) {
      const c = h.getCountAtIndex(i);
      if (c === 0) continue;
      seen += c;
      while (k < ranks.length && seen >= ranks[k]) {
        const v = lowest[k] ? h.lowestEquivalentValue(h.valueFromIndex(i)) : h.highestEquivalentValue(h.valueFromIndex(i));
        out[k++] = v < this.min ? this.min : v > this.max ? this.max : v;
      }
    }
    for (; k < ranks.length; k++) out[k] = this.max;
    return out;
  }

  /**
   * Distribution-free confidence bounds (µs) for quantiles q ∈ (0, 1), from order statistics
   * (see quantile-ci.ts): the lower bound is its sample's lowest HDR-equivalent value, the upper
   * its highest, so bucketing only widens them. A bound needing more samples than there are is null.
   */
  quantileBounds(qs: number[], confidence: number): QuantileBounds[] {
    const n = this.count;
    const wanted: Array<{ rank: number; lowest: boolean; set: (v: number) => void }> = [];
    const out = qs.map((q): QuantileBounds => {
      const { lowRank, highRank } = quantileRankBounds(n, q, confidence);
      const b: QuantileBounds = { q, samples: n, estimate: 0, low: null, high: null };
      wanted.push({ rank: Math.max(1, Math.ceil(q * n * (1 - 1e-12))), lowest: false, set: (v) => { b.estimate = v; } });
      if (lowRank !== null) wanted.push({ rank: lowRank, lowest: true, set: (v) => { b.low = v; } });
      if (highRank !== null) wanted.push({ rank: highRank, lowest: false, set: (v) => { b.high = v; } });
      return b;
    });
    if (n === 0) return out;
    wanted.sort((a, b) => a.rank - b.rank);
    const values = this.valuesAtRanks(wanted.map((w) => w.rank), wanted.map((w) => w.lowest));
    wanted.forEach((w, i) => w.set(values[i]));
    return out;
  }

  merge(other: LatencyHistogram): void {
    if (other.count > 0) this.hdr.add(other.hdr);
    this.sum += other.sum;
    if (other.min < this.min) this.min = other.min;
    if (other.max > this.max) this.max = other.max;
    this.underflows += other.underflows;
    this.overflows += other.overflows;
    this.invalid += other.invalid;
  }

  /** Conservative estimate of the bytes held by the counts (from hdr-histogram-js). */
  get estimatedFootprintInBytes(): number {
    return this.hdr.estimatedFootprintInBytes;
  }

  toJSON(): LatencyJson {
    return {
      v: 1,
      unit: 'us',
      hdr: encodeIntoCompressedBase64(this.hdr),
      sum: this.sum,
      min: this.count > 0 ? this.min : 0,
      max: this.count > 0 ? this.max : 0,
      underflows: this.underflows,
      overflows: this.overflows,
      invalid: this.invalid,
    };
  }

  static fromJSON(json: unknown): LatencyHistogram {
    const h = new LatencyHistogram();
    h.mergeJSON(json);
    return h;
  }

  /** Adds a histogram in its JSON form (as merge() does), without building a second one. */
  mergeJSON(json: unknown): void {
    if (typeof json !== 'object' || json === null) throw new TypeError('latency histogram JSON: not an object');
    const j = json as Record<string, unknown>;
    if (j.v !== 1 || j.unit !== 'us' || typeof j.hdr !== 'string') {
      throw new TypeError('latency histogram JSON: expected { v: 1, unit: "us", hdr: string, … }');
    }
    const num = (k: string): number => {
      const x = j[k];
      if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) throw new TypeError(`latency histogram JSON: bad ${k}`);
      return x;
    };
    let decoded: JsHistogram;
    try {
      decoded = decodeFromCompressedBase64(j.hdr, 32, false) as unknown as JsHistogram;
    } catch (e) {
      throw new TypeError(`latency histogram JSON: bad hdr payload (${(e as Error).message})`);
    }
    const [sum, underflows, overflows, invalid] = [num('sum'), num('underflows'), num('overflows'), num('invalid')];
    const [min, max] = decoded.totalCount > 0 ? [num('min'), num('max')] : [Infinity, -Infinity];
    if (decoded.totalCount > 0) this.hdr.add(decoded);
    this.sum += sum;
    this.underflows += underflows;
    this.overflows += overflows;
    this.invalid += invalid;
    if (min < this.min) this.min = min;
    if (max > this.max) this.max = max;
  }

  /**
   * Counts for plotting on a log scale: bounds 1-1.5-2-3-5-7 per decade up to 1 h (57 at most),
   * trimmed to the first..last non-empty bucket; each count covers (previous upToUs, upToUs].
   * Values are placed by their HDR bucket (exact below 256 µs, within 1/128 above).
   */
  buckets(): Array<{ upToUs: number; count: number }> {
    if (this.count === 0) return [];
    const counts = new Array<number>(PLOT_BOUNDS.length).fill(0);
    const h = this.hdr;
    const from = h.countsArrayIndex(Math.max(MIN_US, Math.floor(this.min)));
    const to = Math.min(h.countsArrayLength - 1, h.countsArrayIndex(Math.round(this.max)));
    let b = 0;
    for (let i = from; i <= to; i++) {
      const c = h.getCountAtIndex(i);
      if (c === 0) continue;
      const v = h.valueFromIndex(i);
      while (PLOT_BOUNDS[b] < v) b++;
      counts[b] += c;
    }
    let first = 0;
    while (counts[first] === 0) first++;
    let last = counts.length - 1;
    while (counts[last] === 0) last--;
    const out: Array<{ upToUs: number; count: number }> = [];
    for (let i = first; i <= last; i++) out.push({ upToUs: PLOT_BOUNDS[i], count: counts[i] });
    return out;
  }
}
