// `run --workers N`: replay and comparison on N worker threads, so that capture and parsing
// never share a thread with them. The main thread hands each worker its connections' requests
// and exchanges in one binary batch per event-loop turn (handoff.ts), bounds what each worker
// has in flight (beyond, a live capture settles requests as queueFull itself; a file pauses),
// and books the outcomes the workers send back in the ledger. Counters and comparison results
// come back with them, so the summary, /metrics, /readyz, /report and results.json read here.

import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import type { CompareCounters, CompareOptions, ResultsJson } from '../compare';
import { CompareStage, RESULTS_VERSION, zeroCompareCounters } from '../compare';
import type { RunConfig } from '../config';
import { addCounts, mergeResults } from '../report/merge';
import { OutputDir, defaultSampleLimits } from '../report/outdir';
import type { Exchange, HttpRequest, ReplayOutcome, ShadowResponse } from '../model';
import type { ReplayOptions, TargetStats } from '../replay';
import type { RedactOptions } from '../traffic/redact';
import { BatchReader, BatchWriter, readSettled, writeExchange, writeMark, writeRequest } from './handoff';
import type { Output, Settle } from './index';
import { ReplayOutput } from './replay';
import type { FromWorker, ToWorker, WorkerSetup, WorkerStats } from './replay-worker';

export interface ThreadedOutputOptions {
  workers: number;
  /** What every worker is set up with (its index, queue and sample shares are filled in here). */
  setup: Omit<WorkerSetup, 'index' | 'protoFiles'>;
  /** The memory budget's replay share: what all workers' requests in flight may hold. */
  replayShareBytes: number;
  /** The replay and compare shares together: what all workers' heaps hold beyond their runtime. */
  workerShareBytes: number;
  /** Sees every request's shadow answers (status, latency, outcome and error; no bodies). */
  observe: (outcome: ReplayOutcome, responses: ShadowResponse[]) => void;
  log: { error(fields: object, msg: string): void; warn(fields: object, msg: string): void };
}

/** The comparison as the run reads it, in process or summed over the workers. */
export interface ComparisonView {
  summary(): CompareCounters & { pendingJoins: number; queued: number };
  shadowTotals(): Array<{ target: string; compared: number; mismatched: number }>;
  results(accounting: Record<string, unknown>, complete: boolean): ResultsJson;
  /** Diffs what is still queued (at the end of the run). */
  flush(): void;
}

/** One worker thread and what the main thread knows of it. */
class WorkerLink {
  readonly batch = new BatchWriter();
  /** Requests handed over and not settled yet: id → bytes they took in the batch. */
  readonly pending = new Map<number, number>();
  bytes = 0;
  stats: WorkerStats | null = null;
  results: ResultsJson | null = null;
  failed: Error | null = null;
  drained: (() => void) | null = null;
  /** Set when the run terminates it: its exit is no failure. */
  closing = false;

  constructor(readonly index: number, readonly worker: Worker, readonly maxRequests: number, readonly maxBytes: number) {}

  get hasRoom(): boolean {
    return this.pending.size < this.maxRequests && this.bytes < this.maxBytes;
  }
}

/** How long past its drain time a worker may take to report before it is given up. */
const DRAIN_GRACE_MS = 5000;

/** Exchange ids the main thread settled itself (their exchanges go nowhere), the latest 100,000. */
const MAX_REFUSED_IDS = 100_000;

export class ThreadedOutput implements Output {
  private readonly links: WorkerLink[];
  private settle: Settle = () => {};
  private flushScheduled = false;
  /** Ids of requests settled here (queueFull beyond a worker's bound, shutdown without a worker):
   * their exchanges go nowhere. */
  private readonly refusedIds = new Set<number>();
  private readonly counters = { refused: 0, workerFailures: 0, lostInWorker: 0, unknownSettles: 0 };
  private draining: Promise<void> | null = null;
  /** Set by hurry(): a drain waits DRAIN_GRACE_MS for the workers' reports, no longer its timeout too. */
  private hurried = false;
  private cutShort: (() => void) | null = null;

