// Production's response vs each shadow's: joins the two halves of every replayed exchange,
// diffs them, groups by endpoint, learns noise (from a baseline target and from production's
// answers to repeated requests) and keeps latency and error statistics. Bounded throughout.

import type { Exchange, HttpRequest, HttpResponse, ReplayOutcome, ShadowResponse } from '../model';
import { defaultOf } from '../config/options';
import { compareOptions } from './options';
import { ComparableResponse, DiffOptions, FieldDiff, ResponseDiff, defaultDiffOptions, diffResponses } from './diff';
import type { GrpcDiffInfo } from './grpc';
import { EndpointClassifier, RouteOverride } from './endpoints';
import { RepeatCache, requestKey } from './noise';
import { LatencyHistogram } from './latency';
import { isGrpcContentType, isGrpcOutage } from './grpc';
import { IdTable } from './id-table';
import { joinedHeaderValue } from '../http';
import { CompareCounters, EndpointResults, FieldTable, RESULTS_VERSION, ResultsJson, ShadowEndpoint, SideStats, zeroCompareCounters } from './results';

export { defaultDiffOptions } from './diff';
/** What names a request's endpoint: its method, URL and content type (among its headers). */
export type EndpointOf = Pick<HttpRequest, 'method' | 'url' | 'headers'>;

export type { DiffOptions, FieldDiff } from './diff';
export type { RouteOverride } from './endpoints';
export { LatencyHistogram } from './latency';
export type { LatencySummary, QuantileBounds } from './latency';
export * from './results';
export { ProtoSchema } from './protobuf';

export interface CompareOptions {
  diff: DiffOptions;
  routes: RouteOverride[];
  maxEndpoints: number;
  /** Distinct diff paths counted per endpoint and target. */
  maxFieldsPerEndpoint: number;
  maxSignaturesPerEndpoint: number;
  /** Requests waiting for their other half (production response or shadow answers), and
   * the body bytes those halves hold. */
  maxPendingJoins: number;
  maxPendingJoinBytes: number;
  /** Repeated-request noise: responses remembered, their bytes, and the largest body kept. */
  repeatEntries: number;
  repeatBytes: number;
  repeatMaxBody: number;
  /** Share of one core the diffs may use (0 < x ≤ 1). */
  cpuShare: number;
  /** Exchanges (and their body bytes) waiting to be diffed; beyond, they are skipped as 'busy'. */
  maxQueued: number;
  maxQueuedBytes: number;
  /** The first exchanges of a run are compared but not timed: cold code paths and fresh
   * connections on every side make their latencies tell of the start, not the service. */
  latencyWarmup: number;
}

export function defaultCompareOptions(): CompareOptions {
  return {
    diff: defaultDiffOptions(),
    routes: [],
    maxEndpoints: defaultOf(compareOptions.maxEndpoints),
    maxFieldsPerEndpoint: 200,
    maxSignaturesPerEndpoint: 256,
    maxPendingJoins: 100_000,
    maxPendingJoinBytes: 64 << 20,
    repeatEntries: 10_000,
    repeatBytes: 32 << 20,
    repeatMaxBody: 256 << 10,
    cpuShare: defaultOf(compareOptions.compareCpu) / 100,
    maxQueued: 5000,
    maxQueuedBytes: 64 << 20,
    latencyWarmup: defaultOf(compareOptions.latencyWarmup),
  };
}

/** What a sample writer gets: one mismatched exchange, unredacted (the writer redacts). */
export interface MismatchSample {
  target: string;
  endpoint: string;
  request: HttpRequest;
  production: HttpResponse;
  shadow: ShadowResponse;
  diffs: FieldDiff[];
}

export interface SampleSink {
  /** Whether one more sample would be written (the writer's own caps). */
  readonly hasRoom: boolean;
  /** False when it could not be written (the writer reports why). */
  write(sample: MismatchSample): boolean;
  /** Applied to a JSON value before a diff shortens it (redaction: a value cut short no longer
   * shows its keys). */
  prepareValue?(at: string, value: unknown): unknown;
}

interface Join {
  exchange: Exchange | null;
  responses: ShadowResponse[] | null;
  /** Body bytes the waiting half holds. */
  bytes: number;
}

const exchangeBytes = (ex: Exchange): number => (ex.request.body?.length ?? 0) + (ex.response?.body?.length ?? 0);
const responsesBytes = (responses: ShadowResponse[]): number => responses.reduce((n, r) => n + (r.body?.length ?? 0), 0);

