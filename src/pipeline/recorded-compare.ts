// `replay --out`: each shadow's answer is compared with production's recorded answer by the
// compare stage a live run uses (same diffs, noise model and latency statistics); the results
// directory is the one `run --out` writes, so `report` and `verdict` read it unchanged.
// Production's latency is the recorded one: request's first byte → response's last byte, from
// capture timestamps.

import { CompareStage } from '../compare';
import type { CompareCounters, CompareOptions, ResultsJson } from '../compare';
import type { Exchange, HttpRequest, ShadowResponse } from '../model';
import { OutputDir, ResultsFile } from '../report/outdir';
import { Redactor } from '../traffic/redact';
import type { RedactOptions } from '../traffic/redact';

export interface RecordedComparisonOptions {
  /** The replay targets in order; the baseline (when there is one) among them. */
  targets: string[];
  baseline: string | null;
  compare: CompareOptions;
  /** The recording was redacted: its masked values are never differences. */
  redacted: boolean;
  outDir: string;
  /** List each compared exchange's id in exchanges.ids: `<recording>/<connection>/<position>`,
   * the same in any part or copy of the recording (so `report DIR…` finds one compared twice). */
  recordIds?: boolean;
  /** The id listed for a request sent, when not that one (a fleet worker's: `host/run/id`). */
  idOf?: (sent: HttpRequest) => string;
  /** Masks the samples. */
  redact: RedactOptions;
  /** The run's accounting at this moment (results.json carries it). */
  accounting: () => Record<string, unknown>;
  /** What was replayed, for results.json. */
  source: ResultsJson['source'];
  onError: (err: Error) => void;
}

export class RecordedComparison {
  readonly stage: CompareStage;
  private readonly results: ResultsFile;
  private readonly outDir: OutputDir;

  constructor(private readonly options: RecordedComparisonOptions) {
    const outDir = OutputDir.open(options.outDir, new Redactor(options.redact), { recordIds: options.recordIds === true });
    this.outDir = outDir;
    outDir.onSampleError = options.onError;
    const compare = { ...options.compare, diff: { ...options.compare.diff, maskedProduction: options.redacted } };
    this.stage = new CompareStage(options.targets, options.baseline, compare, outDir);
    this.results = new ResultsFile(outDir, (complete) => this.resultsJson(complete), options.onError);
  }

  /** A request is about to be sent: production's recorded side of its join. */
  admitted(production: Exchange): void {
    this.stage.exchange(production);
  }

  /** False while the joins are near their bounds: a recording's reader waits. */
  get hasRoom(): boolean {
    return this.stage.joinsHaveRoom;
  }

  /** The targets' answers to a request sent (it carries the recorded request's id). */
  answered(sent: HttpRequest, responses: ShadowResponse[]): void {
    this.stage.replayed(sent, responses);
    if (this.options.recordIds === true) this.outDir.compared(this.options.idOf?.(sent) ?? `${this.recording}/${sent.conn.id}/${sent.index}`);
  }

  /** Everything so far diffed and in results.json (false: it could not be written). */
  flushResults(): boolean {
    this.stage.flush();
    return this.results.flush();
  }

  /** Everything diffed; results.json complete. */
  finish(): void {
    this.stage.flush();
    this.results.finish();
  }

  private get recording(): string {
    return this.options.source?.kind === 'recording' ? this.options.source.recording : '';
  }

  get summary(): CompareCounters & { pendingJoins: number; queued: number } {
    return { ...this.stage.counters, pendingJoins: this.stage.pendingJoins, queued: this.stage.queued };
  }

  private resultsJson(complete: boolean): ResultsJson {
    return { ...this.stage.results(this.options.accounting(), complete), source: this.options.source };
  }
}
