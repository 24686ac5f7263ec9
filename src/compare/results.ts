// Counters a comparison run accumulates per endpoint, and their JSON form (results.json).
// Everything is bounded: fields per endpoint and diff signatures are capped, overflow counted.

import type { DiffKind } from './diff';
import { LatencyHistogram } from './latency';

export const RESULTS_VERSION = 1;

/** One side of an exchange: production, the baseline, or a shadow. */
export class SideStats {
  /** Requests answered or failed on this side (not counting requests never sent). */
  attempts = 0;
  status5xx = 0;
  timeouts = 0;
  connectionErrors = 0;
  /** Production only: requests whose response was not captured. */
  missing = 0;
  readonly latency = new LatencyHistogram();
  /** Shadows and baseline with --wire-timing: the same exchanges timed from the capture (first
   * request byte to last response byte, kernel timestamps), made when the first one comes. */
  wireLatency: LatencyHistogram | null = null;

  toJSON(): SideJson {
    return {
      attempts: this.attempts, status5xx: this.status5xx, timeouts: this.timeouts,
      connectionErrors: this.connectionErrors, missing: this.missing, latency: this.latency.toJSON(),
      ...(this.wireLatency !== null ? { wireLatency: this.wireLatency.toJSON() } : {}),
    };
  }
}

export interface SideJson {
  attempts: number;
  status5xx: number;
  timeouts: number;
  connectionErrors: number;
  missing: number;
  latency: ReturnType<LatencyHistogram['toJSON']>;
  wireLatency?: ReturnType<LatencyHistogram['toJSON']>;
}

export interface FieldCount {
  /** Exchanges with at least one difference at this path. */
  diffs: number;
  kinds: Partial<Record<DiffKind, number>>;
  /** Samples written for this path. */
  samples: number;
}

/** Difference counts by generalised path, capped; diffs on paths beyond the cap are counted. */
export class FieldTable {
  readonly fields = new Map<string, FieldCount>();
  /** Path occurrences that found the table full. */
  overflow = 0;

  constructor(private readonly max: number) {}

  /** Counts one exchange's differences at `path` (call once per path per exchange). */
  add(path: string, kind: DiffKind): FieldCount | null {
    let f = this.fields.get(path);
    if (f === undefined) {
      if (this.fields.size >= this.max) {
        this.overflow++;
        return null;
      }
      f = { diffs: 0, kinds: {}, samples: 0 };
      this.fields.set(path, f);
    }
    f.diffs++;
    f.kinds[kind] = (f.kinds[kind] ?? 0) + 1;
    return f;
  }

  toJSON(): FieldsJson {
    const fields: FieldsJson['fields'] = {};
    for (const [path, f] of this.fields) fields[path] = { diffs: f.diffs, kinds: f.kinds };
    return { fields, overflow: this.overflow };
  }
}

export interface FieldsJson {
  fields: Record<string, { diffs: number; kinds: Partial<Record<DiffKind, number>> }>;
  overflow: number;
}

/** Why an exchange was not compared (its request may still have been replayed). */
export type SkipReason =
  | 'notReplayed'        // the request never reached this target (queue full, unreplayable, …)
  | 'shadowFailed'       // the target timed out or the connection failed (counted as an error)
  | 'productionMissing'  // production's response was not captured
  | 'busy';              // the comparison's CPU budget was spent, or the capture was behind

/** One shadow target's view of one endpoint. */
export class ShadowEndpoint {
  readonly side = new SideStats();
  compared = 0;
  /** Compared exchanges with at least one difference. */
  mismatched = 0;
  /** Compared exchanges whose bodies were too large to keep: status and headers only. */
  bodiesNotCompared = 0;
  readonly skipped: Record<SkipReason, number> = { notReplayed: 0, shadowFailed: 0, productionMissing: 0, busy: 0 };
  readonly fields: FieldTable;
  /** Sorted '\n'-joined paths of a mismatched exchange → count: lets a report recount the
   * mismatch rate over any subset of paths (those it flags). */
  readonly signatures = new Map<string, number>();
  signaturesOverflow = 0;

  constructor(readonly target: string, maxFields: number, private readonly maxSignatures: number) {
    this.fields = new FieldTable(maxFields);
  }

  addSignature(paths: string[]): void {
    const sig = paths.join('\n');
    const n = this.signatures.get(sig);
    if (n !== undefined) this.signatures.set(sig, n + 1);
    else if (this.signatures.size < this.maxSignatures) this.signatures.set(sig, 1);
    else this.signaturesOverflow++;
  }

  toJSON(): ShadowEndpointJson {
    return {
      target: this.target, ...this.side.toJSON(), compared: this.compared, mismatched: this.mismatched,
      bodiesNotCompared: this.bodiesNotCompared, skipped: { ...this.skipped }, ...this.fields.toJSON(),
      signatures: Object.fromEntries(this.signatures), signaturesOverflow: this.signaturesOverflow,
    };
  }
}

export interface ShadowEndpointJson extends SideJson, FieldsJson {
  target: string;
  compared: number;
  mismatched: number;
  bodiesNotCompared: number;
  skipped: Record<SkipReason, number>;
  signatures: Record<string, number>;
  signaturesOverflow: number;
}

