// From a run's raw comparison counts (results.json) to judgements: which fields regressed
// (difference rate clearly above noise), error and latency changes per endpoint, and the
// verdict for going live. Pure: the same results and thresholds give the same analysis.

import { defaultOf } from '../config/options';
import { thresholdOptions as T } from './options';
import type { MergeInfo } from './merge';
import { LatencyHistogram, LatencySummary, QuantileBounds, ResultsJson, EndpointJson, ShadowEndpointJson, SideJson, RESULTS_VERSION } from '../compare';

export interface Thresholds {
  /** A field needs at least this many differing exchanges to be flagged. */
  minDiffs: number;
  /** Flagged when the 95% lower bound of its difference rate exceeds the 95% upper bound of
   * its noise rate by more than this. */
  minExcess: number;
  /** … and the difference rate must exceed the noise rate by at least this share of itself
   * (time-derived fields differ a little more often across hosts than across repeats). */
  minRelativeExcess: number;
  /** Noise comparisons an endpoint needs before its own noise rates are used (else pooled). */
  minNoiseSamples: number;
  /** Compared exchanges an endpoint needs to be judged. */
  minRequests: number;
  /** Verdict: largest share of an endpoint's exchanges that may differ at flagged fields. */
  maxMismatchRate: number;
  /** Verdict: largest rise of the error rate (5xx, timeouts, connection errors), shadow minus production. */
  maxErrorIncrease: number;
  /** Latencies a side needs on an endpoint before any of its quantiles is judged. */
  minLatencySamples: number;
  /** Two-sided confidence of each quantile's bounds (each bound misses with at most half the rest). */
  latencyConfidence: number;
  /** What shadow latency is judged against. 'baseline' (default) needs a --baseline run:
   * shadow and baseline are timed the same way, by shadowtap as their client, whereas
   * production's latency comes from capture timestamps on the production host. */
  latencyReference: 'baseline' | 'production';
  /** Verdict: at p50, p90 and p99, the shadow's lower bound may be at most this many times the
   * reference's upper bound … */
  maxLatencyRatio: number;
  /** … or above it by at most this many milliseconds. */
  minLatencyDeltaMs: number;
}

/** From the option table (percentages there, fractions here). */
export const defaultThresholds: Thresholds = {
  minDiffs: defaultOf(T.minDiffs),
  minExcess: defaultOf(T.minExcess) / 100,
  minRelativeExcess: defaultOf(T.minRelativeExcess) / 100,
  minNoiseSamples: defaultOf(T.minNoiseSamples),
  minRequests: defaultOf(T.minRequests),
  maxMismatchRate: defaultOf(T.maxMismatch) / 100,
  maxErrorIncrease: defaultOf(T.maxErrorIncrease) / 100,
  minLatencySamples: defaultOf(T.minLatencySamples),
  latencyConfidence: defaultOf(T.latencyConfidence) / 100,
  latencyReference: T.latencyReference.default as Thresholds['latencyReference'],
  maxLatencyRatio: defaultOf(T.maxLatencyRatio),
  minLatencyDeltaMs: defaultOf(T.minLatencyDeltaMs),
};

export interface FieldAnalysis {
  path: string;
  /** What was judged: 'presence' (the field missing or extra) or 'value' (any other change). */
  basis: 'presence' | 'value';

  diffs: number;
  /** Share of compared exchanges that differ here. */
  rate: number;
  noiseDiffs: number;
  noiseComparisons: number;
  noiseRate: number;
  /** Noise from other endpoints too (this one had too few noise comparisons). */
  noisePooled: boolean;
  flagged: boolean;
  kinds: Record<string, number>;
}

export interface SideAnalysis extends LatencySummary {
  attempts: number;
  errors: number;
  errorRate: number;
  status5xx: number;
  timeouts: number;
  connectionErrors: number;
  /** Where the latency was measured: capture timestamps, or shadowtap as the client. */
  timedOn: 'capture' | 'client';
  /** Plot data: counts per latency bucket (µs upper bounds). */
  buckets: Array<{ upToUs: number; count: number }>;
  /** p50, p90 and p99 with their confidence bounds. */
  quantiles: QuantileBounds[];
}

/** What judging a side's latency needs: its sample count and LATENCY_QUANTILES' bounds. */
export type LatencySide = Pick<SideAnalysis, 'count' | 'quantiles'>;