/**
 * Lets diffs take `share` of wall time on average (up to 50 ms of credit), and only time the
 * event loop would otherwise spend idle: the rest of the loop's work (capture, replay) comes
 * first, and when it leaves less than 10% idle, diffs wait (and the queue overflows as 'busy').
 */
class CpuBudget {
  private credit = 50;
  private last = performance.now();
  private rate: number;
  private elu = performance.eventLoopUtilization();
  private windowStart = this.last;
  private spentInWindow = 0;

  constructor(private readonly share: number) {
    this.rate = share;
  }

  /** `now`: performance.now() as the caller just read it. */
  allow(now: number): boolean {
    if (now - this.windowStart >= 100) this.resample(now);
    this.credit = Math.min(50, this.credit + (now - this.last) * this.rate);
    this.last = now;
    return this.credit > 0;
  }

  spend(ms: number): void {
    this.credit -= ms;
    this.spentInWindow += ms;
  }

  /** Milliseconds until there is credit again. */
  get wait(): number {
    return Math.min(100, Math.max(1, -this.credit / Math.max(this.rate, 0.01)));
  }

  private resample(now: number): void {
    const busy = performance.eventLoopUtilization(this.elu).utilization;
    this.elu = performance.eventLoopUtilization();
    const others = busy - this.spentInWindow / (now - this.windowStart);
    this.rate = Math.max(0, Math.min(this.share, 0.9 - others));
    this.windowStart = now;
    this.spentInWindow = 0;
  }
}

/** A diff waiting its turn. */
interface Work {
  ep: EndpointResults;
  ex: Exchange;
  responses: ShadowResponse[];
  bytes: number;
}

const SAMPLES_PER_FIELD = 3;
/** Noise comparisons per endpoint made every time; beyond, one in NOISE_SAMPLING (rates stay
 * unbiased, the CPU cost of learning noise falls tenfold). */
const NOISE_FULL = 200;
const NOISE_SAMPLING = 10;
/** Longest stretch of diffing before other events (shadow answers, capture) get their turn. */
const SLICE_MS = 4;
/** Request targets whose endpoint is remembered (all forgotten at once past this). */
const ENDPOINT_TARGETS_KEPT = 4096;
const ENDPOINT_TARGET_LENGTH = 256;

export class CompareStage {
  readonly counters: CompareCounters = zeroCompareCounters();
  /** By exchange id: whichever half came first, waiting for the other. */
  private readonly joins = new IdTable<Join>();
  private joinBytes = 0;
  /** Exchange ids whose join was given up: their other half, when it comes, is dropped too
   * (the latest maxPendingJoins of them). */
  private readonly abandoned = new Set<number>();
  /** The message of the last diff that threw (see counters.diffFailures). */
  lastDiffFailure: string | null = null;
  private readonly endpoints = new Map<string, EndpointResults>();
  private readonly classifier: EndpointClassifier;
  private readonly repeats: RepeatCache;
  private readonly budget: CpuBudget;
  private readonly bodylessDiff: DiffOptions;
  /** The two above without values: what every exchange is diffed with (counts need paths and
   * kinds only); an exchange shown as a sample is diffed again with values. */
  private readonly countingDiff: DiffOptions;
  private readonly countingBodylessDiff: DiffOptions;
  /** Request target → method → its endpoint, for targets (of up to 256 characters) classified
   * before: a key once handed out is always handed out again, so the classifier would say the
   * same. Bounded. */
  private endpointsByTarget = new Map<string, Map<string, EndpointResults>>();
  private readonly shadowTargets: string[];
  /** Position in shadowTargets of each replay target (-1: the baseline). */
  private readonly shadowSlot: number[];
  private readonly startedAt = new Date().toISOString();
  private queue: Work[] = [];
  private queueHead = 0;
  private queuedBytes = 0;
  private scheduled = false;