  constructor(private readonly options: ThreadedOutputOptions) {
    const n = options.workers;
    const replay = perWorkerReplay(options.setup.replay, n);
    const perTarget = (replay.queueSize ?? 10_000) + (replay.concurrency ?? 64) * (replay.preserveConnections ? 1 : replay.pipeline ?? 1);
    // Room for what the worker's own queues take, and a margin for batches on their way back:
    // a worker that keeps up refuses (queueFull) before the main thread has to.
    const maxRequests = Math.ceil(perTarget * 1.25) + 64;
    const maxBytes = Math.max(1 << 20, Math.floor(options.replayShareBytes / n));
    const limits = options.setup.sampleLimits;
    this.links = [];
    for (let i = 0; i < n; i++) {
      const setup: WorkerSetup = {
        ...options.setup, index: i, replay,
        sampleLimits: { ...limits, maxSamples: Math.ceil(limits.maxSamples / n), maxBytes: Math.ceil(limits.maxBytes / n) },
        maxKept: Math.ceil(options.setup.maxKept / n),
        compare: perWorkerCompare(options.setup.compare, n),
        protoFiles: [...(options.setup.compare?.diff.protoSchema?.files ?? [])],
      };
      const worker = new Worker(join(__dirname, 'replay-worker.js'), { workerData: setup, resourceLimits: heapLimits(options.workerShareBytes / n) });
      const link = new WorkerLink(i, worker, maxRequests, maxBytes);
      worker.on('message', (msg: FromWorker) => this.message(link, msg));
      worker.on('error', (err) => this.failed(link, err));
      worker.on('exit', (code) => {
        if (!link.closing) this.failed(link, new Error(`replay worker ${i} exited (code ${code})`));
      });
      this.links.push(link);
    }
  }

  get hasRoom(): boolean {
    for (const l of this.links) if (!l.hasRoom) return false;
    return true;
  }

  private linkOf(req: HttpRequest): WorkerLink {
    return this.links[req.conn.id % this.links.length];
  }

  request(captured: HttpRequest, sent: HttpRequest, settle: Settle): void {
    this.settle = settle;
    const link = this.linkOf(captured);
    if (link.failed !== null || this.draining !== null) return this.refuse(captured.id, 'shutdown');
    if (!link.hasRoom && this.options.setup.whenFull === 'drop') {
      this.counters.refused++;
      return this.refuse(captured.id, 'queueFull');
    }
    const before = link.batch.length;
    writeRequest(link.batch, captured, sent);
    const bytes = link.batch.length - before;
    link.pending.set(captured.id, bytes);
    link.bytes += bytes;
    this.scheduleFlush();
  }

  private refuse(id: number, outcome: ReplayOutcome): void {
    this.refusedIds.add(id);
    if (this.refusedIds.size > MAX_REFUSED_IDS) this.refusedIds.delete(this.refusedIds.values().next().value as number);
    this.settle(outcome);
    this.options.observe(outcome, []);
  }

  exchange(ex: Exchange): void {
    if (this.refusedIds.delete(ex.request.id)) return;
    const link = this.linkOf(ex.request);
    if (link.failed !== null || this.options.setup.compare === null) return;
    writeExchange(link.batch, ex);
    this.scheduleFlush();
  }

  /** A packet of a replay, located by the capture (wire timing): to every worker (only the one
   * whose connection it is knows its port). */
  mark(target: number, localPort: number, toServer: boolean, offset: number, length: number, tsUs: number): void {
    for (const link of this.links) {
      if (link.failed === null) writeMark(link.batch, target, localPort, toServer, offset, length, tsUs);
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flush);
  }

  /** One batch per worker per event-loop turn, its buffer transferred (not copied). */
  private readonly flush = (): void => {
    this.flushScheduled = false;
    for (const link of this.links) {
      if (link.batch.length === 0 || link.failed !== null) continue;
      const { buffer, length } = link.batch.take();
      this.post(link, { t: 'batch', buffer, length }, [buffer]);
    }
  };

  private post(link: WorkerLink, msg: ToWorker, transfer: ArrayBuffer[] = []): void {
    link.worker.postMessage(msg, transfer);
  }

