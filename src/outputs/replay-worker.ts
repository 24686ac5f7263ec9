// A replay worker thread (--workers): hosts the ReplayOutput, its CompareStage and its share of
// the result directory; takes batches of requests and exchanges from the capture thread and
// answers with batches of settled outcomes (see handoff.ts), plus its counters.

import { parentPort, workerData } from 'node:worker_threads';
import { CompareStage, ProtoSchema } from '../compare';
import type { CompareOptions, ResultsJson } from '../compare';
import type { HttpRequest, ReplayOutcome, ShadowResponse } from '../model';
import type { ReplayOptions, TargetStats } from '../replay';
import { OutputDir } from '../report/outdir';
import type { SampleLimits } from '../report/outdir';
import { Redactor } from '../traffic/redact';
import type { RedactOptions } from '../traffic/redact';
import { BatchReader, BatchWriter, RecordKind, readExchange, readMark, readRequest, writeSettled } from './handoff';
import { ReplayOutput } from './replay';

export interface WorkerSetup {
  index: number;
  replay: Partial<ReplayOptions> & { targets: string[] };
  whenFull: 'drop' | 'wait';
  compare: CompareOptions | null;
  /** --proto files, loaded again here (a schema does not cross threads). */
  protoFiles: string[];
  baseline: string | null;
  /** The run's --out directory (opened by the main thread): samples are appended to it. */
  outDir: string | null;
  sampleLimits: SampleLimits;
  redact: RedactOptions;
  wireTargets: Array<{ address: string; port: number }> | null;
  /** Requests kept for the exchange that joins them, at most (their bodies at most the
   * comparison's maxPendingJoinBytes). */
  maxKept: number;
  statsEveryMs: number;
  resultsEveryMs: number;
}

/** The worker's counters, as the main thread sums them. */
export interface WorkerStats {
  shadows: TargetStats[];
  retiredShadows?: TargetStats[][];
  compare: {
    counters: CompareStage['counters']; pendingJoins: number; queued: number;
    totals: Array<{ target: string; compared: number; mismatched: number }>;
  } | null;
  /** Exchanges whose request was no longer kept (more than maxKept, or their bodies' bytes, waiting): not compared. */
  unjoined: number;
  requests: number;
}

export type ToWorker =
  | { t: 'batch'; buffer: ArrayBuffer; length: number }
  | { t: 'reload'; replay: Partial<ReplayOptions> & { targets: string[] }; drainMs: number }
  | { t: 'redact'; redact: RedactOptions }
  | { t: 'hurry' }
  | { t: 'drain'; timeoutMs: number };

export type FromWorker =
  | { t: 'settled'; buffer: ArrayBuffer; length: number; stats: WorkerStats }
  | { t: 'stats'; stats: WorkerStats; results: ResultsJson | null }
  | { t: 'log'; level: 'error' | 'warn'; fields: Record<string, unknown>; msg: string }
  | { t: 'drained'; stats: WorkerStats; results: ResultsJson | null };

/** A structured clone turns a Buffer into a Uint8Array. */
function redactOptions(o: RedactOptions): RedactOptions {
  return { ...o, hashKey: o.hashKey === null ? null : Buffer.from(o.hashKey) };
}

class ReplayWorker {
  private readonly redactor: Redactor;
  private readonly outDir: OutputDir | null;
  private readonly compare: CompareStage | null;
  private readonly output: ReplayOutput;
  /** Requests handed over, by id, until production's side comes (the compare join needs the
   * captured request). Oldest first, at most setup.maxKept, their bodies at most keptBytesMax. */
  private readonly kept = new Map<number, HttpRequest>();
  private keptBytes = 0;
  private readonly keptBytesMax: number;
  private unjoined = 0;
  private requests = 0;
  private readonly settled = new BatchWriter(16 << 10);
  private flushScheduled = false;
  private lastCompareMark = -1;
  private lastResultsMark = -1;
  private readonly timers: NodeJS.Timeout[] = [];

  constructor(private readonly setup: WorkerSetup, private readonly port: NonNullable<typeof parentPort>) {
    this.redactor = new Redactor(redactOptions(setup.redact));
    this.keptBytesMax = setup.compare?.maxPendingJoinBytes ?? 0;
    this.outDir = setup.outDir !== null && setup.compare !== null ? new OutputDir(setup.outDir, this.redactor, setup.sampleLimits, { append: true }) : null;
    if (this.outDir !== null) this.outDir.onSampleError = (err) => this.log('error', { err: err.message, dir: setup.outDir }, 'cannot write samples: no more are kept (counted as samplesDropped)');
    const compare = setup.compare === null || setup.protoFiles.length === 0 ? setup.compare
      : { ...setup.compare, diff: { ...setup.compare.diff, protoSchema: ProtoSchema.load(setup.protoFiles) } };
    this.compare = compare !== null ? new CompareStage(setup.replay.targets, setup.baseline, compare, this.outDir) : null;
    this.output = new ReplayOutput({
      replay: setup.replay, whenFull: setup.whenFull, compare: this.compare, wireTargets: setup.wireTargets,
      observe: this.observe,
    });
    if (this.compare !== null) {
      this.timers.push(setInterval(() => this.compareProgress(false), setup.statsEveryMs));
      this.timers.push(setInterval(() => this.compareProgress(true), setup.resultsEveryMs));
    }
  }