  /**
   * `targets` are the replay targets in order; `baseline`, when given, is one of them (a second
   * production instance): it is compared with production to learn noise, not judged.
   */
  constructor(
    private readonly targets: string[],
    private readonly baseline: string | null,
    private options: CompareOptions = defaultCompareOptions(),
    private readonly samples: SampleSink | null = null,
  ) {
    this.shadowTargets = targets.filter((t) => t !== baseline);
    this.classifier = new EndpointClassifier(options.routes, { maxEndpoints: options.maxEndpoints });
    this.repeats = new RepeatCache(options.repeatEntries, options.repeatBytes, options.repeatMaxBody);
    this.budget = new CpuBudget(options.cpuShare);
    if (samples?.prepareValue !== undefined) {
      const prepare = samples.prepareValue.bind(samples);
      this.options = { ...options, diff: { ...options.diff, showValue: prepare } };
    }
    this.shadowSlot = targets.map((t, i) => (t === baseline ? -1 : targets.slice(0, i).filter((x) => x !== baseline).length));
    this.bodylessDiff = { ...this.options.diff, ignorePaths: new Set([...this.options.diff.ignorePaths, 'body']) };
    this.countingDiff = { ...this.options.diff, values: false };
    this.countingBodylessDiff = { ...this.bodylessDiff, values: false };
  }

  /** Production's side: the request with its captured response (or why there is none). */
  exchange(ex: Exchange): void {
    const id = ex.request.id;
    if (this.abandoned.delete(id)) return;
    const join = this.joins.get(id);
    if (join !== undefined && join.responses !== null) {
      this.joins.delete(id);
      this.joinBytes -= join.bytes;
      this.compare(ex, join.responses);
    } else {
      this.wait(ex.request, exchangeBytes(ex)).exchange = ex;
    }
  }

  /** The replay side: each target's response in target order (fewer, or none, when the
   * request was not sent). */
  replayed(req: HttpRequest, responses: ShadowResponse[]): void {
    if (this.abandoned.delete(req.id)) return;
    const join = this.joins.get(req.id);
    if (join !== undefined && join.exchange !== null) {
      this.joins.delete(req.id);
      this.joinBytes -= join.bytes;
      this.compare(join.exchange, responses);
    } else {
      this.wait(req, responsesBytes(responses)).responses = responses;
    }
  }

  get pendingJoins(): number {
    return this.joins.size;
  }

  /** Whether another exchange may wait for its other half without the joins nearing their bounds
   * (half of each: a source that can wait, waits there, and never overflows them). */
  get joinsHaveRoom(): boolean {
    return this.joins.size < this.options.maxPendingJoins / 2 && this.joinBytes < this.options.maxPendingJoinBytes / 2;
  }

  /** Per shadow target (the baseline is not judged): exchanges diffed and those that
   * differed anywhere (noise included), summed over endpoints. For metrics, at scrape time. */
  shadowTotals(): Array<{ target: string; compared: number; mismatched: number }> {
    const out = this.shadowTargets.map((target) => ({ target, compared: 0, mismatched: 0 }));
    for (const ep of this.endpoints.values()) {
      for (let i = 0; i < out.length; i++) {
        out[i].compared += ep.shadows[i].compared;
        out[i].mismatched += ep.shadows[i].mismatched;
      }
    }
    return out;
  }

  /**
   * A shadow exchange seen on the wire (--wire-timing): `req` is the captured production request
   * it was a replay of, `target` its index among the replay targets.
   */
  wire(req: EndpointOf, target: number, latencyUs: number): void {
    if (this.counters.exchanges <= this.options.latencyWarmup) return;
    const slot = this.shadowSlot[target];
    if (slot === undefined) return;
    const ep = this.endpoint(req);
    const side = slot < 0 ? ep.baseline : ep.shadows[slot].side;
    if (side === null) return;
    (side.wireLatency ??= new LatencyHistogram()).record(latencyUs);
    this.counters.wireTimed++;
  }