  private message(link: WorkerLink, msg: FromWorker): void {
    switch (msg.t) {
      case 'settled':
        link.stats = msg.stats;
        return this.booked(link, msg.buffer, msg.length);
      case 'stats':
        link.stats = msg.stats;
        if (msg.results !== null) link.results = msg.results;
        return;
      case 'log':
        return this.options.log[msg.level](msg.fields, msg.msg);
      case 'drained':
        link.stats = msg.stats;
        link.results = msg.results;
        link.drained?.();
        return;
    }
  }

  /** Settled outcomes from a worker: each booked once (room is made before the ledger hears,
   * so that a paused file resumes). */
  private booked(link: WorkerLink, buffer: ArrayBuffer, length: number): void {
    const r = new BatchReader(buffer, length);
    while (!r.done) {
      const s = readSettled(r);
      const bytes = link.pending.get(s.id);
      if (bytes === undefined) {
        this.counters.unknownSettles++;
        continue;
      }
      link.pending.delete(s.id);
      link.bytes -= bytes;
      this.settle(s.outcome);
      this.options.observe(s.outcome, s.responses);
    }
  }

  /** A worker that died: what it had in flight ends as shutdown, its connections' requests too from now on. */
  private failed(link: WorkerLink, err: Error): void {
    if (link.failed !== null) return;
    link.failed = err;
    this.counters.workerFailures++;
    this.options.log.error({ err: err.message, worker: link.index, inFlight: link.pending.size }, 'replay worker failed: its requests end as shutdown');
    this.settleLeft(link);
    link.drained?.();
  }

  private settleLeft(link: WorkerLink): void {
    for (const id of link.pending.keys()) {
      this.refusedIds.add(id);
      this.counters.lostInWorker++;
      this.settle('shutdown');
      this.options.observe('shutdown', []);
    }
    link.pending.clear();
    link.bytes = 0;
  }

  /** New replay settings for every worker (their old replayers finish within `drainMs`). */
  reload(replay: Partial<ReplayOptions> & { targets: string[] }, drainMs: number): void {
    const perWorker = perWorkerReplay(replay, this.links.length);
    for (const link of this.links) if (link.failed === null) this.post(link, { t: 'reload', replay: perWorker, drainMs });
  }

  /** New redaction for the samples the workers write. */
  redacting(redact: RedactOptions): void {
    for (const link of this.links) if (link.failed === null) this.post(link, { t: 'redact', redact });
  }

  /** Stop waiting for the shadows: what is in flight ends as shutdown. */
  hurry(): void {
    for (const link of this.links) if (link.failed === null) this.post(link, { t: 'hurry' });
    this.hurried = true;
    this.cutShort?.();
  }

  drain(timeoutMs: number): Promise<void> {
    this.draining ??= this.drainOnce(timeoutMs);
    return this.draining;
  }