  /** Every request ends here exactly once (ReplayOutput's promise): booked for the main thread. */
  private readonly observe = (outcome: ReplayOutcome, responses: ShadowResponse[], sent: HttpRequest): void => {
    writeSettled(this.settled, sent.id, outcome, responses);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(this.flush);
    }
  };

  private readonly flush = (): void => {
    this.flushScheduled = false;
    if (this.settled.length === 0) return;
    const { buffer, length } = this.settled.take();
    this.post({ t: 'settled', buffer, length, stats: this.stats() }, [buffer]);
  };

  handle(msg: ToWorker): void {
    switch (msg.t) {
      case 'batch': return this.batch(msg.buffer, msg.length);
      case 'reload': return this.output.reload(msg.replay, msg.drainMs);
      case 'redact':
        this.redactor.options = redactOptions(msg.redact);
        return;
      case 'hurry': return this.output.hurry();
      case 'drain': return void this.drain(msg.timeoutMs);
    }
  }

  private batch(buffer: ArrayBuffer, length: number): void {
    const r = new BatchReader(buffer, length);
    while (!r.done) {
      const kind = r.u8();
      if (kind === RecordKind.Request) {
        const { captured, sent } = readRequest(r);
        this.requests++;
        this.keep(captured);
        this.output.request(captured, sent, noSettle);
      } else if (kind === RecordKind.Exchange) {
        const ex = readExchange(r, (id) => this.take(id));
        if ('unknownId' in ex) this.unjoined++;
        else this.output.exchange(ex);
      } else if (kind === RecordKind.Mark) {
        readMark(r, this.output);
      } else {
        throw new Error(`replay worker: unknown record kind ${kind}`);
      }
    }
  }

  private keep(req: HttpRequest): void {
    if (this.compare === null) return;
    this.kept.set(req.id, req);
    this.keptBytes += req.body?.length ?? 0;
    while (this.kept.size > this.setup.maxKept || (this.keptBytes > this.keptBytesMax && this.kept.size > 1)) {
      this.take(this.kept.keys().next().value as number);
    }
  }

  private take(id: number): HttpRequest | undefined {
    const req = this.kept.get(id);
    if (req === undefined) return undefined;
    this.kept.delete(id);
    this.keptBytes -= req.body?.length ?? 0;
    return req;
  }

  private async drain(timeoutMs: number): Promise<void> {
    await this.output.drain(timeoutMs);
    this.compare?.flush();
    for (const t of this.timers) clearInterval(t);
    this.flush();
    this.outDir?.close();
    this.post({ t: 'drained', stats: this.stats(), results: this.compare?.results({}, true) ?? null });
  }

  /** Comparison progress (it moves after the requests settled): counters, or whole results;
   * nothing when nothing moved since the last of the kind. */
  private compareProgress(withResults: boolean): void {
    const c = this.compare as CompareStage;
    const mark = c.counters.exchanges + c.counters.busy + c.counters.cpuMs + c.counters.wireTimed + c.pendingJoins + c.queued;
    const last = withResults ? this.lastResultsMark : this.lastCompareMark;
    if (mark === last) return;
    if (withResults) this.lastResultsMark = mark;
    else this.lastCompareMark = mark;
    this.post({ t: 'stats', stats: this.stats(), results: withResults ? c.results({}, false) : null });
  }

  private stats(): WorkerStats {
    const c = this.compare;
    return {
      ...this.output.stats(),
      compare: c === null ? null : { counters: { ...c.counters }, pendingJoins: c.pendingJoins, queued: c.queued, totals: c.shadowTotals() },
      unjoined: this.unjoined,
      requests: this.requests,
    };
  }

  private log(level: 'error' | 'warn', fields: Record<string, unknown>, msg: string): void {
    this.post({ t: 'log', level, fields: { worker: this.setup.index, ...fields }, msg });
  }

  private post(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
    this.port.postMessage(msg, transfer);
  }
}

/** The main thread settles from the worker's batches, not through this. */
function noSettle(): void {}

if (parentPort !== null && workerData !== undefined && workerData !== null) {
  const port = parentPort;
  const worker = new ReplayWorker(workerData as WorkerSetup, port);
  port.on('message', (msg: ToWorker) => worker.handle(msg));
}
