// The latency rule: distribution-free quantile bounds (order statistics via the binomial) and
// the verdict built on them. Exact coverage against brute-force binomial sums; seeded trials
// of heavy-tailed latencies for the false-alarm rate and the power to see a 2× slowdown.
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { LatencyHistogram } from '../../src/compare/latency';
import { logGamma, normalQuantile, quantileRankBounds } from '../../src/compare/quantile-ci';
import { defaultThresholds, judgeLatency, LATENCY_QUANTILES } from '../../src/report/analysis';
import { rng } from '../support/packets';

/** ln k! from a table of summed logs (independent of the code under test). */
const logFactorial: number[] = [0];
for (let k = 1; k <= 1000; k++) logFactorial.push(logFactorial[k - 1] + Math.log(k));

/** P(B ≤ k) for B ~ Binomial(n, p), each term in log space from k = 0 (n ≤ 1000). */
function binomialCdf(k: number, n: number, p: number): number {
  let cdf = 0;
  for (let j = 0; j <= k; j++) {
    cdf += Math.exp(logFactorial[n] - logFactorial[j] - logFactorial[n - j] + j * Math.log(p) + (n - j) * Math.log1p(-p));
  }
  return cdf;
}

/** Latencies in µs as a loaded host gives them: a log-normal body (median `medianUs`) and 5% stalls
 * from a Pareto tail (α = 1.2: mean finite, variance not), up to ~100× the median. */
function heavyTailed(rand: () => number, medianUs: number): number {
  const u1 = rand() || 1e-12;
  const z = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * rand());
  const body = medianUs * Math.exp(0.3 * z);
  if (rand() >= 0.05) return body;
  return body + Math.min(medianUs * 100, medianUs * (Math.pow(rand() || 1e-12, -1 / 1.2) - 1));
}

function side(values: number[]) {
  const h = new LatencyHistogram();
  for (const v of values) h.record(v);
  return { count: h.count, quantiles: h.quantileBounds(LATENCY_QUANTILES, defaultThresholds.latencyConfidence) };
}

describe('quantile bounds', () => {
  it('ranks hold the promised coverage exactly, and are the tightest that do (n ≤ 400)', () => {
    const tail = 0.025;
    for (const q of [0.5, 0.9, 0.99]) {
      for (const n of [1, 2, 5, 6, 10, 37, 100, 299, 367, 368, 400]) {
        const { lowRank, highRank } = quantileRankBounds(n, q, 0.95);
        if (lowRank !== null) {
          // P(X_(l) > ξ) = P(B ≤ l − 1) ≤ tail, and l + 1 would break it.
          assert.ok(binomialCdf(lowRank - 1, n, q) <= tail + 1e-12, `q${q} n${n} low ${lowRank}`);
          if (lowRank < n) assert.ok(binomialCdf(lowRank, n, q) > tail, `q${q} n${n} low ${lowRank} not tightest`);
        } else {
          assert.ok(binomialCdf(0, n, q) > tail, `q${q} n${n}: a lower bound was possible`);
        }
        if (highRank !== null) {
          // P(X_(u) < ξ) = P(B ≥ u) ≤ tail, and u − 1 would break it.
          assert.ok(1 - binomialCdf(highRank - 1, n, q) <= tail + 1e-12, `q${q} n${n} high ${highRank}`);
          if (highRank > 1) assert.ok(1 - binomialCdf(highRank - 2, n, q) > tail, `q${q} n${n} high ${highRank} not tightest`);
        } else {
          assert.ok(1 - binomialCdf(n - 1, n, q) > tail, `q${q} n${n}: an upper bound was possible`);
        }
      }
    }
    // p99's upper bound needs 0.99^n ≤ 2.5%: 368 samples.
    assert.equal(quantileRankBounds(367, 0.99, 0.95).highRank, null);
    assert.equal(quantileRankBounds(368, 0.99, 0.95).highRank, 368);
    assert.deepEqual(quantileRankBounds(0, 0.5, 0.95), { lowRank: null, highRank: null });
  });

  it('the normal approximation for large n agrees with exact sums within a rank', () => {
    // Just past the switch to the approximation (variance 2,500): p50 at n = 10,004.
    for (const [n, q] of [[10_004, 0.5], [27_800, 0.9], [252_600, 0.99]] as const) {
      const { lowRank, highRank } = quantileRankBounds(n, q, 0.95);
      const lowExact = exactLowRank(n, q, 0.025);
      assert.ok(Math.abs((lowRank ?? 0) - lowExact) <= 1, `n ${n} q ${q}: ${lowRank} vs exact ${lowExact}`);
      assert.ok(highRank !== null && highRank > (lowRank ?? 0));
      // Symmetric around the mean to within the approximation's rank.
      assert.ok(Math.abs((highRank - n * q) - (n * q - (lowRank ?? 0))) <= 3, `n ${n} q ${q}: ${lowRank}..${highRank}`);
    }
  });

  it('helpers: log-gamma and the normal quantile', () => {
    assert.ok(Math.abs(logGamma(10) - Math.log(362880)) < 1e-10);
    assert.ok(Math.abs(logGamma(0.5) - Math.log(Math.sqrt(Math.PI))) < 1e-12);
    assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-6);
    assert.ok(Math.abs(normalQuantile(0.025) + 1.959964) < 1e-6);
    assert.ok(Math.abs(normalQuantile(0.5)) < 1e-12);
  });

  it('bounds from the histogram cover the true quantile in about 95% of seeded trials', () => {
    const rand = rng(7);
    // True quantiles of a log-normal (median 20 ms, σ 0.3): exp(ln 20000 + 0.3 z_q).
    const truth = LATENCY_QUANTILES.map((q) => 20_000 * Math.exp(0.3 * normalQuantile(q)));
    const misses = [0, 0, 0];
    const trials = 1000;
    for (let t = 0; t < trials; t++) {
      const h = new LatencyHistogram();
      for (let i = 0; i < 500; i++) {
        const z = Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
        h.record(20_000 * Math.exp(0.3 * z));
      }
      h.quantileBounds(LATENCY_QUANTILES, 0.95).forEach((b, i) => {
        if (b.low === null || b.high === null) throw new Error(`n 500 q ${b.q}: bounds expected`);
        if (!(b.low <= truth[i] && truth[i] <= b.high)) misses[i]++;
      });
    }
    // Each miss rate is at most 5% by construction (a little less: ranks are discrete, buckets widen);
    // 3.5 binomial σ above 5% of 1,000 would be 74.
    for (const m of misses) assert.ok(m <= 74, `misses per quantile ${misses.join(', ')} of ${trials}`);
    assert.ok(misses.some((m) => m > 5), `bounds far too wide? misses ${misses.join(', ')}`);
  });
});