/** The latency quantiles judged, in (0, 1). */
export const LATENCY_QUANTILES = [0.5, 0.9, 0.99];

/** One quantile of the shadow against the reference. */
export interface QuantileJudgement {
  q: number;
  shadow: QuantileBounds;
  reference: QuantileBounds;
  /** Both bounds exist (enough samples on both sides). */
  judged: boolean;
  /** Shadow lower bound / reference upper bound: how much slower the shadow is at least (null: not judged). */
  atLeastRatio: number | null;
  tripped: boolean;
}

export interface EndpointAnalysis {
  key: string;
  /** Requests production answered (or failed to) on this endpoint. */
  traffic: number;
  compared: number;
  judged: boolean;
  /** Share of compared exchanges differing at a flagged field. */
  mismatchRate: number;
  /** Share of compared exchanges differing anywhere (noise included). */
  rawMismatchRate: number;
  skipped: Record<string, number>;
  bodiesNotCompared: number;
  noise: { comparisons: number; fromBaseline: number; fromRepeats: number };
  fields: FieldAnalysis[];
  fieldsOverflow: number;
  production: SideAnalysis;
  shadow: SideAnalysis;
  baseline: SideAnalysis | null;
  /** What the shadow's latency was judged against (null: not judged, no baseline). */
  latencyReference: 'baseline' | 'production' | null;
  /** p50, p90, p99 against the reference (empty when there is none). */
  latency: QuantileJudgement[];
  /** Why this endpoint fails the verdict (empty when it passes or is not judged). */
  problems: string[];
}

export interface TargetAnalysis {
  target: string;
  compared: number;
  mismatched: number;
  flaggedFields: number;
  endpoints: EndpointAnalysis[];
}

export interface Analysis {
  version: number;
  startedAt: string;
  updatedAt: string;
  complete: boolean;
  baseline: string | null;
  thresholds: Thresholds;
  counters: ResultsJson['counters'];
  accounting: Record<string, unknown>;
  verdict: { pass: boolean; reasons: string[]; notes: string[] };
  targets: TargetAnalysis[];
  /** Set when several result directories were merged (`report DIR…`): each one's accounting,
   * and exchanges counted in more than one. */
  merge?: MergeInfo;
}

/** Wilson score interval for k successes in n trials, 95% (z = 1.96). */
export function wilson(k: number, n: number): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  const z = 1.96;
  const p = k / n;
  const z2 = z * z;
  const centre = p + z2 / (2 * n);
  const spread = z * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n));
  const denom = 1 + z2 / n;
  return { low: Math.max(0, (centre - spread) / denom), high: Math.min(1, (centre + spread) / denom) };
}

/** Noise per path pooled over endpoints: over those where the path was seen to vary. */
type NoiseCounts = { counts: { diffs: number; kinds: Partial<Record<string, number>> } | undefined; comparisons: number };

class PooledNoise {
  private readonly byPath = new Map<string, { counts: { diffs: number; kinds: Record<string, number> }; comparisons: number }>();
  private total = 0;
  constructor(endpoints: EndpointJson[]) {
    for (const e of endpoints) {
      this.total += e.noise.comparisons;
      for (const [path, f] of Object.entries(e.noise.fields)) {
        const p = this.byPath.get(path) ?? { counts: { diffs: 0, kinds: {} }, comparisons: 0 };
        p.counts.diffs += f.diffs;
        for (const [k, n] of Object.entries(f.kinds)) p.counts.kinds[k] = (p.counts.kinds[k] ?? 0) + (n ?? 0);
        p.comparisons += e.noise.comparisons;
        this.byPath.set(path, p);
      }
    }
  }
  get(path: string): NoiseCounts {
    return this.byPath.get(path) ?? { counts: undefined, comparisons: this.total };
  }
}

/** A side's figures; its latency from the capture when it was timed there (production
 * always; shadows and baseline with --wire-timing), else as shadowtap's client measured it. */