  /** Exchanges waiting to be diffed. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  private wait(req: HttpRequest, bytes: number): Join {
    let join = this.joins.get(req.id);
    if (join !== undefined) return join;
    while (this.joins.size > 0 && (this.joins.size >= this.options.maxPendingJoins ||
           this.joinBytes + bytes > this.options.maxPendingJoinBytes)) {
      // The oldest join gives up: its request stays accounted for by the ledger, uncompared.
      const [oldest, given] = this.joins.oldest()!;
      this.joins.delete(oldest);
      this.joinBytes -= given.bytes;
      this.abandoned.add(oldest);
      // Bounded: a half that comes after its id left this set opens a join that leaves by overflow in turn.
      if (this.abandoned.size > this.options.maxPendingJoins) this.abandoned.delete(this.abandoned.values().next().value as number);
      this.counters.joinOverflow++;
    }
    join = { exchange: null, responses: null, bytes };
    this.joins.set(req.id, join);
    this.joinBytes += bytes;
    return join;
  }

  private endpoint(req: EndpointOf): EndpointResults {
    // A gRPC method's path is its name, never a template's raw material.
    const grpc = isGrpcContentType(joinedHeaderValue(req.headers, 'content-type'));
    if (grpc) return this.classify(req, true);
    const known = this.endpointsByTarget.get(req.url)?.get(req.method);
    if (known !== undefined) return known;
    const before = this.classifier.overflowed;
    const e = this.classify(req, false);
    // A target folded into '{other}' is not remembered: it is counted as overflow each time.
    if (this.classifier.overflowed === before && req.url.length <= ENDPOINT_TARGET_LENGTH) {
      if (this.endpointsByTarget.size >= ENDPOINT_TARGETS_KEPT) this.endpointsByTarget = new Map();
      let byMethod = this.endpointsByTarget.get(req.url);
      if (byMethod === undefined) this.endpointsByTarget.set(req.url, byMethod = new Map());
      byMethod.set(req.method, e);
    }
    return e;
  }

  private classify(req: EndpointOf, grpc: boolean): EndpointResults {
    const before = this.classifier.overflowed;
    const key = this.classifier.classify(req.method, req.url, grpc);
    if (this.classifier.overflowed !== before) this.counters.endpointOverflow++;
    let e = this.endpoints.get(key);
    if (e === undefined) {
      e = new EndpointResults(key, this.shadowTargets, this.baseline !== null, this.options.maxFieldsPerEndpoint, this.options.maxSignaturesPerEndpoint);
      this.endpoints.set(key, e);
    }
    return e;
  }

  /** Latency and errors at once (they cost little); the diffs are queued and done in slices
   * so that shadow answers keep being timed promptly. */
  private compare(ex: Exchange, responses: ShadowResponse[]): void {
    this.counters.exchanges++;
    const req = ex.request;
    const prod = ex.response;
    const ep = this.endpoint(req);
    const timed = this.counters.exchanges > this.options.latencyWarmup;
    if (!timed) this.counters.latencyWarmup++;
    if (prod !== null) recordSide(ep.production, prod.statusCode, null, timed ? prod.endUs - req.startUs : -1);
    else ep.production.missing++;
    let diffable = false;
    for (let i = 0; i < this.targets.length; i++) {
      const r: ShadowResponse | undefined = responses[i];
      const sent = r !== undefined && (r.outcome === 'replayed' || r.outcome === 'shadowError' || r.outcome === 'shadowTimeout');
      const isBaseline = this.targets[i] === this.baseline;
      const shadow = isBaseline ? null : ep.shadows[this.shadowSlot[i]];
      if (sent && timed && r.queued === true && r.outcome === 'replayed') this.counters.latencyQueued = (this.counters.latencyQueued ?? 0) + 1;
      if (sent) recordSide(shadow === null ? (ep.baseline as SideStats) : shadow.side, r.statusCode, r.outcome, timed && r.queued !== true ? r.latencyUs : -1);
      if (shadow === null) {
        if (sent && r.outcome === 'replayed' && prod !== null) diffable = true;
        continue;
      }
      if (!sent) shadow.skipped.notReplayed++;
      else if (r.outcome !== 'replayed') shadow.skipped.shadowFailed++;
      else if (prod === null) shadow.skipped.productionMissing++;
      else diffable = true;
    }
    if (prod !== null) diffable = true; // production's own repeats teach noise
    if (!diffable) return;
    if (this.behind !== null && this.behind()) {
      this.skipBusy(ep, responses);
      return;
    }
    let bytes = prod?.body?.length ?? 0;
    for (const r of responses) bytes += r.body?.length ?? 0;
    if (this.queue.length - this.queueHead >= this.options.maxQueued || this.queuedBytes + bytes > this.options.maxQueuedBytes) {
      this.skipBusy(ep, responses);
      return;
    }
    this.queuedBytes += bytes;
    this.queue.push({ ep, ex, responses, bytes });
    this.schedule(0);
  }

  /** Set by a live run on the capture thread: while it is true (the capture is behind), new
   * exchanges are timed and counted but not diffed (counted as busy): mirroring comes first. */
  behind: (() => boolean) | null = null;

  /** Diffs everything still queued, budget or not (at the end of a run). */
  flush(): void {
    let now = performance.now();
    while (this.queueHead < this.queue.length) now = this.diffNext(now);
    this.queue = [];
    this.queueHead = 0;
  }