describe('latency verdict from the bounds', () => {
  it('identical heavy-tailed distributions are never flagged (1,000 seeded trials per size)', () => {
    const rand = rng(2024);
    for (const n of [100, 300, 1000, 3000]) {
      let flagged = 0;
      let judgedP99 = 0;
      for (let t = 0; t < 1000; t++) {
        const draw = (): number[] => Array.from({ length: n }, () => heavyTailed(rand, 20_000));
        const j = judgeLatency(side(draw()), side(draw()), defaultThresholds);
        if (j.some((x) => x.tripped)) flagged++;
        if (j[2].judged) judgedP99++;
      }
      assert.equal(flagged, 0, `n ${n}: ${flagged} false alarms in 1,000`);
      // p99 is judged only with enough samples for its upper bound (368).
      assert.equal(judgedP99, n >= 368 ? 1000 : 0, `n ${n}`);
    }
  });

  it('a 2× slowdown of the whole distribution is always flagged with 300 samples or more', () => {
    const rand = rng(99);
    for (const n of [300, 1000]) {
      let flagged = 0;
      for (let t = 0; t < 1000; t++) {
        const reference = Array.from({ length: n }, () => heavyTailed(rand, 20_000));
        const shadow = Array.from({ length: n }, () => 2 * heavyTailed(rand, 20_000));
        const j = judgeLatency(side(shadow), side(reference), defaultThresholds);
        if (j.some((x) => x.tripped)) flagged++;
      }
      assert.equal(flagged, 1000, `n ${n}: flagged ${flagged} of 1,000`);
    }
  });

  it('too few samples: not judged rather than guessed', () => {
    const rand = rng(5);
    const few = (k: number): number[] => Array.from({ length: 50 }, () => k * heavyTailed(rand, 20_000));
    const j = judgeLatency(side(few(10)), side(few(1)), defaultThresholds);
    assert.ok(j.every((x) => !x.judged && !x.tripped), 'under --min-latency-samples nothing is judged, even 10× slower');
    const lenient = judgeLatency(side(few(10)), side(few(1)), { ...defaultThresholds, minLatencySamples: 1 });
    assert.deepEqual(lenient.map((x) => x.judged), [true, true, false], 'p50 and p90 have bounds from 50 samples, p99 does not');
    assert.ok(lenient[0].tripped);
  });
});

/** The lower-bound rank by exact summation in log space (for large n): 1 + the largest k with P(B ≤ k) ≤ tail. */
function exactLowRank(n: number, p: number, tail: number): number {
  let cdf = 0;
  const lo = Math.max(0, Math.floor(n * p - 15 * Math.sqrt(n * p * (1 - p))));
  for (let k = lo; k <= n; k++) {
    cdf += Math.exp(logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log1p(-p));
    if (cdf > tail) return k;
  }
  return n + 1;
}
