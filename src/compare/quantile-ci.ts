// Distribution-free confidence bounds for a quantile from order statistics.
//
// Of n independent samples, the number B at or below the true q-quantile ξ is Binomial(n, q).
// The k-th smallest sample X_(k) is ≤ ξ exactly when B ≥ k, so
//   P(X_(lowRank) ≤ ξ) = P(B ≥ lowRank) ≥ 1 − α/2   and   P(X_(highRank) ≥ ξ) = P(B < highRank) ≥ 1 − α/2,
// whatever the shape of the distribution. Too few samples leave a bound out of [1, n]: none.

/** Ranks (1-based, into the sorted samples) of the lower and upper bound; null: too few samples for that bound. */
export interface RankBounds {
  lowRank: number | null;
  highRank: number | null;
}

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(x) for x > 0 (Lanczos, g = 7; relative error ~1e-15). */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

function logBinomialPmf(k: number, n: number, p: number): number {
  return logGamma(n + 1) - logGamma(k + 1) - logGamma(n - k + 1) + k * Math.log(p) + (n - k) * Math.log1p(-p);
}

/** Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`probability must be in (0, 1): ${p}`);
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number): number =>
    (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

/** Exact summation while the binomial's spread is small; beyond it the normal approximation
 * (with continuity correction) is within a rank of exact. */
const EXACT_MAX_VARIANCE = 2500;

/** Largest k with P(B ≤ k) ≤ tail, for B ~ Binomial(n, p); −1 when even P(B = 0) > tail. */
function lowerTailCut(n: number, p: number, tail: number): number {
  const variance = n * p * (1 - p);
  if (variance > EXACT_MAX_VARIANCE) {
    // P(B ≤ k) ≈ Φ((k + 0.5 − np)/σ) ≤ tail  ⇔  k ≤ np + σ·z_tail − 0.5
    return Math.floor(n * p + Math.sqrt(variance) * normalQuantile(tail) - 0.5);
  }
  // Sum the pmf upwards from where it stops being negligible (~13 σ below the mean: < 1e-38).
  const start = Math.max(0, Math.floor(n * p - 13 * Math.sqrt(variance) - 1));
  let pmf = Math.exp(logBinomialPmf(start, n, p));
  let cdf = 0;
  for (let k = start; k <= n; k++) {
    cdf += pmf;
    if (cdf > tail) return k - 1;
    pmf *= ((n - k) / (k + 1)) * (p / (1 - p));
  }
  return n;
}

/**
 * Ranks bounding the q-quantile (0 < q < 1) of n samples with two-sided confidence `confidence`
 * (each bound misses with probability at most (1 − confidence)/2).
 */
export function quantileRankBounds(n: number, q: number, confidence: number): RankBounds {
  if (!(q > 0 && q < 1)) throw new RangeError(`quantile must be in (0, 1): ${q}`);
  if (!(confidence > 0 && confidence < 1)) throw new RangeError(`confidence must be in (0, 1): ${confidence}`);
  if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`sample count must be a whole number: ${n}`);
  if (n === 0) return { lowRank: null, highRank: null };
  const tail = (1 - confidence) / 2;
  // Lower: the largest rank l with P(B ≤ l − 1) ≤ tail.
  const lowRank = lowerTailCut(n, q, tail) + 1;
  // Upper: the smallest rank u with P(B ≥ u) ≤ tail; B ≥ u ⇔ n − B ≤ n − u, and n − B ~ Binomial(n, 1 − q).
  const highRank = n - lowerTailCut(n, 1 - q, tail);
  return {
    lowRank: lowRank >= 1 && lowRank <= n ? lowRank : null,
    highRank: highRank >= 1 && highRank <= n ? highRank : null,
  };
}