  private schedule(delayMs: number): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const go = (): void => {
      this.scheduled = false;
      this.slice();
    };
    if (delayMs > 0) setTimeout(go, delayMs).unref();
    else setImmediate(go).unref();
  }

  private slice(): void {
    let now = performance.now();
    const until = now + SLICE_MS;
    while (this.queueHead < this.queue.length) {
      if (!this.budget.allow(now)) return this.schedule(this.budget.wait);
      now = this.diffNext(now);
      if (now >= until) break;
    }
    if (this.queueHead < this.queue.length) {
      if (this.queueHead > 1024) {
        this.queue = this.queue.slice(this.queueHead);
        this.queueHead = 0;
      }
      this.schedule(0);
    } else {
      this.queue = [];
      this.queueHead = 0;
    }
  }

  /** Diffs the next exchange; `started` is performance.now() as the caller last read it (one
   * clock reading per diff: each one's end is the next one's start). Returns the time now. */
  private diffNext(started: number): number {
    const w = this.queue[this.queueHead];
    this.queue[this.queueHead++] = undefined as unknown as Work;
    this.queuedBytes -= w.bytes;
    try {
      this.diffAll(w.ep, w.ex, w.responses);
    } catch (err) {
      // A body that defeats the diff (say, nesting beyond the stack) costs this exchange only.
      this.counters.diffFailures++;
      this.lastDiffFailure = (err as Error).message;
    }
    const now = performance.now();
    this.budget.spend(now - started);
    this.counters.cpuMs += now - started;
    return now;
  }

  private skipBusy(ep: EndpointResults, responses: ShadowResponse[]): void {
    for (let i = 0; i < this.targets.length; i++) {
      if (this.targets[i] === this.baseline) continue;
      const r = responses[i];
      if (r !== undefined && r.outcome === 'replayed') {
        ep.shadows[this.shadowSlot[i]].skipped.busy++;
        this.counters.busy++;
      }
    }
  }

  private diffAll(ep: EndpointResults, ex: Exchange, responses: ShadowResponse[]): void {
    const req = ex.request;
    const prod = ex.response;
    if (prod === null) return;
    const learnNoise = ep.noise.comparisons < NOISE_FULL || ++ep.noiseSampleTick % NOISE_SAMPLING === 0;
    if (learnNoise) this.learnFromRepeat(ep, req, prod);
    for (let i = 0; i < this.targets.length; i++) {
      const r: ShadowResponse | undefined = responses[i];
      if (r === undefined || r.outcome !== 'replayed') continue;
      if (this.targets[i] === this.baseline) {
        if (!learnNoise) continue;
        const d = this.counted(production(prod), shadowSide(r), bodiesKept(prod, r), req.url);
        ep.noise.fromBaseline++;
        addPaths(ep.noise.fields, d);
      } else {
        this.diffOne(ep, ep.shadows[this.shadowSlot[i]], req, prod, r);
      }
    }
  }

  private diffOne(ep: EndpointResults, shadow: ShadowEndpoint, req: HttpRequest, prod: HttpResponse, r: ShadowResponse): void {
    const kept = bodiesKept(prod, r);
    if (!kept) shadow.bodiesNotCompared++;
    const d = this.counted(production(prod), shadowSide(r), kept, req.url);
    shadow.compared++;
    this.counters.diffsTruncated += d.truncated;
    this.counters.decodeErrors += d.decodeErrors.length;
    if (d.grpc !== undefined) this.countGrpc(d.grpc);
    if (d.diffs.length === 0 && d.overflowPaths.size === 0) return;
    shadow.mismatched++;
    const paths = addPaths(shadow.fields, d);
    shadow.addSignature(paths);
    if (this.samples === null) return;
    let wanted = false;
    for (const p of paths) {
      const f = shadow.fields.fields.get(p);
      if (f !== undefined && f.samples < SAMPLES_PER_FIELD) wanted = true;
    }
    if (!wanted) return;
    if (!this.samples.hasRoom) {
      this.counters.samplesDropped++;
      return;
    }
    for (const p of paths) {
      const f = shadow.fields.fields.get(p);
      if (f !== undefined) f.samples++;
    }
    // The same diff again, now with its values (redacted and shortened): only for a sample.
    const shown = diffResponses(production(prod), shadowSide(r), kept ? this.options.diff : this.bodylessDiff, req.url).diffs;
    if (this.samples.write({ target: shadow.target, endpoint: ep.key, request: req, production: prod, shadow: r, diffs: shown })) this.counters.samplesWritten++;
    else this.counters.samplesDropped++;
  }

  /**
   * Two answers diffed for counting: without values (countingDiff), unless a differing value is
   * an object or an array and values are shown (a sink redacts them). Showing such a value can
   * throw (redacting a subtree nested beyond the stack), which has always made the exchange a
   * diff failure: it is diffed with its values, as before, so that it still does.
   */
  private counted(p: ComparableResponse, s: ComparableResponse, bodies: boolean, url: string): ResponseDiff {
    const d = diffResponses(p, s, bodies ? this.countingDiff : this.countingBodylessDiff, url);
    if (d.containerValues === undefined || this.options.diff.showValue === undefined) return d;
    return diffResponses(p, s, bodies ? this.options.diff : this.bodylessDiff, url);
  }

  private countGrpc(g: GrpcDiffInfo): void {
    const c = this.counters;
    c.grpcCalls = (c.grpcCalls ?? 0) + 1;
    c.grpcMalformed = (c.grpcMalformed ?? 0) + g.malformed;
    c.grpcUndecodable = (c.grpcUndecodable ?? 0) + g.undecodable;
    c.grpcSchemaErrors = (c.grpcSchemaErrors ?? 0) + g.schemaErrors;
    c.grpcLimited = (c.grpcLimited ?? 0) + g.limited;
    if (g.schemaMiss) c.grpcSchemaMisses = (c.grpcSchemaMisses ?? 0) + 1;
  }

  /** Production answering the same request twice, differently: those paths are noise. */
  private learnFromRepeat(ep: EndpointResults, req: HttpRequest, prod: HttpResponse): void {
    if (prod.statusCode >= 500 || isGrpcOutage(prod.headers, prod.trailers)) return; // an outage is not noise
    const previous = this.repeats.swap(requestKey(req), prod);
    this.counters.repeatCacheEvictions = this.repeats.evictions;
    if (previous === null || prod.body === null || prod.bodyTruncated) return;
    const d = this.counted({ status: previous.status, headers: previous.headers, trailers: previous.trailers, body: previous.body }, production(prod), true, req.url);
    ep.noise.fromRepeats++;
    addPaths(ep.noise.fields, d);
  }

  results(accounting: Record<string, unknown>, complete: boolean): ResultsJson {
    return {
      version: RESULTS_VERSION,
      startedAt: this.startedAt,
      updatedAt: new Date().toISOString(),
      complete,
      shadows: this.shadowTargets,
      baseline: this.baseline,
      counters: { ...this.counters },
      accounting,
      endpoints: [...this.endpoints.values()].map((e) => e.toJSON()),
    };
  }
}