  private async drainOnce(timeoutMs: number): Promise<void> {
    this.flush();
    // A worker gets its drain time and a grace to report; one that does not is given up.
    let timer: NodeJS.Timeout | undefined;
    const giveUp = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, (this.hurried ? 0 : timeoutMs) + DRAIN_GRACE_MS);
      this.cutShort = () => {
        clearTimeout(timer);
        timer = setTimeout(resolve, DRAIN_GRACE_MS);
      };
    });
    await Promise.all(this.links.map((link) => {
      if (link.failed !== null) return Promise.resolve();
      const done = new Promise<void>((resolve) => { link.drained = resolve; });
      this.post(link, { t: 'drain', timeoutMs });
      return Promise.race([done, giveUp]);
    }));
    clearTimeout(timer);
    for (const link of this.links) {
      if (link.pending.size > 0) {
        this.options.log.error({ worker: link.index, requests: link.pending.size }, 'replay worker did not settle every request: ended as shutdown');
        this.settleLeft(link);
      }
    }
    for (const link of this.links) link.closing = true;
    await Promise.all(this.links.map((l) => l.worker.terminate()));
  }

  stats(): { shadows: TargetStats[]; retiredShadows?: TargetStats[][]; workers: Record<string, number> } {
    const all = this.links.map((l) => l.stats).filter((s): s is WorkerStats => s !== null);
    const shadows = sumTargets(all.map((s) => s.shadows));
    const retiredCount = Math.max(0, ...all.map((s) => s.retiredShadows?.length ?? 0));
    const retired: TargetStats[][] = [];
    for (let i = 0; i < retiredCount; i++) retired.push(sumTargets(all.map((s) => s.retiredShadows?.[i] ?? [])));
    let inFlight = 0;
    for (const l of this.links) inFlight += l.pending.size;
    return {
      shadows: shadows.length > 0 ? shadows : this.options.setup.replay.targets.map(emptyTargetStats),
      ...(retired.length > 0 ? { retiredShadows: retired } : {}),
      workers: {
        threads: this.links.length, inFlight, ...this.counters,
        unjoined: all.reduce((n, s) => n + s.unjoined, 0),
      },
    };
  }

  /** The workers' comparisons as one (null when not comparing). */
  comparison(): ComparisonView | null {
    if (this.options.setup.compare === null) return null;
    const compares = () => this.links.map((l) => l.stats?.compare).filter((c): c is NonNullable<WorkerStats['compare']> => c !== null && c !== undefined);
    return {
      summary: () => {
        const out = { ...zeroCompareCounters(), pendingJoins: 0, queued: 0 };
        for (const c of compares()) {
          for (const k in c.counters) (out as Record<string, number>)[k] += (c.counters as unknown as Record<string, number>)[k];
          out.pendingJoins += c.pendingJoins;
          out.queued += c.queued;
        }
        return out;
      },
      shadowTotals: () => {
        const byTarget = new Map<string, { target: string; compared: number; mismatched: number }>();
        for (const c of compares()) {
          for (const t of c.totals) {
            const sum = byTarget.get(t.target);
            if (sum === undefined) byTarget.set(t.target, { ...t });
            else { sum.compared += t.compared; sum.mismatched += t.mismatched; }
          }
        }
        return [...byTarget.values()];
      },
      results: (accounting, complete) => {
        const parts = this.links.map((l) => l.results).filter((r): r is ResultsJson => r !== null);
        const merged = parts.length === 0 ? noResults(this.options.setup) : parts.length === 1 ? parts[0]
          : mergeResults(parts.map((_, i) => `replay worker ${i}`), parts);
        return { ...merged, updatedAt: new Date().toISOString(), complete, accounting };
      },
      flush: () => {},
    };
  }
}

/**
 * A worker's V8 heap: a young generation kept small (an isolate grows its own to the maximum under
 * load: +120–160 MB of resident set per thread at 10,000 req/s), and an old generation of four
 * times its share of the budget plus a runtime reserve: not the budget (the shares' own counts
 * shed well before), a ceiling against what escapes them. A worker past it dies; its requests
 * end as shutdown (logged, counted).
 */
export function heapLimits(shareBytes: number): { maxYoungGenerationSizeMb: number; maxOldGenerationSizeMb: number } {
  return { maxYoungGenerationSizeMb: WORKER_YOUNG_MB, maxOldGenerationSizeMb: Math.ceil((4 * shareBytes) / (1 << 20)) + WORKER_RESERVE_MB };
}

const WORKER_YOUNG_MB = 32;
const WORKER_RESERVE_MB = 64;

/** Each worker's replay settings: the connections and queues per shadow shared out among the
 * workers (the same totals as one thread), the memory share split alike. */
function perWorkerReplay(replay: Partial<ReplayOptions> & { targets: string[] }, n: number): Partial<ReplayOptions> & { targets: string[] } {
  if (n === 1) return replay;
  const share = (v: number | undefined): number | undefined => (v === undefined ? undefined : Math.max(1, Math.ceil(v / n)));
  return {
    ...replay, concurrency: share(replay.concurrency), queueSize: share(replay.queueSize), queueBytes: share(replay.queueBytes),
    ratePerSecond: replay.ratePerSecond === null || replay.ratePerSecond === undefined ? replay.ratePerSecond : replay.ratePerSecond / n,
  };
}

/** Each worker compares its share of the exchanges: the warm-up, and the compare share of the
 * memory budget (joins, diff queue, repeat cache), shared out alike. */
/** A worker's share of the comparison options. The --proto schema does not cross threads (a
 * loaded protobufjs root is no plain data): its files do, and the worker loads them again. */
