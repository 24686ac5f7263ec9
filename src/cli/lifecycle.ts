// What every long-running command does around its pipeline: SIGINT/SIGTERM stop it once (as
// --duration and --max-requests do), SIGHUP reloads, the counters are logged every --stats-interval, and at the end the summary
// is logged and written to --summary-json.

import { MemoryPlan, memorySummary, memoryWarnings } from '../accounting/memory';
import type { OpenedSource, SourceSpec } from '../capture';
import type { RunConfig, StopAfter } from '../config';
import { Progress } from './progress';
import { systemd } from './systemd';
import type { Logger } from '../report';
import { writeJsonFile } from '../report';

/** The lower-case name of the header that marks shadowtap's replays, or null. */
export function ownMarker(marker: { name: string } | null | undefined): string | null {
  return marker ? marker.name.toLowerCase() : null;
}

/** While a live capture runs: one warning each time no packet has matched for `spec.warnIdleMs`
 * (a wrong --port, --filter or interface captures nothing, silently). Returns the stop. */
export function warnWhenIdle(source: OpenedSource, spec: SourceSpec, log: Logger): () => void {
  const idleMs = spec.warnIdleMs ?? 0;
  if (!source.live || idleMs <= 0) return () => {};
  let last = source.stats().packets;
  let since = Date.now();
  let warned = false;
  const timer = setInterval(() => {
    const now = source.stats().packets;
    if (now !== last) {
      last = now;
      since = Date.now();
      warned = false;
    } else if (!warned && Date.now() - since >= idleMs) {
      warned = true;
      log.warn({ interface: spec.interface, filter: source.filter ?? null, idleSeconds: Math.round(idleMs / 1000) },
        `no packet matched the capture filter on ${spec.interface} for ${Math.round(idleMs / 1000)} s: check --interface, --port and --filter`);
    }
  }, Math.min(1000, idleMs));
  timer.unref();
  return () => clearInterval(timer);
}

/** The memory budget's shares, logged once at start, and what would defeat it, as warnings. */
export function logMemoryBudget(plan: MemoryPlan, maxConnections: number, log: Logger): void {
  log.info({ memory: memorySummary(plan, maxConnections) }, 'memory budget');
  for (const warning of memoryWarnings(plan)) log.warn({ budgetMb: plan.budgetBytes / 2 ** 20 }, warning);
}

/** `run`'s capture has started: the log line (the filter in force), the idle warning, the
 * wire-timing note, and systemd's READY=1 (watchdog pings from here on). Returns the idle
 * warning's stop. */
export function announceStart(log: Logger, cfg: RunConfig, source: OpenedSource): () => void {
  log.info({ interface: cfg.source.interface ?? null, file: cfg.source.file ?? null, filter: source.filter ?? null, linkType: source.linkType,
    shadows: cfg.replay.targets, wireTiming: cfg.wireTiming }, 'capture started');
  const stopIdleWarning = warnWhenIdle(source, cfg.source, log);
  logMemoryBudget(cfg.memory, cfg.tcp.maxConnections ?? cfg.memory.maxConnections, log);
  if (cfg.wireTimingNote !== null) log.info({ why: cfg.wireTimingNote }, `shadows timed as shadowtap's client only (${cfg.wireTimingNote}): their latency is judged against a --baseline, if any`);
  if (!systemd.ready(`capturing on ${cfg.source.interface ?? cfg.source.file}, mirroring to ${cfg.replay.targets.join(' ')}`) && systemd.lastError() !== null) {
    log.warn({ err: systemd.lastError() }, 'cannot notify systemd');
  }
  return stopIdleWarning;
}

export interface LifecycleOptions {
  log: Logger;
  statsIntervalMs: number;
  summaryJson?: string;
  summary: () => object;
  /** The first SIGINT or SIGTERM (a second one calls `hurry`, if given; later ones are ignored). */
  stop: (why: string) => void;
  /** SIGHUP; absent: SIGHUP is not taken. */
  reload?: () => void;
  /** A second SIGINT/SIGTERM while stopping: stop waiting (in-flight work ends as shutdown). */
  hurry?: () => void;
  /** --duration, --max-requests: `stop` is called as for a first signal, why 'duration' or 'maxRequests'. */
  stopAfter?: StopAfter;
  /** Requests seen so far, for --max-requests (checked by `counted`). */
  seen?: () => number;
  /** On a terminal: the progress line, rewritten five times a second until finish(). */
  progress?: (elapsed: string) => string;
}

export class Lifecycle {
  stopping = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly durationTimer: NodeJS.Timeout | undefined;
  private readonly onSignal = (sig: string): void => {
    if (this.stopping) {
      if (sig === 'duration' || sig === 'maxRequests') return;
      if (this.hurried || this.options.hurry === undefined) return;
      this.hurried = true;
      this.options.log.warn({ why: sig }, 'second signal: not waiting for the shadows any more');
      this.options.hurry();
      return;
    }
    this.stopping = true;
    this.options.stop(sig);
  };
  private hurried = false;
  private readonly progress: Progress | null;
  private readonly onReload = (): void => this.options.reload?.();

  constructor(private readonly options: LifecycleOptions) {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    if (options.reload !== undefined) process.on('SIGHUP', this.onReload);
    this.timer = options.statsIntervalMs > 0
      ? setInterval(() => options.log.info({ stats: options.summary() }, 'stats'), options.statsIntervalMs)
      : undefined;
    this.progress = options.progress !== undefined ? new Progress(options.progress) : null;
    const ms = options.stopAfter?.durationMs ?? null;
    this.durationTimer = ms !== null ? setTimeout(() => this.onSignal('duration'), ms) : undefined;
  }

  /** After requests were counted: stops once --max-requests is reached. */
  counted(): void {
    const max = this.options.stopAfter?.maxRequests ?? null;
    if (max !== null && !this.stopping && (this.options.seen?.() ?? 0) >= max) this.onSignal('maxRequests');
  }

  /** Stats off, signals released; the summary written, then logged. A summary that cannot be
   * written is never fatal: the log says why, and the summary line still carries it. */
  finish(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    clearTimeout(this.durationTimer);
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    process.off('SIGHUP', this.onReload);
    this.progress?.stop();
    const final = this.options.summary();
    if (this.options.summaryJson !== undefined) {
      try {
        writeJsonFile(this.options.summaryJson, final);
      } catch (err) {
        this.options.log.error({ err: (err as Error).message, path: this.options.summaryJson }, 'cannot write --summary-json: the summary is in the next line only');
      }
    }
    this.options.log.info({ stats: final }, 'summary');
  }
}