function side(j: SideJson, countsTimeouts: boolean, confidence: number, isProduction = false): SideAnalysis {
  const wire = j.wireLatency !== undefined ? LatencyHistogram.fromJSON(j.wireLatency) : null;
  const useWire = wire !== null && wire.count > 0;
  const h = useWire ? wire : LatencyHistogram.fromJSON(j.latency);
  const errors = j.status5xx + (countsTimeouts ? j.timeouts + j.connectionErrors : 0);
  return {
    ...h.summary(), attempts: j.attempts, errors, errorRate: j.attempts > 0 ? errors / j.attempts : 0,
    status5xx: j.status5xx, timeouts: j.timeouts, connectionErrors: j.connectionErrors, buckets: h.buckets(),
    timedOn: isProduction || useWire ? 'capture' : 'client', quantiles: h.quantileBounds(LATENCY_QUANTILES, confidence),
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
const ms = (us: number): string => `${(us / 1000).toFixed(1)} ms`;

/** `recorded`: production's answers come from a recording (`replay --out`), so production is
 * the latency reference when there is no baseline. */
function endpoint(e: EndpointJson, s: ShadowEndpointJson, pooled: PooledNoise, t: Thresholds, recorded = false, pipelined = false): EndpointAnalysis {
  const ownNoise = e.noise.comparisons >= t.minNoiseSamples;
  const fields: FieldAnalysis[] = Object.entries(s.fields).map(([path, f]) => {
    const noise = ownNoise ? { counts: e.noise.fields[path], comparisons: e.noise.comparisons } : pooled.get(path);
    // A field that varies in value is not thereby allowed to vanish: presence differences
    // (missing/extra) are judged against presence noise only, the rest against all noise.
    const presence = (f.kinds.missing ?? 0) + (f.kinds.extra ?? 0);
    const noisePresence = (noise.counts?.kinds.missing ?? 0) + (noise.counts?.kinds.extra ?? 0);
    const noiseAll = noise.counts?.diffs ?? 0;
    const judge = (diffs: number, noiseDiffs: number): boolean => {
      if (diffs < t.minDiffs) return false;
      const rate = diffs / s.compared;
      const noiseRate = noise.comparisons > 0 ? noiseDiffs / noise.comparisons : 0;
      // With no noise evidence at all the noise rate counts as 0: the report says so.
      const noiseHigh = noise.comparisons > 0 ? wilson(noiseDiffs, noise.comparisons).high : 0;
      return wilson(diffs, s.compared).low - noiseHigh > t.minExcess && rate - noiseRate >= t.minRelativeExcess * rate;
    };
    const byPresence = judge(presence, noisePresence);
    const flagged = byPresence || judge(f.diffs - presence, noiseAll);
    // The noise shown is the one the field was judged by (presence noise when its presence changed).
    const basis = byPresence || (!flagged && presence * 2 > f.diffs) ? 'presence' : 'value';
    const noiseDiffs = basis === 'presence' ? noisePresence : noiseAll;
    return {
      path, basis, diffs: f.diffs, rate: s.compared > 0 ? f.diffs / s.compared : 0, noiseDiffs,
      noiseComparisons: noise.comparisons, noiseRate: noise.comparisons > 0 ? noiseDiffs / noise.comparisons : 0,
      noisePooled: !ownNoise, flagged, kinds: f.kinds as Record<string, number>,
    };
  });
  fields.sort((a, b) => Number(b.flagged) - Number(a.flagged) || b.diffs - a.diffs || a.path.localeCompare(b.path));
  const flagged = new Set(fields.filter((f) => f.flagged).map((f) => f.path));
  let flaggedMismatches = s.signaturesOverflow; // unknown paths: counted against the shadow
  for (const [sig, n] of Object.entries(s.signatures)) {
    // A path the field table had no room for cannot be judged: counted against the shadow.
    if (sig.split('\n').some((p) => flagged.has(p) || !(p in s.fields))) flaggedMismatches += n;
  }
  const production = side(e.production, false, t.latencyConfidence, true);
  const shadow = side(s, true, t.latencyConfidence);
  const baseline = e.baseline !== null ? side(e.baseline, true, t.latencyConfidence) : null;
  // Like with like: the baseline (timed as the shadow is), else production when the shadow was
  // timed from the capture too (--wire-timing) or production is all there is (a recording
  // replayed) — unless the replays were pipelined, which changes the shadow's load — else
  // production only when asked for.
  const useBaseline = t.latencyReference === 'baseline' && baseline !== null;
  const reference = useBaseline ? baseline
    : t.latencyReference === 'production' || ((shadow.timedOn === 'capture' || recorded) && !pipelined) ? production : null;
  // Differences need compared exchanges; errors only need answers (or their absence) to count.
  const judgedDiffs = s.compared >= t.minRequests;
  const judged = judgedDiffs || s.attempts >= t.minRequests;
  const mismatchRate = s.compared > 0 ? Math.min(1, flaggedMismatches / s.compared) : 0;
  const latency = reference === null ? [] : judgeLatency(shadow, reference, t);
  const problems: string[] = [];
  if (judged) {
    if (judgedDiffs && mismatchRate > t.maxMismatchRate) {
      const names = fields.filter((f) => f.flagged).slice(0, 5).map((f) => f.path).join(', ');
      problems.push(`${pct(mismatchRate)} of ${s.compared} exchanges differ at flagged fields (${names}); at most ${pct(t.maxMismatchRate)} allowed`);
    }
    const rise = shadow.errorRate - production.errorRate;
    if (rise > t.maxErrorIncrease) {
      problems.push(`error rate ${pct(shadow.errorRate)} on the shadow vs ${pct(production.errorRate)} in production (+${(rise * 100).toFixed(1)} points; at most +${(t.maxErrorIncrease * 100).toFixed(1)})`);
    }
    const slower = latencyProblem(latency, useBaseline ? 'the baseline' : 'production', t);
    if (slower !== null) problems.push(slower);
  }
  return {
    key: e.key, traffic: e.production.attempts + e.production.missing, compared: s.compared, judged, mismatchRate,
    rawMismatchRate: s.compared > 0 ? s.mismatched / s.compared : 0, skipped: s.skipped, bodiesNotCompared: s.bodiesNotCompared,
    noise: { comparisons: e.noise.comparisons, fromBaseline: e.noise.fromBaseline, fromRepeats: e.noise.fromRepeats },
    fields, fieldsOverflow: s.overflow, production, shadow, baseline, latencyReference: reference === null ? null : useBaseline ? 'baseline' : 'production',
    latency, problems,
  };
}

/** Each quantile: flagged when even the shadow's lower bound is slower than the reference's
 * upper bound by the allowed ratio and by the minimum delta. */
export function judgeLatency(shadow: LatencySide, reference: LatencySide, t: Thresholds): QuantileJudgement[] {
  const enough = shadow.count >= t.minLatencySamples && reference.count >= t.minLatencySamples;
  return shadow.quantiles.map((s, i): QuantileJudgement => {
    const r = reference.quantiles[i];
    const judged = enough && s.low !== null && r.high !== null;
    const atLeastRatio = judged && r.high! > 0 ? s.low! / r.high! : null;
    const tripped = judged && s.low! > r.high! * t.maxLatencyRatio && s.low! - r.high! > t.minLatencyDeltaMs * 1000;
    return { q: s.q, shadow: s, reference: r, judged, atLeastRatio, tripped };
  });
}

const quantileName = (q: number): string => `p${Math.round(q * 100)}`;
const bounds = (b: QuantileBounds): string => `${((b.low ?? 0) / 1000).toFixed(1)}–${ms(b.high ?? b.estimate)}`;

/** The slowdown in words: the quantile shown furthest over (others named), both sides' bounds and samples. */
function latencyProblem(latency: QuantileJudgement[], referenceName: string, t: Thresholds): string | null {
  const tripped = latency.filter((x) => x.tripped).sort((a, b) => (b.atLeastRatio ?? 0) - (a.atLeastRatio ?? 0));
  if (tripped.length === 0) return null;
  const w = tripped[0];
  const also = tripped.slice(1).map((x) => quantileName(x.q));
  const ratio = w.atLeastRatio !== null ? `≥ ×${w.atLeastRatio.toFixed(2)}` : 'from 0';
  return `${quantileName(w.q)} latency ≥ ${ms(w.shadow.low!)} on the shadow vs ≤ ${ms(w.reference.high!)} on ${referenceName} ` +
    `(${ratio}, at most ×${t.maxLatencyRatio}; ${Math.round(t.latencyConfidence * 100)}% bounds ${bounds(w.shadow)} of ${w.shadow.samples} vs ` +
    `${bounds(w.reference)} of ${w.reference.samples} samples)${also.length > 0 ? `; ${also.join(', ')} too` : ''}`;
}

export function validateResults(raw: unknown): ResultsJson {
  const r = raw as ResultsJson;
  if (typeof r !== 'object' || r === null || r.version !== RESULTS_VERSION || !Array.isArray(r.endpoints) || !Array.isArray(r.shadows)) {
    throw new Error(`not a shadowtap results file (version ${RESULTS_VERSION} expected)`);
  }
  return r;
}

/** Production's latencies are recorded ones (capture timestamps), not timed beside the shadow's: a
 * recording replayed, or exchanges consumed by fleet workers. */
const recordedProduction = (results: ResultsJson): boolean => results.source?.kind === 'recording' || results.source?.kind === 'fleet';

export function analyze(results: ResultsJson, thresholds: Thresholds = defaultThresholds): Analysis {
  const pooled = new PooledNoise(results.endpoints);
  const reasons: string[] = [];
  const notes: string[] = [];
  let judgedEndpoints = 0;
  const recorded = recordedProduction(results);
  const queued = results.counters.latencyQueued ?? 0;
  const targets = results.shadows.map((target, i): TargetAnalysis => {
    const endpoints = results.endpoints
      .map((e) => endpoint(e, e.shadows[i], pooled, thresholds, recorded, queued > 0))
      .sort((a, b) => b.problems.length - a.problems.length || b.traffic - a.traffic || a.key.localeCompare(b.key));
    for (const e of endpoints) {
      if (e.judged) judgedEndpoints++;
      for (const p of e.problems) reasons.push(`${results.shadows.length > 1 ? `${target} ` : ''}${e.key}: ${p}`);
    }
    const unjudged = endpoints.filter((e) => !e.judged && e.traffic > 0).length;
    if (unjudged > 0) notes.push(`${unjudged} endpoint(s) with fewer than ${thresholds.minRequests} compared exchanges were not judged`);
    const fewLatencies = endpoints.filter((e) => e.judged && e.latency.length > 0 && !e.latency.some((x) => x.judged)).length;
    if (fewLatencies > 0) {
      notes.push(`latency not judged on ${fewLatencies} endpoint(s): not enough data (at least ${thresholds.minLatencySamples} timed exchanges per side, and enough for ${Math.round(thresholds.latencyConfidence * 100)}% bounds)`);
    }
    return {
      target,
      compared: endpoints.reduce((n, e) => n + e.compared, 0),
      mismatched: results.endpoints.reduce((n, e) => n + e.shadows[i].mismatched, 0),
      flaggedFields: endpoints.reduce((n, e) => n + e.fields.filter((f) => f.flagged).length, 0),
      endpoints,
    };
  });
  if (judgedEndpoints === 0) reasons.push(`no endpoint had ${thresholds.minRequests} compared exchanges (or shadow answers): not enough traffic to judge`);
  if (!results.complete) notes.push('the run is still going: these are the results so far');
  if (results.endpoints.every((e) => e.noise.comparisons === 0)) {
    notes.push('no noise was learned (no --baseline and no repeated requests): every difference counts');
  }
  if (queued > 0 && results.baseline === null && thresholds.latencyReference !== 'production') {
    notes.push('latency not judged: pipelining gave the shadow fewer, fuller connections than production had, so only a --baseline replayed alike is a like-for-like reference ' +
      '(or judge against production anyway with --latency-reference production)');
  } else if (recorded && results.baseline === null) {
    notes.push('latency judged against production\'s recorded latencies (capture timestamps); the shadow is timed by shadowtap as its client');
  } else if (thresholds.latencyReference === 'baseline' && results.baseline === null && (results.counters.wireTimed ?? 0) === 0) {
    notes.push('latency not judged: no --baseline and no --wire-timing (the shadow is timed by shadowtap as its client, production from the capture) — or judge against production anyway with --latency-reference production');
  }
  const untimed = results.counters.latencyWarmup ?? 0;
  if (untimed > 0) {
    notes.push(`${untimed} exchange(s) at the start of the run were compared but not timed (--latency-warmup: a cold start is not judged); ` +
      'a latency shown as – had no timed exchange');
  }
  if (queued > 0) {
    notes.push(`${queued} shadow answer(s) were not timed: written behind unanswered requests on a pipelined connection (--pipeline), they waited for those`);
  }
  if (results.counters.endpointOverflow > 0) notes.push(`${results.counters.endpointOverflow} exchanges beyond the endpoint cap were grouped as {other}`);
  return {
    version: results.version, startedAt: results.startedAt, updatedAt: results.updatedAt, complete: results.complete,
    baseline: results.baseline, thresholds, counters: results.counters, accounting: results.accounting,
    verdict: { pass: reasons.length === 0, reasons, notes }, targets,
  };
}