/** Differences production shows against itself: what varies on identical requests. */
export class NoiseStats {
  /** Pairs compared: production vs baseline, and production vs production on a repeated request. */
  fromBaseline = 0;
  fromRepeats = 0;
  readonly fields: FieldTable;
  constructor(maxFields: number) {
    this.fields = new FieldTable(maxFields);
  }
  get comparisons(): number {
    return this.fromBaseline + this.fromRepeats;
  }
  toJSON(): NoiseJson {
    return { comparisons: this.comparisons, fromBaseline: this.fromBaseline, fromRepeats: this.fromRepeats, ...this.fields.toJSON() };
  }
}

export interface NoiseJson extends FieldsJson {
  comparisons: number;
  fromBaseline: number;
  fromRepeats: number;
}

export class EndpointResults {
  readonly production = new SideStats();
  readonly baseline: SideStats | null;
  readonly noise: NoiseStats;
  readonly shadows: ShadowEndpoint[];
  /** Counts exchanges past the first noise comparisons, to sample the rest (see CompareStage). */
  noiseSampleTick = 0;

  constructor(readonly key: string, shadowTargets: string[], hasBaseline: boolean, maxFields: number, maxSignatures: number) {
    this.baseline = hasBaseline ? new SideStats() : null;
    this.noise = new NoiseStats(maxFields);
    this.shadows = shadowTargets.map((t) => new ShadowEndpoint(t, maxFields, maxSignatures));
  }

  toJSON(): EndpointJson {
    return {
      key: this.key, production: this.production.toJSON(), baseline: this.baseline?.toJSON() ?? null,
      noise: this.noise.toJSON(), shadows: this.shadows.map((s) => s.toJSON()),
    };
  }
}

export interface EndpointJson {
  key: string;
  production: SideJson;
  baseline: SideJson | null;
  noise: NoiseJson;
  shadows: ShadowEndpointJson[];
}

export interface CompareCounters {
  /** Exchanges handed to the comparison (production side complete and every target settled). */
  exchanges: number;
  /** Exchanges at the start of the run compared but not timed. */
  latencyWarmup: number;
  /** Shadow and baseline exchanges timed from the capture (--wire-timing). */
  wireTimed: number;
  /** Shadow and baseline answers not timed: written behind unanswered requests on a pipelined
   * connection (--pipeline), they waited for those (absent from results written before it). */
  latencyQueued?: number;
  /** Shadow answers left undiffed because the diff queue was full (per target). */
  busy: number;
  /** Exchanges whose diff threw (e.g. nesting beyond the stack): not compared. */
  diffFailures: number;
  /** Joins dropped because too many requests waited for their other half. */
  joinOverflow: number;
  /** Exchanges folded into '{other}' endpoints once the endpoint budget was spent. */
  endpointOverflow: number;
  /** Diffs beyond maxDiffs per exchange (not recorded). */
  diffsTruncated: number;
  /** Content-Encoding failures (the body compared as received). */
  decodeErrors: number;
  samplesWritten: number;
  samplesDropped: number;
  /** Repeated-request noise checks left out: response too large to keep, or cache full. */
  repeatCacheEvictions: number;
  /** Milliseconds spent comparing. */
  cpuMs: number;
  // gRPC (./grpc.ts), per shadow comparison; absent from results written before them.
  /** Answers compared as gRPC calls. */
  grpcCalls?: number;
  /** Sides whose message framing or compression was malformed (the messages before the fault
   * are compared, the fault itself is the diff 'grpc-framing'). */
  grpcMalformed?: number;
  /** Messages that are not protobuf (compared as text or base64). */
  grpcUndecodable?: number;
  /** Calls whose method no --proto file declares (decoded schema-less). */
  grpcSchemaMisses?: number;
  /** Messages the --proto type could not decode (decoded schema-less). */
  grpcSchemaErrors?: number;
  /** Fields of a schema-less decode shown as bytes (nesting too deep, or the work budget spent). */
  grpcLimited?: number;
}

/** Every counter at zero, the gRPC ones included: what a comparison starts from and what sums
 * of several (worker threads) add to. */
export function zeroCompareCounters(): CompareCounters {
  return {
    exchanges: 0, latencyWarmup: 0, wireTimed: 0, latencyQueued: 0, busy: 0, diffFailures: 0, joinOverflow: 0, endpointOverflow: 0, diffsTruncated: 0, decodeErrors: 0,
    samplesWritten: 0, samplesDropped: 0, repeatCacheEvictions: 0, cpuMs: 0,
    grpcCalls: 0, grpcMalformed: 0, grpcUndecodable: 0, grpcSchemaMisses: 0, grpcSchemaErrors: 0, grpcLimited: 0,
  };
}

export interface ResultsJson {
  version: typeof RESULTS_VERSION;
  startedAt: string;
  updatedAt: string;
  /** True once the run has ended and everything is written. */
  complete: boolean;
  shadows: string[];
  baseline: string | null;
  counters: CompareCounters;
  /** The run's request accounting (seen, replayed, notReplayed …) at this moment. */
  accounting: Record<string, unknown>;
  endpoints: EndpointJson[];
  /** What was compared, when not a live capture: a recording replayed (`replay --out`), whose
   * production latencies are the recorded ones. */
  source?: { kind: 'recording'; recording: string; files: string[] }
    /** Exchanges consumed from a fleet stream (`worker`): production's answers are recorded ones too. */
    | { kind: 'fleet'; stream: string; consumer: string };
  /** Present when the run kept an exchanges.ids file (it had an id source: fleet workers):
   * the ids appended by the time this was written, and those lost to failed writes. Readers
   * that do not know it ignore it. */
  ids?: { file: string; written: number; lost: number };
}
