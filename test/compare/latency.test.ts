import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { LatencyHistogram, MAX_US } from '../../src/compare/latency';
import { rng } from '../support/packets';


/** Log-normal latencies in whole µs (median e^mu µs), clamped into range. */
function lognormal(rand: () => number, mu: number, sigma: number): number {
  const u = rand() || 1e-12;
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
  return Math.min(MAX_US, Math.max(1, Math.round(Math.exp(mu + sigma * z))));
}

/** Nearest-rank percentile of a sorted array (the definition HdrHistogram uses). */
function exactPercentile(sorted: number[], p: number): number {
  // Like HdrHistogram, forgive the float error in p/100*n (0.999 * 1000 = 999.0000000000001).
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length - 1e-9));
  return sorted[rank - 1];
}

const PS = [0, 1, 10, 25, 50, 75, 90, 95, 99, 99.9, 99.99, 100];

function assertClose(got: number, exact: number, what: string): void {
  // 2 significant digits: HDR reports the highest value equivalent to the exact one (≤ 1/128 above).
  assert.ok(got >= exact && got - exact <= exact / 128, `${what}: got ${got}, exact ${exact}`);
}

describe('LatencyHistogram', () => {
  it('percentiles match exact sorted arrays within 2 significant digits (random data)', () => {
    const rand = rng(42);
    const shapes: Array<[string, () => number]> = [
      ['lognormal 5ms σ=1', () => lognormal(rand, Math.log(5000), 1)],
      ['lognormal 200µs σ=0.3', () => lognormal(rand, Math.log(200), 0.3)],
      ['uniform 1µs..10s', () => 1 + Math.floor(rand() * 10_000_000)],
      ['bimodal cache hit/miss', () => (rand() < 0.8 ? lognormal(rand, Math.log(800), 0.2) : lognormal(rand, Math.log(120_000), 0.5))],
      ['small exact values', () => 1 + Math.floor(rand() * 50)],
    ];
    for (const [name, gen] of shapes) {
      for (const n of [1, 7, 1000, 50_000]) {
        const h = new LatencyHistogram();
        const xs: number[] = [];
        let sum = 0;
        for (let i = 0; i < n; i++) {
          const x = gen();
          xs.push(x);
          sum += x;
          h.record(x);
        }
        xs.sort((a, b) => a - b);
        assert.equal(h.count, n);
        for (const p of PS) assertClose(h.percentile(p), exactPercentile(xs, p), `${name} n=${n} p${p}`);
        const s = h.summary();
        assert.equal(s.count, n);
        assert.equal(s.max, xs[n - 1]);
        assert.ok(Math.abs(s.mean - sum / n) < 1e-6 * (sum / n), `${name} mean`);
        assertClose(s.p50, exactPercentile(xs, 50), `${name} summary p50`);
        assertClose(s.p90, exactPercentile(xs, 90), `${name} summary p90`);
        assertClose(s.p99, exactPercentile(xs, 99), `${name} summary p99`);
        assert.equal(h.percentile(0), xs[0]);
        assert.equal(h.percentile(100), xs[n - 1]);
      }
    }
  });

  it('empty histogram', () => {
    const h = new LatencyHistogram();
    assert.equal(h.count, 0);
    assert.equal(h.percentile(50), 0);
    assert.deepEqual(h.summary(), { count: 0, p50: 0, p90: 0, p99: 0, max: 0, mean: 0 });
    assert.deepEqual(h.buckets(), []);
  });

  it('rejects percentiles outside [0, 100]', () => {
    const h = new LatencyHistogram();
    h.record(10);
    for (const p of [-1, 100.5, NaN]) assert.throws(() => h.percentile(p), RangeError);
  });

  it('clamps and counts out-of-range values; drops NaN', () => {
    const h = new LatencyHistogram();
    h.record(0);
    h.record(-5);
    h.record(0.4);
    h.record(MAX_US + 1);
    h.record(Infinity);
    h.record(NaN);
    h.record(1000);
    assert.equal(h.count, 6);
    assert.equal(h.underflows, 3);
    assert.equal(h.overflows, 2);
    assert.equal(h.invalid, 1);
    assert.equal(h.percentile(0), 1);
    assert.equal(h.percentile(50), 1);
    assert.equal(h.percentile(100), MAX_US);
    assert.equal(h.summary().max, MAX_US);
    assert.equal(h.summary().mean, (3 * 1 + 2 * MAX_US + 1000) / 6);
    h.record(MAX_US); // exactly 1 h is in range
    assert.equal(h.overflows, 2);
  });

  it('fractional µs values are kept to the nearest µs', () => {
    const h = new LatencyHistogram();
    for (const x of [1.2, 1.6, 2.5]) h.record(x);
    assert.equal(h.count, 3);
    assert.equal(h.percentile(100), 2.5);
    assert.ok(Math.abs(h.summary().mean - 5.3 / 3) < 1e-12);
  });

  it('merge equals recording everything into one histogram', () => {
    const rand = rng(7);
    const a = new LatencyHistogram();
    const b = new LatencyHistogram();
    const all = new LatencyHistogram();
    for (let i = 0; i < 20_000; i++) {
      const x = lognormal(rand, Math.log(3000), 1.2);
      (i % 3 === 0 ? a : b).record(x);
      all.record(x);
    }
    a.record(-1);
    all.record(-1);
    b.record(NaN);
    all.record(NaN);
    a.merge(b);
    assert.deepEqual(a.summary(), all.summary());
    for (const p of PS) assert.equal(a.percentile(p), all.percentile(p));
    assert.deepEqual(a.buckets(), all.buckets());
    assert.equal(a.underflows, 1);
    assert.equal(a.invalid, 1);

    const empty = new LatencyHistogram();
    empty.merge(all);
    assert.deepEqual(empty.summary(), all.summary());
    all.merge(new LatencyHistogram());
    assert.deepEqual(empty.summary(), all.summary());
  });

  it('JSON round trip is lossless for counts, sum, min, max and counters', () => {
    const rand = rng(99);
    const h = new LatencyHistogram();
    for (let i = 0; i < 30_000; i++) h.record(lognormal(rand, Math.log(20_000), 1.5));
    h.record(0);
    h.record(MAX_US * 2);
    h.record(NaN);
    const text = JSON.stringify(h);
    const back = LatencyHistogram.fromJSON(JSON.parse(text));
    assert.equal(back.count, h.count);
    assert.deepEqual(back.summary(), h.summary());
    for (const p of PS) assert.equal(back.percentile(p), h.percentile(p));
    assert.deepEqual(back.buckets(), h.buckets());
    assert.equal(back.underflows, 1);
    assert.equal(back.overflows, 1);
    assert.equal(back.invalid, 1);
    // The restored histogram keeps working.
    back.record(5);
    back.merge(h);
    assert.equal(back.count, 2 * h.count + 1);
    console.log(`# JSON size for 30k lognormal samples: ${text.length} bytes`);

    const e = LatencyHistogram.fromJSON(JSON.parse(JSON.stringify(new LatencyHistogram())));
    assert.equal(e.count, 0);
    assert.deepEqual(e.summary(), new LatencyHistogram().summary());
  });

  it('fromJSON rejects malformed input', () => {
    const good = new LatencyHistogram();
    good.record(10);
    const j = JSON.parse(JSON.stringify(good)) as Record<string, unknown>;
    for (const bad of [null, 42, 'x', {}, { ...j, v: 2 }, { ...j, hdr: 'not base64!' }, { ...j, sum: -1 }, { ...j, min: 'a' }]) {
      assert.throws(() => LatencyHistogram.fromJSON(bad), TypeError, JSON.stringify(bad));
    }
  });

  it('buckets: log scale, ≤ 60, ordered, counts add up, boundaries inclusive', () => {
    const h = new LatencyHistogram();
    for (const x of [1, 2, 2, 100, 101, 150, 151, 1_000_000, MAX_US]) h.record(x);
    const bs = h.buckets();
    assert.ok(bs.length <= 60);
    assert.equal(bs[0].upToUs, 1);
    assert.equal(bs[bs.length - 1].upToUs, MAX_US);
    for (let i = 1; i < bs.length; i++) assert.ok(bs[i].upToUs > bs[i - 1].upToUs);
    assert.equal(bs.reduce((s, b) => s + b.count, 0), h.count);
    const at = (u: number): number => bs.find((b) => b.upToUs === u)?.count ?? -1;
    assert.equal(at(1), 1);
    assert.equal(at(2), 2);
    assert.equal(at(100), 1);
    assert.equal(at(150), 2); // (100, 150]
    assert.equal(at(200), 1); // 151
    assert.equal(at(1_000_000), 1);
    assert.equal(at(3), 0); // empty buckets inside the range are listed

    const rand = rng(5);
    const g = new LatencyHistogram();
    for (let i = 0; i < 10_000; i++) g.record(lognormal(rand, Math.log(5000), 2));
    const gb = g.buckets();
    assert.equal(gb.reduce((s, b) => s + b.count, 0), g.count);
    assert.ok(gb.length <= 60);
  });

  it('memory per histogram (diagnostic)', () => {
    const rand = rng(1);
    const shapes: Array<[string, number, () => number]> = [
      ['empty', 0, () => 1],
      ['lognormal 5ms σ=0.3, 100k', 100_000, () => lognormal(rand, Math.log(5000), 0.3)],
      ['lognormal 5ms σ=1, 100k', 100_000, () => lognormal(rand, Math.log(5000), 1)],
      ['lognormal 5ms σ=1, 1M', 1_000_000, () => lognormal(rand, Math.log(5000), 1)],
      ['lognormal 5ms σ=2, 1M (very wide)', 1_000_000, () => lognormal(rand, Math.log(5000), 2)],
    ];
    const gc = (globalThis as { gc?: () => void }).gc;
    for (const [name, n, gen] of shapes) {
      const hs: LatencyHistogram[] = [];
      const K = 5;
      gc?.();
      const before = process.memoryUsage();
      for (let k = 0; k < K; k++) {
        const h = new LatencyHistogram();
        for (let i = 0; i < n; i++) h.record(gen());
        hs.push(h);
      }
      gc?.();
      const after = process.memoryUsage();
      const heap = (after.heapUsed + after.arrayBuffers - before.heapUsed - before.arrayBuffers) / K;
      const est = hs[0].estimatedFootprintInBytes;
      const json = JSON.stringify(hs[0]).length;
      console.log(
        `# ${name}: estimated ${(est / 1024).toFixed(1)} KB` +
          (gc ? `, heap delta ${(heap / 1024).toFixed(1)} KB` : '') +
          `, JSON ${(json / 1024).toFixed(1)} KB`,
      );
    }
  });
});