/** Counts an attempt on one side; a latency below 0 is not recorded (warm-up). */
function recordSide(side: SideStats, status: number | null, outcome: ReplayOutcome | null, latencyUs: number): void {
  side.attempts++;
  if (outcome === 'shadowTimeout') side.timeouts++;
  else if (outcome === 'shadowError') side.connectionErrors++;
  else {
    if (status !== null && status >= 500) side.status5xx++;
    if (latencyUs >= 0) side.latency.record(latencyUs);
  }
}

/** Both bodies held whole (else only status and headers compare). */
function bodiesKept(prod: HttpResponse, r: ShadowResponse): boolean {
  return !prod.bodyTruncated && r.body !== null && r.bodySize <= r.body.length;
}

function production(r: HttpResponse) {
  return { status: r.statusCode, headers: r.headers, trailers: r.trailers, body: r.body ?? EMPTY };
}

function shadowSide(r: ShadowResponse) {
  return { status: r.statusCode as number, headers: r.headers ?? [], trailers: r.trailers ?? null, body: r.body ?? EMPTY };
}

const EMPTY = Buffer.alloc(0);

/** Counts each distinct path once (those past the diff cap too); returns them sorted. */
function addPaths(table: FieldTable, d: ResponseDiff): string[] {
  if (d.diffs.length === 1 && d.overflowPaths.size === 0) { // the usual mismatch: one field
    const only = d.diffs[0]!;
    table.add(only.path, only.kind);
    return [only.path];
  }
  const seen = new Map<string, FieldDiff['kind']>();
  for (const x of d.diffs) if (!seen.has(x.path)) seen.set(x.path, x.kind);
  for (const [path, kind] of d.overflowPaths) if (!seen.has(path)) seen.set(path, kind);
  const paths = [...seen.keys()].sort();
  for (const p of paths) table.add(p, seen.get(p) as FieldDiff['kind']);
  return paths;
}