function perWorkerCompare(c: CompareOptions | null, n: number): CompareOptions | null {
  if (c === null) return null;
  const share = (v: number): number => Math.max(1, Math.ceil(v / n));
  return {
    ...c, diff: { ...c.diff, protoSchema: null }, latencyWarmup: Math.ceil(c.latencyWarmup / n),
    maxPendingJoins: share(c.maxPendingJoins), maxPendingJoinBytes: share(c.maxPendingJoinBytes), maxQueued: share(c.maxQueued),
    maxQueuedBytes: share(c.maxQueuedBytes), repeatEntries: share(c.repeatEntries), repeatBytes: share(c.repeatBytes),
  };
}

function emptyTargetStats(target: string): TargetStats {
  return { target: new URL(target).origin, sent: 0, responses: 0, errors: 0, timeouts: 0, queueFull: 0, rateLimited: 0, byStatusClass: {}, inFlight: 0, queued: 0, lanes: 0 };
}

/** Per target, the sum over the workers (in the first worker's order; nested counts, such as
 * HTTP/2 sessions, added too). */
function sumTargets(lists: TargetStats[][]): TargetStats[] {
  const sum: { shadows?: TargetStats[] } = {};
  for (const list of lists) if (list.length > 0) addCounts(sum, { shadows: list });
  return sum.shadows ?? [];
}

/** Results before any worker sent its own. */
function noResults(setup: { replay: { targets: string[] }; baseline: string | null }): ResultsJson {
  const now = new Date().toISOString();
  return {
    version: RESULTS_VERSION, startedAt: now, updatedAt: now, complete: false, shadows: setup.replay.targets.filter((t) => t !== setup.baseline),
    baseline: setup.baseline, counters: zeroCompareCounters(), accounting: {}, endpoints: [],
  };
}

/** The in-process comparison behind the same view. */
export function inProcessComparison(compare: CompareStage): ComparisonView {
  return {
    summary: () => ({ ...compare.counters, pendingJoins: compare.pendingJoins, queued: compare.queued }),
    shadowTotals: () => compare.shadowTotals(),
    results: (accounting, complete) => compare.results(accounting, complete),
    flush: () => compare.flush(),
  };
}

/**
 * `run`'s replay output: on `cfg.workers` worker threads, or (0) a ReplayOutput with its
 * CompareStage on this thread; and the comparison as the run reads it (null: not comparing).
 */
export function runReplayOutput(cfg: RunConfig, o: {
  live: boolean; outDir: OutputDir | null; observe: ThreadedOutputOptions['observe']; log: ThreadedOutputOptions['log'];
  /** On this thread: the capture is behind, so the comparison sheds (see CompareStage.behind). */
  captureBehind?: () => boolean;
}):
  { output: ThreadedOutput | ReplayOutput; compare: ComparisonView | null } {
  const whenFull = o.live ? 'drop' : 'wait';
  const wireTargets = cfg.wireTiming ? cfg.source.alsoCapture ?? null : null;
  if (cfg.workers > 0) {
    const output = new ThreadedOutput({
      workers: cfg.workers, replayShareBytes: cfg.memory.shares.replay, workerShareBytes: cfg.memory.shares.replay + cfg.memory.shares.compare,
      observe: o.observe, log: o.log,
      setup: {
        replay: cfg.replay, whenFull, compare: cfg.compare, baseline: cfg.baseline, outDir: o.outDir === null ? null : o.outDir.dir,
        sampleLimits: defaultSampleLimits, redact: cfg.redact, wireTargets, maxKept: cfg.compare?.maxPendingJoins ?? 0,
        statsEveryMs: 200, resultsEveryMs: 1000,
      },
    });
    return { output, compare: output.comparison() };
  }
  const stage = cfg.compare !== null ? new CompareStage(cfg.replay.targets, cfg.baseline, cfg.compare, o.outDir) : null;
  if (stage !== null && o.captureBehind !== undefined) stage.behind = o.captureBehind;
  const output = new ReplayOutput({ replay: cfg.replay, whenFull, compare: stage, wireTargets, observe: o.observe });
  return { output, compare: stage === null ? null : inProcessComparison(stage) };
}
